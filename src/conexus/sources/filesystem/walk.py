"""The one walker: every file under a root (or under one of its directories), ignore rules applied.

``walk`` lists a tree depth first with :class:`~conexus.sources.filesystem.ignore.IgnoreMatcher`,
pruning ignored directories, and yields a :class:`~conexus.sources.base.DocumentRef` per file
worth reading or a :class:`~conexus.models.SkippedFile` saying why not. The indexer scans
with it and the watcher expands a directory that appeared with it (``files_under``).

A file reachable by several paths inside the root (a symlinked directory, a
symlink to a file, a hard link) is listed once: the path that does not pass
through a symlink is kept, else the lexicographically first, and the others are
skipped as ``DUPLICATE_LINK`` (psf/requests' ``tests/certs`` links otherwise
index five files three times each).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from conexus.errors import PathError
from conexus.models import SkippedFile, SkipReason
from conexus.sources.base import DocumentRef
from conexus.sources.filesystem.ignore import IgnoreMatcher, WalkOptions, _Dir, normalize_relative
from conexus.sources.filesystem.read import describe_mode

__all__ = ["MAX_EXPANDED_FILES", "files_under", "walk"]

# A directory renamed into the tree with more files than this is left to a full re-walk.
MAX_EXPANDED_FILES = 20_000


@dataclass(slots=True)
class _Frame:
    ctx: _Dir
    entries: Iterator[os.DirEntry[str]]
    key: tuple[int, int]
    via_link: bool  # this directory was reached through a symlink


@dataclass(frozen=True, slots=True)
class _Identity:
    key: tuple[int, int]  # (device, inode) of the file
    via_link: bool  # its path passes through a symlink


def _scan(path: str) -> list[os.DirEntry[str]]:
    with os.scandir(path) as it:
        return sorted(it, key=attrgetter("name"))


def walk(
    root: Path, options: WalkOptions, *, under: str = "", matcher: IgnoreMatcher | None = None
) -> Iterator[DocumentRef | SkippedFile]:
    """Yield every file under ``root`` as a ``DocumentRef``, or a ``SkippedFile`` saying why not.

    The order is deterministic: depth first, entries of a directory sorted by
    name. An ignored directory is not entered; it yields one
    ``SkippedFile(IGNORED)`` whose path ends in ``/`` (as do other skipped
    directories). Symlinks are followed only when ``options.follow_symlinks``
    and their target stays inside the root; a followed link is reported at the
    link's own path, unless the file it reaches is listed at another path too
    (``DUPLICATE_LINK``, see the module docstring). Problems with single entries
    become ``SkippedFile`` s.

    ``under`` (a root-relative directory) walks only that directory, with the
    rules that apply to it inside the whole tree; nothing is yielded when it is
    ignored or missing. ``matcher`` reuses compiled rules (it must be for ``root``
    and ``options``).

    Raises:
        PathError: ``root`` does not exist, is not a directory or cannot be listed,
            or ``under`` leaves it (raised by this call, before iteration starts).
    """
    matcher = matcher or IgnoreMatcher(root, options)
    rel = normalize_relative(under)
    start = matcher._dir(rel)
    if isinstance(start, str):
        return iter(())
    start_path = os.path.join(matcher.root, rel) if rel else matcher.root
    try:
        entries = _scan(start_path)
        st = os.stat(start_path)
    except OSError as exc:
        if rel:
            return iter(())
        raise PathError(f"cannot list root {root}: {exc.strerror or exc}") from exc
    via_link = bool(rel) and os.path.realpath(start_path) != os.path.join(
        os.path.realpath(matcher.root), *rel.split("/")
    )
    return _without_duplicates(_walk(matcher, options, start, entries, (st.st_dev, st.st_ino), via_link))


def files_under(
    root: Path,
    rel_dir: str,
    options: WalkOptions,
    limit: int = MAX_EXPANDED_FILES,
    *,
    matcher: IgnoreMatcher | None = None,
) -> list[str]:
    """Root-relative paths of the files under ``rel_dir`` that the walker would index (at most ``limit``).

    Raises:
        PathError: ``root`` is not a directory or ``rel_dir`` leaves it.
    """
    out: list[str] = []
    for entry in walk(root, options, under=rel_dir, matcher=matcher):
        if isinstance(entry, DocumentRef):
            out.append(entry.path)
            if len(out) >= limit:
                break
    return out


def _without_duplicates(
    items: Iterator[tuple[DocumentRef | SkippedFile, _Identity | None]],
) -> Iterator[DocumentRef | SkippedFile]:
    """The walk with every file reachable by several paths listed once (see the module docstring)."""
    entries = list(items)
    paths: dict[tuple[int, int], list[tuple[bool, str]]] = {}
    for entry, identity in entries:
        if identity is not None:
            paths.setdefault(identity.key, []).append((identity.via_link, entry.path))
    # A path without a symlink sorts first (False < True), then by name.
    keep = {key: min(found)[1] for key, found in paths.items() if len(found) > 1}
    for entry, identity in entries:
        kept = keep.get(identity.key) if identity is not None else None
        if kept is not None and kept != entry.path:
            yield SkippedFile(entry.path, SkipReason.DUPLICATE_LINK, f"same file as {kept}")
        else:
            yield entry


def _walk(
    matcher: IgnoreMatcher,
    options: WalkOptions,
    start: _Dir,
    start_entries: list[os.DirEntry[str]],
    start_key: tuple[int, int],
    start_via_link: bool,
) -> Iterator[tuple[DocumentRef | SkippedFile, _Identity | None]]:
    root_real = os.path.realpath(matcher.root)
    root_prefix = root_real.rstrip(os.sep) + os.sep
    max_bytes = options.max_file_bytes
    follow = options.follow_symlinks
    secrets = options.secrets
    stack = [_Frame(start, iter(start_entries), start_key, via_link=start_via_link)]
    active = {start_key}  # (dev, inode) of the directories being walked: a repeat is a loop

    while stack:
        frame = stack[-1]
        entry = next(frame.entries, None)
        if entry is None:
            stack.pop()
            active.discard(frame.key)
            continue
        name = entry.name
        parent = frame.ctx
        rel = f"{parent.rel}/{name}" if parent.rel else name
        path = entry.path
        via_link = frame.via_link
        try:
            st: os.stat_result | None = None
            if entry.is_symlink():
                via_link = True
                target_error: OSError | None = None
                try:
                    st = os.stat(path)
                except OSError as exc:
                    target_error = exc
                is_dir = follow and st is not None and stat.S_ISDIR(st.st_mode)
                detail, kept = matcher._check(parent, name, rel, is_dir)
                if detail is not None:
                    yield SkippedFile(rel + "/" if is_dir else rel, SkipReason.IGNORED, detail), None
                    continue
                if not follow:
                    yield SkippedFile(rel, SkipReason.NOT_REGULAR, "symlink (follow_symlinks is off)"), None
                    continue
                real = os.path.realpath(path)
                if real != root_real and not real.startswith(root_prefix):
                    yield SkippedFile(rel, SkipReason.SYMLINK_OUTSIDE_ROOT, f"points to {real}"), None
                    continue
                if st is None:
                    if target_error is not None and target_error.errno == errno.ELOOP:
                        yield SkippedFile(rel, SkipReason.SYMLINK_LOOP, "symlink resolves to itself"), None
                    else:
                        why = target_error.strerror if target_error is not None else "unknown"
                        yield SkippedFile(rel, SkipReason.UNREADABLE, f"broken symlink: {why}"), None
                    continue
            else:
                is_dir = entry.is_dir(follow_symlinks=False)
                detail, kept = matcher._check(parent, name, rel, is_dir)
                if detail is not None:
                    yield SkippedFile(rel + "/" if is_dir else rel, SkipReason.IGNORED, detail), None
                    continue
                st = entry.stat(follow_symlinks=False)

            if is_dir:
                key = (st.st_dev, st.st_ino)
                if key in active:
                    loop = SkippedFile(rel + "/", SkipReason.SYMLINK_LOOP, "leads back to a parent directory")
                    yield loop, None
                    continue
                try:
                    entries = _scan(path)
                except OSError as exc:
                    yield SkippedFile(rel + "/", SkipReason.UNREADABLE, exc.strerror or str(exc)), None
                    continue
                child = matcher._child(parent, rel, path, frozenset(e.name for e in entries), kept)
                if isinstance(child, str):
                    yield SkippedFile(rel + "/", SkipReason.IGNORED, child), None
                    continue
                stack.append(_Frame(child, iter(entries), key, via_link=via_link))
                active.add(key)
            elif stat.S_ISREG(st.st_mode):
                secret = secrets.by_name(rel)
                if secret is not None:
                    yield SkippedFile(rel, SkipReason.SECRET, secret), None
                elif st.st_size > max_bytes:
                    yield SkippedFile(rel, SkipReason.TOO_LARGE, f"{st.st_size} bytes > {max_bytes}"), None
                else:
                    ref = DocumentRef(rel, path, st.st_size, st.st_mtime_ns)
                    yield ref, _Identity((st.st_dev, st.st_ino), via_link)
            else:
                yield SkippedFile(rel, SkipReason.NOT_REGULAR, describe_mode(st.st_mode)), None
        except OSError as exc:  # vanished or unreadable between listing and stat
            yield SkippedFile(rel, SkipReason.UNREADABLE, exc.strerror or str(exc)), None
