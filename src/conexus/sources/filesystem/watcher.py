"""Watch a served root and report the files that changed, ignore rules applied.

A :class:`TreeWatcher` runs ``watchfiles`` on its own thread and hands each
debounced batch, already filtered, to a callback as a :class:`ChangeBatch`:

* paths are POSIX and relative to the root;
* anything the walker would ignore (``.git``, ``node_modules``, ``.gitignore`` /
  ``.conexusignore`` matches, the configured excludes) is dropped, and so is
  anything under the data home (the index would otherwise watch itself being
  written);
* a directory that appears (created, or renamed into the tree) is expanded
  into the files under it by the walker (:func:`~conexus.sources.filesystem.walk.files_under`),
  because the operating system reports only the directory itself for a rename;
* an edit to an ignore file sets ``rules_changed``: what is indexed may have
  changed anywhere, so the receiver should re-walk the tree.

Deleted paths cannot be told apart from deleted directories after the fact;
the receiver resolves them against the files it has indexed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from watchfiles import Change, watch

from conexus.errors import PathError
from conexus.sources.filesystem.ignore import IgnoreMatcher, WalkOptions
from conexus.sources.filesystem.walk import MAX_EXPANDED_FILES, files_under

logger = logging.getLogger(__name__)

IGNORE_FILE_NAMES = frozenset({".gitignore", ".conexusignore"})
GIT_INFO_EXCLUDE = ".git/info/exclude"


@dataclass
class ChangeBatch:
    """One debounced set of changes under a root."""

    changed: set[str] = field(default_factory=set)  # files that exist now: added or modified
    deleted: set[str] = field(default_factory=set)  # files or directories that are gone
    rules_changed: bool = False  # an ignore file changed: re-walk everything
    overflow: bool = False  # too many changes to list: re-walk everything

    def __bool__(self) -> bool:
        return bool(self.changed or self.deleted or self.rules_changed or self.overflow)


def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


class TreeWatcher:
    """Watches one root on a background thread; ``on_change`` receives each filtered batch.

    ``on_change`` runs on the watcher thread; it should hand work off rather
    than index inline, or later changes wait behind it.
    """

    def __init__(
        self,
        root: Path,
        options: WalkOptions,
        on_change: Callable[[ChangeBatch], None],
        *,
        exclude_dirs: Sequence[Path] = (),
        debounce_ms: int = 200,
        step_ms: int = 30,
        force_polling: bool | None = None,
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self._options = options
        self._on_change = on_change
        self._exclude = [os.path.realpath(p) for p in exclude_dirs]
        self._debounce_ms = debounce_ms
        self._step_ms = step_ms
        self._force_polling = force_polling
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once the operating system watch is in place
        self.failed: str | None = None
        self._matcher: IgnoreMatcher | None = None
        self._thread = threading.Thread(target=self._run, name=f"conexus-watch-{self.root.name}", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start watching (returns at once; ``ready`` is set when events are being received)."""
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop watching and wait up to ``timeout`` seconds for the thread to end."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        try:
            self._matcher = IgnoreMatcher(self.root, self._options)
            for raw in watch(
                self.root,
                watch_filter=None,
                debounce=self._debounce_ms,
                step=self._step_ms,
                stop_event=self._stop,
                # A short timeout with yield_on_timeout makes the first (empty) yield the
                # proof that the operating system watch is established.
                rust_timeout=250,
                yield_on_timeout=True,
                debug=False,  # watchfiles' debug mode prints to stdout, the MCP channel
                raise_interrupt=False,
                force_polling=self._force_polling,
                ignore_permission_denied=True,
            ):
                self.ready.set()
                if not raw:
                    continue
                batch = self.classify(raw)
                if batch:
                    try:
                        self._on_change(batch)
                    except Exception:  # the watcher must outlive one bad batch
                        logger.exception("handling file changes under %s failed", self.root)
        except Exception as exc:  # e.g. inotify watch limit reached: report it in the status
            self.failed = f"{type(exc).__name__}: {exc}"
            logger.exception("watching %s failed; changes will only be seen by explicit re-index", self.root)
        finally:
            self.ready.set()

    # -- filtering ---------------------------------------------------------------------------------
    def classify(self, raw: set[tuple[Change, str]]) -> ChangeBatch:
        """Turn raw ``(change, absolute path)`` pairs into a filtered :class:`ChangeBatch`."""
        batch = ChangeBatch()
        matcher = self._matcher or IgnoreMatcher(self.root, self._options)
        self._matcher = matcher
        root = str(self.root)
        # Ignore files first: their rules decide everything else in the batch.
        for _change, abs_path in raw:
            rel = self._relative(abs_path, root)
            if rel is None:
                continue
            if rel.rsplit("/", 1)[-1] in IGNORE_FILE_NAMES or rel == GIT_INFO_EXCLUDE:
                batch.rules_changed = True
        if batch.rules_changed:
            matcher.invalidate()
        for change, abs_path in sorted(raw, key=lambda item: item[1]):
            rel = self._relative(abs_path, root)
            if rel is None or any(_inside(abs_path, d) for d in self._exclude):
                continue
            is_dir = os.path.isdir(abs_path)
            exists = is_dir or os.path.lexists(abs_path)
            try:
                if matcher.is_ignored(rel, is_dir=is_dir):
                    continue
            except PathError:
                continue
            if change == Change.deleted and not exists:
                batch.deleted.add(rel)
            elif not exists:
                batch.deleted.add(rel)  # added then removed within one debounce window
            elif is_dir:
                if change != Change.modified:  # a directory's own mtime changes with every entry
                    self._expand(rel, batch, matcher)
            else:
                batch.changed.add(rel)
        return batch

    def _relative(self, abs_path: str, root: str) -> str | None:
        if not _inside(abs_path, root) or abs_path == root:
            return None
        return os.path.relpath(abs_path, root).replace(os.sep, "/")

    def _expand(self, rel_dir: str, batch: ChangeBatch, matcher: IgnoreMatcher) -> None:
        """Add the files under a directory that appeared, pruning ignored directories."""
        try:
            found = files_under(self.root, rel_dir, self._options, MAX_EXPANDED_FILES, matcher=matcher)
        except PathError:
            return
        batch.changed.update(found)
        if len(found) >= MAX_EXPANDED_FILES:
            batch.overflow = True
