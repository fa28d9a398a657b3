"""A JSON-RPC fuzzer over stdio and streamable HTTP: hypothesis writes the messages, a spec oracle judges.

Each generated message is sent to a real server (``conexus serve`` as a subprocess
speaking stdio; the HTTP app under uvicorn on a loopback socket, one MCP session),
followed by a ``ping`` with a fresh id. Whatever the message, the server must:

- answer a request (a valid string or integer id) exactly once, with that id;
- answer nothing to a notification or to a response it never asked for;
- answer a message it cannot read with one JSON-RPC error (``-32700`` unparseable,
  ``-32600`` invalid) whose id is null unless a valid one was sent;
- never hang (every read has a deadline), never write a byte on stdout that is not
  a JSON-RPC message, and answer the ``ping`` after it (the session survives).

The inputs: wrong types everywhere, ids of every JSON type (huge integers, null,
floats, objects), batches (empty and mixed), JSON scalars, text that is not JSON,
invalid UTF-8, unpaired surrogate escapes, huge messages, nesting up to 100,000
levels deep, unknown and known methods with random parameters, notifications,
cancellations. The examples are derandomized and bounded, so a run is repeatable.
What it found in the SDK is in docs/reliability.md ("Hostile input").
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conexus.server.settings import ServerSettings
from tests.server.conftest import MCP_HEADERS, START_TIMEOUT_S, StdioProcess, make_repo
from tests.server.inprocess import LiveServer, live_server

pytestmark = pytest.mark.timeout(600)

PROTOCOL_VERSION = "2025-11-25"
REPLY_TIMEOUT_S = 30.0  # a reply later than this is a hang
EXAMPLES = 150  # per transport; derandomized: the same messages on every run
PARSE_ERROR, INVALID_REQUEST = -32700, -32600
# Tools that only read (a random argument must never clear or rebuild the shared index).
READ_TOOLS = ("context_search", "context_localize", "context_grep", "context_read", "context_status")
METHODS = (
    "ping",
    "initialize",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "sampling/createMessage",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
)
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "fuzz", "version": "0"},
    },
}


# -- the messages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One message and what the spec says the server answers to it.

    ``expect``: ``answer`` (exactly one reply, with ``id``), ``error`` (exactly one error reply,
    code in ``codes``, id ``id`` or null), ``silent`` (no reply), or ``error_or_silent`` (no reply,
    or one error with a null id: an invalid notification, which JSON-RPC leaves to the server).
    ``answer_or_parse_error``: invalid UTF-8 inside a string (stdio reads it as U+FFFD, HTTP refuses it).
    """

    raw: bytes
    expect: str
    id: Any = None
    codes: frozenset[int] = frozenset()
    label: str = ""

    @property
    def replies(self) -> int:
        """How many responses the server owes for this message."""
        return 0 if self.expect in ("silent", "error_or_silent") else 1


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
valid_ids = st.one_of(
    st.text(max_size=24),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.integers(min_value=2**63, max_value=2**200),  # past any fixed-width integer
    st.integers(min_value=-(2**200), max_value=-(2**63)),
)
invalid_ids = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)
methods = st.one_of(st.sampled_from(METHODS), st.text(max_size=30))
tool_calls = st.fixed_dictionaries(
    {"name": st.sampled_from(READ_TOOLS)},
    optional={"arguments": st.one_of(json_objects, json_values)},
)


def params_for(method: str) -> st.SearchStrategy[dict[str, Any]]:
    return tool_calls if method == "tools/call" else json_objects


@st.composite
def requests(draw: st.DrawFn) -> Case:
    msg_id = draw(valid_ids)
    method = draw(methods)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if draw(st.booleans()):
        message["params"] = draw(params_for(method))
    return Case(dumps(message), "answer", msg_id, label=f"request {method!r}")


@st.composite
def notifications(draw: st.DrawFn) -> Case:
    method = draw(methods)
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if draw(st.booleans()):
        message["params"] = draw(
            st.fixed_dictionaries({"requestId": st.one_of(valid_ids, invalid_ids)})
            if method == "notifications/cancelled"
            else json_objects
        )
    return Case(dumps(message), "silent", label=f"notification {method!r}")


