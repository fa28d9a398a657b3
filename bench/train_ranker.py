"""Fit the learned file ranker (``conexus/search/ranker_model.json``) on training-set runs.

    python -m bench.train_ranker --records RUN.partial.jsonl [RUN2 ...] \\
        --instances ../shared/eval/swebench-train.jsonl [--write]

The records are ``bench.localization`` runs over the *training* set
(``swebench-train.jsonl``: SWE-bench instances in neither Lite nor Verified), so
a model written here has never seen a development instance. For every record
the hand-tuned ranking of its saved hits, graph and history gives the
candidates; :func:`conexus.search.ranker.file_features` gives their features,
and a candidate is positive when it is a gold file. A logistic regression
(scikit-learn, features standardised) is fitted; its regularisation is chosen
by leave-one-repository-out cross-validation on the training set, where the
printed table compares hand-tuned and learned rankings repository by
repository. ``--write`` saves the model fitted on all records.

Needs scikit-learn (a dev dependency); the shipped model needs nothing but the
standard library to score.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.localization import KS, evidence, hand_ranking
from conexus.search.history import FileHistory
from conexus.search.localize import FileGraph
from conexus.search.ranker import CANDIDATES, FEATURES, MODEL_PATH, LinearRanker, file_features, rerank_files

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


@dataclass
class Example:
    """One training instance: its candidates' features and labels, and the whole hand-tuned ranking."""

    instance_id: str
    repo: str
    gold: frozenset[str]
    hand: list[tuple[str, float]]
    features: list[tuple[str, list[float]]]


def load_examples(records: Sequence[Path], instances: Path) -> list[Example]:
    """Examples from benchmark records, their issue texts and gold files from ``instances``."""
    rows = {r["instance_id"]: r for r in map(json.loads, instances.read_text().splitlines()) if r}
    out: dict[str, Example] = {}
    for path in records:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            rec = json.loads(line)
            row = rows.get(rec["instance_id"])
            if row is None or "hits" not in rec:
                continue
            graph = FileGraph.from_dict(rec["graph"]) if rec.get("graph") else None
            history = FileHistory.from_dict(rec["history"]) if rec.get("history") else None
            hand = hand_ranking(rec["hits"], graph, history)
            features = file_features(row["problem_statement"], evidence(rec["hits"]), hand, graph, history)
            out[rec["instance_id"]] = Example(
                rec["instance_id"], row["repo"], frozenset(row["gold_files"]), hand, features
            )
    return list(out.values())


