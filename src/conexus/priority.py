"""Interactive work first: background work steps aside while requests that must be fast run.

CPython runs one thread's Python code at a time (the GIL). A thread that wants it
waits for the running one to drop it, up to the switch interval (5 ms), and a
search takes and drops it a dozen times (every SQLite call, the query
embedding, each lock). Beside two busy threads of heavy work (a grep over every
file, a localization running three searches), a 20 ms search therefore takes
60-150 ms, however the worker pools are split: lanes (:mod:`conexus.server.lanes`)
keep heavy requests from taking the workers searches need, not from taking the
interpreter.

So heavy work is *background* work and yields. A server runs each heavy
operation inside :func:`background` and each light one inside
:func:`interactive`; heavy code calls :func:`checkpoint` at its natural seams
(each file of a grep, each stage of a search, localize, related or explain).
At a checkpoint, a background thread that has run for at least :data:`SLICE_S`
since it last stepped aside waits while interactive requests are in flight, for
at most :data:`MAX_YIELD_S`, and lets them have the interpreter to themselves.
Heavy work is slowed (at most ``(SLICE_S + MAX_YIELD_S) / SLICE_S`` times, only
while searches run), never stopped; light work runs near its own service time.

Outside :func:`background` (the CLI, the library, a light request) a checkpoint
returns at once, so the engine behaves the same wherever it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: Least time a background thread runs between two yields (seconds).
SLICE_S = 0.010
#: Longest a background thread waits at one checkpoint for interactive work to finish (seconds).
MAX_YIELD_S = 0.020

_lock = threading.Condition()
_interactive = 0  # interactive requests in flight (guarded by _lock)
_local = threading.local()


@contextmanager
def interactive() -> Iterator[None]:
    """Mark the block as interactive work: background threads step aside while it runs."""
    global _interactive
    with _lock:
        _interactive += 1
    try:
        yield
    finally:
        with _lock:
            _interactive -= 1
            if _interactive == 0:
                _lock.notify_all()


@contextmanager
def background() -> Iterator[None]:
    """Run the block as background work on this thread: its :func:`checkpoint` calls may yield."""
    previous = getattr(_local, "since", None)
    _local.since = time.monotonic()
    try:
        yield
    finally:
        _local.since = previous


def checkpoint() -> float:
    """Step aside for interactive work in flight, if this is background work that ran a slice.

    Returns the seconds waited (0.0 mostly), which a caller with a deadline of its
    own adds to it: time yielded is not time spent.
    """
    since: float | None = getattr(_local, "since", None)
    if since is None or _interactive == 0:  # read without the lock: a stale answer costs one slice
        return 0.0
    now = time.monotonic()
    if now - since < SLICE_S:
        return 0.0
    with _lock:
        _lock.wait_for(lambda: _interactive == 0, timeout=MAX_YIELD_S)
    end = time.monotonic()
    _local.since = end
    return end - now


def is_background() -> bool:
    """Whether this thread runs background work now (inside :func:`background`)."""
    return getattr(_local, "since", None) is not None


def in_flight() -> int:
    """Interactive requests running now (for metrics and tests)."""
    return _interactive
