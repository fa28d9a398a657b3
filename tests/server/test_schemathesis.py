"""The REST API against its own OpenAPI document: schemathesis generates requests from the schema.

A real server (``create_app`` under uvicorn on a loopback socket) serves a small
repository with the fake embedder. For every route, schemathesis sends requests
that fit the schema and requests that do not, and checks each answer: never a
5xx, a status code the document lists, a content type and body that conform to
the documented schema (problem documents included), invalid input refused.
Hypothesis' example count per route is bounded so the suite stays fast; the
examples are derandomized, so a failure reproduces on every run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from tests.server.conftest import make_repo
from tests.server.inprocess import LiveServer, live_server

EXAMPLES_PER_ROUTE = 30
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "openapi.json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("schemathesis")
    repo = make_repo(base / "repo")
    with live_server([repo], base / "home") as live:
        yield live


@pytest.fixture(scope="module")
def api_schema(server: LiveServer) -> Any:
    """The document the live server serves (the committed reference is checked against it elsewhere)."""
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


ROUTES = sorted(
    f"{method.upper()} {path}"
    for path, methods in json.loads(REFERENCE.read_text(encoding="utf-8"))["paths"].items()
    for method in methods
)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


# Invalid input exists only where there is input: the POST routes' bodies (health checks take none).
CASES = [(route, GenerationMode.POSITIVE) for route in ROUTES] + [
    (route, GenerationMode.NEGATIVE) for route in ROUTES if route.startswith("POST ")
]


@pytest.mark.parametrize(("route", "mode"), CASES)
def test_every_route_answers_within_its_documented_contract(
    route: str, mode: GenerationMode, api_schema: Any, server: LiveServer
) -> None:
    operation = api_schema.find_operation_by_label(route)
    assert operation is not None, f"{route} is not in the served document"
    extra = [checks.negative_data_rejection] if mode is GenerationMode.NEGATIVE else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_ROUTE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        response = case.call_and_validate(base_url=server.url, checks=[*CHECKS, *extra])
        statuses.append(response.status_code)

    statuses: list[int] = []
    exercise()
    assert statuses, f"no request was sent to {route}"
    if mode is GenerationMode.NEGATIVE:
        assert all(400 <= s < 500 for s in statuses), sorted(set(statuses))
