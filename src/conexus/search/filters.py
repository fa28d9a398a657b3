"""Search filters: validated path globs, languages and kinds, turned into a store ``ChunkFilter``. Pure.

A filter that matches nothing because of a typo (``--language pyhton``, ``--kind
fucntion``, a glob pathspec silently ignores such as ``src/[``) would answer "no
results" and look like a fact about the code, so each is checked and refused with
a :class:`~conexus.errors.QueryError` that lists what is valid. Matching stays
case-insensitive for languages and kinds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from conexus.errors import QueryError
from conexus.indexing.languages import KNOWN_LANGUAGES
from conexus.models import CHUNK_KINDS
from conexus.store.base import ChunkFilter, FileRow

if TYPE_CHECKING:
    import pathspec


def _gitignore_spec(lines: Sequence[str]) -> pathspec.GitIgnoreSpec:
    from conexus.sources.filesystem.globs import gitignore_spec

    return gitignore_spec(lines)


def _check_glob(glob: str) -> None:
    """Raise QueryError for a glob that is empty, a comment, or one pathspec cannot use."""
    body = glob[1:] if glob.startswith("!") else glob
    if not body.strip():
        raise QueryError(f"invalid path glob {glob!r}: it is empty")
    if body.startswith("#"):
        raise QueryError(f"invalid path glob {glob!r}: a leading '#' makes it a comment; write '\\#'")
    try:
        spec = _gitignore_spec([body])
    except (ValueError, TypeError, re.error) as err:
        raise QueryError(f"invalid path glob {glob!r}: {err}") from err
    # pathspec turns what it cannot parse (an unclosed "[", "[]") into a pattern matching nothing.
    if not any(getattr(p, "regex", None) is not None for p in spec.patterns):
        raise QueryError(
            f"invalid path glob {glob!r}: an unclosed or empty '[...]' class; write '\\[' for '['"
        )


@lru_cache(maxsize=256)
def compile_globs(
    globs: tuple[str, ...],
) -> tuple[pathspec.GitIgnoreSpec | None, pathspec.GitIgnoreSpec | None]:
    """The (include, exclude) specs of gitignore-style globs, a leading ``!`` excluding.

    Raises:
        QueryError: a glob is empty, a comment, or invalid.
    """
    for glob in globs:
        _check_glob(glob)
    include = [g for g in globs if not g.startswith("!")]
    exclude = [g[1:] for g in globs if g.startswith("!")]
    try:
        inc = _gitignore_spec(include) if include else None
        exc = _gitignore_spec(exclude) if exclude else None
    except (ValueError, TypeError, re.error) as err:
        raise QueryError(f"invalid path glob: {err}") from err
    return inc, exc


def check_languages(languages: Sequence[str], indexed: Callable[[], Iterable[str]] = tuple) -> frozenset[str]:
    """The lower-cased languages, each known to Conexus (or, asked only then, ``indexed``).

    Raises:
        QueryError: an unknown language, with the valid ones listed.
    """
    langs = frozenset(lang.lower() for lang in languages)
    unknown = langs - KNOWN_LANGUAGES
    if unknown:
        unknown -= {lang.lower() for lang in indexed()}
    if unknown:
        raise QueryError(
            f"unknown language {', '.join(sorted(unknown))}; "
            f"valid languages: {', '.join(sorted(KNOWN_LANGUAGES))}"
        )
    return langs


def check_kinds(kinds: Sequence[str]) -> frozenset[str] | None:
    """The lower-cased chunk kinds, or None for no kind filter.

    Raises:
        QueryError: an unknown kind, with the valid ones listed.
    """
    if not kinds:
        return None
    wanted = frozenset(k.lower() for k in kinds)
    unknown = wanted - CHUNK_KINDS
    if unknown:
        raise QueryError(
            f"unknown kind {', '.join(sorted(unknown))}; valid kinds: {', '.join(sorted(CHUNK_KINDS))}"
        )
    return wanted


def filter_files(
    files: Collection[FileRow], globs: Sequence[str], languages: Sequence[str]
) -> list[int] | None:
    """File ids allowed by path globs and languages, in the order of ``files``; None when
    there is no filter.

    Raises:
        QueryError: an invalid glob or an unknown language.
    """
    if not globs and not languages:
        return None
    spec = compile_globs(tuple(globs)) if globs else None
    langs = check_languages(languages, lambda: {f.language for f in files}) if languages else frozenset()
    out = []
    for f in files:
        if langs and f.language.lower() not in langs:
            continue
        if spec is not None:
            inc, exc = spec
            if inc is not None and not inc.match_file(f.path):
                continue
            if exc is not None and exc.match_file(f.path):
                continue
        out.append(f.id)
    return out


def chunk_filter(
    files: Collection[FileRow], globs: Sequence[str], languages: Sequence[str], kinds: Sequence[str]
) -> ChunkFilter:
    """The store filter of a search's path globs, languages and kinds.

    Raises:
        QueryError: an invalid glob, an unknown language or an unknown kind.
    """
    wanted_kinds = check_kinds(kinds)
    allowed = filter_files(files, globs, languages)
    return ChunkFilter(None if allowed is None else frozenset(allowed), wanted_kinds)
