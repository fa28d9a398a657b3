"""Issue → files localization on the SWE-bench-derived development set.

    python -m bench.localization --instances FILE --mirrors DIR [--ids ID ...] [--limit N] --out results.json

For each instance: write the repository tree at ``base_commit`` (with the
``materialize.py`` that sits beside FILE, from the git snapshots under DIR),
index it with default settings, query with the ``problem_statement`` verbatim
(the same search the ``context_search`` tool runs), rank files by aggregating
chunk hits, and score the ranking against ``gold_files`` / ``expected_spans``.

The trees of one repository are written, in commit order, into one working
folder that is synchronised file by file, so each index run is incremental
(only files that differ between the two commits are re-chunked) and the shared
embedding cache embeds only new chunks. The index after each sync is the index
a fresh run would build for that commit (incremental indexing is tested to be
equivalent). Nothing here reads the gold data except :func:`score`.

Prints one line per instance on stderr and one JSON summary line last on stdout;
writes per-instance ranks to --out. Skips, with a message, when the snapshots
are absent. Not run in CI.
"""

from __future__ import annotations

import argparse
import fcntl
import filecmp
import importlib.util
import inspect
import json
import math
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from conexus.config import load_settings
from conexus.engine import Engine
from conexus.indexing.languages import detect_language
from conexus.models import Hit
from conexus.search.fusion import is_code_language, is_test_path
from conexus.search.history import FileHistory, GitHistory
from conexus.search.localize import (
    FILE_STAGE_HITS,
    FOCUS_STAGE_HITS,
    HISTORY_TOP_FILES,
    FileGraph,
    Location,
    apply_history,
    localize,
    location_of,
    rank_files,
    rank_locations,
)
from conexus.search.ranker import (
    ChunkEvidence,
    LinearRanker,
    bundled_ranker,
    file_features,
    rerank_files,
    reranker,
)
from conexus.sources.filesystem.ignore import DEFAULT_BINARY_EXTENSIONS, DEFAULT_DATA_EXTENSIONS

KS = (1, 3, 5, 10)


def load_materializer(instances: Path) -> ModuleType:
    """Import the ``materialize.py`` that ships beside the instances file."""
    path = instances.resolve().parent / "materialize.py"
    if not path.is_file():
        sys.exit(f"bench.localization: no materialize.py beside {instances}")
    spec = importlib.util.spec_from_file_location("materialize", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def commit_time(git_dir: Path, commit: str) -> int:
    out = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", "-s", "--format=%ct", commit],
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip() or 0)


def _make_parents(root: Path, rel: str) -> None:
    """Create the directories above ``root/rel``, removing files of the old tree that stand in their way."""
    parts = rel.split(os.sep)[:-1]
    cur = str(root)
    for part in parts:
        cur = os.path.join(cur, part)
        if os.path.lexists(cur) and (os.path.islink(cur) or not os.path.isdir(cur)):
            os.remove(cur)
    os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)


def sync_tree(src: Path, dst: Path) -> tuple[int, int]:
    """Make ``dst`` equal ``src``, touching only files whose bytes differ. Returns (written, deleted)."""
    written = deleted = 0
    src_files: set[str] = set()
    for dirpath, _dirs, files in os.walk(src):
        rel_dir = os.path.relpath(dirpath, src)
        for name in files:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            src_files.add(rel)
            s = os.path.join(src, rel)
            d = os.path.join(dst, rel)
            if os.path.islink(s):
                continue
            if os.path.isfile(d) and not os.path.islink(d) and filecmp.cmp(s, d, shallow=False):
                continue
            _make_parents(dst, rel)
            if os.path.isdir(d) and not os.path.islink(d):
                shutil.rmtree(d)  # a directory in the old tree is a file in the new one
            elif os.path.lexists(d):
                os.remove(d)
            shutil.copyfile(s, d)
            written += 1
    for dirpath, _dirs, files in os.walk(dst, topdown=False):
        rel_dir = os.path.relpath(dirpath, dst)
        for name in files:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel not in src_files:
                os.remove(os.path.join(dst, rel))
                deleted += 1
        if dirpath != str(dst) and not os.listdir(dirpath):
            os.rmdir(dirpath)
    return written, deleted


_SKIP_MODES = frozenset({"120000", "160000"})  # symlinks and submodules: never written by sync_tree


