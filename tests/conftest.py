"""Shared fixtures: an isolated data home, settings with the fake or bundled embedder, small repositories."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conexus.config import Settings, load_settings
from conexus.engine import Engine
from tests import postgres

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session", autouse=True)
def _postgres_server() -> Iterator[None]:
    """Stops the session's PostgreSQL server (started by the first test that needs it) at the end."""
    yield
    postgres.stop()


@pytest.fixture(autouse=True)
def _postgres_databases() -> Iterator[None]:
    """Drops the PostgreSQL databases a test created, after its stores and engines were closed."""
    yield
    postgres.drop_databases()


@pytest.fixture
def postgres_url(tmp_path: Path) -> str:
    """The URL of an empty PostgreSQL database (with pgvector) of this test's own."""
    return postgres.database_for(tmp_path)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CONEXUS_HOME, so tests never touch the user's indexes or cache."""
    h = tmp_path / "conexus-home"
    monkeypatch.setenv("CONEXUS_HOME", str(h))
    return h


@pytest.fixture
def settings_for(home: Path) -> Callable[..., Settings]:
    """Settings for a root with the fake embedder unless told otherwise."""

    def make(root: Path, **overrides: object) -> Settings:
        values: dict[str, object] = {"home": home, "embedder": "fake"}
        values.update(overrides)
        return load_settings(root, overrides=values)

    return make


@pytest.fixture
def make_engine(settings_for: Callable[..., Settings]) -> Iterator[Callable[..., Engine]]:
    """Build engines that are closed at the end of the test."""
    engines: list[Engine] = []

    def make(root: Path, **overrides: object) -> Engine:
        e = Engine(root, settings_for(root, **overrides))
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.close()


@pytest.fixture
def golden_repo(tmp_path: Path) -> Path:
    """A copy of the golden fixture repository (tests may modify it)."""
    dest = tmp_path / "golden_repo"
    shutil.copytree(FIXTURES / "golden_repo", dest)
    return dest


def git(repo: Path, *args: str) -> str:
    """Run ``git -C repo ARGS`` with a fixed identity; its stdout, stripped."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


def write(root: Path, rel: str, text: str) -> Path:
    """Write ``text`` to ``root/rel``, creating folders."""
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def without_timings(data: Any) -> Any:
    """``data`` (a JSON answer) without its timings, which differ between two runs of the same call."""
    if isinstance(data, dict):
        return {k: without_timings(v) for k, v in data.items() if k not in ("took_ms", "elapsed_ms")}
    if isinstance(data, list):
        return [without_timings(v) for v in data]
    return data
