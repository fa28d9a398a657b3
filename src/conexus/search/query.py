"""Query analysis: turn any string into a safe, weighted query plan. Pure, no I/O.

Every string is a valid query. The lexical terms are tokens of ``[a-z0-9_]``
and non-ASCII letters; the store quotes each one when it builds its own query
syntax, so no user text can reach it (operators, column filters, unbalanced quotes).

Long natural-language queries (issue texts) carry exact signals worth more
than their words: file paths, dotted names, identifiers in backticks or code
blocks, traceback frames and error lines. ``analyze`` extracts them so the
engine can match them against symbols and paths directly.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from conexus.tokens import index_form, iter_code_tokens, split_identifier, stem, token_string

MAX_QUERY_CHARS = 200_000
MAX_LEXICAL_TERMS = 48
#: Longest token sequence a short code-like query is matched as a phrase with (issue #12, part 4).
MAX_PHRASE_TOKENS = 64
#: Code punctuation that makes a short query a fragment of code rather than words. Not the dot
#: alone: a dotted name (``Session.send``) is a symbol lookup, and as a phrase it matches its
#: callers; words with a dotted name or an identifier among them (``from a.b import c``) are code.
_FRAGMENT_MARKS = frozenset("()=[]{},:<>")
#: Fewest tokens a fragment needs: two (``foo(bar``) match too much to be evidence.
MIN_PHRASE_TOKENS = 3
COMMON_TERM_SHARE = 0.2
# In a very large index FTS5 must score every chunk that holds any query term (~1-2 µs each on
# this hardware). Past LARGE_INDEX_CHUNKS, terms are kept rarest first while their summed
# document frequencies stay within POSTINGS_BUDGET (the rarest term is always kept); the dropped,
# commoner words still reach the vector side. Smaller indexes are never affected.
LARGE_INDEX_CHUNKS = 250_000
POSTINGS_BUDGET = 25_000

# English function words and issue-template noise; never sent to BM25 alone.
STOPWORDS: frozenset[str] = frozenset(
    " ".join(
        (
            "a about above after again against all also am an and any are as at be because been before being",
            "below between both but by can could did do does doing done down during each either else even",
            "ever every few for from further get gets got had has have having he her here hers him his how i",
            "if in into is it its itself just let like ll me more most my no nor not now of off on once only",
            "or other our out over own please re same she should so some such than that the their them then",
            "there these they this those through to too under until up us use used using very via was way we",
            "were what when where which while who whom why will with would you your yours thanks thank hi",
            "hello issue bug expected actual behavior behaviour description steps reproduce version versions",
            "code example output error result results following seems think want need trying try tried work",
            "works working see also however instead something anything one two new make makes",
        )
    ).split()
)

_TEST_WORDS = frozenset({"test", "pytest", "unittest", "spec", "fixtur"})
_DOC_WORDS = frozenset({"doc", "docs", "document", "readm", "guid", "tutori", "changelog", "docstr"})

_PATH = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.(?:py|pyi|js|jsx|ts|tsx|go|rs|java|c|h|cc|cpp|hpp|"
    r"cs|rb|php|kt|kts|swift|scala|sh|bash|md|rst|toml|ya?ml|json|cfg|ini|txt))\b"
)
_SLASH_PATH = re.compile(r"(?<![\w/.-])((?:[\w.-]+/){1,}[\w.-]+)")
_DOTTED = re.compile(r"\b([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)\b")
_BACKTICK = re.compile(r"`([^`\n]{1,200})`")
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
_TRACE_FRAME = re.compile(r'File "([^"]+)", line (\d+)(?:, in ([\w<>]+))?')
_ERROR_LINE = re.compile(r"^\s*([A-Z][\w.]*(?:Error|Exception|Warning|Exit|Interrupt))\b:?\s*(.*)$", re.M)
_CALL = re.compile(r"\b([A-Za-z_][\w]*)\s*\(")
_WORDISH = re.compile(r"\w+", re.UNICODE)
_IDENT = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\b")


def is_code_identifier(word: str) -> bool:
    """True for words that look like code rather than prose: snake_case, camelCase, CONSTANTS, dunders."""
    if len(word) < 3:
        return False
    if "_" in word.strip("_"):
        return True
    if word.startswith("__") and word.endswith("__"):
        return True
    has_lower = any(c.islower() for c in word)
    has_upper_inside = any(c.isupper() for c in word[1:])
    # camelCase / PascalCase with humps
    return has_lower and has_upper_inside


@dataclass(frozen=True)
class QueryPlan:
    """What the engine runs for one query."""

    text: str
    terms: dict[str, float]  # token -> weight (query-side tf x signal weight)
    identifiers: tuple[str, ...]  # exact code names worth a symbol lookup
    paths: tuple[str, ...]  # file paths or path fragments mentioned
    is_long: bool
    semantic_text: str  # what the embedding model sees (trimmed)
    error_lines: tuple[str, ...] = field(default=())
    wants_tests: bool = False  # the query is about tests: do not damp test files
    wants_docs: bool = False  # the query is about documentation: do not damp prose
    # Index tokens of the compound identifiers the query names (``TimeoutSauce`` ->
    # ``timeoutsauce``): the index keeps those whole, so a chunk holding one holds the name itself.
    exact: tuple[str, ...] = field(default=())
    # A short query that reads as code (``TimeoutSauce(connect=connect, read=read)``), as the
    # index tokens of its words in order: the chunks holding exactly that text.
    phrase: tuple[str, ...] = field(default=())

    def rare_exact(self, doc_freq: dict[str, int], max_df: int) -> list[str]:
        """The :attr:`exact` tokens found in at least one and at most ``max_df`` chunks, rarest first.

        A name that occurs in a handful of chunks says where to look far more surely than
        its words do; one found everywhere (``self_``-style helpers) says nothing more.
        """
        found = [(doc_freq.get(t, 0), t) for t in self.exact]
        return [t for df, t in sorted(found) if 0 < df <= max_df]

    def lexical_terms(self, doc_freq: dict[str, int] | None = None, n_docs: int = 0) -> list[str]:
        """The terms for the lexical retriever (any of them matches), best first. Empty when
        nothing is searchable.

        With document frequencies, terms absent from the index are dropped, the
        rest ranked by weight x idf and capped at ``MAX_LEXICAL_TERMS``. Terms found in
        more than ``COMMON_TERM_SHARE`` of the chunks (``self``, ``def``, ``return``)
        are dropped while rarer terms remain: they barely change a BM25 ranking but
        make FTS5 score most of the index (the cause of slow lexical tails at scale).
        Past ``LARGE_INDEX_CHUNKS`` chunks the kept terms must also fit ``POSTINGS_BUDGET``.
        """
        if not self.terms:
            return []
        scored: list[tuple[float, str]] = []
        common: list[tuple[int, str]] = []
        for term, weight in self.terms.items():
            if doc_freq is not None:
                df = doc_freq.get(term, 0)
                if df == 0:
                    continue
                if n_docs >= 1000 and df > n_docs * COMMON_TERM_SHARE:
                    common.append((df, term))
                    continue
                idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) if n_docs else 1.0
                scored.append((weight * idf, term))
            else:
                scored.append((weight, term))
        if not scored and common:
            # Nothing but common words: the two rarest of them still find something.
            scored = [(1.0 / df, term) for df, term in sorted(common)[:2]]
        scored.sort(key=lambda x: (-x[0], x[1]))
        chosen = [t for _, t in scored[:MAX_LEXICAL_TERMS]]
        if doc_freq is not None and n_docs > LARGE_INDEX_CHUNKS:
            chosen = _within_budget(chosen, doc_freq)
        return chosen


def _within_budget(terms: list[str], doc_freq: dict[str, int]) -> list[str]:
    """``terms`` (order kept) whose summed document frequencies, rarest first, fit ``POSTINGS_BUDGET``."""
    keep: set[str] = set()
    total = 0
    for term in sorted(terms, key=lambda t: (doc_freq.get(t, 0), t)):
        df = doc_freq.get(term, 0)
        if keep and total + df > POSTINGS_BUDGET:
            break
        keep.add(term)
        total += df
    return [t for t in terms if t in keep]


def _clean(text: str) -> str:
    text = text[:MAX_QUERY_CHARS]
    # Drop NULs and other control characters except newlines and tabs.
    return "".join(ch for ch in text if ch in "\n\t" or ch >= " ")


def analyze(query: str) -> QueryPlan:
    """Build a :class:`QueryPlan` from any string. Never raises."""
    text = _clean(query)
    is_long = len(text) > 300 or text.count("\n") > 3

    identifiers: Counter[str] = Counter()
    paths: list[str] = []
    errors: list[str] = []

    code_spans = [m.group(1) for m in _FENCE.finditer(text)] + [m.group(1) for m in _BACKTICK.finditer(text)]
    for m in _TRACE_FRAME.finditer(text):
        paths.append(m.group(1))
        if m.group(3) and not m.group(3).startswith("<"):
            identifiers[m.group(3)] += 2
    for m in _PATH.finditer(text):
        paths.append(m.group(1))
    for m in _SLASH_PATH.finditer(text):
        frag = m.group(1)
        if "://" not in text[max(0, m.start() - 8) : m.start() + 3] and not frag.startswith("http"):
            paths.append(frag)
    for m in _ERROR_LINE.finditer(text):
        errors.append(m.group(0).strip()[:300])
        identifiers[m.group(1).split(".")[-1]] += 1
    for m in _DOTTED.finditer(text):
        dotted = m.group(1)
        parts = dotted.split(".")
        if parts[-1] in {"py", "js", "ts", "go", "rs", "md", "rst", "txt", "com", "org", "io", "html"}:
            continue
        for p in parts:
            if len(p) >= 3:
                identifiers[p] += 1
    for span in code_spans:
        for m in _IDENT.finditer(span):
            w = m.group(1)
            if len(w) >= 3 and w.lower() not in STOPWORDS:
                identifiers[w] += 1
    for m in _CALL.finditer(text):
        w = m.group(1)
        if len(w) >= 3 and w.lower() not in STOPWORDS:
            identifiers[w] += 1
    for m in _IDENT.finditer(text):
        w = m.group(1)
        if is_code_identifier(w):
            identifiers[w] += 1

    terms: dict[str, float] = {}
    for m in _WORDISH.finditer(text):
        word = m.group(0)
        if word.lower() in STOPWORDS:  # checked before stemming: "followed" is no "following"
            continue
        for tok in iter_code_tokens(word):
            if len(tok) >= 2:
                terms[tok] = terms.get(tok, 0.0) + 1.0
    # Query-side tf saturates: a word repeated 20 times in a pasted log is not 20x as important.
    terms = {t: 1.0 + math.log(w) for t, w in terms.items()}
    for ident, count in identifiers.items():
        if ident.lower() in STOPWORDS:
            continue
        low = index_form(ident)
        terms[low] = terms.get(low, 1.0) + 1.0 + math.log(count)
        for part in split_identifier(ident):
            part = stem(part)
            if part in terms:
                terms[part] += 0.25
    for p in paths:
        base = p.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        if base and base.lower() not in STOPWORDS and len(base) > 1:
            key = index_form(base)
            terms[key] = terms.get(key, 1.0) + 1.0

    semantic = " ".join(text.split())[:2000]
    lowered = set(iter_code_tokens(text[:2000]))
    wants_tests = bool(lowered & _TEST_WORDS)
    wants_docs = bool(lowered & _DOC_WORDS)
    ordered_idents = tuple(i for i, _ in identifiers.most_common(64))
    uniq_paths = tuple(dict.fromkeys(paths))[:32]
    exact = tuple(
        dict.fromkeys(
            index_form(i)
            for i in ordered_idents
            if i.lower() not in STOPWORDS and len(split_identifier(i)) > 1 and len(i) <= 64
        )
    )
    phrase: tuple[str, ...] = ()
    words = text.split()
    code_like = _FRAGMENT_MARKS.intersection(text) or (
        len(words) > 1 and any("." in w or is_code_identifier(w) for w in words)
    )
    if not is_long and code_like:
        tokens = token_string([text]).split()
        if MIN_PHRASE_TOKENS <= len(tokens) <= MAX_PHRASE_TOKENS:
            phrase = tuple(tokens)
    return QueryPlan(
        text=text,
        terms=terms,
        identifiers=ordered_idents,
        paths=uniq_paths,
        is_long=is_long,
        semantic_text=semantic,
        error_lines=tuple(errors[:8]),
        wants_tests=wants_tests,
        wants_docs=wants_docs,
        exact=exact,
        phrase=phrase,
    )