@st.composite
def bad_ids(draw: st.DrawFn) -> Case:
    message = {"jsonrpc": "2.0", "id": draw(invalid_ids), "method": draw(methods)}
    return Case(dumps(message), "error", None, frozenset({INVALID_REQUEST}), "invalid id")


@st.composite
def bad_envelopes(draw: st.DrawFn) -> Case:
    """A valid id in a message that is not a JSON-RPC request: the error should carry the id."""
    msg_id = draw(valid_ids)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": draw(methods)}
    fault = draw(st.sampled_from(["version", "no version", "method type", "params type"]))
    if fault == "version":
        message["jsonrpc"] = draw(
            st.one_of(st.text(max_size=5), st.integers(), st.just("1.0")).filter(lambda v: v != "2.0")
        )
    elif fault == "no version":
        del message["jsonrpc"]
    elif fault == "method type":
        message["method"] = draw(
            st.one_of(st.integers(), st.booleans(), st.lists(scalars, max_size=2), json_objects)
        )
    else:
        message["params"] = draw(
            st.one_of(st.lists(scalars, max_size=3), st.integers(), st.text(max_size=5), st.booleans())
        )
    return Case(dumps(message), "error", msg_id, frozenset({INVALID_REQUEST}), f"bad envelope: {fault}")


@st.composite
def responses(draw: st.DrawFn) -> Case:
    """A result or error for a request the server never sent: nothing to answer."""
    outcome: dict[str, Any] = draw(
        st.one_of(
            st.fixed_dictionaries({"result": json_objects}),
            st.fixed_dictionaries(
                {
                    "error": st.fixed_dictionaries(
                        {"code": st.integers(-40000, 40000), "message": st.text(max_size=20)}
                    )
                }
            ),
        )
    )
    return Case(dumps({"jsonrpc": "2.0", "id": draw(valid_ids), **outcome}), "silent", label="response")


@st.composite
def not_json(draw: st.DrawFn) -> Case:
    text = draw(
        st.text(min_size=1, max_size=60).filter(lambda t: t.strip() and "\n" not in t and "\r" not in t)
    )
    try:
        json.loads(text)
    except ValueError:
        return Case(text.encode(), "error", None, frozenset({PARSE_ERROR}), "not JSON")
    return Case(
        text.encode(), "error", None, frozenset({INVALID_REQUEST, PARSE_ERROR}), "a JSON value, not a message"
    )


@st.composite
def batches(draw: st.DrawFn) -> Case:
    members = draw(st.lists(st.one_of(requests(), notifications(), responses()), max_size=4))
    raw = b"[" + b",".join(m.raw for m in members) + b"]"
    return Case(raw, "error", None, frozenset({INVALID_REQUEST}), f"batch of {len(members)}")


@st.composite
def json_scalars(draw: st.DrawFn) -> Case:
    return Case(dumps(draw(scalars)), "error", None, frozenset({INVALID_REQUEST}), "JSON scalar")


@st.composite
def deep(draw: st.DrawFn) -> Case:
    depth = draw(st.sampled_from([300, 1_000, 10_000, 100_000]))
    if draw(st.booleans()):
        raw = b"[" * depth + b"]" * depth
        return Case(raw, "error", None, frozenset({INVALID_REQUEST, PARSE_ERROR}), f"array {depth} deep")
    msg_id = draw(valid_ids)
    head = b'{"jsonrpc": "2.0", "id": ' + dumps(msg_id) + b', "method": "ping", "params": {"a": '
    raw = head + b"[" * depth + b"]" * depth + b"}}"
    return Case(raw, "error", msg_id, frozenset({PARSE_ERROR}), f"params {depth} deep")


@st.composite
def huge(draw: st.DrawFn) -> Case:
    msg_id = draw(valid_ids)
    size = draw(st.sampled_from([100_000, 1_000_000, 3_000_000]))  # under the 4 MB body limit
    message = {"jsonrpc": "2.0", "id": msg_id, "method": "ping", "params": {"pad": "x" * size}}
    return Case(dumps(message), "answer", msg_id, label=f"{size} bytes")


