"""The request mix, drawn from the served index itself: real identifiers, paths, docstrings, tracebacks.

``python -m load.workload URL OUT.json`` asks a running server (REST) for the
material: it lists files through ``status``/``grep`` and reads symbol names
with a ``grep`` for definitions, then writes a JSON file of ready-made request
bodies per operation. The Locust users replay them at random, so every run of
a scenario sends the same kinds of requests against the same corpus.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

import httpx

# (weight, workload kind, operation): identifier and prose searches dominate, as in assistants' logs.
MIX = [
    (30, "search_identifier", "search"),
    (20, "search_prose", "search"),
    (8, "search_traceback", "search"),
    (4, "localize", "localize"),
    (10, "related", "related"),
    (10, "grep", "grep"),
    (18, "read", "read"),
]

DEFINITION = r"^\s*(def|class|function|func|fn|pub fn|public|private|static)\s+\w+"
SOURCE_SUFFIXES = frozenset({".py", ".pyx", ".c", ".h", ".cpp", ".js", ".ts", ".go", ".rs", ".java"})
WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,}")


def collect(
    url: str, seed: int = 7, per_kind: int = 200, root: Path | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Request bodies per operation: search (identifier, prose, traceback), localize, related, grep, read.

    With ``root`` (the served folder, on this machine), definitions are sampled across
    the whole tree: one grep per sampled directory, so the mix touches many files and
    packages rather than the first ones in path order.

    ``per_kind`` bodies per kind at most (fewer when the tree has fewer definitions): a
    body drawn twice may be answered from a search worker's query cache, so a small pool
    measures the cache more than the search (``python -m load`` prints the hit ratio).
    """
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=120) as http:
        matches: list[dict[str, Any]] = []
        for globs in _sampled_dirs(root, rng) if root is not None else [None]:
            body: dict[str, Any] = {"pattern": DEFINITION, "max_results": 2000, "context_lines": 0}
            if globs is not None:
                body["paths"] = globs
                body["max_results"] = 60
            found = http.post("/api/v1/grep", json=body).json()
            matches.extend(found.get("matches") or [])
    if not matches:
        raise SystemExit(f"no definitions found through {url}/api/v1/grep: is a root indexed?")
    defs: list[tuple[str, int, str]] = []
    for m in matches:
        words = [
            w for w in WORDS.findall(m["text"]) if w not in {"def", "class", "function", "public", "static"}
        ]
        if words:
            defs.append((m["path"], int(m["line"]), words[0]))
    rng.shuffle(defs)
    defs = defs[: per_kind * 2]
    paths = sorted({p for p, _, _ in defs})
    names = [n for _, _, n in defs]

    def traceback(k: int) -> str:
        frames = rng.sample(defs, min(3, len(defs)))
        lines = ["Traceback (most recent call last):"]
        for path, line, name in frames:
            lines += [f'  File "{path}", line {line}, in {name}', f"    {name}(value)"]
        return "\n".join([*lines, f"ValueError: invalid value for {names[k % len(names)]}"])

    prose = [
        f"where is {a.replace('_', ' ')} handled and how does it relate to {b.replace('_', ' ')}"
        for a, b in zip(names, reversed(names), strict=False)
    ]
    return {
        "search_identifier": [{"query": n, "top_k": 10} for n in names[:per_kind]],
        "search_prose": [{"query": q, "top_k": 10} for q in prose[:per_kind]],
        "search_traceback": [{"query": traceback(k), "top_k": 10} for k in range(per_kind)],
        "localize": [{"issue": traceback(k) + "\n\n" + prose[k % len(prose)]} for k in range(per_kind)],
        "related": [{"target": p} for p in paths[:per_kind]],
        "grep": [{"pattern": rf"\b{re.escape(n)}\b", "max_results": 50} for n in names[:per_kind]],
        "read": [
            {"path": p, "start_line": max(1, line - 10), "end_line": line + 40}
            for p, line, _ in defs[:per_kind]
        ],
    }


def _sampled_dirs(root: Path, rng: random.Random, count: int = 60) -> list[list[str]]:
    """Path globs of up to ``count`` random directories of ``root`` with source files (not hidden ones)."""
    dirs: set[str] = set()
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix in SOURCE_SUFFIXES and path.is_file():
            dirs.add(rel.parent.as_posix())
    chosen = rng.sample(sorted(dirs), min(count, len(dirs)))
    return [[f"/{d}/*" if d != "." else "/*"] for d in chosen]


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m load.workload URL OUT.json")
    bodies = collect(sys.argv[1])
    Path(sys.argv[2]).write_text(json.dumps(bodies), encoding="utf-8")
    print({k: len(v) for k, v in bodies.items()})


if __name__ == "__main__":
    main()
