"""``FilesystemSource``: the files under one root, as a :class:`~conexus.sources.base.Source`.

Listing is the walker's (ignore rules, symlinks kept inside the root, one path
per file, files named like credentials left out), reading is the reader's (one
binary rule, generated and minified files left out), screening is the secret
scanner's (``secrets.py``), and the stamp of a document is the file's size and mtime.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from conexus.config import Settings
from conexus.errors import PathError
from conexus.indexing.languages import detect_language, refine_language
from conexus.models import SkippedFile, SkipReason, content_hash
from conexus.sources.base import Document, DocumentRef, Stamp
from conexus.sources.filesystem.ignore import IgnoreMatcher, WalkOptions, normalize_relative
from conexus.sources.filesystem.read import MAX_TEXT_BYTES, read_source, read_text
from conexus.sources.filesystem.walk import MAX_EXPANDED_FILES, files_under, walk
from conexus.sources.filesystem.watcher import ChangeBatch, TreeWatcher

__all__ = ["FilesystemSource", "walk_options"]

logger = logging.getLogger(__name__)


def walk_options(settings: Settings) -> WalkOptions:
    """The walker options a Settings object implies."""
    return WalkOptions(
        max_file_bytes=settings.max_file_bytes,
        include=settings.include,
        exclude=settings.exclude,
        follow_symlinks=settings.follow_symlinks,
        index_secrets=settings.index_secrets,
        secrets_allow=settings.secrets_allow,
    )


class FilesystemSource:
    """The indexable files under ``root``; document paths are POSIX and relative to it."""

    name = "filesystem"

    def __init__(self, root: Path | str, options: WalkOptions) -> None:
        self.root = Path(os.path.abspath(root))
        self.options = options
        self._root_real = os.path.realpath(self.root)

    @classmethod
    def for_settings(cls, root: Path | str, settings: Settings) -> FilesystemSource:
        """The source for ``root`` with the walk options of ``settings``."""
        return cls(root, walk_options(settings))

    # -- listing -------------------------------------------------------------------------------------
    def scan(self) -> Iterator[DocumentRef | SkippedFile]:
        """Every file under the root (see :func:`~conexus.sources.filesystem.walk.walk`).

        Raises:
            PathError: the root does not exist, is not a directory or cannot be listed.
        """
        return walk(self.root, self.options)

    def scan_paths(self, paths: Sequence[str]) -> Iterator[DocumentRef | SkippedFile]:
        """The files among ``paths`` (root-relative), judged by the walker's rules.

        A path that does not exist, or is a directory, yields nothing. An
        ignored path, a symlink leading out of the root, a file too large and a
        path through a symlink to a file the walker lists at its real path
        (``DUPLICATE_LINK``) yield a ``SkippedFile``.

        Raises:
            PathError: the root does not exist or is not a directory.
        """
        matcher = IgnoreMatcher(self.root, self.options)
        return self._scan_paths(sorted(set(paths)), matcher)

    def _scan_paths(self, paths: list[str], matcher: IgnoreMatcher) -> Iterator[DocumentRef | SkippedFile]:
        max_bytes = self.options.max_file_bytes
        for raw in paths:
            try:
                rel = normalize_relative(raw)
            except PathError:
                continue
            if not rel:
                continue
            absolute = os.path.join(self.root, rel)
            try:
                st = os.stat(absolute)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                if not stat.S_ISDIR(st.st_mode):
                    yield SkippedFile(rel, SkipReason.NOT_REGULAR, "not a regular file")
                continue
            try:
                ignored = matcher.reason(rel, is_dir=False)
            except PathError:
                continue
            if ignored is not None:
                yield SkippedFile(rel, ignored)
                continue
            real = os.path.realpath(absolute)
            if not real.startswith(self._root_real.rstrip(os.sep) + os.sep):
                yield SkippedFile(rel, SkipReason.SYMLINK_OUTSIDE_ROOT, f"points to {real}")
                continue
            canonical = os.path.relpath(real, self._root_real).replace(os.sep, "/")
            if canonical != rel and self._listed_at(canonical, matcher):
                yield SkippedFile(rel, SkipReason.DUPLICATE_LINK, f"same file as {canonical}")
                continue
            secret = self.options.secrets.by_name(rel)
            if secret is not None:
                yield SkippedFile(rel, SkipReason.SECRET, secret)
                continue
            if st.st_size > max_bytes:
                yield SkippedFile(rel, SkipReason.TOO_LARGE, f"{st.st_size} bytes > {max_bytes}")
                continue
            yield DocumentRef(rel, absolute, st.st_size, st.st_mtime_ns)

    def _listed_at(self, rel: str, matcher: IgnoreMatcher) -> bool:
        """True when the walker lists the file at ``rel`` itself (no symlink on the way, not ignored)."""
        try:
            return matcher.explain(rel, is_dir=False) is None
        except PathError:
            return False

    def files_under(self, rel_dir: str, limit: int = MAX_EXPANDED_FILES) -> list[str]:
        """Root-relative paths of the files the walker lists under ``rel_dir`` (at most ``limit``).

        Raises:
            PathError: ``rel_dir`` leaves the root.
        """
        return files_under(self.root, rel_dir, self.options, limit)

    # -- reading -------------------------------------------------------------------------------------
    def load(self, ref: DocumentRef) -> Document | SkippedFile:
        """Read one file: its text (BOM dropped, line ends normalised), hash and language.

        Never raises: an unreadable, binary, oversized or generated file is a ``SkippedFile``.
        """
        loaded = read_source(ref, self.options.max_file_bytes)
        if isinstance(loaded, SkippedFile):
            return loaded
        text, invalid = loaded
        first_line = text[:200].split("\n", 1)[0]
        language = refine_language(detect_language(ref.path, first_line) or "text", ref.path, text)
        return Document(
            ref=ref,
            uri=Path(ref.location).as_uri(),
            text=text,
            version=content_hash(text),
            language=language,
            invalid_utf8=invalid,
        )

    def screen(self, doc: Document) -> SkippedFile | None:
        """``SECRET`` when ``doc`` holds a credential of a known shape (detect-secrets), else None.

        The indexer calls it only for content it has not indexed before, so each
        version of a file is scanned once. Off when the root opts in with
        ``index_secrets``; files matching ``secrets_allow`` are not scanned.
        """
        why = self.options.secrets.by_content(doc.path, doc.text)
        if why is None:
            return None
        logger.info("not indexing %s: it holds secrets (%s)", doc.path, why)
        return SkippedFile(doc.path, SkipReason.SECRET, why)

    def stamp(self, path: str) -> Stamp | None:
        """Size and mtime of the regular file at ``path``; None when it is gone or not a regular file.

        Only ``stat`` is called: a FIFO or a device in the file's place is never opened.
        """
        try:
            st = os.stat(os.path.join(self.root, path))
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return Stamp(st.st_size, st.st_mtime_ns)

    def current_text(self, path: str) -> str | None:
        """The file's text as the indexer decodes it; None when missing, not regular, binary or huge."""
        return read_text(os.path.join(self.root, path), MAX_TEXT_BYTES)

    # -- following changes ---------------------------------------------------------------------------
    def watch(
        self,
        on_change: Callable[[ChangeBatch], None],
        *,
        exclude_dirs: Sequence[Path] = (),
        debounce_ms: int = 200,
        force_polling: bool | None = None,
    ) -> TreeWatcher:
        """A watcher for this root with this source's rules (call ``start()`` on it)."""
        return TreeWatcher(
            self.root,
            self.options,
            on_change,
            exclude_dirs=exclude_dirs,
            debounce_ms=debounce_ms,
            force_polling=force_polling,
        )
