"""Training pairs for the embedder: (query, the chunk text the indexer embeds).

* **Issue → chunk**, from ``swebench-train.jsonl`` only (never a development set): the issue text,
  and every chunk of the base-commit file that the gold patch changes (the innermost chunk holding
  a changed line), in the exact form the indexer embeds (``Chunk.embedding_text``).
* **Docstring → body**, from Python packages installed in the running environment whose licence is
  permissive and that are none of the evaluation repositories: the docstring of a function or
  class, and its chunk with the docstring removed.

Nothing here is written into the project: the pairs live in the output folder of a run, and
``SOURCES.md`` lists the packages (name, version, licence), not their texts.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from conexus.indexing.chunking import chunk_text
from conexus.models import Chunk

#: The repositories of the evaluation sets, by package name: never a source of self-supervised text.
EVALUATION_PACKAGES = frozenset(
    {
        "django", "sympy", "sphinx", "matplotlib", "scikit-learn", "sklearn", "xarray", "astropy",
        "pytest", "_pytest", "pylint", "requests", "seaborn", "flask",
    }
)  # fmt: skip
_PERMISSIVE = re.compile(r"\b(MIT|BSD|Apache|ISC|PSF|Python Software Foundation|Unlicense|Zlib)\b", re.I)
_HUNK = re.compile(r"@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")
_DOCSTRING = re.compile(r"[ \t]*(\"\"\"|''')[\s\S]*?\1[ \t]*\n?")


@dataclass(frozen=True)
class Pair:
    """A query and the chunk text that answers it, with where the pair came from."""

    query: str
    positive: str
    source: str


def changed_lines(patch: str) -> dict[str, set[int]]:
    """Per file of a unified diff, the old-side lines it changes: removed lines, and for an
    insertion the old line it follows."""
    out: dict[str, set[int]] = {}
    current: str | None = None
    old = 0
    for line in patch.splitlines():
        if line.startswith("--- "):
            name = line[4:].strip()
            current = name[2:] if name.startswith("a/") else None
            continue
        if line.startswith(("+++ ", "diff ")):
            continue
        m = _HUNK.match(line)
        if m:
            old = int(m.group(1))
            continue
        if current is None:
            continue
        if line.startswith("-"):
            out.setdefault(current, set()).add(old)
            old += 1
        elif line.startswith("+"):
            out.setdefault(current, set()).add(max(old - 1, 1))
        elif not line.startswith("\\"):
            old += 1
    return out


def changed_chunks(chunks: Sequence[Chunk], lines: set[int]) -> list[Chunk]:
    """The innermost chunks holding any of ``lines`` (a method, not the class around it)."""
    out: dict[tuple[int, int], Chunk] = {}
    for line in lines:
        holding = [c for c in chunks if c.start_line <= line <= c.end_line]
        if holding:
            best = min(holding, key=lambda c: c.end_line - c.start_line)
            out[(best.start_line, best.end_line)] = best
    return list(out.values())


def issue_pairs(instances: Path, git_dir_of: dict[str, Path]) -> Iterator[Pair]:
    """Issue → changed chunk pairs of the training set (``git_dir_of``: repository → snapshot)."""
    if "train" not in instances.name:
        raise SystemExit("bench.finetune: issue pairs come from the training set only (swebench-train.jsonl)")
    for line in instances.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        git_dir = git_dir_of.get(row["repo"])
        if git_dir is None:
            continue
        for path, lines in changed_lines(row["patch"]).items():
            if not path.endswith(".py") or "/tests/" in f"/{path}":
                continue
            shown = subprocess.run(
                ["git", "--git-dir", str(git_dir), "show", f"{row['base_commit']}:{path}"],
                capture_output=True,
            )
            if shown.returncode != 0:
                continue
            text = shown.stdout.decode("utf-8", errors="replace")
            for chunk in changed_chunks(chunk_text(path, text), lines):
                yield Pair(row["problem_statement"], chunk.embedding_text(), row["instance_id"])


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    licence: str
    root: Path


def permissive_packages(exclude: frozenset[str] = EVALUATION_PACKAGES) -> list[Package]:
    """Installed distributions with a permissive licence that are not evaluation repositories."""
    out = []
    seen = set()
    for dist in md.distributions():
        name = (dist.metadata.get("Name") or "").lower()
        if not name or name in seen or name in exclude:
            continue
        seen.add(name)
        licence = " ".join(
            filter(
                None,
                [
                    dist.metadata.get("License-Expression") or "",
                    (dist.metadata.get("License") or "")[:80],
                    *[c for c in dist.metadata.get_all("Classifier") or [] if c.startswith("License ::")],
                ],
            )
        )
        if not _PERMISSIVE.search(licence) or re.search(r"\bGPL|AGPL|LGPL|MPL\b", licence):
            continue
        top = (dist.read_text("top_level.txt") or "").split() or [name.replace("-", "_")]
        for module in top:
            if module.lower() in exclude:
                continue
            root = Path(str(dist.locate_file(module)))
            if root.is_dir():
                out.append(Package(name, dist.version, licence.strip()[:120], root))
    return sorted(out, key=lambda p: p.name)


def strip_docstring(text: str) -> str:
    """``text`` without its first triple-quoted string (the docstring under the signature)."""
    return _DOCSTRING.sub("", text, count=1)


def docstring_pairs(packages: Sequence[Package], *, max_per_package: int = 2000) -> Iterator[Pair]:
    """Docstring → body pairs from the Python files of ``packages``."""
    for package in packages:
        count = 0
        for file in sorted(package.root.rglob("*.py")):
            if count >= max_per_package:
                break
            if "/tests/" in file.as_posix() or file.name.startswith("test_"):
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            rel = f"{package.root.name}/{file.relative_to(package.root).as_posix()}"
            for chunk in chunk_text(rel, text):
                doc = (chunk.docstring or "").strip()
                if chunk.kind not in ("function", "method", "class") or len(doc) < 40:
                    continue
                body = strip_docstring(chunk.embedding_text())
                if body.count("\n") < 3:
                    continue
                yield Pair(doc.split("\n\n", 1)[0], body, f"{package.name}=={package.version}")
                count += 1


def write_sources(packages: Sequence[Package], issue_count: int, path: Path) -> None:
    """``SOURCES.md``: every input of the pairs, with its licence."""
    lines = [
        "# Inputs of the fine-tuned embedder (generated by `python -m bench.finetune`)",
        "",
        f"- `swebench-train.jsonl`: {issue_count} issue → chunk pairs (issue texts of SWE-bench, MIT; the",
        "  chunks from the repositories' own trees at each base commit, under their licences).",
        "- Docstring → body pairs from these installed packages (permissive licences only; none is an",
        "  evaluation repository):",
        "",
        "| package | version | licence |",
        "|---|---|---|",
        *sorted({f"| {p.name} | {p.version} | {p.licence.replace('|', '/')} |" for p in packages}),
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
