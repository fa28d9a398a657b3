"""Exact identifiers and code fragments: does a name found in one file find that file first?

    python -m bench.identifiers [--mirrors DIR] [--instances FILE] [--packages NAME ...]
        [--per-kind N] [--seed S] [--work DIR] [--set KEY=VALUE ...] [--out FILE]

The cases are built from the trees themselves, never by hand: every code identifier
(camelCase, snake_case, CONSTANT_CASE; six characters or more) that occurs in exactly one
source file of a tree is a candidate, classed by how the file uses it:

* ``alias``: bound by an import (``from urllib3.util import Timeout as TimeoutSauce``);
* ``definition``: the name of a function or class defined there;
* ``usage``: anything else (attributes, locals, keyword arguments, constants used);
* ``fragment``: the first line of the file holding a sampled identifier, verbatim and
  stripped (``timeout = TimeoutSauce(connect=connect, read=read)``).

Up to ``--per-kind`` of each are drawn (seeded), queried with default settings, and scored:
``file@1`` (the first hit is in the file), ``file@3`` (the file among the first three files
of the ranking), the MRR of the file and, for fragments, ``line@1`` / ``line@5`` (a hit whose
lines hold the fragment's line). Trees: psf/requests, pallets/flask and pytest-dev/pytest at
the base commit of their last development-set instance (skipped, with a message, without
snapshots), and packages installed in this environment (``--packages``; default httpx,
starlette, click, h11). Prints a table per tree and kind on stderr and one JSON summary on
stdout. Not run in CI (``tests/test_identifiers.py`` holds fixed cases over installed packages).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.trees import log, package_tree, repository_tree
from conexus.config import load_settings
from conexus.engine import Engine
from conexus.search.fusion import aggregate_files
from conexus.search.query import is_code_identifier

#: The development-set repositories with snapshots on the development machine.
MIRROR_REPOS = ("psf/requests", "pallets/flask", "pytest-dev/pytest")
DEFAULT_PACKAGES = ("httpx", "starlette", "click", "h11")
KINDS = ("alias", "definition", "usage", "fragment")
CODE_SUFFIXES = (".py", ".pyi")

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_ALIAS = re.compile(r"\bimport\b.*\bas\s+([A-Za-z_][A-Za-z0-9_]*)")
_DEF = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)


@dataclass(frozen=True)
class Case:
    """One query and the file (and, for a fragment, the line) it must find."""

    tree: str
    kind: str
    query: str
    path: str
    line: int = 0


def unique_identifiers(files: dict[str, str]) -> dict[str, str]:
    """Code identifiers (six characters or more, not dunders) that occur in exactly one file -> that file."""
    seen: dict[str, set[str]] = defaultdict(set)
    for path, text in files.items():
        for word in set(_IDENT.findall(text)):
            if len(word) >= 6 and not word.startswith("__") and is_code_identifier(word):
                seen[word].add(path)
    return {w: next(iter(ps)) for w, ps in seen.items() if len(ps) == 1}


def fragment_line(text: str, ident: str) -> tuple[int, str] | None:
    """The first line holding ``ident`` that reads as a code fragment (three or more words, 15-100 chars)."""
    pattern = re.compile(r"\b" + re.escape(ident) + r"\b")
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not pattern.search(stripped) or stripped.startswith(("#", '"', "'")):
            continue
        if 15 <= len(stripped) <= 100 and len(_IDENT.findall(stripped)) >= 3:
            return number, stripped
    return None


def build_cases(tree: str, files: dict[str, str], per_kind: int, seed: int) -> list[Case]:
    """Up to ``per_kind`` cases of each kind, drawn with ``seed`` from the identifiers unique to one file."""
    unique = unique_identifiers(files)
    by_kind: dict[str, list[str]] = defaultdict(list)
    for ident in sorted(unique):
        text = files[unique[ident]]
        if ident in _ALIAS.findall(text):
            by_kind["alias"].append(ident)
        elif ident in _DEF.findall(text):
            by_kind["definition"].append(ident)
        else:
            by_kind["usage"].append(ident)
    rng = random.Random(f"{seed}:{tree}")
    cases: list[Case] = []
    for kind in ("alias", "definition", "usage"):
        pool = by_kind[kind]
        cases += [Case(tree, kind, i, unique[i]) for i in rng.sample(pool, min(per_kind, len(pool)))]
    # Fragments come from every kind alike: a line is what an assistant pastes from a diff or a log.
    pool = sorted(unique)
    rng.shuffle(pool)
    fragments: list[Case] = []
    for ident in pool:
        found = fragment_line(files[unique[ident]], ident)
        if found is not None:
            fragments.append(Case(tree, "fragment", found[1], unique[ident], found[0]))
        if len(fragments) == per_kind:
            break
    return cases + fragments


def run_case(engine: Engine, case: Case) -> dict[str, Any]:
    """Query one case; the ranks (0: not found) of its file and, for a fragment, its line."""
    hits = engine.search(case.query, top_k=30, snippet_lines=0).hits
    scores = {h.chunk_id: h.score for h in hits}
    paths = {h.chunk_id: h.path for h in hits}
    files = [p for p, _ in aggregate_files([h.chunk_id for h in hits], scores, paths.__getitem__)]
    file_rank = files.index(case.path) + 1 if case.path in files else 0
    line_rank = 0
    if case.line:
        for i, h in enumerate(hits, 1):
            if h.path == case.path and h.start_line <= case.line <= h.end_line:
                line_rank = i
                break
    return {
        **asdict(case),
        "first_file": hits[0].path if hits else None,
        "file_rank": file_rank,
        "line_rank": line_rank,
    }


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """file@1 (first hit), file@3, MRR and, for fragments, line@1 / line@5, in percent."""
    n = len(records)
    if not n:
        return {"n": 0}
    out: dict[str, Any] = {
        "n": n,
        "file@1": round(100 * sum(r["first_file"] == r["path"] for r in records) / n, 1),
        "file@3": round(100 * sum(0 < r["file_rank"] <= 3 for r in records) / n, 1),
        "mrr": round(sum(1 / r["file_rank"] for r in records if r["file_rank"]) / n, 3),
    }
    if any(r["line"] for r in records):
        out["line@1"] = round(100 * sum(r["line_rank"] == 1 for r in records) / n, 1)
        out["line@5"] = round(100 * sum(0 < r["line_rank"] <= 5 for r in records) / n, 1)
    return out


def source_files(tree: Path) -> dict[str, str]:
    """The tree's source files (root-relative POSIX path -> text)."""
    out: dict[str, str] = {}
    for p in sorted(tree.rglob("*")):
        if p.is_file() and p.suffix in CODE_SUFFIXES:
            out[p.relative_to(tree).as_posix()] = p.read_text(encoding="utf-8", errors="replace")
    return out