def apply_commit_diff(git_dir: Path, old: str, new: str, dst: Path) -> tuple[int, int] | None:
    """Turn ``dst`` (the tree at ``old``, as :func:`sync_tree` left it) into the tree at ``new``.

    Reads only what changed between the two commits (``git diff-tree``) instead of
    writing and comparing the whole tree, which is what made syncing cost seconds per
    instance on large repositories. The result is the tree ``materialize`` + ``sync_tree``
    would leave: regular files only, blobs missing from the snapshot left out.
    Returns (written, deleted), or None when git cannot answer (then sync the whole tree).
    """
    diff = subprocess.run(
        ["git", "--git-dir", str(git_dir), "diff-tree", "-r", "-z", "--no-renames", old, new],
        capture_output=True,
    )
    if diff.returncode:
        return None
    fields = diff.stdout.split(b"\0")
    changes: list[tuple[str | None, str]] = []  # (blob to write, or None to remove; path)
    i = 0
    while i + 1 < len(fields) and fields[i]:
        _old_mode, mode, _old_sha, sha, *_ = fields[i].decode().lstrip(":").split()
        writable = mode not in _SKIP_MODES and set(sha) != {"0"}
        changes.append((sha if writable else None, os.fsdecode(fields[i + 1])))
        i += 2
    wanted = [sha for sha, _path in changes if sha is not None]
    blobs: dict[str, bytes | None] = {}
    if wanted:
        batch = subprocess.run(
            ["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
            input=b"".join(sha.encode() + b"\n" for sha in wanted),
            capture_output=True,
        )
        out, pos = batch.stdout, 0
        for sha in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if len(header) < 3 or header[1] == b"missing":
                blobs[sha] = None  # not in the snapshot (files of 4 MiB or more): left out
                continue
            size = int(header[2])
            blobs[sha] = out[pos : pos + size]
            pos += size + 1
    written = deleted = 0
    for sha, path in changes:
        target = dst / path
        data = blobs.get(sha) if sha is not None else None
        if data is None:
            if target.is_file() or target.is_symlink():
                target.unlink()
                deleted += 1
                parent = target.parent
                while parent != dst and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()  # sync_tree leaves no empty folders either
                    parent = parent.parent
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.write_bytes(data)
        written += 1
    return written, deleted


def materialize_and_sync(
    mat: ModuleType, git_dir: Path, commit: str, tree: Path, work: Path
) -> tuple[int, int]:
    """Write the whole tree at ``commit`` with ``materialize.py`` and sync ``tree`` to it."""
    stage = Path(tempfile.mkdtemp(prefix="stage-", dir=work))
    try:
        with open(os.devnull, "w") as devnull:
            old = sys.stdout
            sys.stdout = devnull
            try:
                mat.materialize(git_dir, commit, stage)
            finally:
                sys.stdout = old
        return sync_tree(stage, tree)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def score(ranked_files: list[str], ranked_fns: list[str], row: dict[str, Any]) -> dict[str, Any]:
    """Metrics of one instance. The only function that reads the gold data."""
    gold = list(row["gold_files"])
    pos = {p: i + 1 for i, p in enumerate(ranked_files)}
    ranks = {g: pos.get(g) for g in gold}
    out: dict[str, Any] = {"gold_ranks": ranks}
    for k in KS:
        out[f"acc@{k}"] = float(all(r is not None and r <= k for r in ranks.values()))
    found = [r for r in ranks.values() if r is not None]
    out["recall@10"] = sum(1 for r in found if r <= 10) / len(gold)
    out["mrr"] = 1.0 / min(found) if found else 0.0
    dcg = sum(1.0 / math.log2(r + 1) for r in found if r <= 10)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), 10)))
    out["ndcg@10"] = dcg / idcg if idcg else 0.0
    spans = [f"{p}::{s}" for p, names in row.get("expected_spans", {}).items() for s in names]
    fpos = {k: i + 1 for i, k in enumerate(ranked_fns)}
    for k in (5, 10):
        out[f"fn_acc@{k}"] = float(bool(spans) and all(fpos.get(s, 10**9) <= k for s in spans))
    return out


def dump_hits(hits: Sequence[Hit]) -> list[list[Any]]:
    """Hits as ``[path, start, end, key, score, signals]`` rows (what --rescore reads)."""
    return [
        [h.path, h.start_line, h.end_line, location_of(h).key, round(h.score, 6), h.signals] for h in hits
    ]


def _locations(rows: list[list[Any]]) -> list[Location]:
    out = []
    for path, start, end, key, sc, _signals in rows:
        symbol = key.split("::", 1)[1]
        out.append(Location(path, "" if symbol == "imports" else symbol, start, end, float(sc)))
    return out


def _keyword_options(fn: Callable[..., Any]) -> set[str]:
    return {p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY}


#: What ``--rank KEY=VALUE`` may change: the keyword options of the ranking functions.
RANK_OPTIONS = {
    "files": _keyword_options(rank_files) | _keyword_options(apply_history),
    "locations": _keyword_options(rank_locations),
}


