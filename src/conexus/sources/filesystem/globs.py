"""Gitignore-style globs compiled safely: runs of ``*`` collapsed before they become regexes.

pathspec turns each ``*`` of a pattern into its own ``[^/]*``, so a run of them
(``*****************<``, from a hostile ``.gitignore`` or a ``paths`` filter sent
to the server) becomes a regex that backtracks exponentially on a path it does not match
(found by fuzzing; ``python -m bench.hostile_input star-runs`` times it).
Git reads a run of two or more stars bounded by ``/`` or the pattern's ends as
``**`` and any other run as one ``*``; :func:`collapse_stars` rewrites the
pattern to that, so the regex stays linear and the pattern matches what ``git
check-ignore`` does (a test compares them; raw pathspec read ``src/***/x.py``
as three one-level stars, which git does not).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

_STAR_RUN = re.compile(r"(?<!\\)\*{2,}")


def collapse_stars(pattern: str) -> str:
    """``pattern`` with every run of stars as git reads it: ``**`` between separators, else ``*``."""

    def one(m: re.Match[str]) -> str:
        start, end = m.start(), m.end()
        bounded = (start == 0 or pattern[start - 1] == "/") and (end == len(pattern) or pattern[end] == "/")
        return "**" if bounded else "*"

    return _STAR_RUN.sub(one, pattern) if "**" in pattern else pattern


def gitignore_spec(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    """pathspec's ``GitIgnoreSpec`` of ``lines``, each with its star runs collapsed.

    Raises:
        pathspec's ``GitIgnorePatternError`` (a ``ValueError``) for an invalid line.
    """
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines([collapse_stars(line) for line in lines])
