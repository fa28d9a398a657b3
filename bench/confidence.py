"""Search confidence and the "no good match" flag, on positive and constructed negative queries.

    python -m bench.confidence --instances DEV.jsonl --mirrors DIR [--work DIR] [--records FILE]
    python -m bench.confidence --fit --instances TRAIN.jsonl --mirrors DIR [--packages ...] [--work DIR]
    python -m bench.confidence --rescore FILE [--coefficients B0,B1,...]

Trees: psf/requests, pallets/flask and pytest-dev/pytest at the base commit of the
instances file's last instance of each (skipped, with a message, without snapshots), and
with ``--fit`` also packages installed in this environment (default httpx, starlette,
click, h11). Queries, per tree:

* positives from the instances of that repository: the issue text verbatim (``issue``), its
  first line (``title``), the name of each function its fix changed (``name``: from
  ``expected_spans``, or from the hunk headers of ``patch`` in the training set) and that
  function's first docstring line (``docstring``); for a package (training only), the names
  and docstring lines of a seeded sample of its documented functions. A positive is a good
  match when a file it is about (a gold file, or the function's file) holds one of the
  first five hits;
* negatives (``absent``): :mod:`bench.absent_features` (``DEV`` for reports, ``TRAIN`` with
  ``--fit``), each kept only when none of its words occurs in any file of the tree.

Without ``--fit`` it prints (stderr, then one JSON line on stdout) the precision and recall of
``no_good_match`` as a detector of absent-feature queries, the same against "no good match
in the first five hits" (which also counts positives the search failed), the flag rate per
query kind and a reliability table (confidence bins: queries, mean confidence, share good).
With ``--fit`` it fits the logistic model of :mod:`conexus.search.confidence` (L2-penalised,
scikit-learn, on the features each search reports) and prints the coefficients to ship.
``--records`` saves every query's features; ``--rescore`` evaluates saved records again
(with other ``--coefficients``) without searching. Not run in CI.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import absent_features
from bench.trees import log, package_tree, repository_tree
from conexus.config import load_settings
from conexus.engine import Engine
from conexus.models import ConfidenceSignals
from conexus.search.confidence import COEFFICIENTS, FEATURES, GOOD_MATCH, features, probability

REPOS = ("psf/requests", "pallets/flask", "pytest-dev/pytest")
DEFAULT_PACKAGES = ("httpx", "starlette", "click", "h11")
GOOD_WITHIN = 5  # a positive is a good match when a target file holds one of this many first hits
PACKAGE_SAMPLE = 40  # documented functions drawn per package (training only)
BINS = tuple(i / 10 for i in range(11))
L2 = 1.0  # ridge penalty of the fit (intercept not penalised)

_HUNK_NAME = re.compile(r"^@@ [^@]* @@\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.M)
_DEF_LINE = re.compile(r"^[+-]\s*(?:async\s+)?def\s+([A-Za-z_]\w*)", re.M)
_DIFF_FILE = re.compile(r"^diff --git a/(\S+) b/", re.M)
_TEXT_SUFFIXES = frozenset(
    {".py", ".pyi", ".txt", ".rst", ".md", ".cfg", ".ini", ".toml", ".yml", ".yaml", ".json", ".html"}
)


# ------------------------------------------------------------------------------ queries


def tree_text(tree: Path) -> str:
    """Every text file of the tree, lower-cased and joined: what the absence check searches."""
    parts: list[str] = []
    for p in sorted(tree.rglob("*")):
        if p.is_file() and (p.suffix.lower() in _TEXT_SUFFIXES or not p.suffix):
            try:
                parts.append(p.read_text(encoding="utf-8", errors="replace").lower())
            except OSError:
                continue
    return "\n".join(parts)


def absent_in(text: str, words: Iterable[str]) -> bool:
    """True when no word occurs in ``text`` at the start of a word (``orm`` is not in ``format``)."""
    return not any(re.search(r"(?<![a-z0-9])" + re.escape(w.lower()), text) for w in words)


def patch_functions(patch: str) -> list[tuple[str, str]]:
    """``(file, function name)`` of every hunk header and changed ``def`` line of a patch."""
    out: list[tuple[str, str]] = []
    pieces = _DIFF_FILE.split(patch)
    for path, body in zip(pieces[1::2], pieces[2::2], strict=False):
        for name in [*_HUNK_NAME.findall(body), *_DEF_LINE.findall(body)]:
            if (path, name) not in out:
                out.append((path, name))
    return out


def docstring_line(text: str, name: str) -> str | None:
    """The first line of the docstring of ``def name`` / ``class name`` in ``text`` (four words or more)."""
    m = re.search(r"^\s*(?:async\s+)?(?:def|class)\s+" + re.escape(name) + r"\b", text, re.M)
    if m is None:
        return None
    lines = text[m.end() :].split("\n")[:20]
    for i, line in enumerate(lines):
        s = line.strip()
        for quote in ('"""', "'''"):
            if quote in s:
                rest = s.split(quote, 1)[1].strip()
                if not rest and i + 1 < len(lines):
                    rest = lines[i + 1].strip()
                rest = rest.split(quote)[0].strip()
                return rest if len(rest.split()) >= 4 else None
    return None


