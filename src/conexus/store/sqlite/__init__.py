"""The SQLite backend of the :class:`~conexus.store.base.Store` role.

``schema`` (tables, migrations, ``FORMAT_VERSION``), ``sql`` (pure SQL and FTS5
builders) and ``store`` (:class:`SqliteStore`, which runs them). SQL and FTS5
syntax exist nowhere else in Conexus.
"""

from conexus.store.sqlite.schema import FORMAT_VERSION, SCHEMA_VERSION
from conexus.store.sqlite.store import EXACT_VECTOR_LIMIT, SqliteStore

__all__ = ["EXACT_VECTOR_LIMIT", "FORMAT_VERSION", "SCHEMA_VERSION", "SqliteStore"]
