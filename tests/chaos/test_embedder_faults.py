"""The embedding provider failing or slow, and a broken local model file.

A real HTTP server on loopback plays an OpenAI-compatible provider (``tests/chaos/provider.py``)
that errors (500, 429 with ``Retry-After``), resets connections or stalls; a copy of the
bundled model is broken on disk. In every case:

- search and localize still answer, from keywords, names and paths, and say so in the
  result (``notice``) on every door: the engine, REST and MCP;
- a stalled provider costs a search at most the query timeout, not the provider's;
- indexing retries with backoff, then fails the run without marking the files it could not
  embed: the index never holds a chunk without its vector, and the next run embeds the rest;
- status tells the truth meanwhile (the embedder is unavailable, the last run failed and why);
- when the provider returns, searches use vectors again.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from conexus.app.service import ConexusService
from conexus.config import Settings, load_settings
from conexus.embedding.openai_embedder import OpenAIEmbedder
from conexus.engine import Engine
from conexus.errors import EmbeddingError
from conexus.search import hybrid
from conexus.server.http import create_app
from conexus.server.mcp import ConexusMCP
from conexus.server.settings import ServerSettings
from tests.chaos.provider import Provider, provider
from tests.conftest import write
from tests.server.inprocess import poll, serve_in_thread

pytestmark = pytest.mark.timeout(120)

QUERY = "retry with exponential backoff"
AGAIN = "retry with exponential backoff again"  # not in the result cache: asks the embedder
ISSUE = "Requests are retried forever: the backoff in httpkit retry never gives up after max retries."


@pytest.fixture
def fake_provider() -> Iterator[Provider]:
    with provider() as p:
        yield p


@pytest.fixture(autouse=True)
def _quick_recovery(monkeypatch: pytest.MonkeyPatch) -> None:
    # The production periods (10 s query timeout, 30 s before a failed embedder is asked again)
    # scaled down so a test sees a timeout and a recovery in well under a second.
    monkeypatch.setattr(hybrid, "QUERY_EMBED_TIMEOUT_S", 0.5)
    monkeypatch.setattr(hybrid, "EMBEDDER_RETRY_S", 0.2)


def openai_settings(root: Path, home: Path, url: str) -> Settings:
    return load_settings(root, overrides={"home": home, "embedder": "openai:m", "openai_base_url": url})


class Engines:
    """Engines over the provider, with quick backoff, whose sleeps are recorded; closed at the end."""

    def __init__(self, home: Path, url: str) -> None:
        self.home, self.url = home, url
        self.sleeps: list[float] = []
        self.made: list[Engine] = []
        self.embedders: list[OpenAIEmbedder] = []

    def __call__(self, root: Path) -> Engine:
        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            time.sleep(seconds)

        embedder = OpenAIEmbedder(
            "m", base_url=self.url, max_retries=3, backoff_base=0.01, backoff_max=0.05, sleep=sleep
        )
        self.embedders.append(embedder)
        engine = Engine(root, openai_settings(root, self.home, self.url), embedder=embedder)
        self.made.append(engine)
        return engine

    def close(self) -> None:
        for e in self.made:
            e.close()
        for embedder in self.embedders:
            embedder.close()


@pytest.fixture
def engines(tmp_path: Path, fake_provider: Provider) -> Iterator[Engines]:
    made = Engines(tmp_path / "home", fake_provider.url)
    yield made
    made.close()


def vector_hits(result: Any) -> int:
    return sum(1 for h in result.hits if "vector" in h.signals)


def assert_consistent(engine: Engine) -> dict[str, Any]:
    """Every chunk of the index has its vector; returns the status."""
    status = engine.status(check_stale=False)
    assert status["vectors"] == status["chunks"], status
    return status


FAULTS: dict[str, Callable[[Provider], None]] = {
    "500": lambda p: p.error(500),
    "429 with Retry-After": lambda p: p.error(429, {"Retry-After": "0"}),
    "connection reset": lambda p: p.reset(),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_while_the_provider_fails_search_and_localize_answer_from_keywords_and_say_so(
    golden_repo: Path, engines: Engines, fake_provider: Provider, fault: str
) -> None:
    engine = engines(golden_repo)
    engine.index()
    healthy = engine.search(QUERY)
    assert healthy.notice is None and vector_hits(healthy) > 0

    FAULTS[fault](fake_provider)
    for _ in range(2):  # the failing query, then one that does not ask the provider again
        result = engine.search(QUERY, top_k=5)
        assert result.hits and result.hits[0].path == "httpkit/retry.py"
        assert result.notice is not None and "keywords" in result.notice
        assert vector_hits(result) == 0
    located = engine.localize(ISSUE)
    assert located.files[0][0] == "httpkit/retry.py"
    assert located.notice is not None
    assert located.to_dict(engine.freshness, max_files=5, max_locations=5)["notice"] == located.notice
    assert engine.status(check_stale=False)["embedder_unavailable"]

    fake_provider.heal()
    poll(lambda: engine.search(AGAIN).notice is None, "searches use the provider again")
    assert vector_hits(engine.search(AGAIN)) > 0
    assert engine.status(check_stale=False)["embedder_unavailable"] is None


def test_a_stalled_provider_costs_a_search_the_query_timeout_not_the_provider_s(
    golden_repo: Path, engines: Engines, fake_provider: Provider
) -> None:
    engine = engines(golden_repo)
    engine.index()
    fake_provider.stall()
    result = engine.search(QUERY)
    # Answered while the provider still holds the query's request.
    assert fake_provider.stalled.is_set() and not fake_provider.healed.is_set()
    assert result.hits and result.notice is not None and "did not answer within" in result.notice
    fake_provider.heal()
    poll(lambda: engine.search(AGAIN).notice is None, "searches use the provider again")


def test_a_server_restarted_while_the_provider_is_down_serves_the_index_without_vectors(
    golden_repo: Path, engines: Engines, fake_provider: Provider
) -> None:
    engines(golden_repo).index()
    fake_provider.error(503)
    restarted = engines(golden_repo)  # it never had an answer from the provider: no dimension known
    result = restarted.search(QUERY)
    assert result.hits and result.hits[0].path == "httpkit/retry.py" and result.notice is not None
    status = restarted.status(check_stale=False)
    assert status["embedder_unavailable"] and status["compatible"] and not status["partial"]
    fake_provider.heal()
    poll(lambda: restarted.search(AGAIN).notice is None, "the restarted engine uses the provider again")


def many_files(root: Path, n: int) -> None:
    for i in range(n):
        write(root, f"pkg/mod_{i:04d}.py", f"def handler_{i:04d}(request):\n    return 'answer {i}'\n")


def test_a_first_build_the_provider_abandons_fails_keeps_what_it_embedded_and_the_next_run_ends_it(
    tmp_path: Path, engines: Engines, fake_provider: Provider
) -> None:
    root = tmp_path / "repo"
    many_files(root, 400)  # more batches than the reader hands ahead: a failure must not hang
    engine = engines(root)
    fake_provider.fail_after(2)
    with pytest.raises(EmbeddingError, match="failed after 4 attempts"):
        engine.index()
    assert len(engines.sleeps) == 3 and engines.sleeps == sorted(engines.sleeps)  # backoff between tries
    status = assert_consistent(engine)
    assert status["partial"] and status["last_run"]["status"] == "failed"
    assert "HTTP 500" in status["last_run"]["stats"]["error"]
    assert 0 < status["files"] < 400  # the batches embedded before the fault, nothing more

    fake_provider.heal()
    report = engine.index()
    assert report.files_changed == 400 - status["files"]
    status = assert_consistent(engine)
    assert status["files"] == 400 and not status["partial"]
    assert engine.search("handler_0399").hits[0].path == "pkg/mod_0399.py"


def test_an_update_the_provider_fails_leaves_the_last_index_and_marks_no_file_done(
    golden_repo: Path, engines: Engines, fake_provider: Provider
) -> None:
    engine = engines(golden_repo)
    engine.index()
    before = assert_consistent(engine)
    write(golden_repo, "httpkit/retry.py", "def give_up_after_attempts(n):\n    return n > 3\n")
    write(golden_repo, "httpkit/extra.py", "def brand_new_helper():\n    return 1\n")
    fake_provider.reset()
    with pytest.raises(EmbeddingError):
        engine.index()
    after = assert_consistent(engine)
    assert after["files"] == before["files"] and after["chunks"] == before["chunks"]
    assert after["last_run"]["status"] == "failed" and not after["partial"]
    assert not engine.search("brand_new_helper").hits or all(
        h.path != "httpkit/extra.py" for h in engine.search("brand_new_helper").hits
    )

    fake_provider.heal()
    report = engine.index()
    assert report.files_changed == 2  # neither file was marked done by the failed run
    assert_consistent(engine)
    assert engine.search("brand_new_helper").hits[0].path == "httpkit/extra.py"


def test_rest_and_mcp_results_say_when_meaning_search_is_unavailable(
    golden_repo: Path, tmp_path: Path, fake_provider: Provider
) -> None:
    home = tmp_path / "home"

    def settings_for(root: Path) -> Settings:
        return openai_settings(root, home, fake_provider.url)

    service = ConexusService(settings_for, home, watch=False, auto_index=True)
    service.add_root(golden_repo)
    service.start()
    app = create_app(service, ConexusMCP(service), host="127.0.0.1", settings=ServerSettings())
    try:
        with serve_in_thread(app) as url:
            poll(lambda: all(r.engine.has_index() and not r.busy for r in service.roots), "indexed")
            fake_provider.error(500)
            with httpx.Client(base_url=url, timeout=60) as http:
                for op, body in (("search", {"query": QUERY}), ("localize", {"issue": ISSUE})):
                    answer = http.post(f"/api/v1/{op}", json=body)
                    assert answer.status_code == 200, answer.text
                    assert "keywords" in answer.json()["notice"], (op, answer.json())
                status = http.post("/api/v1/status", json={}).json()
                assert status["status"]["embedder_unavailable"]
                assert "embedder unavailable" in status["message"]

            async def over_mcp() -> None:
                async with Client(url + "/mcp", read_timeout_seconds=60) as client:
                    for tool, args in (
                        ("context_search", {"query": QUERY}),
                        ("context_localize", {"issue": ISSUE}),
                    ):
                        result = await client.call_tool(tool, args)
                        assert not result.is_error
                        assert result.structured_content is not None
                        assert "keywords" in result.structured_content["notice"], tool
                        text = "\n".join(c.text for c in result.content if c.type == "text")
                        assert "Meaning search is unavailable" in text, tool

            anyio.run(over_mcp)
    finally:
        service.close()


def test_a_broken_local_model_file_leaves_search_on_keywords_and_indexing_refused_until_it_is_fixed(
    golden_repo: Path, tmp_path: Path, home: Path
) -> None:
    from conexus.embedding import model_files as mf

    model_dir = tmp_path / "model"
    model_dir.mkdir()
    source, _sha = mf.bundled_model(home)
    shutil.copyfile(source, model_dir / "model.onnx")
    shutil.copyfile(mf.BUNDLED_TOKENIZER, model_dir / "tokenizer.json")
    settings = load_settings(golden_repo, overrides={"home": home, "embedder": f"onnx:{model_dir}"})
    with Engine(golden_repo, settings) as engine:
        engine.index()
        assert engine.search(QUERY).notice is None
    good = (model_dir / "model.onnx").read_bytes()
    (model_dir / "model.onnx").write_bytes(good[: len(good) // 3])  # a download cut short

    with Engine(golden_repo, settings) as broken:
        result = broken.search(QUERY)
        assert result.hits and result.hits[0].path == "httpkit/retry.py"
        assert result.notice is not None and "cannot load the ONNX model" in result.notice
        assert broken.status(check_stale=False)["embedder_unavailable"]
        with pytest.raises(EmbeddingError, match="cannot load the ONNX model"):
            broken.index()
        assert_consistent(broken)

    (model_dir / "model.onnx").write_bytes(good)
    with Engine(golden_repo, settings) as fixed:
        assert fixed.search(QUERY).notice is None
        assert fixed.index().files_changed == 0