@st.composite
def invalid_utf8(draw: st.DrawFn) -> Case:
    junk = draw(
        st.sampled_from([b"\xff", b"\xfe\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
    )
    msg_id = draw(valid_ids)
    if draw(st.booleans()):
        return Case(
            junk + b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}',
            "error",
            None,
            frozenset({PARSE_ERROR}),
            "bytes before",
        )
    raw = (
        b'{"jsonrpc": "2.0", "id": '
        + dumps(msg_id)
        + b', "method": "ping", "params": {"s": "a'
        + junk
        + b'"}}'
    )
    return Case(raw, "answer_or_parse_error", msg_id, frozenset({PARSE_ERROR}), "bytes in a string")


@st.composite
def surrogates(draw: st.DrawFn) -> Case:
    msg_id = draw(valid_ids)
    escape = draw(st.sampled_from(["\\ud800", "\\udfff", "\\ud83d x"]))
    if draw(st.booleans()):
        raw = b'{"jsonrpc": "2.0", "id": "' + escape.encode() + b'", "method": "ping"}'
        return Case(raw, "error", None, frozenset({PARSE_ERROR}), "surrogate id")
    raw = (
        b'{"jsonrpc": "2.0", "id": '
        + dumps(msg_id)
        + b', "method": "ping", "params": {"q": "'
        + escape.encode()
        + b'"}}'
    )
    return Case(raw, "error", msg_id, frozenset({PARSE_ERROR}), "surrogate in params")


cases = st.one_of(
    requests(),
    notifications(),
    bad_ids(),
    bad_envelopes(),
    responses(),
    not_json(),
    batches(),
    json_scalars(),
    deep(),
    huge(),
    invalid_utf8(),
    surrogates(),
)


# -- the oracle ----------------------------------------------------------------------------------------


def assert_protocol_message(message: dict[str, Any]) -> None:
    """A JSON-RPC 2.0 message the server may send: a response (result xor error) or a request/notification."""
    assert message.get("jsonrpc") == "2.0", message
    if "method" in message:
        assert isinstance(message["method"], str), message
        return
    assert "id" in message and (("result" in message) != ("error" in message)), message
    if "error" in message:
        error = message["error"]
        assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), message


def judge(case: Case, replies: list[dict[str, Any]]) -> None:
    """Fail unless ``replies`` (the responses the server sent for ``case``) are what the spec wants."""
    for reply in replies:
        assert_protocol_message(reply)
    responses_ = [r for r in replies if "method" not in r]
    why = f"{case.label}: {case.raw[:200]!r} -> {[str(r)[:300] for r in responses_]}"
    if case.expect == "answer":
        assert len(responses_) == 1 and responses_[0]["id"] == case.id, why
    elif case.expect == "silent":
        assert responses_ == [], why
    elif case.expect == "error_or_silent":
        assert len(responses_) <= 1, why
        if responses_:
            assert responses_[0].get("id") is None and responses_[0]["error"]["code"] in case.codes, why
    elif case.expect == "answer_or_parse_error":
        assert len(responses_) == 1, why
        reply = responses_[0]
        assert reply["id"] == case.id or ("error" in reply and reply["error"]["code"] in case.codes), why
    else:
        assert len(responses_) == 1 and "error" in responses_[0], why
        reply = responses_[0]
        assert reply["error"]["code"] in case.codes, why
        assert reply["id"] is None or reply["id"] == case.id, why


# -- stdio -----------------------------------------------------------------------------------------------


