"""Code-aware tokenisation shared by the index (what FTS5 stores) and the query side.

FTS5's ``unicode61`` tokenizer would see ``parseHeaderLinks`` as one token and
``parse_header_links`` as three. Neither serves code search alone, so we
pre-tokenise in Python: every identifier is kept whole (lower-cased) *and*
split into its camelCase / snake_case / digit parts. The FTS5 table uses
``unicode61`` with ``_`` as a token character, so the strings built here reach
the index unchanged. Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Iterator

import Stemmer

#: Bump when the token stream changes: it is part of the index format.
TOKENIZER_VERSION = "2"

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z0-9])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Non-ASCII letters (identifiers and prose in other scripts) are kept as words too.
_UNICODE_WORD = re.compile(r"[^\W\d_][\w]*", re.UNICODE)

MAX_TOKEN_LEN = 64


_local = threading.local()


def stem(word: str) -> str:
    """The Snowball English stem of a lower-case word (``redirects`` -> ``redirect``).

    Words of three letters or fewer and words with digits are kept as they are.
    PyStemmer objects are not thread-safe, so each thread has its own.
    """
    if len(word) <= 3 or not word.isalpha():
        return word
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = Stemmer.Stemmer("english", 20_000)
        _local.stemmer = stemmer
    result: str = stemmer.stemWord(word)
    return result


def index_form(word: str) -> str:
    """How a whole identifier appears in the index: compounds lower-cased as is, single words stemmed."""
    lower = word.lower().strip("_") or word.lower()
    parts = split_identifier(word)
    if len(parts) > 1:
        return lower
    return stem(lower)


def split_identifier(word: str) -> list[str]:
    """Split ``parseHTTPHeader_v2`` into ``['parse', 'http', 'header', 'v2']`` (lower-cased).

    Returns the parts only; callers add the whole identifier themselves.
    """
    parts: list[str] = []
    for piece in word.split("_"):
        if not piece:
            continue
        for m in _CAMEL.finditer(piece):
            parts.append(m.group(0).lower())
    # Re-join a trailing digit run onto its word: v2, utf8, sha256 read better whole.
    merged: list[str] = []
    for p in parts:
        if p.isdigit() and merged and not merged[-1].isdigit() and len(merged[-1]) <= 4:
            merged[-1] = merged[-1] + p
        else:
            merged.append(p)
    return merged


@functools.lru_cache(maxsize=1 << 18)
def _word_forms(word: str) -> str:
    """The index tokens of one ``_WORD`` match, space-joined ("" for none). Memoised: code repeats words."""
    if len(word) > MAX_TOKEN_LEN:
        word = word[:MAX_TOKEN_LEN]
    lower = word.lower().strip("_") or word.lower()
    if lower.isdigit():
        return lower if len(lower) <= 8 else ""
    parts = split_identifier(word)
    if len(parts) > 1:
        # A compound identifier: kept whole (exact matches) and as stemmed parts.
        return " ".join([lower, *(stem(p) for p in parts if len(p) > 1)])
    return stem(lower)


def _unicode_words(text: str) -> Iterator[str]:
    if not text.isascii():
        for m in _UNICODE_WORD.finditer(text):
            w = m.group(0)
            if not w.isascii():
                yield w.lower()[:MAX_TOKEN_LEN]


def iter_code_tokens(text: str) -> Iterator[str]:
    """Yield index tokens for ``text``: whole identifiers plus their parts, lower-cased."""
    for word in _WORD.findall(text):
        forms = _word_forms(word)
        if forms:
            yield from forms.split(" ")
    yield from _unicode_words(text)


def code_tokens(text: str) -> list[str]:
    """List form of :func:`iter_code_tokens`."""
    return list(iter_code_tokens(text))


def token_string(parts: Iterable[str]) -> str:
    """Join tokens of several texts into the space-separated string stored in FTS5."""
    out: list[str] = []
    for text in parts:
        if not text:
            continue
        for word in _WORD.findall(text):
            forms = _word_forms(word)
            if forms:
                out.append(forms)
        out.extend(_unicode_words(text))
    return " ".join(out)


def path_tokens(path: str) -> str:
    """Tokens for a file path: every segment, the stem, and their identifier parts."""
    return token_string([path.replace("/", " ").replace(".", " ").replace("-", " ")])
