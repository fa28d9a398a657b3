"""Locust users of a Conexus server: MCP streamable-HTTP sessions and REST clients, one request mix.

Run through ``python -m load SCENARIO`` (which starts the server, prepares the
workload and reports), or by hand::

    CONEXUS_LOAD_WORKLOAD=work.json CONEXUS_LOAD_SHAPE=load \\
        locust -f load/locustfile.py --headless --host http://127.0.0.1:8080

An MCP user opens a real session (``initialize``, ``notifications/initialized``,
then ``tools/call`` with the session id, answers read from JSON or from the SSE
stream) and keeps it for its whole life, as an assistant does; a REST user posts
to ``/api/v1/<operation>``. Both wait 1-2 s between requests. A tool result with
``isError`` counts as a failure, as does any HTTP status but 200 — except 429
and 503 with ``Retry-After`` during the spike scenario, which are the server
shedding load as designed and are counted separately by name (``shed ...``),
for the session's own requests too (a shed ``initialize`` is sent again at the
user's next turn, as a client retries after ``Retry-After``).
"""

from __future__ import annotations

import itertools
import json
import os
import random
from typing import Any

from locust import HttpUser, LoadTestShape, between, events, task

from load.shapes import SHAPES
from load.wire import (
    INITIALIZE,
    INITIALIZED,
    MCP_HEADERS,
    MCP_PATH,
    answer,
    session_headers,
    tool_call,
    tool_failure,
)
from load.workload import MIX

WORKLOAD: dict[str, list[dict[str, Any]]] = {}
#: The servers the users spread over (``python -m load --replicas N``): each user keeps one.
HOSTS = [h for h in os.environ.get("CONEXUS_LOAD_HOSTS", "").split(",") if h]
_NEXT_HOST = itertools.count()
SHED_OK = os.environ.get("CONEXUS_LOAD_SHED_OK") == "1"


@events.init.add_listener
def _load_workload(**_: Any) -> None:
    path = os.environ.get("CONEXUS_LOAD_WORKLOAD")
    if not path:
        raise SystemExit("set CONEXUS_LOAD_WORKLOAD to the JSON file of python -m load.workload")
    with open(path, encoding="utf-8") as fh:
        WORKLOAD.update(json.load(fh))


def _pick(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    weights = [w for w, _, _ in MIX]
    _, kind, operation = rng.choices(MIX, weights=weights)[0]
    return kind, operation, rng.choice(WORKLOAD[kind])


class _Mix:
    rng: random.Random
    client: Any

    def pin_host(self) -> None:
        """Keep one of :data:`HOSTS` for this user's life, in turn (session affinity)."""
        if len(HOSTS) > 1:
            self.client.base_url = HOSTS[next(_NEXT_HOST) % len(HOSTS)]

    def shed(self, response: Any, kind: str) -> bool:
        """A 429/503 with Retry-After while shedding is expected: reported under its own name."""
        if SHED_OK and response.status_code in (429, 503) and "retry-after" in response.headers:
            response.success()
            events.request.fire(
                request_type="SHED",
                name=f"shed {response.status_code}",
                response_time=response.elapsed.total_seconds() * 1000,
                response_length=0,
                exception=None,
            )
            return True
        return False


class McpUser(_Mix, HttpUser):
    """An assistant: one MCP session for its lifetime, a tool call every 1-2 s."""

    weight = 3
    wait_time = between(1, 2)
    _ids = itertools.count(2)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.pin_host()
        self.open_session()

    def open_session(self) -> None:
        self.session_id: str | None = None
        self.initialized = False
        with self.client.post(
            MCP_PATH, json=INITIALIZE, headers=MCP_HEADERS, name="mcp initialize", catch_response=True
        ) as r:
            if self.shed(r, "initialize"):
                return  # the next task opens the session again, as a client retries after Retry-After
            if r.status_code != 200 or "mcp-session-id" not in r.headers:
                r.failure(f"initialize: HTTP {r.status_code}")
                return
            self.session_id = r.headers["mcp-session-id"]
        self.initialized = self.notify_initialized()

    def notify_initialized(self) -> bool:
        """Send ``notifications/initialized``; False when it was shed (sent again before the next call)."""
        with self.client.post(
            MCP_PATH, json=INITIALIZED, headers=self._headers(), name="mcp initialized", catch_response=True
        ) as r:
            if self.shed(r, "initialized"):
                return False
            if r.status_code not in (200, 202):
                r.failure(f"initialized: HTTP {r.status_code}")
            return True

    def on_stop(self) -> None:
        if self.session_id:
            with self.client.delete(
                MCP_PATH, headers=self._headers(), name="mcp close", catch_response=True
            ) as r:
                if self.shed(r, "close"):
                    return  # the server ends the session when it has been idle long enough
                if r.status_code not in (200, 204):
                    r.failure(f"close: HTTP {r.status_code}")

    def _headers(self) -> dict[str, str]:
        return session_headers(self.session_id)

    @task
    def call_tool(self) -> None:
        if not self.session_id:
            self.open_session()
            return
        if not self.initialized:
            self.initialized = self.notify_initialized()
            return
        kind, operation, arguments = _pick(self.rng)
        body = tool_call(next(self._ids), operation, arguments)
        with self.client.post(
            MCP_PATH, json=body, headers=self._headers(), name=f"mcp {kind}", catch_response=True
        ) as r:
            if self.shed(r, kind):
                return
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
                return
            failure = tool_failure(answer(r.headers.get("content-type", ""), r.text))
            if failure:
                r.failure(failure)


class RestUser(_Mix, HttpUser):
    """A script or service calling the REST API with the same mix."""

    weight = 1
    wait_time = between(1, 2)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.pin_host()

    @task
    def call(self) -> None:
        kind, operation, arguments = _pick(self.rng)
        with self.client.post(
            f"/api/v1/{operation}", json=arguments, name=f"rest {kind}", catch_response=True
        ) as r:
            if self.shed(r, kind):
                return
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")


_shape = os.environ.get("CONEXUS_LOAD_SHAPE")
if _shape:
    if _shape not in SHAPES:
        raise SystemExit(f"CONEXUS_LOAD_SHAPE must be one of {sorted(SHAPES)}")

    class Shape(LoadTestShape):  # Locust uses the one LoadTestShape class of the locustfile
        """The scenario's users over time (see load/shapes.py)."""

        stages = SHAPES[_shape]

        def tick(self) -> tuple[int, float] | None:
            elapsed = self.get_run_time()
            for until, users, rate in self.stages:
                if elapsed < until:
                    return users, rate
            return None
