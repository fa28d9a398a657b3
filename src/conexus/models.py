"""Domain data: frozen dataclasses with no I/O.

Every layer speaks these types. Paths are always POSIX strings relative to the
indexed root; line numbers are 1-based and inclusive on both ends, so a hit's
citation is ``f"{path}:{start_line}-{end_line}"``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum


def content_hash(text: str) -> str:
    """Return the hex BLAKE2b-128 digest of ``text`` (UTF-8).

    Used for files (freshness, incremental indexing) and chunks (the embedding
    cache key), so one function keeps the two consistent.
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def decode_text(data: bytes) -> tuple[str, bool]:
    """Decode file bytes the one way Conexus reads source: UTF-8 without BOM, newlines normalised.

    Invalid UTF-8 is decoded with replacement characters (such files stay searchable).
    Returns ``(text, had_invalid_utf8)``; the text's :func:`content_hash` is the file hash.
    """
    try:
        text = data.decode("utf-8")
        invalid = False
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="replace")
        invalid = True
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, invalid


class SkipReason(StrEnum):
    """Why the walker or the indexer left a file out. Shown in the index status."""

    IGNORED = "ignored"  # matched .gitignore / .conexusignore / default or configured excludes
    BINARY = "binary"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    SYMLINK_OUTSIDE_ROOT = "symlink_outside_root"
    SYMLINK_LOOP = "symlink_loop"
    NOT_REGULAR = "not_regular"  # sockets, fifos, devices
    GENERATED = "generated"  # minified or machine-generated content
    CHUNK_ERROR = "chunk_error"  # the chunker failed on this file (bug or pathological input)
    DUPLICATE_LINK = "duplicate_link"  # the same file (device and inode) is indexed at another path
    SECRET = "secret"  # holds credentials, by name or content (index_secrets opts in)


