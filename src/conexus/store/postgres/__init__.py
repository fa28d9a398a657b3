"""The PostgreSQL backend of the :class:`~conexus.store.base.Store` role (the ``postgres`` extra).

``schema`` (the versioned migrations of ``migrations/``, applied under an
advisory lock), ``connection`` (one pool per database URL per process, errors
that name the server, never the password), ``sql`` (pure SQL builders: BM25
over the postings, filtered nearest neighbours), ``store``
(:class:`PostgresStore`, which runs them) and ``location`` (what the engine
opens and deletes). Imported only when ``store_url`` is set: it needs psycopg,
psycopg-pool and pgvector.
"""

from conexus.store.postgres.connection import close_pools
from conexus.store.postgres.schema import FORMAT_VERSION, schema_version
from conexus.store.postgres.store import EXACT_VECTOR_LIMIT, PostgresStore

__all__ = ["EXACT_VECTOR_LIMIT", "FORMAT_VERSION", "PostgresStore", "close_pools", "schema_version"]
