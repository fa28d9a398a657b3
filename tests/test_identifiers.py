"""Exact identifiers and code fragments find their file first (issue #12, part 4), with the bundled model.

Golden cases over packages installed in the environment (``tests/golden/identifiers.json``):
identifiers that occur in one file only (aliases, locals, attributes, definitions) and lines
of code pasted verbatim. A case whose precondition no longer holds in the installed version
(the name now occurs elsewhere too, or the line is gone) is skipped, not failed. Before the
exact and phrase lists, none of these 14 ranked its file first (``bench.identifiers``
measures the same over whole trees).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conexus.config import load_settings
from conexus.engine import Engine

CASES = json.loads((Path(__file__).parent / "golden" / "identifiers.json").read_text())
PACKAGES = sorted({c["package"] for c in CASES})


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    base = tmp_path_factory.mktemp("packages")
    out: dict[str, Engine] = {}
    for name in PACKAGES:
        source = _package_dir(name)
        if source is None:
            continue
        root = base / name
        shutil.copytree(source, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so"))
        engine = Engine(root, load_settings(root, overrides={"home": base / "home", "embedder": "bundled"}))
        engine.index()
        out[name] = engine
    yield out
    for engine in out.values():
        engine.close()


def _holds(root: Path, case: dict[str, str]) -> bool:
    """The case's precondition in the installed version: one file holds the name, or the file the line."""
    if case["kind"] == "fragment":
        return case["query"] in (root / case["expect"]).read_text(encoding="utf-8")
    word = re.compile(r"\b" + re.escape(case["query"]) + r"\b")
    holders = [p for p in root.rglob("*.py") if word.search(p.read_text(encoding="utf-8", errors="replace"))]
    return [p.relative_to(root).as_posix() for p in holders] == [case["expect"]]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['package']}:{c['query'][:40]}" for c in CASES])
def test_a_name_or_line_found_in_one_file_ranks_that_file_first(
    case: dict[str, str], engines: dict[str, Engine]
) -> None:
    engine = engines.get(case["package"])
    if engine is None:
        pytest.skip(f"{case['package']} is not installed")
    if not _holds(engine.root, case):
        pytest.skip(f"{case['query']!r} is not unique to {case['expect']} in this version")
    hits = engine.search(case["query"], top_k=10, snippet_lines=500).hits
    assert hits[0].path == case["expect"], [h.path for h in hits[:5]]
    if case["kind"] == "fragment":
        assert case["query"] in hits[0].snippet


def test_an_import_alias_and_the_call_that_uses_it_find_the_module_that_binds_it(tmp_path: Path) -> None:
    # The shape of psf/requests: the alias lives in one module, while every exception class
    # and test shares its parts ("timeout") and outranked it on keywords and meaning alike.
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "adapters.py").write_text(
        "from urllib3.util import Timeout as TimeoutSauce\n\n\n"
        "class HTTPAdapter:\n"
        "    def send(self, request, timeout=None):\n"
        "        connect, read = timeout\n"
        "        timeout = TimeoutSauce(connect=connect, read=read)\n"
        "        return self.pool.urlopen(request, timeout=timeout)\n"
    )
    (root / "pkg" / "exceptions.py").write_text(
        "".join(
            f"class {name}(Exception):\n    '''{name}: a timeout on connect or read.'''\n\n"
            for name in ("Timeout", "ConnectTimeout", "ReadTimeout", "PoolTimeout", "TimeoutError")
        )
    )
    (root / "tests" / "test_timeouts.py").write_text(
        "".join(
            f"def test_{kind}_timeout():\n    '''A {kind} timeout raises the timeout error.'''\n"
            f"    assert raises_timeout('{kind}', timeout=0.1)\n\n"
            for kind in ("connect", "read", "total", "pool", "sauce")
        )
    )
    engine = Engine(root, load_settings(root, overrides={"home": tmp_path / "home", "embedder": "bundled"}))
    try:
        engine.index()
        first = engine.search("TimeoutSauce").hits[0]
        assert first.path == "pkg/adapters.py"
        fragment = engine.search("TimeoutSauce(connect=connect, read=read)").hits[0]
        assert fragment.path == "pkg/adapters.py" and fragment.start_line <= 7 <= fragment.end_line
        assert "phrase" in fragment.signals and "exact" in fragment.signals
    finally:
        engine.close()
