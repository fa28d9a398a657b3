"""Query replicas on a read-only standby: a hot standby streaming from the primary (``pg_basebackup``
of a server of the test's own) serves the primary's index and refuses to write, clearly.

The primary indexes; an engine on the standby (another data home, as another replica's)
answers the same searches once the standby has replayed the writes, follows later writes
without a restart, and an index job there fails with a store error instead of writing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.errors import StoreError
from tests import postgres
from tests.conftest import write

postgres.require_extra()

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[str, str]]:
    postgres.server_url()  # skips (fails in CI) without the wheel, like every PostgreSQL test
    from bench.pg_restartable import restartable_postgres

    with restartable_postgres() as server:
        primary = server.create_database("replicated")
        standby = server.add_standby().rsplit("/", 1)[0] + "/replicated"
        yield primary, standby
        from conexus.store.postgres.connection import close_pools

        close_pools()


def until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)  # polling interval; the deadline decides


def test_a_query_replica_on_a_standby_serves_the_primarys_index_and_follows_its_writes(
    primary_and_standby: tuple[str, str],
    make_engine: Callable[..., Engine],
    golden_repo: Path,
    tmp_path: Path,
) -> None:
    primary_url, standby_url = primary_and_standby
    writer = make_engine(golden_repo, store_url=primary_url)
    writer.index()
    reader = make_engine(golden_repo, store_url=standby_url, home=tmp_path / "standby-home")

    def replayed() -> bool:
        try:
            return reader.has_index() and reader.generation() == writer.generation()
        except StoreError:  # the standby is still replaying the schema
            return False

    until(replayed, "the standby has replayed the index")
    assert [h.chunk_id for h in reader.search("retry backoff").hits] == [
        h.chunk_id for h in writer.search("retry backoff").hits
    ]

    write(golden_repo, "httpkit/ocelot.py", "def ocelot_prowls():\n    return 'night'\n")
    writer.index()
    until(replayed, "the standby has replayed the update")
    assert reader.search("ocelot_prowls").hits[0].path == "httpkit/ocelot.py"
    assert reader.status(check_stale=False)["last_run"]["status"] == "complete"

    with pytest.raises(StoreError, match="read-only"):
        reader.index()
