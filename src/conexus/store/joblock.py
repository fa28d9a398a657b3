"""The job lock of an index: one index job (build, update, rebuild, clear) at a time, across processes.

Replicas sharing an index (issue #14: several ``conexus serve`` processes on one
PostgreSQL database, or a server and a ``conexus index`` on one SQLite file) must
not interleave their jobs on one root. Each backend's
:class:`~conexus.store.location.IndexLocation` holds a lock that dies with the
process that took it, so a replica killed mid-job (``kill -9``) never leaves it
behind and the next job, anywhere, resumes from the last committed state:

* SQLite (:class:`FileJobLock`): an exclusive ``flock`` on ``<index folder>.lock``
  beside the index folder (not inside it: a rebuild or clear deletes the folder,
  and a lock on a deleted file excludes nobody). The holder writes its pid, host
  and start time into the file, for the message of whoever waits.
* PostgreSQL (:mod:`conexus.store.postgres.joblock`): a session advisory lock keyed by
  the index key, on a connection of its own.

A second job waits for the lock, bounded (``wait_s``), then fails with
:class:`~conexus.errors.IndexBusyError` saying who indexes the root and since when.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conexus.errors import IndexBusyError

try:
    import fcntl
except ImportError:  # Windows: no flock; jobs of one root are serialised within a process only
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

#: Seconds between two attempts to take a lock another process holds.
POLL_S = 0.05


def this_process() -> dict[str, Any]:
    """What a lock holder says about itself: pid, host, start time (epoch seconds)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}


def busy_message(what: str, holder: dict[str, Any] | None, waited_s: float) -> str:
    """The message of :class:`IndexBusyError`: who holds the lock of ``what`` and since when."""
    who = "another process"
    if holder and holder.get("pid"):
        who = f"another replica (pid {holder['pid']} on {holder.get('host') or 'an unknown host'})"
    elif holder and holder.get("host"):
        who = f"another replica ({holder['host']})"
    since = ""
    if holder and holder.get("since"):
        stamp = datetime.fromtimestamp(float(holder["since"]), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        since = f" since {stamp}"
    return f"{who} is running an index job on {what}{since}; waited {waited_s:.0f} s for it to finish"


class FileJobLock:
    """The job lock of an SQLite index: an ``flock`` on a file beside its folder."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what

    @contextmanager
    def hold(self, wait_s: float) -> Iterator[None]:
        """Hold the lock for the block, waiting up to ``wait_s`` seconds for another holder.

        Raises:
            IndexBusyError: another process held it for all of ``wait_s``.
        """
        if fcntl is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            started = time.monotonic()
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    waited = time.monotonic() - started
                    if waited >= wait_s:
                        raise IndexBusyError(busy_message(self.what, self.holder(), waited)) from None
                    time.sleep(POLL_S)  # flock has no timeout: poll until the deadline
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(this_process()).encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock, as a killed process's does

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now (pid, host, since), or None when nobody does."""
        if fcntl is None:
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                # Locks belong to open file descriptions: this probe conflicts with every holder,
                # this process included.
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    found = json.loads(os.pread(fd, 4096, 0) or b"{}")
                except ValueError:  # the holder is writing it right now
                    found = {}
                return found if isinstance(found, dict) else {}
            return None
        finally:
            os.close(fd)
