"""The REST API, health, OpenAPI and JSON-RPC framing of ``conexus serve --http``, over a real socket.

One server (and one index) is shared by the module; an index built by another
embedder and an empty data home get a server each. Requests go through httpx
to the subprocess on loopback. Readiness is polled through ``POST
/api/v1/status``; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import mcp_types
import pytest
from openapi_spec_validator import validate

from conexus.api.errors import PROBLEM_BASE
from conexus.api.limits import MAX_ARGUMENT_BYTES, MAX_QUERY_CHARS
from conexus.api.operations import BY_NAME, OPERATIONS
from conexus.config import load_settings
from conexus.engine import Engine
from conexus.search.read import MAX_READ_BYTES
from conexus.server.http.rest import PROBLEM_JSON, Problem
from conexus.server.http.serve import listening_socket
from tests.server.conftest import START_TIMEOUT_S, HttpServer, dump, eventually, make_repo, start_http_server

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

API = "/api/v1"
JSON_BODY = {"Content-Type": "application/json"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
HUGE_FILE = "data/huge.txt"  # one byte over the read limit (sparse: costs no disk)

# Arguments that fit every field limit of context_search but exceed MAX_ARGUMENT_BYTES once serialised.
DEEP_PATH = "/".join(["a" * 199] * 20)  # 20 components of 199 characters: under the path limits
OVERSIZED_SEARCH = {
    "query": "retry",
    "paths": ["**/" + "p" * 990] * 200,
    "languages": ["l" * 1000] * 200,
    "kinds": ["k" * 1000] * 200,
    "work_context": {"open_files": [DEEP_PATH] * 200},
}
OVERSIZED_BODY = json.dumps(OVERSIZED_SEARCH).encode()


def base_url(server: HttpServer) -> str:
    return server.url.removesuffix("/mcp")


async def wait_until_ready(client: httpx.AsyncClient, root: str | None = None) -> dict[str, Any]:
    """Poll ``POST /api/v1/status`` until the root's index is ready and no job runs."""

    async def ready() -> dict[str, Any] | None:
        response = await client.post(f"{API}/status", json={} if root is None else {"root": root})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        jobs = body["status"]["jobs"]
        idle = jobs["current"] is None and not jobs["queued"]
        return body if body["index_state"] == "ready" and idle else None

    return await eventually(ready, START_TIMEOUT_S, "the index is ready")


def build_index(repo: Path, home: Path, embedder: str, meta: dict[str, str] | None = None) -> None:
    """Index ``repo`` into ``home`` in this process with ``embedder``; ``meta`` overwrites index metadata."""
    settings = load_settings(repo, overrides={"home": home, "embedder": embedder})
    with Engine(repo, settings) as engine:
        engine.index()
        if meta:
            engine._open_store(create=False).set_meta(meta)


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """An RFC 9457 problem document with this status and type, naming the request path."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    Problem.model_validate(problem)
    assert problem["type"] == PROBLEM_BASE + kind
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert problem["instance"] == response.request.url.path
    assert "Traceback" not in problem["detail"]
    return problem


def sse_message(response: httpx.Response) -> dict[str, Any]:
    """The one JSON-RPC message of a streamable-HTTP answer (SSE or plain JSON)."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        assert len(data) == 1, response.text
        message: dict[str, Any] = json.loads(data[0])
        return message
    body: dict[str, Any] = response.json()
    return body


# -- servers -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    """The shared server: make_repo plus a file too large to read, indexed with the fake embedder."""
    base = tmp_path_factory.mktemp("rest")
    repo = make_repo(base / "repo")
    huge = repo / HUGE_FILE
    huge.parent.mkdir()
    with huge.open("wb") as fh:
        fh.truncate(MAX_READ_BYTES + 1)
    running = start_http_server([repo], base / "conexus-home")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
async def api(server: HttpServer, anyio_backend: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url(server), timeout=START_TIMEOUT_S) as client:
        await wait_until_ready(client)
        yield client


