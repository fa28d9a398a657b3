"""Golden ranking: with default settings and the bundled model, each query puts its file in the top N."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conexus.config import load_settings
from conexus.engine import Engine
from conexus.search.fusion import aggregate_files

GOLDEN = Path(__file__).parent / "golden"
CASES = json.loads((GOLDEN / "golden_repo.json").read_text())
# Short questions and pasted issues on real code: Conexus's own source tree, as it is in this checkout.
SRC_CASES = json.loads((GOLDEN / "conexus_src.json").read_text())
SRC = Path(__file__).resolve().parent.parent / "src"


def _bundled_index(tmp_path_factory: pytest.TempPathFactory, source: Path, name: str) -> Engine:
    base = tmp_path_factory.mktemp(name)
    root = base / name
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    settings = load_settings(root, overrides={"home": base / "home", "embedder": "bundled"})
    engine = Engine(root, settings)
    engine.index()
    return engine


@pytest.fixture(scope="module")
def bundled_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = _bundled_index(
        tmp_path_factory, Path(__file__).parent / "fixtures" / "golden_repo", "golden_repo"
    )
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def src_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = _bundled_index(tmp_path_factory, SRC, "src")
    yield engine
    engine.close()


def ranked_files(engine: Engine, query: str) -> list[str]:
    result = engine.search(query, top_k=30)
    scores = {h.chunk_id: h.score for h in result.hits}
    files = {h.chunk_id: h.path for h in result.hits}
    return [p for p, _ in aggregate_files([h.chunk_id for h in result.hits], scores, files.__getitem__)]


@pytest.mark.parametrize("case", CASES, ids=[c["query"][:40] for c in CASES])
def test_golden_query_ranks_expected_file(case: dict[str, object], bundled_engine: Engine) -> None:
    files = ranked_files(bundled_engine, str(case["query"]))
    within = int(case["within"])  # type: ignore[call-overload]
    assert case["expect"] in files[:within], f"{case['expect']} not in top {within}: {files[:5]}"


def test_first_hit_is_the_expected_file_for_identifier_queries(bundled_engine: Engine) -> None:
    hits = bundled_engine.search("parse_header_links").hits
    assert hits[0].symbol == "parse_header_links"
    assert hits[0].kind == "function"


@pytest.mark.parametrize("case", SRC_CASES, ids=[c["query"][:40] for c in SRC_CASES])
def test_short_query_on_real_code_ranks_expected_file(case: dict[str, object], src_engine: Engine) -> None:
    files = ranked_files(src_engine, str(case["query"]))
    within = int(case["within"])  # type: ignore[call-overload]
    assert case["expect"] in files[:within], f"{case['expect']} not in top {within}: {files[:5]}"
