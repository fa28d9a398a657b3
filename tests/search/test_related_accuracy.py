"""What bench.tool_accuracy found wrong in related/explain, each on a small repository written here.

Measured against jedi and the TypeScript language service: definitions of other symbols counted
as references, docstrings and prose counted as code, tests that never name a symbol listed as
its tests, a method's name on ``self`` inside another class counted as a call of it, recursion
dropped, and uses of a common name lost behind the candidate cap.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from conexus.engine import Engine
from conexus.search.related import find_importers, find_references, reference_scope
from conexus.store.base import Store
from tests.conftest import write

_PAD = "\n".join(f"    # padding line {i} keeps the class above the one-chunk size" for i in range(8))

API = f'''"""The public API: ``get`` fetches a page."""


def get(url):
    """Fetch ``url``; get is also in the guide."""
    return Session().get(url)


def walk(node):
    for child in node:
        walk(child)
    return node


class Session:
    """A session."""

{_PAD}

    def get(self, url):
        return self.send(url)

    def send(self, url):
        # send is what the adapter does
        return url


class Adapter:
    """An adapter."""

{_PAD}

    def send(self, url):
        return url

    def close(self):
        return self.send("x")
'''


@pytest.fixture
def repo(tmp_path: Path, make_engine: Callable[..., Engine]) -> tuple[Path, Engine]:
    root = tmp_path / "repo"
    write(root, "pkg/__init__.py", "from .api import get, Session\n")
    write(root, "pkg/api.py", API)
    write(root, "pkg/cli.py", "from pkg.api import get\n\n\ndef main():\n    return get('http://x')\n")
    write(root, "docs/guide.md", "# Guide\n\nCall get with a URL.\n")
    write(
        root,
        "tests/test_api.py",
        "from pkg.api import Session\n\n\ndef test_session():\n    def get():\n        return 1\n"
        "    assert Session() is not None\n",
    )
    write(root, "tests/test_get.py", "import pkg\n\n\ndef test_get():\n    assert pkg.get('u')\n")
    engine = make_engine(root)
    engine.index()
    return root, engine


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), 1) if needle in line)


def test_references_skip_other_definitions_of_the_name_and_label_docstrings_and_prose_as_mentions(
    repo: tuple[Path, Engine],
) -> None:
    _, engine = repo
    info = engine.related(f"pkg/api.py:{_line(API, 'def get(url)')}", history=False)
    refs = {(r.path, r.start_line): r.kind for r in info.references}
    assert refs[("pkg/cli.py", 5)] == "call"
    assert refs[("docs/guide.md", 3)] == "mention"
    assert refs[("pkg/api.py", _line(API, "get is also in the guide"))] == "mention"
    assert ("pkg/api.py", _line(API, "def get(self, url)")) not in refs  # Session.get declares, not uses
    assert ("tests/test_api.py", 5) not in refs  # a nested "def get():" in a test
    kinds = [r.kind for r in info.references]
    assert kinds.index("mention") > max(i for i, k in enumerate(kinds) if k != "mention")


def test_a_symbols_tests_are_the_tests_that_name_it_not_every_test_of_its_module(
    repo: tuple[Path, Engine],
) -> None:
    _, engine = repo
    session = engine.related(f"pkg/api.py:{_line(API, 'class Session')}", history=False)
    assert [t.path for t in session.tests] == ["tests/test_api.py"]
    walk = engine.related("walk", history=False)
    assert walk.tests == ()
    assert any("no test names 'walk'" in n for n in walk.notes)
    module = engine.related("pkg/api.py", history=False)  # a file's tests include its importers
    assert {t.path for t in module.tests} == {"tests/test_api.py", "tests/test_get.py"}


def test_self_calls_inside_another_class_defining_the_method_are_not_its_callers(
    repo: tuple[Path, Engine],
) -> None:
    _, engine = repo
    before = API[: API.index("class Adapter")].count("\n")
    line = before + _line(API.split("class Adapter")[1], "def send")
    explained = engine.explain(f"pkg/api.py:{line}", max_subjects=1)
    (subject,) = explained.subjects
    assert subject.name == "Adapter.send"
    callers = {(c.path, c.start_line) for c in subject.callers}
    assert ("pkg/api.py", _line(API, 'return self.send("x")')) in callers
    assert ("pkg/api.py", _line(API, "return self.send(url)")) not in callers  # Session.get -> Session.send


def test_a_recursive_call_is_a_reference_and_a_caller(repo: tuple[Path, Engine]) -> None:
    _, engine = repo
    target = f"pkg/api.py:{_line(API, 'def walk(node)')}"
    recursion = ("pkg/api.py", _line(API, "walk(child)"))
    assert recursion in {(r.path, r.start_line) for r in engine.related(target, history=False).references}
    (subject,) = engine.explain(target, max_subjects=1).subjects
    assert recursion in {(c.path, c.start_line) for c in subject.callers}


def test_uses_in_importing_files_are_found_when_other_files_fill_the_candidate_cap(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    root = tmp_path / "big"
    write(root, "lib/fetch.py", "def get(url):\n    return url\n")
    write(root, "app/use.py", "from lib.fetch import get\n\nget('u')\n")
    for i in range(40):  # files that say "get" far more often, and rank first lexically
        body = "".join(f"def f{j}(d):\n    return d.get('get') or get\n" for j in range(6))
        write(root, f"noise/n{i}.py", body)
    engine = make_engine(root)
    engine.index()
    store: Store = engine._checked_store()
    edges = find_importers(root, store, ["lib/fetch.py"])
    plain = find_references(store, ["get"], max_candidates=20)
    assert ("app/use.py", 3) not in {(r.path, r.line) for r in plain}
    scoped = find_references(
        store, ["get"], max_candidates=20, prefer_paths=reference_scope(root, store, ["lib/fetch.py"], edges)
    )
    assert ("app/use.py", 3) in {(r.path, r.line) for r in scoped}


def test_calls_inside_template_literal_substitutions_are_code_and_the_text_around_them_is_not(
    tmp_path: Path, make_engine: Callable[..., Engine]
) -> None:
    root = tmp_path / "web"
    write(root, "src/fmt.ts", "export function fmt(x: number): string {\n  return String(x);\n}\n")
    write(
        root,
        "src/use.ts",
        "import {fmt} from './fmt';\n\nexport const s = `fmt: ${fmt(1)}`;\n// fmt in a comment\n"
        "export const t = `plain fmt text`;\n",
    )
    engine = make_engine(root)
    engine.index()
    refs = {(r.path, r.start_line): r.kind for r in engine.related("fmt", history=False).references}
    assert refs[("src/use.ts", 1)] == "import"
    assert refs[("src/use.ts", 3)] == "call"
    assert refs[("src/use.ts", 4)] == refs[("src/use.ts", 5)] == "mention"
