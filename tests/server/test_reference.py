"""The committed REST reference (docs/reference) is what the code generates, and it is valid OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from conexus.server.http.reference import markdown, openapi_document

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
REGENERATE = "regenerate it: python -m conexus.server.http.reference docs/reference"


def test_the_committed_openapi_document_matches_the_code_and_validates() -> None:
    doc = openapi_document()
    validate(doc)
    assert doc["openapi"].startswith("3.1")
    committed = json.loads((REFERENCE / "openapi.json").read_text())
    assert committed == doc, REGENERATE


def test_the_committed_rest_page_matches_the_code() -> None:
    assert (REFERENCE / "rest.md").read_text() == markdown(openapi_document()), REGENERATE
