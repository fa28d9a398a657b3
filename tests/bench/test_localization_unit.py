"""The localization benchmark's tree syncing and scoring, on a real git repository (no snapshots)."""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bench.localization import (
    apply_commit_diff,
    compare_runs,
    estimated_cost,
    paired_report,
    profile_report,
    rescore,
    run_costs,
    score,
    sign_test,
    sync_tree,
)

from conexus.search.localize import FileGraph
from tests.conftest import git


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def full_tree(repo: Path, sha: str, dest: Path) -> None:
    """What ``materialize.py`` + ``sync_tree`` leave: the whole tree written, then synced."""
    stage = dest.parent / f"stage-{sha[:8]}"
    stage.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", sha], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(stage)], input=archive.stdout, check=True)
    dest.mkdir(exist_ok=True)
    sync_tree(stage, dest)


def listing(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if not os.listdir(os.path.join(dirpath, d))]:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = path.read_bytes() if path.is_file() else b"<empty dir>"
    return out


def test_applying_commit_diffs_leaves_the_tree_a_full_write_leaves(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "pkg" / "sub").mkdir(parents=True)
    (repo / "pkg" / "a.py").write_text("def a():\n    return 1\n")
    (repo / "pkg" / "sub" / "gone.py").write_text("x = 1\n")
    (repo / "thing").write_text("a file that becomes a folder\n")
    (repo / "data.bin").write_bytes(bytes(range(256)))
    first = commit(repo, "one")
    (repo / "pkg" / "a.py").write_text("def a():\n    return 2\n")
    (repo / "pkg" / "sub" / "gone.py").unlink()
    (repo / "pkg" / "sub").rmdir()
    (repo / "thing").unlink()
    (repo / "thing").mkdir()
    (repo / "thing" / "inside.py").write_text("y = 2\n")
    (repo / "new.txt").write_text("added\n")
    os.symlink("pkg/a.py", repo / "link.py")  # symlinks are never written by sync_tree
    second = commit(repo, "two")
    (repo / "link.py").unlink()
    (repo / "pkg" / "a.py").rename(repo / "pkg" / "renamed.py")
    third = commit(repo, "three")

    expected = tmp_path / "expected"
    got = tmp_path / "got"
    full_tree(repo, first, got)
    for old, new in ((first, second), (second, third)):
        assert apply_commit_diff(repo / ".git", old, new, got) is not None
        full_tree(repo, new, expected)
        assert listing(got) == listing(expected)
    assert "pkg/sub" not in listing(got)  # emptied folders go, as with the full sync
    assert apply_commit_diff(repo / ".git", first, "0" * 40, got) is None  # git cannot answer: full sync


def test_estimated_cost_grows_with_text_size_and_instances(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "big.py").write_text("x = 1\n" * 100_000)
    (repo / "logo.svg").write_text("<svg/>" * 100_000)  # data: not indexed, not counted
    sha = commit(repo, "one")
    cost = estimated_cost(repo / ".git", sha, 10)
    assert cost == pytest.approx(0.6 + 1.0)
    assert estimated_cost(repo / ".git", sha, 20) > cost


def test_function_accuracy_needs_every_expected_span_in_the_top_k() -> None:
    row = {"gold_files": ["a.py"], "expected_spans": {"a.py": ["f", "C.g"]}}
    fns = ["a.py::f", *[f"b.py::x{i}" for i in range(6)], "a.py::C.g"]
    out = score(["a.py", "b.py"], fns, row)
    assert out["acc@1"] == 1.0 and out["mrr"] == 1.0
    assert out["fn_acc@5"] == 0.0  # C.g is 8th
    assert out["fn_acc@10"] == 1.0
    assert score(["a.py"], fns, {"gold_files": ["a.py"], "expected_spans": {}})["fn_acc@10"] == 0.0


