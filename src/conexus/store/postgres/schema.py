"""The PostgreSQL schema of Conexus and its versioned migrations.

Migrations are the numbered SQL files of ``migrations/`` (``0001_initial.sql``,
...), applied in order, each in one transaction, and recorded in
``conexus.schema_migrations``. Every process that opens a database runs
:func:`migrate` first; it holds a session advisory lock throughout, so two
replicas starting at once apply each step exactly once (the second waits, then
finds nothing to do). A database migrated by a newer Conexus (a step this one
does not know) is refused with :class:`~conexus.errors.IndexIncompatibleError`.

``FORMAT_VERSION`` is recorded in each index's meta, as the SQLite store does: a
store refuses an index of a newer format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import psycopg

from conexus.errors import IndexIncompatibleError

#: The PostgreSQL schema every Conexus table lives in.
SCHEMA = "conexus"
#: Format of an index's rows. A store refuses an index of another format (2: content shared by
#: indexes, ``migrations/0002_shared_content.sql``; an index of format 1 is rebuilt by ``conexus index``).
FORMAT_VERSION = 2
#: Advisory lock key held while migrating (and while creating an HNSW index): "conexus" in ASCII.
MIGRATION_LOCK = 0x636F6E65787573
#: pgvector's HNSW indexes halfvec columns of at most this many dimensions.
HNSW_MAX_DIM = 4000
#: HNSW build parameters (pgvector's m, ef_construction): the graph the SQLite store's usearch
#: index builds (connectivity 16), with pgvector's default construction beam.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

_STEP = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One numbered step of the schema."""

    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """Every step shipped in ``migrations/``, in order."""
    steps = []
    for entry in resources.files("conexus.store.postgres").joinpath("migrations").iterdir():
        m = _STEP.match(entry.name)
        if m:
            steps.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return tuple(sorted(steps, key=lambda s: s.version))


def schema_version() -> int:
    """The newest step this Conexus knows."""
    return max(s.version for s in migrations())


def migrate(conn: psycopg.Connection[Any], server: str) -> str:
    """Bring the database of ``conn`` (autocommit) up to :func:`schema_version`; the schema of pgvector.

    Raises:
        IndexIncompatibleError: the database holds steps newer than this Conexus knows.
        psycopg.Error: the server refused a step (the caller translates it).
    """
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations ("
            "version integer PRIMARY KEY, name text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {int(r[0]) for r in conn.execute(f"SELECT version FROM {SCHEMA}.schema_migrations")}
        newest = max(applied, default=0)
        if newest > schema_version():
            raise IndexIncompatibleError(
                f"the Conexus schema on {server} is at version {newest}, newer than this Conexus "
                f"understands ({schema_version()}); upgrade Conexus"
            )
        for step in migrations():
            if step.version in applied:
                continue
            with conn.transaction():
                conn.execute("SELECT set_config('search_path', %s, true)", (f"{SCHEMA}, public",))
                conn.execute(step.sql.encode())
                conn.execute(
                    f"INSERT INTO {SCHEMA}.schema_migrations (version, name) VALUES (%s, %s)",
                    (step.version, step.name),
                )
        row = conn.execute(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'vector'"
        ).fetchone()
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
    if row is None:  # pragma: no cover - the first step creates it
        raise IndexIncompatibleError(f"the pgvector extension is not installed on {server}")
    return str(row[0])


def vector_index_name(dim: int) -> str:
    """The name of the HNSW index of ``dim``-dimensional vectors."""
    return f"vectors_hnsw_{int(dim)}"


def ensure_vector_index(conn: psycopg.Connection[Any], dim: int) -> None:
    """Create the HNSW index of ``dim``-dimensional vectors unless it exists (``conn`` in autocommit).

    Under the migration lock: two processes opening the first index of a dimension at
    once create it once (``IF NOT EXISTS`` alone races on the catalog).

    A partial index per dimension: one table holds the vectors of indexes built by
    different embedders. Past :data:`HNSW_MAX_DIM` there is none and every vector
    search is exact.
    """
    if dim > HNSW_MAX_DIM:
        return
    name = vector_index_name(dim)
    exists = conn.execute(
        "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s", (SCHEMA, name)
    ).fetchone()
    if exists:
        return
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {SCHEMA}.vectors "
            f"USING hnsw ((embedding::halfvec({int(dim)})) halfvec_cosine_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE dim = {int(dim)}"
        )
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
