"""Test files and their subjects, by naming convention (``test_x.py``, ``x_test.go``, ``x.spec.ts``...).

Which paths are tests at all is :func:`conexus.paths.is_test_path`, the one rule ranking uses too.
"""

from __future__ import annotations

import logging
import re

from conexus.paths import is_test_path

logger = logging.getLogger(__name__)

_TEST_NAME_PATTERNS = (
    re.compile(r"^test_(?P<s>.+)\.pyi?$"),
    re.compile(r"^(?P<s>.+)_test\.(?:py|go|rb|rs|cc|cpp|c)$"),
    re.compile(r"^(?P<s>.+)\.(?:test|spec)\.[cm]?[jt]sx?$"),
    re.compile(r"^(?P<s>.+?)(?:Tests?|IT|Spec)\.(?:java|kt|scala|cs|swift|php)$"),
    re.compile(r"^Test(?P<s>[A-Z].*)\.(?:java|kt|cs|php)$"),
    re.compile(r"^(?P<s>.+)_spec\.rb$"),
)


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