def last_instances(instances: Path) -> dict[str, dict[str, Any]]:
    """Per repository, its last instance in the file (the base commit its tree is taken at)."""
    out: dict[str, dict[str, Any]] = {}
    if instances.is_file():
        for line in instances.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                out[row["repo"]] = row
    return out


def parse_setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise SystemExit(f"--set wants KEY=VALUE, got {text!r}")
    return key, json.loads(value) if value[:1].isdigit() or value in {"true", "false"} else value


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirrors", type=Path, default=None, help="folder of the git snapshots")
    ap.add_argument(
        "--instances", type=Path, default=None, help="swebench-verified-dev.jsonl (trees at a base commit)"
    )
    ap.add_argument("--repos", nargs="*", default=list(MIRROR_REPOS))
    ap.add_argument("--packages", nargs="*", default=list(DEFAULT_PACKAGES))
    ap.add_argument("--per-kind", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--work", type=Path, default=None, help="trees and data home (default: a temporary folder)"
    )
    ap.add_argument("--home", type=Path, default=None, help="data home (default: <work>/home)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a non-default setting")
    ap.add_argument("--out", type=Path, default=None, help="every case with its ranks, one JSON line each")
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory(prefix="conexus-ident-") if args.work is None else None
    work = args.work or Path(tmp.name if tmp else ".")
    home = args.home or work / "home"
    trees: list[tuple[str, Path]] = []
    rows = last_instances(args.instances) if args.instances is not None else {}
    for repo in args.repos:
        row = rows.get(repo)
        dest = work / "trees" / repo.replace("/", "__")
        tree = None
        if row is not None and args.mirrors is not None and args.instances is not None:
            tree = repository_tree(args.instances, args.mirrors, repo, row["base_commit"], dest)
        if tree is None:
            log(f"bench.identifiers: skipping {repo}: needs --instances and a snapshot under --mirrors")
        else:
            trees.append((repo, tree))
    for name in args.packages:
        tree = package_tree(name, work / "packages")
        if tree is None:
            log(f"bench.identifiers: skipping package {name}: not installed")
        else:
            trees.append((name, tree))

    overrides: dict[str, Any] = dict(parse_setting(kv) for kv in args.set)
    overrides["home"] = home
    records: list[dict[str, Any]] = []
    for name, tree in trees:
        cases = build_cases(name, source_files(tree), args.per_kind, args.seed)
        with Engine(tree, load_settings(tree, overrides=overrides)) as engine:
            engine.index()
            for case in cases:
                records.append(run_case(engine, case))
        log(f"{name}: {len(cases)} cases")
    if args.out is not None:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in records))

    summary: dict[str, Any] = {"settings": dict(parse_setting(kv) for kv in args.set), "kinds": {}}
    heads = ("file@1", "file@3", "mrr", "line@1", "line@5")
    log(f"{'tree':<22} {'kind':<11} {'n':>3} " + " ".join(f"{h:>7}" for h in heads))
    for tree_name in [*dict.fromkeys(r["tree"] for r in records), "all"]:
        for kind in KINDS:
            sel = [r for r in records if r["kind"] == kind and tree_name in ("all", r["tree"])]
            s = summarize(sel)
            if not s["n"]:
                continue
            if tree_name == "all":
                summary["kinds"][kind] = s
            log(
                f"{tree_name:<22} {kind:<11} {s['n']:>3} {s['file@1']:>7} {s['file@3']:>7} {s['mrr']:>6} "
                f"{s.get('line@1', ''):>7} {s.get('line@5', ''):>7}"
            )
    summary["all"] = summarize(records)
    print(json.dumps(summary))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
