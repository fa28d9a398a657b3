"""What every backend indexes lexically for a chunk, and how it weighs it: pure, shared by the backends.

A chunk is indexed in three fields (:data:`conexus.store.base.LEXICAL_FIELDS`):
``name`` (its symbol, parent and the names a module chunk binds), ``path`` and
``body`` (signature, header, text), each the code-aware token string of
:mod:`conexus.tokens`. The SQLite backend hands these strings to FTS5; the
PostgreSQL backend splits them here (:func:`field_tokens`) the way FTS5's
``unicode61`` tokenizer does, so both count the same tokens, and scores them
with the same BM25 (:data:`FIELD_WEIGHTS`, :data:`BM25_K1`, :data:`BM25_B`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from conexus.errors import QueryError
from conexus.models import Chunk
from conexus.store.base import LEXICAL_FIELDS
from conexus.tokens import path_tokens, token_string

#: BM25 weights of the fields, in :data:`~conexus.store.base.LEXICAL_FIELDS` order: symbol
#: names matter most, then the path, then the body.
FIELD_WEIGHTS = (4.0, 2.0, 1.0)
#: FTS5's bm25() constants (its defaults), used by every backend.
BM25_K1 = 1.2
BM25_B = 0.75

# Names bound at the top of a module chunk: Python/Ruby assignments, JS/TS/Go/Rust declarations.
_MODULE_NAME = re.compile(
    r"^(?:export\s+)?(?:(?:pub\s+)?(?:const|let|var|static|type)\s+(?:mut\s+)?)?([A-Za-z_][A-Za-z0-9_]*)"
    r"\s*(?::[^=\n]{0,80})?=(?!=)",
    re.M,
)
# unicode61 with tokenchars '_': letters, digits and '_' make tokens, everything else separates.
_FTS_TOKEN = re.compile(r"\w+")


def defined_names(chunk: Chunk) -> list[str]:
    """Top-level names a module chunk binds (``builtin_str = str``), so lookups of them find it."""
    if chunk.kind != "module":
        return []
    return _MODULE_NAME.findall(chunk.text)[:200]


def symbol_names(chunk: Chunk) -> list[str]:
    """The names a symbol lookup finds the chunk by: its symbol, then the module-level names it binds."""
    return ([chunk.symbol] if chunk.symbol else []) + defined_names(chunk)


def fts_columns(path: str, chunk: Chunk) -> tuple[str, str, str]:
    """The (name, path, body) token strings indexed for a chunk. Deterministic: used for deletes too."""
    name = token_string([chunk.symbol or "", chunk.parent or "", " ".join(defined_names(chunk))])
    body = token_string([chunk.signature or "", chunk.header, chunk.text])
    return name, path_tokens(path), body


def check_fields(fields: Sequence[str] | None) -> None:
    """Refuse lexical fields that are not :data:`conexus.store.base.LEXICAL_FIELDS` (or an empty list).

    Raises:
        QueryError: naming the unknown fields and the valid ones.
    """
    if fields is not None:
        unknown = [f for f in fields if f not in LEXICAL_FIELDS]
        if unknown or not fields:
            raise QueryError(f"unknown lexical fields {unknown or list(fields)}; use {list(LEXICAL_FIELDS)}")


def _fold(token: str) -> str:
    """A token as FTS5's ``unicode61 remove_diacritics 2`` keeps it: lower case, no diacritics."""
    if token.isascii():
        return token.lower()
    decomposed = unicodedata.normalize("NFD", token.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def fts_split(text: str) -> list[str]:
    """The tokens FTS5's ``unicode61`` tokenizer (``_`` a token character) reads in ``text``.

    For the strings :func:`fts_columns` builds this is splitting at spaces; for a
    query term it is how FTS5 reads a quoted string (``"a OR b"`` is the phrase
    ``a or b``; ``"*"`` holds no token).
    """
    return [_fold(t) for t in _FTS_TOKEN.findall(text)]


def field_tokens(path: str, chunk: Chunk) -> tuple[list[str], list[str], list[str]]:
    """The (name, path, body) token lists indexed for a chunk, in order (positions count)."""
    name, path_str, body = fts_columns(path, chunk)
    return fts_split(name), fts_split(path_str), fts_split(body)


def query_phrases(terms: Sequence[str]) -> list[tuple[str, ...]]:
    """The phrases of a lexical query of plain ``terms``, as FTS5 reads each quoted term.

    A term of one token is a term; one of several (``"parse header"``) a phrase
    whose tokens must be consecutive in one field; one without a token (``"*"``)
    is an empty phrase, which matches nothing. Empty terms are left out (the
    SQLite builder skips them too); repeats are kept: FTS5 scores each.
    """
    return [tuple(fts_split(term)) for term in terms if term]