#: Every kind of chunk the chunker emits: symbols (functions, methods, containers, one-line
#: types, macros), ``module`` code between symbols, prose ``section``s and line ``window``s.
#: Search filters accept exactly these (tests/indexing/test_chunker.py checks the chunker).
CHUNK_KINDS: frozenset[str] = frozenset(
    {
        "function", "method", "class", "interface", "struct", "enum", "trait", "impl", "object",
        "protocol", "extension", "union", "namespace", "module", "type", "macro", "section", "window",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Chunk:
    """A contiguous slice of one file: a symbol, part of a symbol, or the code between symbols.

    ``header`` carries context that is not inside the line range but helps
    retrieval: for the second part of a split function it holds the function's
    signature line(s); for a method it may hold the class line. It is indexed
    and embedded, never cited.
    """

    path: str
    start_line: int
    end_line: int
    language: str
    kind: str  # function | method | class | interface | struct | enum | module | section | window | ...
    text: str
    symbol: str | None = None
    parent: str | None = None  # qualified parent, e.g. "Outer.Inner" for a method of Inner
    signature: str | None = None
    docstring: str | None = None
    header: str = ""

    @property
    def qualified_name(self) -> str | None:
        """``Parent.symbol`` when both are known, else the symbol (or None)."""
        if self.symbol and self.parent:
            return f"{self.parent}.{self.symbol}"
        return self.symbol

    @property
    def citation(self) -> str:
        """``path:start-end``."""
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def hash(self) -> str:
        """Content hash of everything that is embedded: the cache key of this chunk's vector."""
        return content_hash(self.embedding_text())

    def embedding_text(self) -> str:
        """The text given to the embedding model: path, symbol context, then the code."""
        parts = [self.path]
        if self.qualified_name:
            parts.append(f"{self.kind} {self.qualified_name}")
        if self.header:
            parts.append(self.header)
        parts.append(self.text)
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class ImportRef:
    """One import statement as written in a file (what the indexer extracts and the store keeps).

    ``specifier`` is the module text (``pkg.mod``, ``./format``, ``crate::a::b``),
    ``names`` what a ``from ... import`` (or a Java wildcard) brings in, ``level``
    the leading dots of a Python relative import; ``line..end_line`` cite the
    whole statement.
    """

    line: int
    end_line: int
    specifier: str
    names: tuple[str, ...] = ()
    level: int = 0


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file the walker or reader left out, and why."""

    path: str
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Freshness:
    """Whether the text a hit cites is still what is on disk.

    For a hit in a ``modified`` file, ``relocated`` says whether the indexed text
    was found in the current file: True means the hit's lines are where that text
    is now (``moved_from`` holds the indexed lines when they differ); False means
    the lines changed, and ``note`` says so. Both are None for fresh and deleted files.
    """

    indexed_hash: str
    state: str  # "fresh" | "modified" | "deleted"
    relocated: bool | None = None
    moved_from: tuple[int, int] | None = None  # (start_line, end_line) at indexing time
    note: str | None = None

    @property
    def is_fresh(self) -> bool:
        return self.state == "fresh"

    def to_dict(self) -> dict[str, object]:
        """``indexed_hash`` and ``state``, plus ``relocated``/``moved_from``/``note`` when known."""
        out: dict[str, object] = {"indexed_hash": self.indexed_hash, "state": self.state}
        if self.relocated is not None:
            out["relocated"] = self.relocated
        if self.moved_from is not None:
            out["moved_from"] = {"start_line": self.moved_from[0], "end_line": self.moved_from[1]}
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: a chunk with its score and where the score came from."""

    chunk_id: int
    path: str
    start_line: int
    end_line: int
    language: str
    kind: str
    symbol: str | None
    parent: str | None
    signature: str | None
    score: float
    snippet: str
    freshness: Freshness
    signals: dict[str, float] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready rendering used by the CLI ``--json`` output and the servers."""
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "citation": self.citation,
            "language": self.language,
            "kind": self.kind,
            "symbol": self.symbol,
            "parent": self.parent,
            "signature": self.signature,
            "score": round(self.score, 6),
            "snippet": self.snippet,
            "freshness": self.freshness.to_dict(),
            "signals": {k: round(v, 6) for k, v in self.signals.items()},
        }


@dataclass(frozen=True, slots=True)
class ConfidenceSignals:
    """What a search measured about its own result (see :mod:`conexus.search.confidence`)."""

    coverage: float
    absent: float
    cosine: float | None
    exact: bool
    agree: bool
    gap: float
    long_query: bool
    n_terms: int = 0  # distinct query terms
    covered_terms: int = 0  # of them, in the best-covering hit
    missing_terms: tuple[str, ...] = field(default=())  # query terms no chunk contains, rarest first

    def to_dict(self) -> dict[str, object]:
        return {
            "coverage": round(self.coverage, 4),
            "absent": round(self.absent, 4),
            "cosine": None if self.cosine is None else round(self.cosine, 4),
            "exact": self.exact,
            "agree": self.agree,
            "gap": round(self.gap, 4),
            "long_query": self.long_query,
            "n_terms": self.n_terms,
            "covered_terms": self.covered_terms,
            "missing_terms": list(self.missing_terms),
        }


@dataclass(frozen=True, slots=True)
class Confidence:
    """How likely the result holds a good match, with a label and the reason in one sentence."""

    score: float
    label: str  # high | medium | low | none
    no_good_match: bool
    reason: str
    signals: ConfidenceSignals

    def to_dict(self) -> dict[str, object]:
        return {
            "score": round(self.score, 4),
            "label": self.label,
            "no_good_match": self.no_good_match,
            "reason": self.reason,
            "signals": self.signals.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The answer to one query."""

    query: str
    hits: tuple[Hit, ...]
    total_candidates: int
    took_ms: float
    index_state: str  # "ready" | "indexing" | "empty"
    confidence: Confidence | None = None  # None only for results built without a ranking
    # Set when meaning (vector) search could not run for this query (the embedder failed, timed
    # out or cannot load): why, and that the hits come from keywords, names and paths only.
    notice: str | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "query": self.query,
            "hits": [h.to_dict() for h in self.hits],
            "total_candidates": self.total_candidates,
            "took_ms": round(self.took_ms, 3),
            "index_state": self.index_state,
        }
        if self.confidence is not None:
            out["confidence"] = self.confidence.to_dict()
        if self.notice is not None:
            out["notice"] = self.notice
        return out