def instance_queries(row: dict[str, Any], tree: Path) -> list[dict[str, Any]]:
    """The positive queries of one instance whose targets exist in ``tree``."""
    out: list[dict[str, Any]] = []
    gold = [f for f in row["gold_files"] if (tree / f).is_file()]
    if not gold:
        return out
    text = row["problem_statement"]
    out.append({"kind": "issue", "query": text, "targets": gold})
    title = text.strip().split("\n", 1)[0].strip()
    if len(title.split()) >= 3:
        out.append({"kind": "title", "query": title, "targets": gold})
    if "expected_spans" in row:
        functions = [(f, n.split(".")[-1]) for f, names in row["expected_spans"].items() for n in names]
    else:
        functions = patch_functions(row.get("patch", ""))
    for path, name in functions:
        if name == "imports" or not (tree / path).is_file():
            continue
        source = (tree / path).read_text(encoding="utf-8", errors="replace")
        if not re.search(r"\b" + re.escape(name) + r"\b", source):
            continue  # renamed or removed by the tree's commit: the query would ask for nothing
        out.append({"kind": "name", "query": name, "targets": [path]})
        doc = docstring_line(source, name)
        if doc:
            out.append({"kind": "docstring", "query": doc, "targets": [path]})
    return out


def package_queries(tree: Path, seed: int) -> list[dict[str, Any]]:
    """Names and docstring lines of a seeded sample of a package's documented functions."""
    found: list[tuple[str, str, str]] = []
    for p in sorted(tree.rglob("*.py")):
        text = p.read_text(encoding="utf-8", errors="replace")
        rel = p.relative_to(tree).as_posix()
        for m in re.finditer(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)", text, re.M):
            name = m.group(1)
            doc = docstring_line(text, name)
            if doc and not name.startswith("__"):
                found.append((rel, name, doc))
    rng = random.Random(f"{seed}:{tree.name}")
    out: list[dict[str, Any]] = []
    for rel, name, doc in rng.sample(found, min(PACKAGE_SAMPLE, len(found))):
        out.append({"kind": "name", "query": name, "targets": [rel]})
        out.append({"kind": "docstring", "query": doc, "targets": [rel]})
    return out


def negative_queries(text: str, negatives: Sequence[absent_features.Negative]) -> list[dict[str, Any]]:
    """The absent-feature queries whose words occur nowhere in the tree."""
    return [{"kind": "absent", "query": q, "targets": []} for q, words in negatives if absent_in(text, words)]


# ------------------------------------------------------------------------------ running


