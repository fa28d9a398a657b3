"""What a store answered about its chunks' places, kept until the index's next write.

Every search asks :meth:`~conexus.store.base.Store.chunk_meta` for the path,
language and kind of each of its candidates: hundreds of chunks, most of them
the same from one query to the next. Read from the database each time, that
was the largest single cost of a search on a 50K-chunk index (one B-tree lookup in
``chunks`` and one in ``files`` per candidate). The memo answers the chunks it
has seen in the current generation from memory and asks the database for the
others only.

Keyed on :meth:`~conexus.store.base.Store.generation`, which every committed
write moves: a memo of an older generation is dropped whole, so what it answers
is what the database holds now (a chunk id SQLite reuses after a delete, a file
that left the tree). Bounded: past ``limit`` chunks it stops taking in more
and keeps answering the ones it has.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence

from conexus.store.base import ChunkMeta

#: Chunks one memo keeps (tens of MB at most per process).
DEFAULT_LIMIT = 200_000


class ChunkMetaMemo:
    """:class:`ChunkMeta` by chunk id for one generation of an index; safe across threads."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._known: dict[int, ChunkMeta] = {}

    def lookup(
        self,
        generation: int,
        ids: Sequence[int],
        fetch: Callable[[list[int]], dict[int, ChunkMeta]],
    ) -> dict[int, ChunkMeta]:
        """The meta of ``ids`` at ``generation`` (read before ``fetch`` runs): remembered ones
        from memory, the rest from ``fetch(missing)``. Ids ``fetch`` leaves out stay out."""
        with self._lock:
            if self._generation != generation:
                self._generation, self._known = generation, {}
            known = self._known
        found: dict[int, ChunkMeta] = {}
        missing: list[int] = []
        for cid in ids:
            meta = known.get(cid)
            if meta is None:
                missing.append(cid)
            else:
                found[cid] = meta
        if missing:
            fetched = {
                cid: ChunkMeta(sys.intern(m.path), sys.intern(m.language), sys.intern(m.kind))
                for cid, m in fetch(missing).items()
            }
            found.update(fetched)
            with self._lock:
                # A write since ``generation`` was read replaced the memo: these rows belong to
                # no memo then, and go nowhere.
                if self._known is known and len(known) + len(fetched) <= self.limit:
                    known.update(fetched)
        return found

    def __len__(self) -> int:
        return len(self._known)