def test_rescore_ranks_files_with_the_saved_graph_unless_told_not_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A saved record ranks again exactly as the run did: the import graph travels with its hits."""
    instances = tmp_path / "instances.jsonl"
    row = {
        "instance_id": "x-1",
        "repo": "o/x",
        "problem_statement": "the parser fails",
        "gold_files": ["pkg/parser.py"],
        "expected_spans": {},
    }
    instances.write_text(json.dumps(row) + "\n")
    hit = lambda path, sc: [path, 1, 9, f"{path}::f", sc, {"bm25": 1.0}]  # noqa: E731
    graph = FileGraph({"tests/test_parser.py": ("pkg/parser.py",)}, {"pkg/parser.py": 3})
    record = {
        "instance_id": "x-1",
        "repo": "o/x",
        "hits": [hit("pkg/lexer.py", 0.5), hit("tests/test_parser.py", 0.45), hit("pkg/parser.py", 0.3)],
        "focus_hits": [],
        "graph": graph.to_dict(),
    }
    partial = tmp_path / "run.partial.jsonl"
    partial.write_text(json.dumps(record) + "\n")

    def acc1(**kwargs: Any) -> float:
        assert rescore(partial, instances, **{"no_ranker": True, **kwargs}) == 0
        return float(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["acc@1"])

    assert acc1() == 100.0  # the test passes its score to the module it imports
    assert acc1(no_graph=True) == 0.0
    assert acc1(options=[("test_share", 0.0)]) == 0.0  # --rank test_share=0: the ablation of the transfer
    with pytest.raises(SystemExit, match="unknown --rank option 'tests_share'"):
        rescore(partial, instances, options=[("tests_share", 0.0)])
    # With the learned ranker too, the module the matching test imports ranks first.
    assert rescore(partial, instances) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["acc@1"] == 100.0


def test_run_costs_total_the_records_and_take_medians_per_repository() -> None:
    def rec(repo: str, embedded: int, index_s: float, query_ms: float, written: int) -> dict[str, Any]:
        return {
            "repo": repo,
            "embedded": embedded,
            "index_s": index_s,
            "sync_s": 0.5,
            "query_ms": query_ms,
            "files_written": written,
        }

    records = [rec("o/a", 100, 10.0, 300.0, 4), rec("o/a", 0, 1.0, 100.0, 2), rec("o/b", 5, 2.0, 50.0, 9)]
    costs = run_costs(records)
    assert (costs["embedded"], costs["index_s"], costs["sync_s"]) == (105, 13.0, 1.5)
    assert (costs["median_index_s"], costs["median_query_ms"]) == (2.0, 100.0)
    a = costs["per_repo"]["o/a"]
    assert a == {"embedded": 100, "median_query_ms": 200.0, "median_files_written": 3.0}
    assert costs["per_repo"]["o/b"]["median_files_written"] == 9.0


def test_the_summary_has_a_row_per_language_when_instances_carry_one() -> None:
    from bench.localization import METRICS, summarize

    def rec(repo: str, lang: str | None, hit: float) -> dict[str, object]:
        out: dict[str, object] = {"repo": repo, **{m: hit for m in METRICS}}
        if lang is not None:
            out["lang"] = lang
        return out

    summary, per_repo = summarize([rec("a/x", "Rust", 1.0), rec("a/y", "Rust", 0.0), rec("b/z", "Go", 1.0)])
    assert summary["per_language"]["Rust"]["n"] == 2 and summary["per_language"]["Rust"]["acc@5"] == 50.0
    assert summary["per_language"]["Go"]["acc@1"] == 100.0 and set(per_repo) == {"a/x", "a/y", "b/z"}
    python_only, _ = summarize([rec("a/x", None, 1.0)])
    assert "per_language" not in python_only


def test_sync_replaces_a_directory_by_a_file_and_a_file_by_a_directory(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / ".github").mkdir(parents=True)
    (src / ".github" / "ISSUE_TEMPLATE").write_text("one template\n")
    (src / "pkg").mkdir()
    (src / "pkg" / "mod").mkdir()
    (src / "pkg" / "mod" / "a.py").write_text("x = 1\n")
    (dst / ".github" / "ISSUE_TEMPLATE").mkdir(parents=True)
    (dst / ".github" / "ISSUE_TEMPLATE" / "bug.md").write_text("old\n")
    (dst / "pkg").mkdir()
    (dst / "pkg" / "mod").write_text("was a file\n")
    sync_tree(src, dst)
    assert (dst / ".github" / "ISSUE_TEMPLATE").read_text() == "one template\n"
    assert (dst / "pkg" / "mod" / "a.py").read_text() == "x = 1\n"


def test_the_sign_test_is_exact_and_symmetric() -> None:
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 5) == 1.0
    assert sign_test(6, 0) == pytest.approx(2 / 64)  # all six the same way: 2 · (1/2)^6
    assert (
        sign_test(9, 3)
        == sign_test(3, 9)
        == pytest.approx(2 * sum(math.comb(12, i) for i in range(4)) / 4096)
    )


def test_a_paired_report_counts_wins_and_losses_per_metric() -> None:
    def res(a1: float, mrr: float) -> dict[str, Any]:
        return {
            "acc@1": a1,
            "acc@3": 1.0,
            "acc@5": 1.0,
            "acc@10": 1.0,
            "fn_acc@5": 0.0,
            "fn_acc@10": 0.0,
            "mrr": mrr,
        }

    lines = paired_report([res(1, 1.0), res(1, 1.0), res(0, 0.5)], [res(0, 0.5), res(1, 1.0), res(1, 1.0)])
    assert lines[0].split()[:3] == ["acc@1", "+1", "-1"]
    assert lines[1].split()[:3] == ["acc@3", "+0", "-0"]
    assert lines[-1].split()[:2] == ["mrr", "+0.000"]


def test_a_profile_groups_instances_by_gold_set_size_and_reports_the_ceilings() -> None:
    one = {"gold_ranks": {"a.py": 1}, "acc@1": 1.0, "acc@5": 1.0, "acc@10": 1.0, "spans_found": True}
    two = {"gold_ranks": {"a.py": 3, "b.py": None}, "acc@1": 0.0, "acc@5": 0.0, "acc@10": 0.0}
    lines = profile_report([one, two])
    assert lines[0].split() == [
        "gold",
        "files",
        "1",
        ":",
        "n=1",
        "acc@1=100.0",
        "acc@5=100.0",
        "acc@10=100.0",
    ]
    assert lines[1].split()[4:6] == ["n=1", "acc@1=0.0"]
    assert "a gold file in the top 5: 100.0" in lines[-1] and "every gold file ranked: 50.0" in lines[-1]
    assert lines[-1].endswith("every expected span among the hits: 50.0")


def test_two_runs_are_compared_on_the_instances_both_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rec(iid: str, a1: float) -> dict[str, Any]:
        metrics = {
            m: 0.0 for m in ("acc@3", "acc@5", "acc@10", "recall@10", "ndcg@10", "fn_acc@5", "fn_acc@10")
        }
        return {"instance_id": iid, "acc@1": a1, "mrr": a1, **metrics}

    base, cand = tmp_path / "base.jsonl", tmp_path / "cand.jsonl"
    base.write_text("".join(json.dumps(rec(i, 0.0)) + "\n" for i in ("x-1", "x-2", "x-3")))
    cand.write_text("".join(json.dumps(rec(i, 1.0)) + "\n" for i in ("x-1", "x-2", "x-9")))
    assert compare_runs([base], [cand]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 instances in both runs") and "acc@1      +2 -0" in out
    assert compare_runs([base], [tmp_path / "base.jsonl"]) == 0
    empty = tmp_path / "other.jsonl"
    empty.write_text(json.dumps(rec("y-1", 1.0)) + "\n")
    assert compare_runs([base], [empty]) == 2