@pytest.fixture(scope="module")
async def foreign(
    tmp_path_factory: pytest.TempPathFactory, anyio_backend: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A --no-index server over indexes built by other embedders.

    Root ``renamed``: same dimension, another model id in the metadata.
    Root ``resized``: built with ``fake:64``; the server embeds with 256 dimensions.
    """
    base = tmp_path_factory.mktemp("foreign")
    home = base / "conexus-home"
    renamed, resized = make_repo(base / "renamed"), make_repo(base / "resized")
    build_index(renamed, home, "fake", meta={"embedder_id": "some-other-model"})
    build_index(resized, home, "fake:64")
    running = start_http_server([renamed, resized], home, "--no-index", "--no-watch")
    try:
        async with httpx.AsyncClient(base_url=base_url(running), timeout=START_TIMEOUT_S) as client:
            yield client
    finally:
        running.stop()


@pytest.fixture(scope="module")
async def unindexed(
    tmp_path_factory: pytest.TempPathFactory, anyio_backend: str
) -> AsyncIterator[httpx.AsyncClient]:
    """A --no-index server over an empty data home: its root has no index at all."""
    base = tmp_path_factory.mktemp("unindexed")
    running = start_http_server([make_repo(base / "bare")], base / "conexus-home", "--no-index", "--no-watch")
    try:
        async with httpx.AsyncClient(base_url=base_url(running), timeout=START_TIMEOUT_S) as client:
            yield client
    finally:
        running.stop()


# -- every operation -----------------------------------------------------------------------------------

ISSUE = (
    "Session.send ignores the Retry-After header: retry_delay always backs off exponentially.\n"
    'Traceback:\n  File "pkg/session.py", line 9, in send\n    retry_delay(attempt)\n'
)
Check = Callable[[dict[str, Any]], bool]
SUCCESSES = [  # operation, a realistic body, what the answer must say about make_repo
    pytest.param(
        "search",
        {"query": "parse_header_links Link header", "top_k": 5},
        lambda out: out["hits"][0]["citation"] == "pkg/http_utils.py:4-10",
        id="search",
    ),
    pytest.param(
        "localize",
        {"issue": ISSUE, "max_files": 3},
        lambda out: {f["path"] for f in out["files"]} >= {"pkg/http_utils.py", "pkg/session.py"},
        id="localize",
    ),
    pytest.param(
        "related",
        {"target": "pkg/http_utils.py"},
        lambda out: {i["path"] for i in out["importers"]} >= {"pkg/session.py", "tests/test_http_utils.py"},
        id="related",
    ),
    pytest.param(
        "explain",
        {"target": "Session.send"},
        lambda out: out["subjects"][0]["definition"]["citation"] == "pkg/session.py:4-10",
        id="explain",
    ),
    pytest.param(
        "grep",
        {"pattern": r"def \w+\(", "paths": ["pkg/**"]},
        lambda out: (
            [m["citation"] for m in out["matches"]]
            == ["pkg/http_utils.py:4-4", "pkg/http_utils.py:13-13", "pkg/session.py:7-7"]
        ),
        id="grep",
    ),
    pytest.param(
        "read",
        {"path": "pkg/session.py", "start_line": 4, "end_line": 10},
        lambda out: out["lines"][0] == {"line": 4, "text": "class Session:"} and out["end_line"] == 10,
        id="read",
    ),
    pytest.param(
        "status",
        {},
        lambda out: out["index_state"] == "ready" and out["status"]["files"] == 6,
        id="status",
    ),
    pytest.param(
        "index",
        {"action": "status"},
        lambda out: out["index_state"] == "ready" and out["status"]["jobs"]["current"] is None,
        id="index-status",
    ),
    pytest.param(
        "index",
        {"action": "reindex", "wait": True},
        lambda out: out["job"]["status"] == "done" and out["status"]["files"] == 6,
        id="index-reindex",
    ),
    pytest.param(
        "connectors",
        {"action": "list"},
        lambda out: out["connectors"] == [] and [r["name"] for r in out["roots"]] == ["repo"],
        id="connectors-list",
    ),
]


def test_every_operation_has_a_realistic_request_in_this_module() -> None:
    assert {case.values[0] for case in SUCCESSES} == set(BY_NAME)


@pytest.mark.parametrize(("name", "body", "check"), SUCCESSES)
async def test_every_route_answers_json_that_validates_against_its_output_model(
    api: httpx.AsyncClient, name: str, body: dict[str, Any], check: Check
) -> None:
    response = await api.post(f"{API}/{name}", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    BY_NAME[name].output.model_validate(data)
    assert check(data), dump(data)


# -- errors --------------------------------------------------------------------------------------------


class Bad(NamedTuple):
    """A bad request: the operation, httpx request keywords, and the problem it must get."""

    op: str
    request: dict[str, Any]
    status: int
    kind: str
    field: str | None = None  # the argument the problem's errors must name


INVALID = "invalid-arguments"
NOT_JSON = {"content": b'{"query": "retry"', "headers": JSON_BODY}
BAD_REQUESTS = {
    "unknown-argument": Bad("search", {"json": {"query": "retry", "colour": "red"}}, 400, INVALID, "colour"),
    "wrong-type": Bad("search", {"json": {"query": "retry", "top_k": "2"}}, 400, INVALID, "top_k"),
    "top_k-0": Bad("search", {"json": {"query": "retry", "top_k": 0}}, 400, INVALID, "top_k"),
    "query-over-MAX_QUERY_CHARS": Bad(
        "search", {"json": {"query": "x" * (MAX_QUERY_CHARS + 1)}}, 400, INVALID, "query"
    ),
    "body-not-json": Bad("search", NOT_JSON, 400, "invalid-json"),
    "body-missing": Bad("search", {}, 400, INVALID),
    "body-an-array": Bad("search", {"json": [{"query": "retry"}]}, 400, INVALID, "arguments"),
    "invalid-regex": Bad("grep", {"json": {"pattern": "("}}, 400, "invalid-request"),
    "path-leaves-the-root": Bad("read", {"json": {"path": "../x"}}, 400, "path-refused"),
    "unknown-root": Bad("search", {"json": {"query": "retry", "root": "no-such-root"}}, 404, "not-found"),
    "missing-file": Bad("read", {"json": {"path": "pkg/missing.py"}}, 404, "not-found"),
    "body-over-MAX_ARGUMENT_BYTES": Bad(
        "search", {"content": OVERSIZED_BODY, "headers": JSON_BODY}, 413, "too-large"
    ),
}


@pytest.mark.parametrize("bad", list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
async def test_a_bad_request_gets_a_problem_document_with_the_status_of_its_error(
    api: httpx.AsyncClient, bad: Bad
) -> None:
    problem = assert_problem(await api.post(f"{API}/{bad.op}", **bad.request), bad.status, bad.kind)
    if bad.field is not None:
        assert bad.field in {e["field"] for e in problem["errors"]}, dump(problem)


def test_the_oversized_body_fits_every_field_limit_and_only_its_total_size_is_too_large() -> None:
    BY_NAME["search"].input.model_validate(OVERSIZED_SEARCH)
    assert len(OVERSIZED_BODY) > MAX_ARGUMENT_BYTES


async def test_a_body_padded_past_the_limit_is_refused_by_its_content_length(api: httpx.AsyncClient) -> None:
    padded = b'{"query": "retry"' + b" " * MAX_ARGUMENT_BYTES + b"}"
    problem = assert_problem(
        await api.post(f"{API}/search", content=padded, headers=JSON_BODY), 413, "too-large"
    )
    assert str(MAX_ARGUMENT_BYTES) in problem["detail"]


async def test_a_chunked_body_over_the_limit_is_refused_like_one_with_a_content_length(
    api: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(OVERSIZED_BODY), 65536):
            yield OVERSIZED_BODY[start : start + 65536]

    response = await api.post(f"{API}/search", content=chunks(), headers=JSON_BODY)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "too-large")


async def test_reading_a_file_over_the_read_limit_is_413(api: httpx.AsyncClient) -> None:
    assert_problem(await api.post(f"{API}/read", json={"path": HUGE_FILE}), 413, "too-large")


async def test_an_index_whose_metadata_names_another_embedder_is_409(foreign: httpx.AsyncClient) -> None:
    response = await foreign.post(f"{API}/search", json={"query": "retry", "root": "renamed"})
    problem = assert_problem(response, 409, "index-incompatible")
    assert "some-other-model" in problem["detail"] and "action=rebuild" in problem["detail"]


async def test_an_index_built_with_another_embedding_dimension_is_409(foreign: httpx.AsyncClient) -> None:
    response = await foreign.post(f"{API}/search", json={"query": "retry", "root": "resized"})
    assert_problem(response, 409, "index-incompatible")


async def test_readyz_is_503_when_an_index_was_built_with_another_dimension(
    foreign: httpx.AsyncClient,
) -> None:
    response = await foreign.get("/readyz")
    assert response.status_code == 503, response.text
    roots = {r["name"]: r for r in response.json()["roots"]}
    assert roots["resized"]["ready"] is False


async def test_readyz_is_503_with_retry_after_while_a_root_has_no_index_and_healthz_is_200(
    unindexed: httpx.AsyncClient,
) -> None:
    ready = await unindexed.get("/readyz")
    assert ready.status_code == 503, ready.text
    assert int(ready.headers["retry-after"]) > 0
    body = ready.json()
    assert body["status"] == "not ready"
    assert [(r["name"], r["ready"]) for r in body["roots"]] == [("bare", False)]
    assert "no index" in body["roots"][0]["reason"]
    alive = await unindexed.get("/healthz")
    assert alive.status_code == 200 and alive.json()["status"] == "ok"


async def test_a_query_on_a_root_without_an_index_is_404_index_not_found(
    unindexed: httpx.AsyncClient,
) -> None:
    response = await unindexed.post(f"{API}/search", json={"query": "retry"})
    problem = assert_problem(response, 404, "index-not-found")
    assert "action=start" in problem["detail"]


async def test_readyz_is_200_when_every_root_is_indexed(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")
    assert response.status_code == 200, response.text
    assert [(r["name"], r["ready"]) for r in response.json()["roots"]] == [("repo", True)]


# -- paging --------------------------------------------------------------------------------------------


async def test_search_pages_over_rest_with_next_cursor_and_the_next_page_differs(
    api: httpx.AsyncClient,
) -> None:
    first = (await api.post(f"{API}/search", json={"query": "retry", "top_k": 2})).json()
    assert first["next_cursor"] and len(first["hits"]) == 2, dump(first)
    response = await api.post(
        f"{API}/search", json={"query": "retry", "top_k": 2, "cursor": first["next_cursor"]}
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["offset"] == 2 and second["hits"]
    assert {h["citation"] for h in first["hits"]}.isdisjoint(h["citation"] for h in second["hits"])


async def test_a_cursor_reused_with_another_query_is_400(api: httpx.AsyncClient) -> None:
    first = (await api.post(f"{API}/search", json={"query": "retry", "top_k": 2})).json()
    response = await api.post(
        f"{API}/search", json={"query": "session", "top_k": 2, "cursor": first["next_cursor"]}
    )
    problem = assert_problem(response, 400, "invalid-request")
    assert "different query" in problem["detail"]


# -- OpenAPI and docs ----------------------------------------------------------------------------------


async def test_the_openapi_document_is_valid_3_1(api: httpx.AsyncClient) -> None:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1.")
    validate(doc)


async def test_every_operation_is_a_post_route_with_its_input_and_output_models(
    api: httpx.AsyncClient,
) -> None:
    doc = (await api.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    assert {p for p in doc["paths"] if p.startswith(API + "/")} == {f"{API}/{op.name}" for op in OPERATIONS}
    for op in OPERATIONS:
        post = doc["paths"][f"{API}/{op.name}"]["post"]
        assert post["operationId"] == op.name
        request = post["requestBody"]["content"]["application/json"]["schema"]
        assert request == {"$ref": f"#/components/schemas/{op.input.__name__}"}
        answer = post["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer == {"$ref": f"#/components/schemas/{op.output.__name__}"}
        assert {op.input.__name__, op.output.__name__} <= set(schemas)
        for status in ("400", "404", "409", "413", "421", "429", "500", "503", "504"):
            assert PROBLEM_JSON in post["responses"][status]["content"], (op.name, status)


async def test_the_docs_page_loads_only_assets_served_by_the_server_itself(api: httpx.AsyncClient) -> None:
    response = await api.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert not re.search(r"https?://|cdn", page, re.IGNORECASE), page
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert assets, page
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), asset
        served = await api.get(asset)
        assert served.status_code == 200 and served.content, asset
    assert "/openapi.json" in page


# -- JSON-RPC framing on /mcp --------------------------------------------------------------------------

BAD_IDS = [1.5, {"a": 1}, [1], True]


def assert_rpc_error(response: httpx.Response, code: int) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None, body
    assert body["error"]["code"] == code and body["error"]["message"], body


@pytest.mark.parametrize("request_id", BAD_IDS, ids=["float", "object", "array", "boolean"])
async def test_a_request_whose_id_is_not_a_string_or_integer_is_an_invalid_request(
    api: httpx.AsyncClient, request_id: Any
) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"})
    assert_rpc_error(await api.post("/mcp", content=body, headers=MCP_HEADERS), mcp_types.INVALID_REQUEST)


async def test_a_body_that_is_not_json_is_a_parse_error(api: httpx.AsyncClient) -> None:
    assert_rpc_error(await api.post("/mcp", content=b"{not json", headers=MCP_HEADERS), mcp_types.PARSE_ERROR)


async def test_a_batch_array_is_an_invalid_request(api: httpx.AsyncClient) -> None:
    batch = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    assert_rpc_error(await api.post("/mcp", content=batch, headers=MCP_HEADERS), mcp_types.INVALID_REQUEST)


async def test_a_valid_initialize_still_reaches_the_mcp_server(api: httpx.AsyncClient) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": mcp_types.LATEST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "test_rest", "version": "0"},
        },
    }
    response = await api.post("/mcp", content=json.dumps(initialize), headers=MCP_HEADERS)
    assert response.status_code == 200, response.text
    message = sse_message(response)
    assert message["id"] == 1 and "error" not in message, message
    assert message["result"]["serverInfo"]["name"] == "conexus"
    assert "tools" in message["result"]["capabilities"]


# -- TCP_NODELAY ---------------------------------------------------------------------------------------


async def nodelay_of_accepted_connection(listener: socket.socket) -> int:
    """TCP_NODELAY of the server side of one connection asyncio accepts on ``listener``."""
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(
            writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )
        writer.close()
        await writer.wait_closed()

    host, port = listener.getsockname()[:2]
    server = await asyncio.start_server(on_connect, sock=listener)  # owns and closes the listener
    async with server:
        _reader, writer = await asyncio.open_connection(host, port)
        try:
            return await asyncio.wait_for(accepted, START_TIMEOUT_S)
        finally:
            writer.close()
            await writer.wait_closed()


async def test_connections_accepted_on_the_listening_socket_have_tcp_nodelay() -> None:
    listener = listening_socket("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    assert await nodelay_of_accepted_connection(listener) != 0


async def test_asyncio_leaves_nagle_on_for_a_listening_socket_made_with_protocol_0() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # what listening_socket used to make
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    assert listener.proto == 0
    assert await nodelay_of_accepted_connection(listener) == 0


# -- robustness ----------------------------------------------------------------------------------------


async def test_the_server_survives_every_bad_request_and_stays_healthy(
    api: httpx.AsyncClient, server: HttpServer
) -> None:
    for bad in BAD_REQUESTS.values():
        assert (await api.post(f"{API}/{bad.op}", **bad.request)).status_code == bad.status
    assert (await api.post(f"{API}/read", json={"path": HUGE_FILE})).status_code >= 400
    for request_id in BAD_IDS:
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "ping"})
        assert (await api.post("/mcp", content=body, headers=MCP_HEADERS)).status_code == 400
    for raw in (b"{not json", b"[]", b"null", b'"ping"'):
        assert (await api.post("/mcp", content=raw, headers=MCP_HEADERS)).status_code == 400
    health = await api.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert server.process.poll() is None
    assert not [line for line in server.stderr_lines if "Traceback" in line], "".join(server.stderr_lines)


async def test_an_unknown_route_and_a_wrong_method_are_problem_documents(api: httpx.AsyncClient) -> None:
    problem = assert_problem(await api.post(f"{API}/nope", json={}), 404, "not-found")
    assert "/openapi.json" in problem["detail"]
    problem = assert_problem(await api.get(f"{API}/search"), 405, "method-not-allowed")
    assert "POST" in problem["detail"]