class StdioSession(StdioProcess):
    """``conexus serve`` over stdio, spoken to in raw bytes; every stdout line must be JSON-RPC."""

    def __init__(self, root: Path, home: Path) -> None:
        super().__init__(root, home)
        self.ids = count()

    def until(self, sentinel: str, replies: int) -> list[dict[str, Any]]:
        """Every message up to the reply to ``sentinel`` and ``replies`` other responses (requests are
        handled concurrently, so their replies may come in any order); the sentinel's reply checked."""
        seen: list[dict[str, Any]] = []
        pinged = False
        while not pinged or sum("method" not in m for m in seen) < replies:
            message = self.next_message(REPLY_TIMEOUT_S)
            if message.get("id") == sentinel and "method" not in message:
                assert message.get("result") is not None, message
                pinged = True
                continue
            seen.append(message)
        return seen

    def exchange(self, raw: bytes, replies: int = 0) -> list[dict[str, Any]]:
        """Send ``raw``, then a ping; the messages the server sent until both were answered (and
        ``replies`` responses to ``raw``: a reply arriving later fails the next exchange)."""
        sentinel = f"ping-{next(self.ids)}"
        self.write(raw)
        self.write(dumps({"jsonrpc": "2.0", "id": sentinel, "method": "ping"}))
        return self.until(sentinel, replies)

    def initialize(self) -> None:
        self.write(dumps(INITIALIZE))
        while True:
            message = self.next_message(START_TIMEOUT_S)
            if message.get("id") == "init":
                assert "result" in message, message
                break
        self.write(dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StdioSession]:
    base = tmp_path_factory.mktemp("fuzz-stdio")
    session = StdioSession(make_repo(base / "repo"), base / "home")
    session.initialize()
    yield session
    code = session.close()
    assert session.stray == [], session.stray[:5]
    assert code == 0, "".join(session.stderr[-40:])


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(case=cases)
def test_over_stdio_every_message_gets_the_answer_the_spec_wants_and_the_session_goes_on(
    stdio: StdioSession, case: Case
) -> None:
    judge(case, stdio.exchange(case.raw, replies=case.replies))
    assert stdio.stray == [], stdio.stray[:5]


# -- streamable HTTP -------------------------------------------------------------------------------------


class HttpSession:
    """One MCP session over streamable HTTP, spoken to in raw POST bodies."""

    def __init__(self, server: LiveServer) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=REPLY_TIMEOUT_S)
        opened = self.http.post("/mcp", content=dumps(INITIALIZE), headers=MCP_HEADERS)
        assert opened.status_code == 200, opened.text
        self.headers = {
            **MCP_HEADERS,
            "Mcp-Session-Id": opened.headers["mcp-session-id"],
            "MCP-Protocol-Version": PROTOCOL_VERSION,
        }
        assert self.post(dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})) == []
        self.ids = count()

    def post(self, raw: bytes) -> list[dict[str, Any]]:
        """The JSON-RPC messages of the answer to one POST (a JSON body, an SSE stream, or none)."""
        try:
            answer = self.http.post("/mcp", content=raw, headers=self.headers)
        except httpx.TimeoutException:
            raise AssertionError(f"no answer within {REPLY_TIMEOUT_S}s (a hang)") from None
        assert answer.status_code < 500, (answer.status_code, answer.text[:500])
        if answer.status_code == 202 or not answer.content:
            assert answer.status_code in (200, 202), (answer.status_code, answer.text)
            return []
        kind = answer.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            return sse_messages(answer)
        assert kind.startswith("application/json"), (answer.status_code, kind, answer.text[:300])
        body = answer.json()
        return body if isinstance(body, list) else [body]

    def exchange(self, raw: bytes) -> list[dict[str, Any]]:
        replies = self.post(raw)
        sentinel = f"ping-{next(self.ids)}"
        after = self.post(dumps({"jsonrpc": "2.0", "id": sentinel, "method": "ping"}))
        assert [m["id"] for m in after if "method" not in m] == [sentinel], after
        return replies

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="module")
def http_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpSession]:
    base = tmp_path_factory.mktemp("fuzz-http")
    # Rate limits off: hundreds of messages a second from one address is the point here.
    unlimited = ServerSettings(rate_per_key=0.0, rate_per_address=0.0)
    with live_server([make_repo(base / "repo")], base / "home", unlimited) as server:
        session = HttpSession(server)
        yield session
        session.close()


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(case=cases)
def test_over_http_every_message_gets_the_answer_the_spec_wants_and_the_session_goes_on(
    http_session: HttpSession, case: Case
) -> None:
    judge(case, http_session.exchange(case.raw))


# -- before initialize, and cancellation ----------------------------------------------------------------


