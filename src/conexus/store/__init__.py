"""Storage: the :class:`~conexus.store.base.Store` role and its backends.

``base`` holds the role, its row types (``FileRow``, ``ChunkRow``, ``ChunkMeta``,
``FileUpdate``), the ``ChunkFilter`` retrievers apply inside their queries and
the ``IndexIdentity`` every backend records and checks; ``lexicon`` what every
backend indexes lexically (the fields' token strings, their BM25 weights).
``sqlite/`` is the embedded backend (one SQLite file per root), ``vectors`` its
HNSW index (usearch), ``wal`` the WAL switch shared with the embedding cache.
``postgres/`` keeps many roots' indexes in one PostgreSQL database with pgvector
(the ``postgres`` extra, imported only when configured). ``location`` is where
the engine learns which one a root uses (the ``store_url`` setting).
"""
