"""Decoded file texts of a root, kept while each file's stat signature holds.

Grep reads every indexed file on each call; on a large repository (numpy and
scipy: 2,066 files) most of that call went to opening, confining, reading,
decoding and hashing files that had not changed since the last call. A
:class:`FileTexts` keeps each file's decoded text and content hash keyed by its
root-relative path, and serves it again only while ``os.stat`` of the file
reports the same device, inode, size, modification and change times: an edit, a
replaced file, or a path that now leads elsewhere (a parent swapped for a
symlink) changes the signature, and the file is confined and read again. What
is kept is bounded by a number of characters, least recently used first out.

Files a tool must skip (binary, over the size limit, unreadable, outside the
root) are remembered as such under the same rule, so they cost a ``stat`` too.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from conexus.errors import PathError
from conexus.models import content_hash, decode_text
from conexus.paths import Confiner
from conexus.sources.filesystem.read import looks_binary, read_bytes

#: Default bound of the characters kept per root (about that many bytes for ASCII source).
DEFAULT_MAX_CHARS = 256 * 2**20

Signature = tuple[int, int, int, int, int]


@dataclass(frozen=True, slots=True)
class FileText:
    """One file as a tool may show it: decoded text and its content hash (None: skip the file)."""

    text: str | None
    hash: str | None


_SKIP = FileText(None, None)


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class FileTexts:
    """The texts of one root's files, read once per version of each file (thread-safe)."""

    def __init__(self, root: Path, max_file_bytes: int, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.max_chars = max_chars
        self._entries: OrderedDict[str, tuple[str, Signature, FileText]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()

    def get(self, rel: str) -> FileText:
        """The text of ``rel`` (root-relative) as on disk now, or a skip (text None)."""
        with self._lock:
            entry = self._entries.get(rel)
        if entry is not None:
            absolute, signature, cached = entry
            try:
                current = _signature(os.stat(absolute))
            except OSError:
                current = None
            if current == signature:
                with self._lock:
                    if rel in self._entries:
                        self._entries.move_to_end(rel)
                return cached
        return self._load(rel)

    def _load(self, rel: str) -> FileText:
        try:
            # A new confiner each time: one that kept its resolved folders would miss a folder
            # swapped for a symlink since.
            absolute, _ = Confiner(self.root).confine(rel)
            data, st = read_bytes(absolute, self.max_file_bytes)
        except (PathError, OSError):
            return _SKIP  # not remembered: a path that does not resolve has no signature to hold
        if st.st_size > self.max_file_bytes or len(data) > self.max_file_bytes or looks_binary(data):
            found = _SKIP
        else:
            text = decode_text(data)[0]
            found = FileText(text, content_hash(text))
        self._remember(rel, str(absolute), _signature(st), found)
        return found

    def _remember(self, rel: str, absolute: str, signature: Signature, found: FileText) -> None:
        size = len(found.text) if found.text is not None else 0
        if size > self.max_chars:
            return
        with self._lock:
            old = self._entries.pop(rel, None)
            if old is not None and old[2].text is not None:
                self._chars -= len(old[2].text)
            self._entries[rel] = (absolute, signature, found)
            self._chars += size
            while self._chars > self.max_chars and self._entries:
                _, (_, _, evicted) = self._entries.popitem(last=False)
                if evicted.text is not None:
                    self._chars -= len(evicted.text)

    def forget(self) -> None:
        """Drop every kept text (the root's ignore rules or limits changed, or the index was cleared)."""
        with self._lock:
            self._entries.clear()
            self._chars = 0

    @property
    def chars(self) -> int:
        """Characters kept now."""
        with self._lock:
            return self._chars
