"""``python -m bench.tool_accuracy``: ``related`` and ``explain`` against a language's own tooling.

For each repository (Python: psf/requests, pallets/flask, pytest-dev/pytest, with jedi;
TypeScript: darkreader/darkreader, with the TypeScript language service from ``bench/ts``):

1. the tree at a fixed commit is written from its bare snapshot under ``--mirrors`` (no
   ``.git``) into ``--work``, and indexed with Conexus (``--embedder``, bundled by default);
2. ``--sample`` symbols (classes, functions, methods of non-test files; not dunders, not
   functions local to a function body) are drawn with ``--seed`` from the tooling's own list,
   and the tooling answers every question about them (cached in ``--work``: a second run
   only asks Conexus again);
3. Conexus is asked through the engine facade, the way an assistant asks:
   ``related("path:line")`` for references and tests, ``related(name)`` with the name as
   written at a use for definitions, ``related(path)`` for a file's imports and importers
   (every importable file of the tree), ``explain("path:line")`` for callers and callees;
4. precision and recall per relation are printed per repository (macro: the mean over
   symbols; precision over the symbols Conexus answered, recall over the symbols the tooling
   answered, capped at Conexus's own limits: 200 references, 50 callers or callees).

A repository whose snapshot is missing is skipped with a message, and so is TypeScript without
Node or ``bench/ts/node_modules`` (``npm ci --prefix bench/ts``). ``--details FILE`` writes what
each symbol missed and added, one JSON line per symbol and relation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bench.tool_scoring import (
    RELATIONS,
    Loc,
    Span,
    SymbolTruth,
    Tally,
    TreeTruth,
    equal,
    match_counts,
    same_line,
    span_matches,
)
from conexus.config import load_settings
from conexus.engine import Engine
from conexus.errors import ConexusError
from conexus.paths import is_test_path

REFERENCE_CAP = 200
EXPLAIN_CAP = 50
TRUTH_VERSION = 1


@dataclass(frozen=True)
class Repo:
    """A repository measured: its snapshot folder, the commit, the language and oracle settings."""

    name: str
    snapshot: str
    commit: str
    language: str  # python | typescript
    tsconfig: str | None = None


REPOS = (
    Repo("psf/requests", "psf+requests", "1f6589ec3a1ee910f9a65cc3ceac60b26677bc0e", "python"),
    Repo("pallets/flask", "pallets+flask", "2ac89889f4cc330eabd50f295dcef02828522c69", "python"),
    Repo("pytest-dev/pytest", "pytest-dev+pytest", "df87db7b0462fb764ef73fa00561adf8ad047572", "python"),
    Repo(
        "darkreader/darkreader",
        "darkreader+darkreader",
        "58ef40406a377ba130cbb10aad313f60fe8ef922",
        "typescript",
        tsconfig="src/tsconfig.json",
    ),
)


def _snapshot(mirrors: Path, repo: Repo) -> Path | None:
    for cand in (mirrors / repo.snapshot / "repo", mirrors / repo.snapshot):
        if (cand / "HEAD").is_file():
            return cand
    return None


def materialize(mirrors: Path, work: Path, repo: Repo) -> Path | None:
    """The tree of ``repo`` at its commit under ``work`` (written once, without ``.git``); None if absent."""
    dest = work / "trees" / f"{repo.snapshot}-{repo.commit[:10]}"
    if (dest / ".complete").is_file():
        return dest
    git_dir = _snapshot(mirrors, repo)
    if git_dir is None:
        return None
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", repo.commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    (dest / ".complete").write_text(repo.commit)
    return dest


# ----------------------------------------------------------------------------------- ground truth


def _truth(repo: Repo, tree: Path, files: list[str], args: argparse.Namespace) -> TreeTruth:
    cache = args.work / "truth" / f"{repo.snapshot}-{repo.commit[:10]}-s{args.seed}-n{args.sample}.json"
    if cache.is_file():
        data = json.loads(cache.read_text())
        if data.get("version") == TRUTH_VERSION:
            return TreeTruth.from_dict(data["truth"])
    t0 = time.perf_counter()
    if repo.language == "python":
        from bench.tool_truth_jedi import tree_truth

        truth = tree_truth(tree, files, args.sample, args.seed, is_test_path)
    else:
        from bench.tool_truth_ts import tree_truth as ts_truth

        truth = ts_truth(tree, files, args.sample, args.seed, is_test_path, repo.tsconfig)
    print(f"  ground truth: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"version": TRUTH_VERSION, "truth": truth.to_dict()}))
    return truth


# ----------------------------------------------------------------------------------- asking Conexus


def _definition_spans(items: Any) -> list[Span]:
    return [Span(d.path, d.start_line, d.end_line, d.name) for d in items]


def _score_symbol(
    engine: Engine, sym: SymbolTruth, out: dict[str, Tally], detail: Callable[..., None]
) -> bool:
    """Ask Conexus about one symbol, add its counts to ``out``; whether the target resolved to it."""
    target = f"{sym.path}:{sym.line}"
    own = Loc(sym.path, sym.line, sym.name)
    info = engine.related(target, limit=REFERENCE_CAP, history=False)
    resolved = info.target_kind == "symbol" and any(
        span_matches(s, own) for s in _definition_spans(info.definitions)
    )

    refs = [Loc(r.path, r.start_line) for r in info.references if r.kind != "mention"] if resolved else []
    truth_refs = [Loc(x.path, x.line) for x in sym.references]
    out["references"].add(*match_counts(refs, truth_refs, same_line, REFERENCE_CAP))
    detail(sym, "references", refs, truth_refs, same_line)

    tests = sorted({t.path for t in info.tests}) if resolved else []
    truth_tests = sorted({x.path for x in sym.references if is_test_path(x.path) and x.path != sym.path})
    out["tests"].add(*match_counts(tests, truth_tests, equal))
    detail(sym, "tests", tests, truth_tests, equal)

    if sym.use is not None:
        try:
            defs = _definition_spans(engine.related(sym.use.name or sym.name, limit=REFERENCE_CAP,
                                                    history=False).definitions)  # fmt: skip
        except ConexusError:  # "no file or symbol named ...": an empty answer
            defs = []
        out["definitions"].add(*match_counts(defs, sym.use_definitions, span_matches))
        detail(sym, "definitions", defs, sym.use_definitions, span_matches)

    exp = engine.explain(target, limit=EXPLAIN_CAP, max_subjects=1)
    subject = exp.subjects[0] if resolved and exp.target_kind == "symbol" and exp.subjects else None
    callers = [Loc(c.path, c.start_line) for c in subject.callers] if subject else []
    truth_calls = [Loc(x.path, x.line) for x in sym.calls]
    out["callers"].add(*match_counts(callers, truth_calls, same_line, EXPLAIN_CAP))
    detail(sym, "callers", callers, truth_calls, same_line)
    if sym.callees is not None:
        callees = [Span(c.path, c.start_line, c.end_line, c.name) for c in subject.callees] if subject else []
        out["callees"].add(*match_counts(callees, sym.callees, span_matches, EXPLAIN_CAP))
        detail(sym, "callees", callees, sym.callees, span_matches)
    return resolved


def _score_file(engine: Engine, path: str, truth: TreeTruth, importers: dict[str, list[str]],
                out: dict[str, Tally], detail: Callable[..., None]) -> None:  # fmt: skip
    info = engine.related(path, limit=REFERENCE_CAP, history=False)
    got_imports = sorted({i.resolved for i in info.imports if i.resolved})
    out["imports"].add(*match_counts(got_imports, truth.imports.get(path, []), equal))
    detail(path, "imports", got_imports, truth.imports.get(path, []), equal)
    got_importers = sorted({i.path for i in info.importers})
    out["importers"].add(*match_counts(got_importers, importers.get(path, []), equal, REFERENCE_CAP))
    detail(path, "importers", got_importers, importers.get(path, []), equal)


def _detail_writer(fh: TextIO | None, repo: str) -> Callable[..., None]:
    def write(
        subject: Any, relation: str, pred: list[Any], gold: list[Any], same: Callable[..., bool]
    ) -> None:
        if fh is None:
            return
        extra = [p for p in pred if not any(same(p, g) for g in gold)]
        missed = [g for g in gold if not any(same(p, g) for p in pred)]
        if not extra and not missed:
            return
        name = subject if isinstance(subject, str) else f"{subject.path}:{subject.line} {subject.qualname}"
        fh.write(json.dumps({"repo": repo, "subject": name, "relation": relation,
                             "extra": [str(x) for x in extra[:30]], "missed": [str(x) for x in missed[:30]],
                             "n_pred": len(pred), "n_truth": len(gold)}) + "\n")  # fmt: skip

    return write


def measure(repo: Repo, tree: Path, args: argparse.Namespace, details: TextIO | None) -> dict[str, Any]:
    """Index ``tree``, build or load its ground truth, ask Conexus, and return the per-relation figures."""
    overrides: dict[str, object] = {"home": args.work / "home", "embedder": args.embedder, "query_cache": 0}
    engine = Engine(tree, load_settings(tree, overrides=overrides))
    try:
        t0 = time.perf_counter()
        engine.index()
        print(f"  indexed in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        files = engine.indexed_files()
        truth = _truth(repo, tree, files, args)
        tallies = {r: Tally() for r in RELATIONS}
        detail = _detail_writer(details, repo.name)
        t0 = time.perf_counter()
        resolved = 0
        for sym in truth.symbols:
            try:
                resolved += _score_symbol(engine, sym, tallies, detail)
            except ConexusError as exc:  # a target Conexus cannot resolve scores as an empty answer
                print(f"  {sym.path}:{sym.line} {sym.qualname}: {exc}", file=sys.stderr)
        importers = truth.importers()
        indexed = set(files)
        for path in sorted(p for p in truth.imports if p in indexed):
            _score_file(engine, path, truth, importers, tallies, detail)
        print(f"  asked Conexus in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return {
            "repo": repo.name,
            "commit": repo.commit,
            "language": repo.language,
            "symbols": len(truth.symbols),
            "candidates": truth.candidates,
            "targets_resolved": resolved,
            "files": len(truth.imports),
            "relations": {r: t.summary() for r, t in tallies.items()},
        }
    finally:
        engine.close()


def _node_ready() -> str | None:
    """Why the TypeScript oracle cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (Path(__file__).parent / "ts" / "node_modules" / "typescript").is_dir():
        return "bench/ts/node_modules is missing: run `npm ci --prefix bench/ts`"
    return None