def run(engine: Engine, tree_name: str, queries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Search every query; its confidence, features and whether it is a good match."""
    records = []
    for q in queries:
        result = engine.search(q["query"], top_k=10, snippet_lines=0)
        conf = result.confidence
        assert conf is not None
        first = [h.path for h in result.hits[:GOOD_WITHIN]]
        good = bool(q["targets"]) and any(t in first for t in q["targets"])
        records.append(
            {
                "tree": tree_name,
                "kind": q["kind"],
                "query": q["query"][:200],
                "negative": not q["targets"],
                "good": good,
                "confidence": conf.score,
                "flag": conf.no_good_match,
                "signals": conf.signals.to_dict(),  # --rescore computes the features again from these
            }
        )
    return records


def signals_of(record: dict[str, Any]) -> ConfidenceSignals:
    s = record["signals"]
    return ConfidenceSignals(
        coverage=s["coverage"],
        absent=s["absent"],
        cosine=s["cosine"],
        exact=s["exact"],
        agree=s["agree"],
        gap=s["gap"],
        long_query=s["long_query"],
    )


# ------------------------------------------------------------------------------ fitting and scoring


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2) -> np.ndarray:
    """Logistic regression (scikit-learn) with a ridge penalty ``l2 / 2 · |w|²`` on every weight but the
    intercept; returns ``[intercept, weights...]``."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0 / l2, max_iter=10000, tol=1e-10)
    model.fit(x, y)
    return np.concatenate([model.intercept_, model.coef_[0]])


def pr(flags: Sequence[bool], truth: Sequence[bool]) -> dict[str, float]:
    tp = sum(f and t for f, t in zip(flags, truth, strict=True))
    fp = sum(f and not t for f, t in zip(flags, truth, strict=True))
    fn = sum(t and not f for f, t in zip(flags, truth, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "precision": round(100 * precision, 1),
        "recall": round(100 * recall, 1),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def evaluate(records: Sequence[dict[str, Any]], coefficients: Sequence[float]) -> dict[str, Any]:
    """Flag precision/recall, flag rate per kind and the reliability table under ``coefficients``."""
    scores = [probability(features(signals_of(r)), coefficients) for r in records]
    flags = [s < GOOD_MATCH for s in scores]
    out: dict[str, Any] = {
        "n": len(records),
        "negatives": sum(r["negative"] for r in records),
        "flag_vs_absent": pr(flags, [r["negative"] for r in records]),
        "flag_vs_no_good_hit": pr(flags, [not r["good"] for r in records]),
    }
    kinds: dict[str, dict[str, Any]] = {}
    for kind in ("issue", "title", "name", "docstring", "absent"):
        idx = [i for i, r in enumerate(records) if r["kind"] == kind]
        if idx:
            kinds[kind] = {
                "n": len(idx),
                "good": round(100 * sum(records[i]["good"] for i in idx) / len(idx), 1),
                "flagged": round(100 * sum(flags[i] for i in idx) / len(idx), 1),
                "mean_confidence": round(sum(scores[i] for i in idx) / len(idx), 3),
            }
    # The hard negatives: every word of the query is somewhere in the index, the feature is not.
    hard = [i for i, r in enumerate(records) if r["negative"] and r["signals"]["absent"] == 0]
    if hard:
        kinds["absent, every term indexed"] = {
            "n": len(hard),
            "good": 0.0,
            "flagged": round(100 * sum(flags[i] for i in hard) / len(hard), 1),
            "mean_confidence": round(sum(scores[i] for i in hard) / len(hard), 3),
        }
    out["kinds"] = kinds
    table = []
    for lo, hi in itertools.pairwise(BINS):
        idx = [i for i, s in enumerate(scores) if lo <= s < hi or (hi == 1.0 and s == 1.0)]
        if idx:
            table.append(
                {
                    "bin": f"{lo:.1f}-{hi:.1f}",
                    "n": len(idx),
                    "mean_confidence": round(sum(scores[i] for i in idx) / len(idx), 3),
                    "good": round(sum(records[i]["good"] for i in idx) / len(idx), 3),
                }
            )
    out["reliability"] = table
    # Expected calibration error: the bins' |confidence - share good|, weighted by their size.
    out["ece"] = round(
        sum(b["n"] * abs(b["mean_confidence"] - b["good"]) for b in table) / max(1, len(scores)), 3
    )
    return out


def print_report(report: dict[str, Any]) -> None:
    a, g = report["flag_vs_absent"], report["flag_vs_no_good_hit"]
    log(f"{report['n']} queries, {report['negatives']} absent-feature queries")
    log(f"no_good_match vs absent feature: precision {a['precision']} recall {a['recall']} ({a})")
    first = f"no good hit in the first {GOOD_WITHIN}"
    log(f"no_good_match vs {first}: precision {g['precision']} recall {g['recall']}")
    log(f"{'kind':<28} {'n':>4} {'good %':>7} {'flagged %':>10} {'mean conf':>10}")
    for kind, k in report["kinds"].items():
        log(f"{kind:<28} {k['n']:>4} {k['good']:>7} {k['flagged']:>10} {k['mean_confidence']:>10}")
    log(f"{'confidence':<10} {'n':>4} {'mean':>7} {'good':>7}")
    for b in report["reliability"]:
        log(f"{b['bin']:<10} {b['n']:>4} {b['mean_confidence']:>7} {b['good']:>7}")
    log(f"expected calibration error {report['ece']}")


# ------------------------------------------------------------------------------ main


def last_rows(instances: Path) -> dict[str, list[dict[str, Any]]]:
    by_repo: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in instances.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_repo[row["repo"]].append(row)
    return by_repo


def collect(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    negatives = absent_features.TRAIN if args.fit else absent_features.DEV
    trees: list[tuple[str, Path, list[dict[str, Any]]]] = []
    rows = last_rows(args.instances) if args.instances is not None else {}
    for repo in args.repos:
        items = rows.get(repo, [])
        tree = None
        if items and args.mirrors is not None and args.instances is not None:
            dest = work / "trees" / (repo.replace("/", "__") + ("-train" if args.fit else ""))
            tree = repository_tree(args.instances, args.mirrors, repo, items[-1]["base_commit"], dest)
        if tree is None:
            log(f"bench.confidence: skipping {repo}: needs --instances and a snapshot under --mirrors")
            continue
        queries = [q for row in items for q in instance_queries(row, tree)]
        trees.append((repo, tree, queries))
    if args.fit:
        for name in args.packages:
            tree = package_tree(name, work / "packages")
            if tree is None:
                log(f"bench.confidence: skipping package {name}: not installed")
                continue
            trees.append((name, tree, package_queries(tree, args.seed)))
    records: list[dict[str, Any]] = []
    overrides = {"home": args.home or work / "home"}
    for name, tree, queries in trees:
        negs = negative_queries(tree_text(tree), negatives)
        log(f"{name}: {len(queries)} positive and {len(negs)} absent-feature queries")
        with Engine(tree, load_settings(tree, overrides=overrides)) as engine:
            engine.index()
            records += run(engine, name, [*queries, *negs])
    return records


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--instances", type=Path, default=None)
    ap.add_argument("--mirrors", type=Path, default=None)
    ap.add_argument("--repos", nargs="*", default=list(REPOS))
    ap.add_argument("--packages", nargs="*", default=list(DEFAULT_PACKAGES))
    ap.add_argument("--fit", action="store_true", help="fit the model on these (training) queries")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None, help="trees and data home (default: temporary)")
    ap.add_argument("--home", type=Path, default=None, help="data home (default: <work>/home)")
    ap.add_argument("--records", type=Path, default=None, help="write every query's record here (JSON lines)")
    ap.add_argument("--rescore", type=Path, default=None, help="evaluate saved records instead of searching")
    ap.add_argument("--coefficients", default=None, help="B0,B1,... instead of the shipped COEFFICIENTS")
    args = ap.parse_args(argv)
    coefficients = (
        tuple(float(c) for c in args.coefficients.split(",")) if args.coefficients else COEFFICIENTS
    )
    if args.rescore is not None:
        records = [json.loads(line) for line in args.rescore.read_text().splitlines() if line.strip()]
    else:
        tmp = tempfile.TemporaryDirectory(prefix="conexus-conf-") if args.work is None else None
        records = collect(args, args.work or Path(tmp.name if tmp else "."))
        if tmp is not None:
            tmp.cleanup()
        if args.records is not None:
            args.records.write_text("".join(json.dumps(r) + "\n" for r in records))
    if not records:
        log("bench.confidence: no tree to search; nothing to do")
        print(json.dumps({"n": 0, "skipped": True}))
        return 0
    if args.fit:
        x = np.array([features(signals_of(r)) for r in records], dtype=float)
        y = np.array([1.0 if r["good"] else 0.0 for r in records])
        beta = fit(x, y)
        log("fitted on " + f"{len(records)} queries ({int(y.sum())} good): features {', '.join(FEATURES)}")
        log("COEFFICIENTS = (" + ", ".join(f"{b:.3f}" for b in beta) + ")")
        coefficients = tuple(float(b) for b in beta)
        log("on the training queries themselves:")
    report = evaluate(records, coefficients)
    print_report(report)
    print(json.dumps({"coefficients": [round(c, 3) for c in coefficients], **report}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