def matrix(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of every candidate of the examples that have a gold file among them."""
    xs: list[list[float]] = []
    ys: list[int] = []
    for ex in examples:
        labels = [int(path in ex.gold) for path, _ in ex.features]
        if not any(labels):
            continue
        xs.extend(vec for _, vec in ex.features)
        ys.extend(labels)
    return np.asarray(xs, dtype=float), np.asarray(ys, dtype=int)


def fit(examples: Sequence[Example], c: float, meta: dict[str, Any]) -> LinearRanker:
    """A logistic model on standardised features (scikit-learn), as a :class:`LinearRanker`."""
    from sklearn.linear_model import LogisticRegression

    x, y = matrix(examples)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, max_iter=5000)
    model.fit((x - mean) / scale, y)
    return LinearRanker(
        FEATURES,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in model.coef_[0]),
        float(model.intercept_[0]),
        meta,
    )


def metrics(ranked: Sequence[str], gold: frozenset[str]) -> dict[str, float]:
    pos = {p: i + 1 for i, p in enumerate(ranked)}
    ranks = [pos.get(g) for g in gold]
    out = {f"acc@{k}": float(all(r is not None and r <= k for r in ranks)) for k in KS}
    found = [r for r in ranks if r is not None]
    out["mrr"] = 1.0 / min(found) if found else 0.0
    return out


def evaluate(examples: Sequence[Example], model: LinearRanker | None) -> dict[str, float]:
    """Mean metrics of the hand-tuned (``model`` None) or learned ranking."""
    totals: dict[str, float] = defaultdict(float)
    for ex in examples:
        files = ex.hand if model is None else rerank_files(ex.hand, ex.features, model)
        for k, v in metrics([p for p, _ in files], ex.gold).items():
            totals[k] += v
    n = max(len(examples), 1)
    return {k: round(100 * v / n, 1) if k != "mrr" else round(v / n, 3) for k, v in totals.items()}


def cross_validate(
    examples: Sequence[Example], c: float
) -> list[tuple[str, int, dict[str, float], dict[str, float]]]:
    """Leave one repository out: per held-out repository, hand-tuned and learned metrics."""
    repos = sorted({ex.repo for ex in examples})
    out = []
    for repo in repos:
        train = [ex for ex in examples if ex.repo != repo]
        test = [ex for ex in examples if ex.repo == repo]
        model = fit(train, c, {})
        out.append((repo, len(test), evaluate(test, None), evaluate(test, model)))
    return out


def pooled(
    folds: Sequence[tuple[str, int, dict[str, float], dict[str, float]]], which: int
) -> dict[str, float]:
    n = sum(f[1] for f in folds)
    keys = folds[0][2].keys()
    return {k: round(sum(f[which][k] * f[1] for f in folds) / n, 3 if k == "mrr" else 1) for k in keys}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--records", type=Path, nargs="+", required=True, help="bench.localization runs over the training set"
    )
    ap.add_argument("--instances", type=Path, required=True, help="swebench-train.jsonl")
    ap.add_argument(
        "--c", type=float, default=None, help="regularisation (default: chosen by cross-validation)"
    )
    ap.add_argument(
        "--write", action="store_true", help=f"save the model fitted on all records to {MODEL_PATH.name}"
    )
    args = ap.parse_args(argv)
    if "train" not in args.instances.name:
        print("bench.train_ranker: fit on the training set only (swebench-train.jsonl)", file=sys.stderr)
        return 2
    examples = load_examples(args.records, args.instances)
    if not examples:
        print("bench.train_ranker: no records with saved hits", file=sys.stderr)
        return 2
    repos = sorted({ex.repo for ex in examples})
    print(f"{len(examples)} training instances, {len(repos)} repositories, {CANDIDATES} candidates each")
    if len(repos) < 2 and args.c is None:
        print("bench.train_ranker: cross-validation needs two repositories; pass --c", file=sys.stderr)
        return 2
    best_c = args.c
    if best_c is None:
        scores = {}
        for c in C_GRID:
            learned = pooled(cross_validate(examples, c), 3)
            scores[c] = (learned["acc@5"] + learned["acc@1"], learned)
            print(f"C={c:<5} leave-one-repo-out learned: {json.dumps(learned)}")
        best_c = max(scores, key=lambda c: (scores[c][0], -c))
    folds = cross_validate(examples, best_c)
    print(f"\nC={best_c}: leave-one-repository-out, hand-tuned -> learned")
    for repo, n, hand, learned in folds:
        print(
            f"  {repo:28} n={n:<4} acc@1 {hand['acc@1']:5.1f} -> {learned['acc@1']:5.1f}   "
            f"acc@5 {hand['acc@5']:5.1f} -> {learned['acc@5']:5.1f}   "
            f"mrr {hand['mrr']:.3f} -> {learned['mrr']:.3f}"
        )
    print(f"  pooled hand:    {json.dumps(pooled(folds, 2))}")
    print(f"  pooled learned: {json.dumps(pooled(folds, 3))}")
    per_repo: dict[str, int] = defaultdict(int)
    for ex in examples:
        per_repo[ex.repo] += 1
    meta = {
        "set": args.instances.name,
        "instances": len(examples),
        "repositories": dict(sorted(per_repo.items())),
        "c": best_c,
        "fitted": dt.date.today().isoformat(),
        "command": "python -m bench.train_ranker --records ... --instances swebench-train.jsonl --write",
    }
    model = fit(examples, best_c, meta)
    print("\nweights (standardised features):")
    for name, w in sorted(zip(FEATURES, model.weights, strict=True), key=lambda x: -abs(x[1])):
        print(f"  {name:16} {w:+.3f}")
    if args.write:
        MODEL_PATH.write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
