"""context_localize through the SDK's client, over stdio and over HTTP, on the golden fixture repository.

Each transport shares one server (and one index) of a copy of
``tests/fixtures/golden_repo`` for the read-only tests; the no-index test
starts its own server with ``--no-index``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.conftest import FIXTURES
from tests.server.conftest import TRANSPORTS, call, call_error, connect, text_of, wait_ready

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

# A bug report as a user writes it: the fix is in Retry.should_retry (attempt < total).
RETRY_ISSUE = """\
Retry(total=3) retries one time too few

I configured a session with Retry(total=3, backoff_factor=0.5) expecting three retries on a
503 Service Unavailable. Only two retries happen: the third attempt is never made, and the
request fails with the 503 response.

Steps to reproduce:
    session = Session(retry=Retry(total=3))
    session.get("http://localhost:8080/flaky")  # the server answers 503 four times, then 200

Expected: 3 retries (4 requests in total), then the 200.
Actual: the session gives up after 2 retries; should_retry returns False on the third attempt.
"""


@pytest.fixture(scope="module")
def golden_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("localize")
    repo = base / "golden_repo"
    shutil.copytree(FIXTURES / "golden_repo", repo)
    return repo, base


@pytest.fixture(scope="module", params=TRANSPORTS)
async def client(
    request: pytest.FixtureRequest, golden_dirs: tuple[Path, Path], anyio_backend: str
) -> AsyncIterator[Client]:
    repo, base = golden_dirs
    home = base / f"home-{request.param}"  # one data home per transport: never two writers of an index
    async with connect(request.param, [repo], home, log=base / f"{request.param}.log") as c:
        await wait_ready(c)
        yield c


async def localize(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await call(client, "context_localize", **arguments)
    data: dict[str, Any] | None = result.structured_content
    assert data is not None
    return data


async def test_localize_is_listed_with_bounded_input_and_an_output_schema(client: Client) -> None:
    tool = next(t for t in (await client.list_tools()).tools if t.name == "context_localize")
    props = tool.input_schema["properties"]
    assert tool.input_schema["required"] == ["issue"]
    assert props["issue"]["minLength"] == 1 and props["issue"]["maxLength"] == 200_000
    assert (props["max_files"]["default"], props["max_files"]["minimum"], props["max_files"]["maximum"]) == (
        5,
        1,
        20,
    )
    assert (props["max_locations"]["default"], props["max_locations"]["maximum"]) == (10, 50)
    assert "root" in props
    assert tool.output_schema is not None
    assert {"files", "locations", "index_state"} <= set(tool.output_schema["properties"])
    assert tool.annotations is not None and tool.annotations.read_only_hint is True
    assert tool.description and "bug report" in tool.description and "context_search" in tool.description


async def test_a_retry_bug_report_points_at_the_retry_module_and_its_should_retry_method(
    client: Client,
) -> None:
    result = await call(client, "context_localize", issue=RETRY_ISSUE)
    data = result.structured_content
    assert data is not None
    assert data["root"] == "golden_repo" and data["index_state"] == "ready"
    assert data["issue_chars"] == len(RETRY_ISSUE)
    files = data["files"]
    assert files[0]["path"] == "httpkit/retry.py" and files[0]["rank"] == 1
    assert len(files) == 5 and [f["rank"] for f in files] == [1, 2, 3, 4, 5]
    assert all(f["freshness"] == "fresh" for f in files)
    assert data["files_considered"] >= len(files)
    locations = data["locations"]
    assert 0 < len(locations) <= 10 and locations[0]["path"] == "httpkit/retry.py"
    should_retry = next(loc for loc in locations if loc["symbol"] == "Retry.should_retry")
    assert should_retry["citation"] == "httpkit/retry.py:19-21" and should_retry["rank"] <= 5
    assert should_retry["freshness"] == "fresh"
    scores = [loc["score"] for loc in locations]
    assert scores == sorted(scores, reverse=True)
    text = text_of(result)
    assert "1. httpkit/retry.py" in text and "httpkit/retry.py:19-21  Retry.should_retry" in text
    confidence = data["confidence"]
    assert set(confidence) >= {"score", "label", "no_good_match", "reason", "signals"}
    assert confidence["signals"]["long_query"] is True and 0 <= confidence["score"] <= 1


async def test_max_files_and_max_locations_cap_the_answer(client: Client) -> None:
    data = await localize(client, issue=RETRY_ISSUE, max_files=1, max_locations=2)
    assert [f["path"] for f in data["files"]] == ["httpkit/retry.py"]
    assert len(data["locations"]) == 2


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"issue": ""}, "issue: String should have at least 1 character"),
        ({"issue": " \n\t "}, "issue is blank: paste the bug report"),
        ({}, "issue: required argument is missing"),
        ({"issue": "x", "max_files": 21}, "max_files: Input should be less than or equal to 20"),
        ({"issue": "x", "max_locations": 0}, "max_locations: Input should be greater than or equal to 1"),
        ({"issue": "x" * 200_001}, "at most 200000 characters"),
        ({"issue": "x", "root": "elsewhere"}, "not a served root"),
    ],
)
async def test_bad_localize_requests_get_actionable_errors_and_the_server_stays_up(
    client: Client, arguments: dict[str, Any], expected: str
) -> None:
    assert expected in await call_error(client, "context_localize", arguments)
    assert (await localize(client, issue="retry backoff"))["files"]


async def test_localize_before_any_index_gives_the_same_guidance_as_search(
    transport: str, tmp_path: Path, home: Path
) -> None:
    repo = tmp_path / "golden_repo"
    shutil.copytree(FIXTURES / "golden_repo", repo)
    async with connect(transport, [repo], home, "--no-index") as client:
        message = await call_error(client, "context_localize", {"issue": RETRY_ISSUE})
        assert "no index" in message and "action=start" in message
        assert message == await call_error(client, "context_search", {"query": "retry"})
