"""Storage: the :class:`~conexus.store.base.Store` role and its backends.

``base`` holds the role, its row types (``FileRow``, ``ChunkRow``, ``ChunkMeta``,
``FileUpdate``), the ``ChunkFilter`` retrievers apply inside their queries and
the ``IndexIdentity`` every backend records and checks. ``sqlite/`` is the
embedded backend (one SQLite file per root), ``vectors`` its HNSW index
(usearch), ``wal`` the WAL switch shared with the embedding cache.
"""
