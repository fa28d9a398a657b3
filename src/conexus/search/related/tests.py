"""Test files and their subjects, by naming convention (``test_x.py``, ``x_test.go``, ``x.spec.ts``...).

``is_test_path`` lives here alone in this package, so the unification with
``conexus.search.fusion.is_test_path`` is one import line.
"""

from __future__ import annotations

import logging
import posixpath
import re

logger = logging.getLogger(__name__)

_TEST_DIRS = frozenset({"tests", "test", "__tests__", "spec", "specs", "testing", "e2e"})
_NOT_TEST_DIRS = frozenset(
    {"fixtures", "fixture", "__fixtures__", "testdata", "snapshots", "__snapshots__", "__mocks__", "data"}
)
_CODE_EXTENSIONS = frozenset(
    {".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".go", ".rs", ".java",
     ".kt", ".kts", ".scala", ".rb", ".php", ".cs", ".c", ".cc", ".cpp", ".h", ".hpp", ".swift", ".sh"}
)  # fmt: skip
_TEST_NAME_PATTERNS = (
    re.compile(r"^test_(?P<s>.+)\.pyi?$"),
    re.compile(r"^(?P<s>.+)_test\.(?:py|go|rb|rs|cc|cpp|c)$"),
    re.compile(r"^(?P<s>.+)\.(?:test|spec)\.[cm]?[jt]sx?$"),
    re.compile(r"^(?P<s>.+?)(?:Tests?|IT|Spec)\.(?:java|kt|scala|cs|swift|php)$"),
    re.compile(r"^Test(?P<s>[A-Z].*)\.(?:java|kt|cs|php)$"),
    re.compile(r"^(?P<s>.+)_spec\.rb$"),
)


# ----------------------------------------------------------------------------------- tests


def is_test_path(path: str) -> bool:
    """True for test files by the usual conventions (test_x.py, x_test.go, x.test.ts, tests/...)."""
    parts = path.split("/")
    name = parts[-1]
    dirs = set(parts[:-1])
    if dirs & _NOT_TEST_DIRS:
        return False
    if any(p.match(name) for p in _TEST_NAME_PATTERNS):
        return True
    ext = posixpath.splitext(name)[1].lower()
    return bool(dirs & _TEST_DIRS) and ext in _CODE_EXTENSIONS


def subject_of_test(path: str) -> str | None:
    """The file stem a test file is named after (``tests/test_grep.py`` -> ``grep``), if any."""
    name = path.rsplit("/", 1)[-1]
    for pattern in _TEST_NAME_PATTERNS:
        m = pattern.match(name)
        if m:
            return m.group("s")
    if is_test_path(path):
        return name.split(".", 1)[0]
    return None


def _subject_stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    stem = name.split(".", 1)[0]
    if stem in ("__init__", "index", "mod", "lib", "main") and "/" in path:
        return path.rsplit("/", 2)[-2]
    return stem