def print_table(results: list[dict[str, Any]], fh: TextIO = sys.stdout) -> None:
    """The Markdown table docs/retrieval.md cites: one row per repository × relation."""
    fh.write("| repository | relation | n | precision | recall | F1 | micro P | micro R |\n")
    fh.write("|---|---|---|---|---|---|---|---|\n")
    for res in results:
        for rel in RELATIONS:
            s = res["relations"][rel]
            fh.write(
                f"| {res['repo']} | {rel} | {s['n']} | {s['precision']:.3f} | {s['recall']:.3f} | "
                f"{s['f1']:.3f} | {s['micro_precision']:.3f} | {s['micro_recall']:.3f} |\n"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tool_accuracy", description=__doc__.split("\n")[0])
    ap.add_argument("--mirrors", type=Path, required=True, help="folder of bare snapshots (owner+name)")
    ap.add_argument("--work", type=Path, required=True, help="trees, data home and ground-truth cache")
    ap.add_argument("--repos", nargs="*", default=None, help="owner/name of the repositories to measure")
    ap.add_argument("--sample", type=int, default=200, help="symbols per repository (default 200)")
    ap.add_argument("--seed", type=int, default=12, help="sampling seed (default 12)")
    ap.add_argument("--embedder", default="bundled", help="embedder of the indexes (default bundled)")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    ap.add_argument("--details", type=Path, default=None, help="write each symbol's misses as JSON lines")
    args = ap.parse_args(argv)
    args.work = args.work.resolve()
    if not args.mirrors.is_dir():
        print(f"skipped: no snapshot folder at {args.mirrors}", file=sys.stderr)
        return 0
    chosen = [r for r in REPOS if args.repos is None or r.name in args.repos]
    details = args.details.open("w") if args.details else None
    results: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    try:
        for repo in chosen:
            if repo.language == "typescript" and (why := _node_ready()) is not None:
                print(f"{repo.name}: skipped: {why}", file=sys.stderr)
                continue
            tree = materialize(args.mirrors, args.work, repo)
            if tree is None:
                print(f"{repo.name}: skipped: no {repo.snapshot} under {args.mirrors}", file=sys.stderr)
                continue
            print(f"{repo.name} @ {repo.commit[:10]}", file=sys.stderr)
            results.append(measure(repo, tree, args, details))
    finally:
        if details is not None:
            details.close()
    print_table(results)
    summary = {
        "results": results,
        "sample": args.sample,
        "seed": args.seed,
        "embedder": args.embedder,
        "wall_s": round(time.perf_counter() - t_start, 1),
        "load": os.getloadavg()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
