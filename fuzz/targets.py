"""The fuzz targets: each takes raw bytes and raises only on a defect.

A target decodes its input with atheris' ``FuzzedDataProvider`` (so the fuzzer
steers every choice: language, sizes, text), runs the code under test, and
checks what must hold for any input. The documented refusals (``QueryError``,
``InvalidArgumentsError``, ``ValueError`` of a foreign cursor) are answers, not
defects; anything else escaping, or a broken invariant, is a finding.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

import atheris

from conexus.api.errors import InvalidArgumentsError
from conexus.api.operations import BY_NAME
from conexus.api.paging import decode_cursor, encode_cursor
from conexus.errors import QueryError, TooLargeError
from conexus.indexing.chunking import chunk_text
from conexus.indexing.languages import TREE_SITTER_LANGUAGES
from conexus.search.filters import compile_globs
from conexus.search.query import analyze
from conexus.sources.filesystem.ignore import _Rules  # the compiled form of one ignore file
from fuzz.invariants import assert_well_formed

LANGUAGES: list[str | None] = [*sorted(TREE_SITTER_LANGUAGES), "markdown", "rst", "yaml", "text", None]
PATHS = ["a.py", "src/a/b.ts", "build/", "node_modules/x/y.js", ".env", "docs/ü.md", "a/b/c/d/e/f.rs"]


def chunker(data: bytes) -> None:
    """Any text in any language: chunks are exact, ordered, and cover every non-blank line."""
    fdp = atheris.FuzzedDataProvider(data)
    language = LANGUAGES[fdp.ConsumeIntInRange(0, len(LANGUAGES) - 1)]
    max_lines = fdp.ConsumeIntInRange(1, 200)
    window = fdp.ConsumeIntInRange(1, 80)
    overlap = fdp.ConsumeIntInRange(0, 40)
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    chunks = chunk_text(
        "fuzzed.src",
        text,
        language=language,
        max_chunk_lines=max_lines,
        window_lines=window,
        window_overlap=overlap,
    )
    assert_well_formed(text, chunks)
    assert all(c.end_line - c.start_line + 1 <= max_lines for c in chunks)


def ignore_rules(data: bytes) -> None:
    """Any ignore file compiles (bad lines skipped, as git does) and decides any path the same way twice."""
    fdp = atheris.FuzzedDataProvider(data)
    count = fdp.ConsumeIntInRange(0, 4)
    paths = [fdp.ConsumeUnicodeNoSurrogates(40) for _ in range(count)]
    text = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    rules = _Rules("fuzzed/.gitignore", text.splitlines())
    for path in [*PATHS, *paths]:
        for is_dir in (False, True):
            first = rules.decide(path, is_dir)
            assert first is rules.decide(path, is_dir)
            if first is not None:
                assert rules.describe(first).startswith("fuzzed/.gitignore:")


def query_path(data: bytes) -> None:
    """Queries, globs, cursors and search arguments: analysed, or refused with a clear error."""
    fdp = atheris.FuzzedDataProvider(data)
    query = fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 2000))
    plan = analyze(query)
    assert all(weight > 0 for weight in plan.terms.values()), plan.terms
    globs = tuple(fdp.ConsumeUnicodeNoSurrogates(30) for _ in range(fdp.ConsumeIntInRange(0, 3)))
    with contextlib.suppress(QueryError):
        specs = compile_globs(globs)
        for spec in specs:  # matching, too, must stay fast on any glob (star runs are collapsed)
            if spec is not None:
                for path in PATHS:
                    spec.match_file(path)
    token = fdp.ConsumeUnicodeNoSurrogates(80)
    try:
        decoded = decode_cursor(token)
    except ValueError:
        pass
    else:
        assert isinstance(decoded, dict)
        assert decode_cursor(encode_cursor(decoded)) == decoded
    raw = fdp.ConsumeUnicodeNoSurrogates(fdp.remaining_bytes())
    try:
        arguments = json.loads(raw)
    except ValueError:
        arguments = {"query": raw, "paths": list(globs), "cursor": token}
    if not isinstance(arguments, dict):
        arguments = {"query": arguments}
    with contextlib.suppress(InvalidArgumentsError, TooLargeError):
        BY_NAME["search"].parse(arguments)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "chunker": chunker,
    "ignore": ignore_rules,
    "query": query_path,
}