def test_over_stdio_requests_before_initialize_are_refused_and_the_session_then_opens(
    tmp_path: Path,
) -> None:
    session = StdioSession(make_repo(tmp_path / "repo"), tmp_path / "home")
    try:
        session.write(
            dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "context_status"}})
        )
        session.write(
            dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}})
        )
        early = session.exchange(dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}), replies=2)
        # The SDK refuses requests before initialize with -32602 (and answers the ping): an error
        # per request, whatever its code, is what JSON-RPC asks; no reply to the notification.
        assert sorted(m["id"] for m in early) == [1, 2] and all("error" in m for m in early), early
        session.initialize()
        listed = session.exchange(dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/list"}))
        assert [m["id"] for m in listed] == [3] and listed[0]["result"]["tools"]
    finally:
        assert session.close() == 0
    assert session.stray == []


def sse_messages(answer: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an answer: the ``data`` of each server-sent event, or a JSON body.

    Events are split on line ends only (``str.splitlines`` would also split at U+2028 or
    U+0085, which JSON leaves unescaped inside strings), and an event's ``data`` lines are
    joined with a newline, as the SSE standard says.
    """
    if not answer.headers.get("content-type", "").startswith("text/event-stream"):
        return [answer.json()] if answer.content else []
    messages: list[dict[str, Any]] = []
    data: list[str] = []
    for line in [*answer.text.replace("\r\n", "\n").split("\n"), ""]:
        if not line:
            if data and "".join(data).strip():
                messages.append(json.loads("\n".join(data)))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    return messages


@pytest.mark.anyio
async def test_over_http_a_cancelled_call_in_flight_ends_at_once_with_at_most_a_cancelled_error(
    tmp_path: Path,
) -> None:
    import anyio

    from tests.server.conftest import eventually
    from tests.server.inprocess import serving

    # The index worker is not started: a call that waits for an index job stays in flight.
    async with (
        serving(make_repo(tmp_path / "repo"), tmp_path / "home", workers=False) as s,
        httpx.AsyncClient(base_url=s.url, timeout=REPLY_TIMEOUT_S) as http,
    ):
        opened = await http.post("/mcp", content=dumps(INITIALIZE), headers=MCP_HEADERS)
        headers = {
            **MCP_HEADERS,
            "Mcp-Session-Id": opened.headers["mcp-session-id"],
            "MCP-Protocol-Version": PROTOCOL_VERSION,
        }
        await http.post(
            "/mcp", content=dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}), headers=headers
        )
        call = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {
                "name": "context_index_control",
                "arguments": {"action": "reindex", "wait": True, "max_wait_s": 100},
            },
        }
        answers: list[httpx.Response] = []

        async def in_flight() -> None:
            answers.append(await http.post("/mcp", content=dumps(call), headers=headers))

        async with anyio.create_task_group() as tg:
            tg.start_soon(in_flight)

            async def queued() -> bool:
                return bool(s.service.roots[0].jobs()["queued"])

            await eventually(queued, 30, "the call waits for its index job")
            cancel = {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": 7, "reason": "t"},
            }
            accepted = await http.post("/mcp", content=dumps(cancel), headers=headers)
            assert accepted.status_code == 202

            async def ended() -> bool:
                return bool(answers)

            await eventually(ended, REPLY_TIMEOUT_S, "the cancelled call's stream ends (no hang)")
        replies = [m for m in sse_messages(answers[0]) if "method" not in m]
        # MCP says a cancelled request SHOULD NOT be answered; over HTTP the SDK ends the call's
        # stream with a -32800 "Request cancelled" error instead (JSON-RPC conformant, and the
        # POST does not hang). Over stdio it sends nothing.
        assert replies == [] or [(m["id"], m["error"]["code"]) for m in replies] == [(7, -32800)], replies
        ping = await http.post(
            "/mcp", content=dumps({"jsonrpc": "2.0", "id": 8, "method": "ping"}), headers=headers
        )
        assert [m["id"] for m in sse_messages(ping)] == [8]


def test_over_stdio_a_cancelled_call_is_answered_at_most_once_and_the_session_goes_on(
    stdio: StdioSession,
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": "slow",
        "method": "tools/call",
        "params": {"name": "context_grep", "arguments": {"pattern": "def \\w+", "max_results": 500}},
    }
    stdio.write(dumps(call))
    cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "slow"}}
    # The call may finish before the cancel arrives (then it is answered), or not (then never):
    # either way at most one reply, and the session answers the next ping.
    seen = stdio.exchange(dumps(cancel))
    assert [m["id"] for m in seen if "method" not in m] in ([], ["slow"]), seen
    assert (
        stdio.exchange(dumps({"jsonrpc": "2.0", "id": "after", "method": "ping"}), replies=1)[0]["id"]
        == "after"
    )
