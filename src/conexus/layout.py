"""Where things live: a root's canonical path and its index directory under the data home.

Kept free of heavy imports: the CLI resolves the root a command is about (and
whether a running server serves it) before anything loads the engine.

Every root has a folder of its own (:func:`index_dir_for`, holding ``root.json``).
A root outside git keeps its SQLite index there too; the worktrees of one git
repository (one ``git rev-parse --git-common-dir``) share one database,
:func:`repository_index_dir`, each as a tree of its own (``docs/scale-out.md``,
"Worktrees and branches").
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from conexus.errors import PathError, PathNotFoundError

__all__ = [
    "CACHEDIR_TAG",
    "INDEX_DB",
    "ROOT_INFO",
    "find_indexed_root",
    "index_dir_for",
    "list_indexes",
    "repository_index_dir",
    "resolve_root",
]

INDEX_DB = "index.sqlite3"
ROOT_INFO = "root.json"  # which root an index folder serves (written by every index run)
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by Conexus (indexes and embedding cache).\n"
)


def resolve_root(path: Path | str) -> Path:
    """The absolute, symlink-free root for ``path``.

    Raises:
        PathError: the path does not exist or is not a directory.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise PathNotFoundError(f"path does not exist: {p}")
    if not p.is_dir():
        raise PathError(f"not a directory: {p}")
    return p.resolve()


def served_root(path: Path | str) -> Path:
    """``path`` as a root to serve: :func:`resolve_root` when it exists here, else the absolute path
    as given, for a query replica without the checkout (the engine then answers from the root's
    index, and refuses the root when it has none).

    Raises:
        PathError: the path exists but is not a directory.
    """
    try:
        return resolve_root(path)
    except PathNotFoundError:
        return Path(os.path.abspath(Path(path).expanduser()))


def index_dir_for(root: Path, home: Path) -> Path:
    """Where the index of ``root`` lives under ``home``."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", root.name or "root")[:40]
    return home / "indexes" / f"{name}-{digest}"


def git_common_dir(root: Path) -> Path | None:
    """The git directory shared by every worktree of the repository ``root`` is in, or None
    (not in a git work tree, or no usable ``git``)."""
    from conexus.gitinfo import run_git  # stdlib only; imported here to keep this module's import light

    out = run_git(root, ["rev-parse", "--path-format=absolute", "--git-common-dir"], timeout_s=5.0)
    if out is None or out.returncode != 0 or not out.complete:
        return None
    text = out.text.strip()
    if not text:
        return None
    return Path(text).resolve()


def repository_index_dir(root: Path, home: Path) -> Path | None:
    """The folder of the database shared by every worktree of ``root``'s git repository, or None
    when ``root`` is not in a git work tree (its index lives in :func:`index_dir_for`)."""
    common = git_common_dir(root)
    if common is None:
        return None
    digest = hashlib.sha256(f"git:{common}".encode()).hexdigest()[:16]
    repo = common.parent.name if common.name == ".git" else common.name.removesuffix(".git")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", repo or "repo")[:40]
    return home / "indexes" / f"git-{name}-{digest}"


def find_indexed_root(start: Path, home: Path) -> Path | None:
    """The nearest ancestor of ``start`` (itself included) that has an index, or None.

    An index in SQLite has its database in the folder; one in PostgreSQL, or a
    worktree's tree in its repository's database, leaves the folder with only the
    ``root.json`` every index run writes.
    """
    p = start.resolve()
    for candidate in (p, *p.parents):
        folder = index_dir_for(candidate, home)
        if (folder / INDEX_DB).exists() or (folder / ROOT_INFO).exists():
            return candidate
    return None


def list_indexes(home: Path) -> list[dict[str, Any]]:
    """Every index under ``home`` with the root it serves."""
    out: list[dict[str, Any]] = []
    base = home / "indexes"
    if not base.is_dir():
        return out
    for d in sorted(base.iterdir()):
        info = d / ROOT_INFO
        if info.is_file():
            try:
                out.append({"dir": str(d), **json.loads(info.read_text())})
            except (OSError, ValueError):
                continue
    return out
