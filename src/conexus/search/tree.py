"""The tree seam: where read, grep, related, explain and freshness get the text of a root's files.

Two trees, one interface (:class:`Tree`):

* :class:`WorkingTree` — the checkout on this machine, as it is now: files are
  read from disk, and freshness compares them with the index.
* :class:`IndexedTree` — the last indexed state, from the store (the texts the
  indexer kept by content hash, :meth:`~conexus.store.base.Store.file_text`): a
  query replica that has no checkout answers from it. Its freshness is relative
  to the last index, which it says (:attr:`Tree.note`), since there is nothing
  newer to compare with.

The engine picks the working tree when the root is a directory on this machine
and the indexed tree when it is not (:func:`tree_for`). Both confine every path
the same way (:mod:`conexus.paths`: no ``..``, no absolute path elsewhere, no
symlink out of the root), and the callers apply the same secret-withholding
rule to the text either one returns (docs/security.md).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from conexus.errors import PathError
from conexus.models import decode_text
from conexus.paths import Confiner
from conexus.sources.base import Stamp
from conexus.sources.filesystem.read import MAX_TEXT_BYTES, looks_binary, read_bytes, read_text
from conexus.store.base import FileRow, Store

__all__ = [
    "INDEXED_NOTE",
    "FreshnessSource",
    "IndexedTree",
    "Tree",
    "TreeFile",
    "WorkingTree",
    "as_tree",
    "config_text",
    "tree_for",
]

#: What freshness is relative to on a replica without a checkout.
INDEXED_NOTE = "relative to the last index; this replica has no working tree"


class FreshnessSource(Protocol):
    """What freshness checks documents against (a :class:`~conexus.sources.base.Source` is one)."""

    def stamp(self, path: str) -> Stamp | None:
        """Size and mtime of the document at ``path`` now; None when there is none."""
        ...

    def current_text(self, path: str) -> str | None:
        """The document's text now; None when missing, binary or too large."""
        ...


@dataclass(frozen=True, slots=True)
class TreeFile:
    """One file of a tree: its stamp and text (None when binary or larger than asked for)."""

    stamp: Stamp
    text: str | None
    invalid_utf8: bool = False


class Tree(FreshnessSource, Protocol):
    """The files of one root, from a checkout or from the index."""

    #: The root that paths are confined to (it need not exist here).
    root: Path
    #: True for a checkout on this machine; False for the indexed state.
    working: bool
    #: What freshness is relative to, when it is not the working tree (:data:`INDEXED_NOTE`).
    note: str | None

    def confine(self, path: str) -> str:
        """The root-relative POSIX path of a user-supplied ``path``.

        Raises:
            PathError: a hostile path, or one that leaves the root (see :mod:`conexus.paths`).
        """
        ...

    def load(self, rel: str, max_bytes: int) -> TreeFile:
        """The file at ``rel`` (already confined); ``text`` is None when it is binary or over
        ``max_bytes``.

        Raises:
            PathError: ``rel`` leaves the root (through a symlink, in a working tree).
            FileNotFoundError: no file there. IsADirectoryError: a directory.
            OSError: any other reason the file cannot be read.
        """
        ...

    def is_file(self, rel: str) -> bool: ...

    def is_dir(self, rel: str) -> bool: ...


