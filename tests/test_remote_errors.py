"""A problem document from the REST API comes back to the CLI as the error class that made it."""

from __future__ import annotations

import pytest

from conexus import errors
from conexus.api.errors import describe
from conexus.app.remote import error_for


def _all(cls: type[errors.ConexusError]) -> list[type[errors.ConexusError]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _all(sub))]


@pytest.mark.parametrize("cls", [c for c in _all(errors.ConexusError) if c.__module__ == "conexus.errors"])
def test_every_error_class_round_trips_through_its_problem_document(cls: type[errors.ConexusError]) -> None:
    failure = describe(cls("boom"), "context_search")
    assert failure.status == cls.http_status and failure.type == cls.problem
    back = error_for(failure.problem("/api/v1/search"), failure.status)
    assert back is cls
    assert back.exit_code == cls.exit_code


def test_an_unknown_problem_type_maps_by_its_status() -> None:
    assert error_for({"type": "https://x/problems/new-kind"}, 404).exit_code == 3
    assert error_for({"type": "https://x/problems/invalid-json"}, 400).exit_code == 2
    assert error_for({}, 599) is errors.ConexusError
