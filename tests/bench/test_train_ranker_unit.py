"""bench.train_ranker: examples from saved runs, a fit that learns what separates gold files, the refusal
of anything but the training set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bench.train_ranker import evaluate, fit, load_examples, main

from conexus.search.ranker import FEATURES, LinearRanker


def write_run(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """Records where the gold file is always the second-ranked one, a non-test file named in the issue,
    while the first is a test file."""
    rows, recs = [], []
    for i in range(n):
        repo = f"o/r{i % 2}"
        gold = f"pkg/mod{i}.py"
        test = f"tests/test_mod{i}.py"
        rows.append(
            {
                "instance_id": f"x-{i}",
                "repo": repo,
                "problem_statement": f"mod{i}.py breaks",
                "gold_files": [gold],
            }
        )

        def hit(path: str, sc: float, rank: int) -> list[Any]:
            return [path, 1, 9, f"{path}::f", sc, {"bm25": float(rank)}]

        recs.append(
            {
                "instance_id": f"x-{i}",
                "repo": repo,
                "hits": [hit(test, 0.5, 1), hit(gold, 0.4, 2), hit(f"pkg/other{i}.py", 0.3, 3)],
                "focus_hits": [],
                "graph": None,
                "history": None,
            }
        )
    instances = tmp_path / "swebench-train.jsonl"
    instances.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = tmp_path / "run.partial.jsonl"
    run.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return run, instances


def test_a_fitted_ranker_learns_to_put_the_named_code_file_above_the_test(tmp_path: Path) -> None:
    run, instances = write_run(tmp_path, 20)
    examples = load_examples([run], instances)
    assert len(examples) == 20 and all(len(ex.features) == 3 for ex in examples)
    assert evaluate(examples, None)["acc@1"] == 0.0  # the hand-tuned ranking puts the test first
    model = fit(examples, 1.0, {"set": "swebench-train.jsonl"})
    assert evaluate(examples, model)["acc@1"] == 100.0
    assert model.weights[FEATURES.index("test")] < 0
    assert LinearRanker.from_dict(json.loads(json.dumps(model.to_dict()))) == LinearRanker.from_dict(
        model.to_dict()
    )


def test_it_fits_on_the_training_set_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, instances = write_run(tmp_path, 4)
    dev = tmp_path / "swebench-verified-dev.jsonl"
    dev.write_text(instances.read_text())
    assert main(["--records", str(run), "--instances", str(dev)]) == 2
    assert "training set only" in capsys.readouterr().err
    assert main(["--records", str(run), "--instances", str(instances), "--c", "1"]) == 0
    out = capsys.readouterr().out
    assert "4 training instances, 2 repositories" in out and "pooled learned" in out