class WorkingTree:
    """The checkout under ``root``, read from disk."""

    working = True
    note: str | None = None

    def __init__(self, root: Path | str, source: FreshnessSource | None = None) -> None:
        self.root = Path(root)
        self._source = source
        self._confiner: Confiner | None = None

    def _paths(self) -> Confiner:
        if self._confiner is None:
            # One per tree, so the resolved directories are cached; a tree lives for one request.
            self._confiner = Confiner(self.root)
        return self._confiner

    def confine(self, path: str) -> str:
        return self._paths().confine(path)[1]

    def _absolute(self, rel: str) -> str:
        return str(self._paths().confine(rel)[0])

    def load(self, rel: str, max_bytes: int) -> TreeFile:
        data, st = read_bytes(self._absolute(rel), max_bytes)
        stamp = Stamp(st.st_size, st.st_mtime_ns)
        if st.st_size > max_bytes or len(data) > max_bytes or looks_binary(data):
            return TreeFile(stamp, None)
        text, invalid = decode_text(data)
        return TreeFile(stamp, text, invalid)

    def is_file(self, rel: str) -> bool:
        return os.path.isfile(os.path.join(self.root, rel))

    def is_dir(self, rel: str) -> bool:
        return os.path.isdir(os.path.join(self.root, rel))

    def stamp(self, path: str) -> Stamp | None:
        if self._source is not None:
            return self._source.stamp(path)
        try:
            st = os.stat(os.path.join(self.root, path))
        except (OSError, ValueError):
            return None
        return Stamp(st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None

    def current_text(self, path: str) -> str | None:
        if self._source is not None:
            return self._source.current_text(path)
        return read_text(os.path.join(self.root, path), MAX_TEXT_BYTES)


class IndexedTree:
    """The last indexed state of ``root``, from ``store``: a file is what the index holds of it."""

    working = False
    note: str | None = INDEXED_NOTE

    def __init__(self, root: Path | str, store: Store) -> None:
        self.root = Path(root)
        self.store = store
        self._confiner = Confiner(self.root)
        self._files: dict[str, FileRow] | None = None
        self._dirs: set[str] | None = None

    def _rows(self) -> dict[str, FileRow]:
        if self._files is None:
            self._files = self.store.snapshot()[0]
        return self._files

    def confine(self, path: str) -> str:
        # Lexical confinement (nothing of the root exists here to resolve a symlink through);
        # the indexer never follows a symlink out of the root, so no indexed path leaves it.
        return self._confiner.confine(path)[1]

    def load(self, rel: str, max_bytes: int) -> TreeFile:
        row = self._rows().get(rel)
        if row is None:
            if self.is_dir(rel):
                raise IsADirectoryError(rel)
            raise FileNotFoundError(rel)
        stamp = Stamp(row.size, row.mtime_ns)
        if row.size > max_bytes:
            return TreeFile(stamp, None)
        text = self.store.file_text(rel)
        if text is None:
            raise FileNotFoundError(f"{rel}: its text is not in the index (indexed before texts were kept)")
        return TreeFile(stamp, text)

    def is_file(self, rel: str) -> bool:
        return rel in self._rows()

    def is_dir(self, rel: str) -> bool:
        if self._dirs is None:
            dirs = {""}
            for path in self._rows():
                parts = path.split("/")[:-1]
                dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
            self._dirs = dirs
        return ("" if rel == "." else rel) in self._dirs

    def stamp(self, path: str) -> Stamp | None:
        row = self._rows().get(path)
        return Stamp(row.size, row.mtime_ns) if row is not None else None

    def current_text(self, path: str) -> str | None:
        return self.store.file_text(path) if path in self._rows() else None


def tree_for(root: Path, store: Store | None, source: FreshnessSource | None = None) -> Tree:
    """The working tree when ``root`` is a directory here (or there is no index); else the
    indexed tree of ``store``."""
    if store is None or os.path.isdir(root):
        return WorkingTree(root, source)
    return IndexedTree(root, store)


def as_tree(root: Tree | Path | str) -> Tree:
    """``root`` as a tree: a path stands for the working tree under it."""
    if isinstance(root, (Path, str)):
        return WorkingTree(root)
    return root


#: The most of a configuration file (``go.mod``, ``Cargo.toml``) import resolution reads.
CONFIG_MAX_CHARS = 65536
_CONFIG_MAX_BYTES = 1024 * 1024


def config_text(tree: Tree, rel: str) -> str | None:
    """The first :data:`CONFIG_MAX_CHARS` of a configuration file of the tree, or None."""
    try:
        text = tree.load(tree.confine(rel), _CONFIG_MAX_BYTES).text
    except (PathError, OSError):
        return None
    return text[:CONFIG_MAX_CHARS] if text is not None else None
