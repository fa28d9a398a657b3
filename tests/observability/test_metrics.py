"""Every metric of the catalogue is recorded where the work happens, through the real code path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from prometheus_client import REGISTRY

from conexus.api.models import StatusArgs, StatusOut
from conexus.api.operations import BY_NAME, Call, Operation
from conexus.app.service import ConexusService
from conexus.app.telemetry import state_collector
from conexus.errors import ConexusError
from tests.observability.live import eventually, idle, live_server, make_service, sample
from tests.server.conftest import make_repo, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def service(tmp_path: Path, repo: Path) -> Iterator[ConexusService]:
    svc = make_service(tmp_path / "home", repo)
    yield svc
    svc.close()


def _requests(operation: str, transport: str, status: str) -> float:
    return sample("conexus_requests_total", operation=operation, transport=transport, status=status)


def _latency_count(operation: str, transport: str) -> float:
    return sample("conexus_request_duration_seconds_count", operation=operation, transport=transport)


def test_rest_requests_are_counted_once_by_operation_and_status_and_timed(service: ConexusService) -> None:
    ok, bad = _requests("search", "rest", "ok"), _requests("search", "rest", "client_error")
    missing = _requests("read", "rest", "client_error")
    timed = _latency_count("search", "rest")
    with live_server(service) as server:
        assert server.post("search", {"query": "parse header links"}).status_code == 200
        assert server.post("search", {"query": "x", "top_k": 0}).status_code == 400  # refused by the model
        assert server.post("read", {"path": "no/such/file.py"}).status_code == 404  # refused by the operation
        # The in-flight gauge is back to zero once the answers are in.
        assert sample("conexus_requests_in_flight", transport="rest") == 0
    assert _requests("search", "rest", "ok") == ok + 1
    assert _requests("search", "rest", "client_error") == bad + 1
    assert _requests("read", "rest", "client_error") == missing + 1
    assert _latency_count("search", "rest") == timed + 1  # the refused body never reached the operation


def test_mcp_tool_calls_are_counted_with_transport_mcp(service: ConexusService) -> None:
    before = _requests("search", "mcp", "ok")
    with live_server(service) as server:

        async def search() -> None:
            async with Client(f"{server.url}/mcp") as client:
                result = await client.call_tool("context_search", {"query": "retry delay"})
                assert not result.is_error

        anyio.run(search)
    assert _requests("search", "mcp", "ok") == before + 1


class _RefusedError(ConexusError):
    http_status = 403


class _LimitedError(ConexusError):
    http_status = 429


def _failing(error: Exception) -> Operation[StatusArgs, StatusOut]:
    def run(call: Call, args: StatusArgs) -> StatusOut:
        raise error

    template = BY_NAME["status"]
    return Operation(
        "status",
        template.tool,
        template.title,
        template.description,
        StatusArgs,
        StatusOut,
        run,
        template.render,
        scope="read",
        read_only=True,
    )


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (_RefusedError("no"), "denied"),
        (_LimitedError("slow down"), "limited"),
        (RuntimeError("bug"), "error"),
    ],
)
def test_refusals_limits_and_crashes_each_have_their_status(
    service: ConexusService, error: Exception, status: str
) -> None:
    before = _requests("status", "cli", status)
    with pytest.raises(type(error)):
        _failing(error).execute(Call(service, transport="cli"), {})
    assert _requests("status", "cli", status) == before + 1


def test_a_search_times_each_of_its_stages_and_localize_its_rerank(service: ConexusService) -> None:
    stages = ("lexical", "vector", "exact", "fusion", "rerank")
    before = {s: sample("conexus_search_stage_duration_seconds_count", stage=s) for s in stages}
    engine = service.roots[0].engine
    assert engine.search("parse_header_links Link header").hits
    after = {s: sample("conexus_search_stage_duration_seconds_count", stage=s) for s in stages}
    assert all(after[s] == before[s] + 1 for s in ("lexical", "vector", "exact", "fusion")), after
    assert after["rerank"] == before["rerank"]
    engine.localize("parse_header_links returns the wrong rel for a Link header")
    assert sample("conexus_search_stage_duration_seconds_count", stage="rerank") == before["rerank"] + 1


def test_index_jobs_record_outcome_duration_last_success_and_embedding(tmp_path: Path, repo: Path) -> None:
    root = repo.name
    jobs, timed = (
        sample("conexus_index_jobs_total", root=root, outcome="ok"),
        sample("conexus_index_job_duration_seconds_count", root=root, outcome="ok"),
    )
    embedded = sample("conexus_embedded_texts_total", embedder="fake")
    misses = sample("conexus_embedding_cache_lookups_total", result="miss")
    hits = sample("conexus_embedding_cache_lookups_total", result="hit")
    service = make_service(tmp_path / "home", repo)
    try:
        assert sample("conexus_index_jobs_total", root=root, outcome="ok") == jobs + 1
        assert sample("conexus_index_job_duration_seconds_count", root=root, outcome="ok") == timed + 1
        assert sample("conexus_index_last_success_timestamp_seconds", root=root) > 0
        chunks = service.roots[0].engine.status(check_stale=False)["chunks"]
        # A fresh home: every chunk is a cache miss and goes through the model once.
        assert sample("conexus_embedded_texts_total", embedder="fake") - embedded == chunks
        assert sample("conexus_embed_seconds_total", embedder="fake") > 0
        new_misses = sample("conexus_embedding_cache_lookups_total", result="miss") - misses
        assert 0 < new_misses <= chunks
        served = service.roots[0]
        job, _ = served.submit("rebuild")
        assert job.done.wait(60) and job.status == "done"
        # A rebuild finds every vector in the cache.
        assert sample("conexus_embedding_cache_lookups_total", result="hit") - hits == new_misses
        assert sample("conexus_embedded_texts_total", embedder="fake") - embedded == chunks
    finally:
        service.close()


def test_an_edit_seen_by_the_watcher_records_the_freshness_lag(tmp_path: Path, repo: Path) -> None:
    lag = sample("conexus_index_freshness_lag_seconds_count", root=repo.name)
    service = make_service(tmp_path / "home", repo, watch=True)
    try:
        served = service.roots[0]
        eventually(lambda: served.watcher is not None and served.watcher.ready.is_set(), 30, "watcher ready")
        write(repo, "pkg/otter.py", "def otter_floats():\n    return 'otter'\n")
        eventually(
            lambda: sample("conexus_index_freshness_lag_seconds_count", root=repo.name) == lag + 1,
            60,
            "the edit is indexed and its lag recorded",
        )
        assert sample("conexus_index_freshness_lag_seconds_sum", root=repo.name) > 0
    finally:
        service.close()


def _state(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_state_of_each_root_is_read_at_scrape_time(service: ConexusService, repo: Path) -> None:
    collector = state_collector()
    collector.attach(service)
    try:
        root = service.roots[0]
        status = root.engine.status(check_stale=True)
        name = root.name
        assert _state("conexus_index_files", root=name) == status["files"] > 0
        assert _state("conexus_index_chunks", root=name) == status["chunks"] > 0
        assert _state("conexus_index_partial", root=name) == 0
        assert _state("conexus_index_busy", root=name) == 0
        assert _state("conexus_index_stale_files", root=name) == 0
        assert (_state("conexus_store_bytes", root=name) or 0) > 0
        for reason, count in status["skipped"].items():
            assert _state("conexus_index_skipped_files", root=name, reason=reason) == count
        assert status["skipped"]  # the fixture has a binary file and a symlink out of the root

        write(repo, "pkg/session.py", "class Session:\n    pass\n")  # no watcher: a status check sees it
        root.engine.status(check_stale=True)
        assert _state("conexus_index_stale_files", root=name) == 1
        job, _ = root.submit("incremental")
        assert job.done.wait(60)
        eventually(lambda: idle(root), 30, "the job finished")
        assert _state("conexus_index_chunks", root=name) == root.engine.status(check_stale=False)["chunks"]
    finally:
        collector.detach(service)
    assert _state("conexus_index_files", root=service.roots[0].name) is None  # detached: not reported


def test_searches_count_their_query_cache_lookups(service: ConexusService) -> None:
    engine = service.roots[0].engine
    hits, misses = (sample("conexus_query_cache_lookups_total", result=r) for r in ("hit", "miss"))
    first = engine.search("parse the header value", top_k=3)
    assert first.hits
    assert sample("conexus_query_cache_lookups_total", result="miss") == misses + 1
    engine.search("parse the header value", top_k=3)
    assert sample("conexus_query_cache_lookups_total", result="hit") == hits + 1
    # The file of a cached hit changed: searched again, a miss.
    path = engine.root / first.hits[0].path
    path.write_text(path.read_text() + "\n# edited\n")
    engine.search("parse the header value", top_k=3)
    assert sample("conexus_query_cache_lookups_total", result="miss") == misses + 2
    assert sample("conexus_query_cache_lookups_total", result="hit") == hits + 1