def split_rank_options(pairs: Sequence[tuple[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--rank`` settings split into file-ranking (:func:`rank_files`, :func:`apply_history`) and
    :func:`rank_locations` keyword arguments."""
    files: dict[str, Any] = {}
    locations: dict[str, Any] = {}
    for key, value in pairs:
        if key in RANK_OPTIONS["files"]:
            files[key] = value
        elif key in RANK_OPTIONS["locations"]:
            locations[key] = value
        else:
            known = ", ".join(sorted(RANK_OPTIONS["files"] | RANK_OPTIONS["locations"]))
            raise SystemExit(f"bench.localization: unknown --rank option {key!r} (known: {known})")
    return files, locations


def evidence(rows: Sequence[list[Any]]) -> list[ChunkEvidence]:
    """Dumped hit rows as the learned ranker reads them."""
    return [
        ChunkEvidence(loc.path, loc.score, row[5], loc.symbol)
        for loc, row in zip(_locations(list(rows)), rows, strict=True)
    ]


def hand_ranking(
    hits: list[list[Any]],
    graph: FileGraph | None = None,
    history: FileHistory | None = None,
    file_options: Mapping[str, Any] | None = None,
) -> list[tuple[str, float]]:
    """The hand-tuned file ranking of dumped hits (:func:`rank_files`, then :func:`apply_history`)."""
    options = dict(file_options or {})
    history_options = {k: options.pop(k) for k in list(options) if k in _keyword_options(apply_history)}
    files = rank_files([(h[0], float(h[4])) for h in hits], graph, **options)
    return apply_history(files, history, **history_options)


def rank_from_hits(
    hits: list[list[Any]],
    focus_hits: list[list[Any]],
    graph: FileGraph | None = None,
    history: FileHistory | None = None,
    *,
    query: str | None = None,
    ranker: LinearRanker | None = None,
    file_options: Mapping[str, Any] | None = None,
    location_options: Mapping[str, Any] | None = None,
) -> tuple[list[str], list[str]]:
    """Files and functions ranked from the two stages' dumped hits (and the saved graph and history),
    best first; with ``ranker`` (and the issue text ``query``) the learned ranker re-orders the files."""
    files = hand_ranking(hits, graph, history, file_options)
    if ranker is not None and query is not None:
        files = rerank_files(files, file_features(query, evidence(hits), files, graph, history), ranker)
    locations = rank_locations(files, _locations(focus_hits), _locations(hits), **(location_options or {}))
    return [p for p, _ in files], [loc.key for loc in locations]


def snapshot_history(git_dir: Path, commit: str, query: str, top_paths: Sequence[str]) -> FileHistory | None:
    """The history prior of a run recorded before the engine had one, from the snapshot at ``commit``.

    What the engine computes, except that the files that count are the snapshot's code files
    that are not tests (the engine asks its index, which may skip a few more).
    """
    index = GitHistory(git_dir.parent, rev=commit, git_dir=git_dir).index()
    if index is None or not len(index):
        return None
    listing = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", commit],
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    present = {p for p in listing if is_code_language(detect_language(p) or "") and not is_test_path(p)}
    return index.file_history(query, top_paths, present.__contains__)


def rescore_records(
    path: Path,
    instances: Path,
    *,
    ranker: LinearRanker | None,
    paired: bool = False,
    first_stage_only: bool = False,
    no_graph: bool = False,
    no_history: bool = False,
    mirrors: Path | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every record of a run's ``*.partial.jsonl`` ranked again with the current code and scored:
    with ``ranker`` (None: the hand-tuned file ranking) and, when ``paired``, also without it.
    The options are :func:`rescore`'s."""
    file_options, location_options = split_rank_options(options)
    rows = {r["instance_id"]: r for r in map(json.loads, instances.read_text().splitlines()) if r}
    results = []
    baseline = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if "hits" not in rec:
            continue
        saved = None if no_graph else rec.get("graph")
        graph = FileGraph.from_dict(saved) if saved is not None else None
        saved_history = None if no_history else rec.get("history")
        history = FileHistory.from_dict(saved_history) if saved_history else None
        row = rows[rec["instance_id"]]
        if not no_history and "history" not in rec and mirrors is not None:
            git_dir = load_materializer(instances).find_git_dir(mirrors, row["repo"])
            if git_dir is not None:
                first = rank_files([(h[0], float(h[4])) for h in rec["hits"]], graph)
                top = [p for p, _ in first[:HISTORY_TOP_FILES]]
                history = snapshot_history(Path(git_dir), row["base_commit"], row["problem_statement"], top)
        for chosen, out in ((ranker, results), *(((None, baseline),) if paired else ())):
            files, fns = rank_from_hits(
                rec["hits"],
                [] if first_stage_only else rec.get("focus_hits", []),
                graph,
                history,
                query=row["problem_statement"],
                ranker=chosen,
                file_options=file_options,
                location_options=location_options,
            )
            spans = {f"{p}::{name}" for p, names in row.get("expected_spans", {}).items() for name in names}
            found = {h[3] for h in rec["hits"]} | {h[3] for h in rec.get("focus_hits", [])}
            out.append(
                {
                    "instance_id": rec["instance_id"],
                    "repo": rec["repo"],
                    **({"lang": row["lang"]} if "lang" in row else {}),
                    **score(files, fns, row),
                    "spans_found": bool(spans) and spans <= found,
                }
            )
    return results, baseline


def rescore(
    path: Path,
    instances: Path,
    *,
    first_stage_only: bool = False,
    no_graph: bool = False,
    no_history: bool = False,
    no_ranker: bool = False,
    paired: bool = False,
    profile: bool = False,
    mirrors: Path | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> int:
    """Score a finished or partial run again from its saved hits, with the current ranking code.

    ``first_stage_only`` ranks functions from the first (whole-index) search alone, in hit
    order: the ablation of the second, focused stage. ``no_graph`` ranks files from the hits
    alone, without the import graph a record saved (the ablation of import propagation and
    centrality; records without a graph are always ranked so); ``no_history`` ignores the
    saved history prior (its ablation); ``no_ranker`` keeps the hand-tuned file ranking (the
    learned ranker's ablation); ``paired`` also ranks every record without the learned ranker
    and prints, per metric, the instances each side wins and a two-sided sign test
    (:func:`paired_report`); ``profile`` prints where the misses are (:func:`profile_report`).
    With ``mirrors``, a record written before runs saved
    the history prior gets one computed from its snapshot (:func:`snapshot_history`). ``options`` (``--rank
    KEY=VALUE``) change a keyword option of :func:`rank_files` or :func:`rank_locations` for
    the ablations (e.g. ``centrality_weight=0``).
    """
    ranker = None if no_ranker else bundled_ranker()
    results, baseline = rescore_records(
        path,
        instances,
        ranker=ranker,
        paired=paired,
        first_stage_only=first_stage_only,
        no_graph=no_graph,
        no_history=no_history,
        mirrors=mirrors,
        options=options,
    )
    summary, per_repo = summarize(results) if results else ({"n": 0}, {})
    for repo, v in per_repo.items():
        print(f"{repo:28} " + " ".join(f"{m}={v[m]}" for m in ("n", "acc@1", "acc@5", "acc@10", "fn_acc@10")))
    if profile and results:
        for line_out in profile_report(results):
            print(line_out)
    if paired and results:
        print("paired, learned ranker against the hand-tuned file ranking:")
        for line_out in paired_report(results, baseline):
            print(line_out)
    print(json.dumps(summary))
    return 0


def profile_report(results: Sequence[dict[str, Any]]) -> list[str]:
    """Where the misses are: Acc@1/5/10 by the number of gold files, how often a gold file is in the
    top five and every gold file anywhere in the ranking, and how often every expected span is among
    the two stages' hits (the ceiling of function Acc@k)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        n = len(r["gold_ranks"])
        groups["1" if n == 1 else "2" if n == 2 else "3-5" if n <= 5 else "6+"].append(r)
    lines = []
    for name in ("1", "2", "3-5", "6+"):
        rs = groups.get(name, [])
        if rs:
            acc = {k: round(100 * statistics.fmean(r[f"acc@{k}"] for r in rs), 1) for k in (1, 5, 10)}
            lines.append(
                f"  gold files {name:3}: n={len(rs):<4} acc@1={acc[1]} acc@5={acc[5]} acc@10={acc[10]}"
            )

    def share(pred: Callable[[dict[str, Any]], bool]) -> float:
        return round(100 * sum(1 for r in results if pred(r)) / len(results), 1)

    top5 = share(lambda r: any(v is not None and v <= 5 for v in r["gold_ranks"].values()))
    ranked = share(lambda r: all(v is not None for v in r["gold_ranks"].values()))
    spans = share(lambda r: bool(r.get("spans_found")))
    lines.append(
        f"  a gold file in the top 5: {top5}  every gold file ranked: {ranked}"
        f"  every expected span among the hits: {spans}"
    )
    return lines


def compare_runs(
    baseline: Sequence[Path],
    candidate: Sequence[Path],
    *,
    instances: Path | None = None,
    no_ranker: bool = False,
) -> int:
    """Two runs' records paired on the instances both hold (e.g. two embedders): the means of
    each and :func:`paired_report` of ``candidate`` against ``baseline``.

    With ``instances``, both runs are first ranked again from their saved hits with the current
    code (:func:`rescore_records`; the learned ranker unless ``no_ranker``), so two runs made at
    different commits compare what their retrieval found, not the ranking code of their day.
    """
    ranker = None if no_ranker else bundled_ranker()

    def load(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for path in paths:
            if instances is not None:
                records, _ = rescore_records(path, instances, ranker=ranker)
            else:
                records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            for rec in records:
                out[rec["instance_id"]] = rec
        return out

    a, b = load(baseline), load(candidate)
    ids = [i for i in b if i in a]
    if not ids:
        print("bench.localization: the two runs share no instance", file=sys.stderr)
        return 2
    print(f"{len(ids)} instances in both runs")
    for metric in METRICS:
        x = statistics.fmean(a[i][metric] for i in ids)
        y = statistics.fmean(b[i][metric] for i in ids)
        scale = 1 if metric == "mrr" else 100
        print(f"  {metric:10} {scale * x:8.3f} -> {scale * y:8.3f}")
    print("paired, candidate against baseline:")
    for line_out in paired_report([b[i] for i in ids], [a[i] for i in ids]):
        print(line_out)
    return 0


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if neither side is better."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_report(results: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]) -> list[str]:
    """Per metric (Acc@k, function Acc@k): instances where ``results`` is right and ``baseline``
    wrong (wins), the reverse (losses), and :func:`sign_test`; MRR as the mean paired change."""
    lines = []
    for metric in [f"acc@{k}" for k in KS] + ["fn_acc@5", "fn_acc@10"]:
        wins = sum(1 for a, b in zip(results, baseline, strict=True) if a[metric] > b[metric])
        losses = sum(1 for a, b in zip(results, baseline, strict=True) if a[metric] < b[metric])
        lines.append(f"  {metric:10} +{wins} -{losses}  sign test p={sign_test(wins, losses):.3f}")
    delta = statistics.fmean(a["mrr"] - b["mrr"] for a, b in zip(results, baseline, strict=True))
    lines.append(f"  mrr        {delta:+.3f} mean paired change")
    return lines


METRICS = [f"acc@{k}" for k in KS] + ["recall@10", "mrr", "ndcg@10", "fn_acc@5", "fn_acc@10"]


def summarize(results: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Mean metrics over instances, per repository, and the macro mean over repositories."""

    def mean(rs: list[dict[str, Any]], m: str) -> float:
        value = statistics.mean(r[m] for r in rs)
        return round(value, 3) if m == "mrr" else round(100 * value, 1)

    summary: dict[str, Any] = {m: mean(results, m) for m in METRICS}
    per_repo: dict[str, dict[str, Any]] = {}
    for repo in sorted({r["repo"] for r in results}):
        rs = [r for r in results if r["repo"] == repo]
        per_repo[repo] = {"n": len(rs), **{m: mean(rs, m) for m in METRICS}}
    summary["macro"] = {
        m: round(statistics.mean(v[m] for v in per_repo.values()), 3 if m == "mrr" else 1) for m in METRICS
    }
    languages = sorted({r["lang"] for r in results if r.get("lang")})
    if languages:  # the multi-language set: one row per language too
        summary["per_language"] = {
            lang: {"n": len(rs), **{m: mean(rs, m) for m in METRICS}}
            for lang in languages
            for rs in [[r for r in results if r.get("lang") == lang]]
        }
    summary["n"] = len(results)
    return summary, per_repo


@dataclass(frozen=True)
class RunConfig:
    """What every repository's run needs (picklable: workers get it)."""

    instances: Path
    work: Path
    home: Path
    hits: int
    focus_hits: int
    full_sync: bool
    partial: Path
    embed_threads: int  # 0 = the default (all cores)
    queries_only: bool = False  # query the indexes a finished run left in ``work``; no sync, no indexing
    overrides: tuple[tuple[str, Any], ...] = ()  # --set KEY=VALUE: settings other than the defaults


def _append_record(partial: Path, rec: dict[str, Any]) -> None:
    """Append one instance's record to the partial file the workers share."""
    with partial.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()  # all of it written while the lock is held
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def parse_setting(kv: str, flag: str = "--set") -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set`` or ``--rank``; the value read as JSON when it is JSON (numbers, true)."""
    key, sep, raw = kv.partition("=")
    if not sep or not key:
        raise SystemExit(f"bench.localization: {flag} wants KEY=VALUE, got {kv!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def estimated_cost(git_dir: Path, first_commit: str, n_instances: int) -> float:
    """A rough size of one repository's run, to start the largest ones first.

    Megabytes of text at its first commit (what the first index embeds) plus a share per
    instance (the changed files each later commit re-indexes).
    """
    listing = subprocess.run(
        ["git", "--git-dir", str(git_dir), "ls-tree", "-r", "-l", first_commit],
        capture_output=True,
        text=True,
    ).stdout
    skipped = DEFAULT_BINARY_EXTENSIONS | DEFAULT_DATA_EXTENSIONS
    total = 0
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        size = parts[3] if len(parts) > 3 else "-"
        if size.isdigit() and int(size) <= 1 << 20 and path.rsplit(".", 1)[-1].lower() not in skipped:
            total += int(size)
    return total / 1e6 + 0.1 * n_instances


def run_repo(task: tuple[str, list[dict[str, Any]], Path, RunConfig]) -> list[dict[str, Any]]:
    """Index and query every instance of one repository (``items``, in commit order) in one working tree."""
    repo, items, git_dir, cfg = task
    mat = load_materializer(cfg.instances)
    tree = cfg.work / "trees" / repo.replace("/", "__")
    tree.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = dict(cfg.overrides)
    overrides["home"] = cfg.home
    if cfg.embed_threads:
        overrides["embed_threads"] = cfg.embed_threads
    if cfg.queries_only:
        overrides["query_cache"] = 0
    engine = Engine(tree, load_settings(tree, overrides=overrides))
    results: list[dict[str, Any]] = []
    previous: str | None = None
    try:
        for n, r in enumerate(items, 1):
            t0 = time.perf_counter()
            synced: tuple[int, int] | None = (0, 0) if cfg.queries_only else None
            if synced is None and previous is not None and not cfg.full_sync:
                synced = apply_commit_diff(git_dir, previous, r["base_commit"], tree)
            if synced is None:
                synced = materialize_and_sync(mat, git_dir, r["base_commit"], tree, cfg.work)
            written, deleted = synced
            previous = r["base_commit"]
            t1 = time.perf_counter()
            embedded = 0 if cfg.queries_only else engine.index().embedded
            t2 = time.perf_counter()
            # The history prior sees the snapshot's log up to the base commit: ancestors only.
            engine.history = GitHistory(tree, rev=r["base_commit"], git_dir=git_dir)
            _loc, first, second, graph, history = localize(
                engine.search,
                r["problem_statement"],
                file_hits=cfg.hits,
                focus_hits=cfg.focus_hits,
                graph=engine.file_graph,
                history=engine.file_history,
                rerank=reranker() if engine.settings.learned_ranker else None,
            )
            t3 = time.perf_counter()
            dumped, focus_dumped = dump_hits(first), dump_hits(second)
            ranked_files, ranked_fns = rank_from_hits(
                dumped,
                focus_dumped,
                graph,
                history,
                query=r["problem_statement"],
                ranker=bundled_ranker() if engine.settings.learned_ranker else None,
            )
            metrics = score(ranked_files, ranked_fns, r)
            rec = {
                "instance_id": r["instance_id"],
                "repo": repo,
                **({"lang": r["lang"]} if "lang" in r else {}),
                **metrics,
                "top_files": ranked_files[:10],
                "top_functions": ranked_fns[:10],
                # Every hit of both stages (path, start, end, key, score, signals): --rescore ranks again.
                "hits": dumped,
                "focus_hits": focus_dumped,
                # The import graph around the first stage's files, as file ranking read it.
                "graph": graph.to_dict() if graph is not None else None,
                # The history prior (similar commits' files, co-change of the first files), as used.
                "history": history.to_dict() if history is not None else None,
                "sync_s": round(t1 - t0, 2),
                "index_s": round(t2 - t1, 2),
                "query_ms": round((t3 - t2) * 1000, 1),
                "files_written": written,
                "files_deleted": deleted,
                "embedded": embedded,
                # Which model made the vectors: runs of two embedders stay apart when compared.
                "embedder": engine.embedder.id,
            }
            results.append(rec)
            _append_record(cfg.partial, rec)
            print(
                f"[{n}/{len(items)} of {repo}] {r['instance_id']}: acc@1={metrics['acc@1']:.0f} "
                f"acc@5={metrics['acc@5']:.0f} ranks={metrics['gold_ranks']} index={rec['index_s']}s "
                f"embedded={embedded} query={rec['query_ms']}ms",
                file=sys.stderr,
                flush=True,
            )
    finally:
        engine.close()
    return results


def run_costs(results: list[dict[str, Any]]) -> dict[str, Any]:
    """What a run's records say it cost: totals, and medians per instance (overall and per repository)."""

    def med(rs: list[dict[str, Any]], key: str) -> float:
        return round(float(statistics.median(r[key] for r in rs)), 2)

    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        by_repo[r["repo"]].append(r)
    return {
        "embedded": sum(r["embedded"] for r in results),
        "index_s": round(sum(r["index_s"] for r in results), 1),
        "sync_s": round(sum(r["sync_s"] for r in results), 1),
        "median_index_s": med(results, "index_s"),
        "median_query_ms": med(results, "query_ms"),
        "per_repo": {
            repo: {
                "embedded": sum(r["embedded"] for r in rs),
                "median_query_ms": med(rs, "query_ms"),
                "median_files_written": med(rs, "files_written"),
            }
            for repo, rs in sorted(by_repo.items())
        },
    }


def print_partial(path: Path, instances: Path | None = None) -> int:
    """Summarise a ``*.partial.jsonl`` written by a run that is still going or was stopped:
    a table per repository (and per language, for the multi-language set), the run's costs (one
    JSON line), then the summary (the last line). ``instances`` supplies languages to records
    written before they carried them."""
    results = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if instances is not None:
        rows = [json.loads(line) for line in instances.read_text().splitlines() if line.strip()]
        langs = {r["instance_id"]: r["lang"] for r in rows if "lang" in r}
        for rec in results:
            if "lang" not in rec and rec["instance_id"] in langs:
                rec["lang"] = langs[rec["instance_id"]]
    if not results:
        print(json.dumps({"n": 0}))
        return 0
    summary, per_repo = summarize(results)
    header = ["n", "acc@1", "acc@3", "acc@5", "acc@10", "mrr", "fn@10"]
    print(f"{'repository':28} " + " ".join(f"{h:>6}" for h in header))
    for repo, v in per_repo.items():
        print(
            f"{repo:28} {v['n']:>6} {v['acc@1']:>6} {v['acc@3']:>6} {v['acc@5']:>6} {v['acc@10']:>6} "
            f"{v['mrr']:>6} {v['fn_acc@10']:>6}"
        )
    for lang, v in summary.get("per_language", {}).items():
        print(
            f"{'language ' + lang:28} {v['n']:>6} {v['acc@1']:>6} {v['acc@3']:>6} {v['acc@5']:>6} "
            f"{v['acc@10']:>6} {v['mrr']:>6}"
        )
    print(json.dumps({"costs": run_costs(results)}))
    print(json.dumps(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=Path)
    ap.add_argument("--mirrors", type=Path)
    ap.add_argument("--summarize", type=Path, help="summarise a *.partial.jsonl of a running or stopped run")
    ap.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        action="append",
        metavar=("BASELINE", "CANDIDATE"),
        help="pair two runs' *.partial.jsonl on their common instances (repeat to add more pairs of "
        "files); with --instances both are ranked again with the current code (--no-ranker: hand-tuned)",
    )
    ap.add_argument(
        "--rescore", type=Path, help="rank again from the hits saved in a *.partial.jsonl (needs --instances)"
    )
    ap.add_argument(
        "--first-stage-only",
        action="store_true",
        help="with --rescore: functions from the whole-index search alone (ablation of stage two)",
    )
    ap.add_argument(
        "--no-graph",
        action="store_true",
        help="with --rescore: files from the hits alone, ignoring the saved import graph (ablation)",
    )
    ap.add_argument(
        "--no-history",
        action="store_true",
        help="with --rescore: ignore the saved history prior (ablation)",
    )
    ap.add_argument(
        "--no-ranker",
        action="store_true",
        help="with --rescore: the hand-tuned file ranking, without the learned ranker (ablation)",
    )
    ap.add_argument(
        "--paired",
        action="store_true",
        help="with --rescore: also rank without the learned ranker; print wins, losses and a sign test",
    )
    ap.add_argument(
        "--profile",
        action="store_true",
        help="with --rescore: Acc@k by the number of gold files, and the recall ceilings",
    )
    ap.add_argument(
        "--rank",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --rescore: a ranking option other than its default (e.g. centrality_weight=0, "
        "first_weight=0); keyword options of rank_files and rank_locations",
    )
    ap.add_argument("--ids", nargs="*", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--repos", nargs="*", default=None, help="only these owner/name repositories")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--home", type=Path, default=None, help="data home (default: <work>/home)")
    ap.add_argument(
        "--full-sync",
        action="store_true",
        help="write and compare the whole tree for every instance (default: apply the commit diff)",
    )
    ap.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="repositories indexed side by side, each on its share of the cores (default: 2; 1 on one core)",
    )
    ap.add_argument(
        "--queries-only",
        action="store_true",
        help="development loop: query each instance against the index a finished run left in --work "
        "(each repository at its last instance's commit); no sync, no indexing. Not the benchmark's figures",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="development loop: a non-default setting (e.g. vector_weight=1.5); the summary lists them",
    )
    ap.add_argument(
        "--hits",
        type=int,
        default=FILE_STAGE_HITS,
        help=f"chunk hits ranked into files (default {FILE_STAGE_HITS}, as context_localize)",
    )
    ap.add_argument(
        "--focus-hits",
        type=int,
        default=FOCUS_STAGE_HITS,
        help=f"chunk hits of the focus files ranked into locations (default {FOCUS_STAGE_HITS})",
    )
    args = ap.parse_args(argv)
    if args.compare:
        return compare_runs(
            [pair[0] for pair in args.compare],
            [pair[1] for pair in args.compare],
            instances=args.instances,
            no_ranker=args.no_ranker,
        )
    if args.summarize is not None:
        return print_partial(args.summarize, args.instances)
    if args.rescore is not None:
        if args.instances is None:
            ap.error("--rescore needs --instances")
        return rescore(
            args.rescore,
            args.instances,
            first_stage_only=args.first_stage_only,
            no_graph=args.no_graph,
            no_history=args.no_history,
            no_ranker=args.no_ranker,
            paired=args.paired,
            profile=args.profile,
            mirrors=args.mirrors,
            options=[parse_setting(kv, "--rank") for kv in args.rank],
        )
    if args.instances is None or args.mirrors is None or args.out is None:
        ap.error("--instances, --mirrors and --out are required (or --summarize FILE)")

    rows = [json.loads(line) for line in args.instances.read_text().splitlines() if line.strip()]
    if args.ids:
        wanted = set(args.ids)
        rows = [r for r in rows if r["instance_id"] in wanted]
    if args.repos:
        rows = [r for r in rows if r["repo"] in set(args.repos)]
    if args.limit:
        rows = rows[: args.limit]
    mat = load_materializer(args.instances)
    git_dirs: dict[str, Path] = {}
    missing = set()
    for r in rows:
        if r["repo"] not in git_dirs and r["repo"] not in missing:
            d = mat.find_git_dir(args.mirrors, r["repo"])
            if d is None:
                missing.add(r["repo"])
            else:
                git_dirs[r["repo"]] = d
    if missing:
        print(
            f"bench.localization: skipping {sorted(missing)}: no snapshot under {args.mirrors}",
            file=sys.stderr,
        )
    rows = [r for r in rows if r["repo"] in git_dirs]
    if not rows:
        print("bench.localization: no instance has a snapshot; nothing to do", file=sys.stderr)
        print(json.dumps({"n": 0, "skipped": True}))
        return 0

    overrides = tuple(parse_setting(kv) for kv in args.set)
    if args.queries_only and (args.work is None or not (args.work / "trees").is_dir()):
        ap.error("--queries-only needs --work DIR of a finished run (with DIR/trees)")
    tmp = None
    work = args.work
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="conexus-loc-")
        work = Path(tmp.name)
    home = args.home or work / "home"
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_repo[r["repo"]].append(r)
    for repo, items in by_repo.items():  # commit order: each tree is the previous one plus a diff
        items.sort(key=lambda r: commit_time(git_dirs[repo], r["base_commit"]))

    t_start = time.perf_counter()
    partial = args.out.with_name(args.out.name + ".partial.jsonl")
    partial.write_text("")
    jobs = max(1, min(args.jobs, len(by_repo)))
    cfg = RunConfig(
        instances=args.instances,
        work=work,
        home=home,
        hits=args.hits,
        focus_hits=args.focus_hits,
        full_sync=args.full_sync,
        partial=partial,
        # Several workers share the cores: each embeds on its share (a speed setting, not a
        # quality one: the vectors are the same).
        embed_threads=max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0,
        queries_only=args.queries_only,
        overrides=overrides,
    )
    tasks = [(repo, items, git_dirs[repo], cfg) for repo, items in by_repo.items()]
    results: list[dict[str, Any]] = []
    if jobs == 1:
        # Smallest repositories first: an interrupted run still covers many repositories.
        for task in sorted(tasks, key=lambda t: (len(t[1]), t[0])):
            results += run_repo(task)
        peak_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        # Largest first, each worker taking the next repository when it is done: the
        # shortest total time for these few, very unequal, repositories.
        ctx = multiprocessing.get_context("spawn")
        cost = {
            repo: estimated_cost(git_dir, items[0]["base_commit"], len(items))
            for repo, items, git_dir, _cfg in tasks
        }
        with ctx.Pool(jobs) as pool:
            for part in pool.imap_unordered(run_repo, sorted(tasks, key=lambda t: (-cost[t[0]], t[0]))):
                results += part
        peak_rss_kb = max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
    order = {r["instance_id"]: i for i, r in enumerate(rows)}
    results.sort(key=lambda rec: order[rec["instance_id"]])

    wall = time.perf_counter() - t_start
    summary, per_repo = summarize(results)
    summary["n"] = len(results)
    summary["wall_s"] = round(wall, 1)
    summary["jobs"] = jobs
    if args.queries_only or overrides or args.hits != FILE_STAGE_HITS or args.focus_hits != FOCUS_STAGE_HITS:
        summary["development"] = {
            "queries_only": args.queries_only,
            "set": dict(overrides),
            "hits": args.hits,
            "focus_hits": args.focus_hits,
        }
    summary["peak_rss_mb"] = round(peak_rss_kb / 1024, 1)
    args.out.write_text(
        json.dumps({"summary": summary, "per_repo": per_repo, "instances": results}, indent=1)
    )
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
