"""A search says when nothing matched well (issue #12, part 3): the fixture repository, the bundled model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conexus.api.models import LocalizeOut, SearchOut
from conexus.api.render import render_localize, render_search
from conexus.config import load_settings
from conexus.engine import Engine

FIXTURE = Path(__file__).parent / "fixtures" / "golden_repo"
ABSENT = ["websocket support", "GraphQL schema stitching", "Kafka consumer offsets", "render a PDF invoice"]
PRESENT = ["parse_header_links", "retry with exponential backoff", "proxy authentication header"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    base = tmp_path_factory.mktemp("confidence")
    root = base / "golden_repo"
    shutil.copytree(FIXTURE, root)
    e = Engine(root, load_settings(root, overrides={"home": base / "home", "embedder": "bundled"}))
    e.index()
    yield e
    e.close()


@pytest.mark.parametrize("query", ABSENT)
def test_a_search_for_a_feature_the_code_does_not_have_is_flagged(engine: Engine, query: str) -> None:
    result = engine.search(query)
    assert result.hits, "the ranking still answers: the flag says how much to trust it"
    confidence = result.confidence
    assert confidence is not None and confidence.no_good_match
    assert confidence.label in {"low", "none"}
    assert confidence.reason.startswith("No strong match") and "nowhere in the index" in confidence.reason


@pytest.mark.parametrize("query", PRESENT)
def test_a_search_for_what_the_code_has_is_not_flagged(engine: Engine, query: str) -> None:
    confidence = engine.search(query).confidence
    assert confidence is not None and not confidence.no_good_match
    assert confidence.label in {"high", "medium"}


def test_the_confidence_is_the_same_on_every_page(engine: Engine) -> None:
    first = engine.search("websocket support", top_k=2)
    second = engine.search("websocket support", top_k=2, offset=2)
    assert first.confidence == second.confidence


def test_the_search_output_and_its_text_carry_the_flag_and_the_reason(engine: Engine) -> None:
    data = engine.search("websocket support").to_dict()
    data.update(root="golden_repo", offset=0, next_cursor=None)
    out = SearchOut.model_validate(data)
    assert out.confidence is not None and out.confidence.no_good_match
    assert "websocket" in out.confidence.signals["missing_terms"]
    text = render_search(out.model_dump())
    head = text.split("\n")[0]
    assert "confidence: " + out.confidence.label in head
    assert "No strong match: the best hit covers" in text and "'websocket'" in text

    good = engine.search("parse_header_links").to_dict()
    good.update(root="golden_repo", offset=0, next_cursor=None)
    text = render_search(SearchOut.model_validate(good).model_dump())
    assert "confidence: high" in text and "No strong match" not in text


def test_localize_reports_the_confidence_of_the_search_it_starts_from(engine: Engine) -> None:
    issue = "Add websocket support\n\nPlease add a websocket client with GraphQL subscriptions over Kafka."
    located = engine.localize(issue)
    assert located.confidence is not None and located.confidence.no_good_match
    data = located.to_dict(engine.freshness, max_files=5, max_locations=10)
    assert data["confidence"]["no_good_match"] is True
    data.update(root="golden_repo", issue_chars=len(issue), took_ms=1.0, index_state="ready")
    text = render_localize(LocalizeOut.model_validate(data).model_dump())
    assert "No strong match" in text
