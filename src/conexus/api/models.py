"""The typed inputs and outputs of every operation, shared by MCP, REST and the CLI.

Inputs are strict (``extra="forbid"``, no type coercion): a model that sends a
wrong argument gets told which one and why. Field descriptions are what an
assistant reads in the tool schema and what the OpenAPI document shows, so
they are written for it. Outputs are built by the operations
(:mod:`conexus.api.operations`) and rendered as JSON by every transport.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from conexus.api.limits import (
    DEFAULT_MAX_WAIT_S,
    MAX_LIST_ITEMS,
    MAX_OFFSET,
    MAX_PATH_CHARS,
    MAX_QUERY_CHARS,
    MAX_TOP_K,
)
from conexus.search.read import MAX_LINES_LIMIT

MAX_PATH_LIST = 10_000  # paths one reindex_paths request may name

INDEX_STATE = (
    "ready | indexing (an index job is applying changes: results may be incomplete or stale) | "
    "partial (the first build was interrupted: results cover part of the tree; start indexing) | empty"
)


RootArg = Annotated[
    str | None,
    Field(
        default=None,
        max_length=MAX_PATH_CHARS,
        description=(
            "Which served root (repository) to use: its name or absolute path, as listed by "
            "context_index_control action=status. Omit to use the default (first) root."
        ),
    ),
]
PathArg = Annotated[str, Field(min_length=1, max_length=4 * MAX_PATH_CHARS)]  # confine() has the real limit
GlobList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=1000)]],
    Field(default_factory=list, max_length=MAX_LIST_ITEMS),
]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class WorkContextArgs(_Args):
    active_file: PathArg | None = Field(
        default=None, description="The file the user is editing (root-relative); its hits rank higher."
    )
    open_files: list[PathArg] = Field(
        default_factory=list,
        max_length=MAX_LIST_ITEMS,
        description="Other files open in the editor (root-relative); their hits rank a little higher.",
    )


class SearchArgs(_Args):
    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description=(
            "What to find: a natural-language question ('where are HTTP retries configured'), "
            "identifiers ('parse_header_links', 'Session.send'), a file name, or a mix."
        ),
    )
    top_k: int = Field(default=10, ge=1, le=MAX_TOP_K, description="How many hits to return (1-100).")
    offset: int = Field(
        default=0, ge=0, le=MAX_OFFSET, description="Skip this many hits (paging). Prefer cursor."
    )
    cursor: Annotated[str, Field(max_length=512)] | None = Field(
        default=None,
        description="next_cursor from a previous context_search with the same query and filters.",
    )
    paths: GlobList = Field(
        description="Only files matching these gitignore-style globs, e.g. ['src/**', '!**/tests/**'] "
        "(a leading ! excludes)."
    )
    languages: GlobList = Field(description="Only these languages, e.g. ['python', 'typescript'].")
    kinds: GlobList = Field(
        description="Only these chunk kinds, e.g. ['function', 'method', 'class', 'interface', 'section']."
    )
    work_context: WorkContextArgs | None = Field(
        default=None, description="Where the user is working; hits in those files rank higher."
    )
    max_chars: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="Budget for all snippets together, in characters; snippets are trimmed to fit.",
    )
    snippet_lines: int = Field(default=30, ge=0, le=500, description="Lines of code per hit (0 for none).")
    root: RootArg


class LocalizeArgs(_Args):
    issue: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description=(
            "The whole issue text, pasted as is: the bug report or feature request with its title, "
            "steps to reproduce, expected and actual behaviour, stack traces, failing test output "
            "or error messages. More detail (names, messages, paths) localizes better."
        ),
    )
    max_files: int = Field(
        default=5, ge=1, le=20, description="How many files to return, most likely first (1-20)."
    )
    max_locations: int = Field(
        default=10,
        ge=1,
        le=50,
        description="How many functions/methods (or module-level blocks) to return, best first (1-50).",
    )
    root: RootArg


class RelatedArgs(_Args):
    target: str = Field(
        min_length=1,
        max_length=MAX_PATH_CHARS,
        description=(
            "A root-relative file path (optionally path:line or path:start-end to focus on the symbol "
            "there), or a symbol name, plain or qualified (parse_url, Session.send)."
        ),
    )
    limit: int = Field(default=20, ge=1, le=200, description="At most this many items per section.")
    root: RootArg


class ExplainArgs(_Args):
    target: str = Field(
        min_length=1,
        max_length=10_000,
        description="A symbol (Session.send), a root-relative file path, or a question about the code.",
    )
    limit: int = Field(default=8, ge=1, le=50, description="At most this many claims per section.")
    root: RootArg


class GrepArgs(_Args):
    pattern: str = Field(
        min_length=1,
        max_length=10_000,
        description="A regular expression (Python/PCRE-like syntax), or plain text with literal=true.",
    )
    literal: bool = Field(default=False, description="Match the pattern as plain text, not as a regex.")
    case_sensitive: bool = Field(default=True, description="Set false to ignore case.")
    paths: GlobList = Field(
        description="Only files matching these gitignore-style globs (a leading ! excludes), "
        "e.g. ['**/*.py']."
    )
    context_lines: int = Field(default=0, ge=0, le=20, description="Lines of context before and after.")
    max_results: int = Field(default=100, ge=1, le=2000, description="Stop after this many matching lines.")
    root: RootArg


class ReadArgs(_Args):
    path: PathArg = Field(description="Root-relative path of the file, as cited by other tools.")
    start_line: int | None = Field(default=None, ge=1, description="First line (1-based). Default 1.")
    end_line: int | None = Field(
        default=None, ge=1, description="Last line, inclusive. Default: end of file."
    )
    max_lines: int = Field(
        default=400, ge=1, le=MAX_LINES_LIMIT, description="At most this many lines per call."
    )
    root: RootArg


IndexAction = Literal["status", "start", "stop", "reindex", "reindex_paths", "rebuild", "clear"]


class IndexControlArgs(_Args):
    action: IndexAction = Field(
        description=(
            "status: phase, progress, counts, skipped files by reason, last run, stale files, jobs. "
            "start: index incrementally now (joins a running job). reindex: a new incremental pass over "
            "the whole tree. reindex_paths: re-index just `paths`. rebuild: drop the index and build it "
            "from scratch (use when status says incompatible). stop: stop the running job. "
            "clear: delete the index; automatic indexing pauses until start/reindex/rebuild."
        )
    )
    paths: list[PathArg] = Field(
        default_factory=list,
        max_length=MAX_PATH_LIST,
        description="For reindex_paths: root-relative files or folders to re-index.",
    )
    wait: bool = Field(
        default=True,
        description="For start/reindex/reindex_paths/rebuild: wait for the job (progress is reported).",
    )
    max_wait_s: float = Field(
        default=DEFAULT_MAX_WAIT_S,
        ge=0,
        le=3600,
        description="With wait: return after this many seconds; the job keeps running.",
    )
    root: RootArg


class ConnectorArgs(_Args):
    action: Literal["list", "add", "update", "remove"] = Field(description="What to do.")
    id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="For update/remove: the connector id from action=list."
    )
    kind: Literal["filesystem", "git"] | None = Field(
        default=None,
        description=(
            "For add. filesystem: serve another folder as a root (own index and watcher). "
            "git: use the git history of a served root (co-change and recent commits in related info)."
        ),
    )
    path: PathArg | None = Field(
        default=None,
        description="For add. filesystem: absolute folder path. "
        "git: name or path of a served root (default: the first).",
    )
    enabled: bool | None = Field(default=None, description="Turn the connector on or off.")
    options: dict[str, Any] | None = Field(
        default=None,
        description="Kind-specific options, e.g. {'max_commits': 500} for git. "
        "Secrets are never echoed back.",
    )
    keep_index: bool = Field(
        default=False,
        description="For remove (kind=filesystem): keep the folder's index in the data home "
        "(by default it is deleted with the connector).",
    )


# ====================================================================================== outputs


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class FreshnessOut(_Out):
    indexed_hash: str
    state: str = Field(description="fresh | modified | deleted")


class HitOut(_Out):
    path: str
    start_line: int
    end_line: int
    citation: str = Field(description="path:start-end")
    language: str
    kind: str
    symbol: str | None
    parent: str | None
    signature: str | None
    score: float = Field(description="Fused rank score: only the order within one result means anything")
    snippet: str
    freshness: FreshnessOut
    signals: dict[str, float] = Field(
        default_factory=dict,
        description="The hit's rank (1 = best) in each retriever that found it: bm25 (keywords), "
        "vector (meaning), symbol (exact symbol name), exact (a rare identifier the query names), "
        "phrase (the query's code fragment, verbatim), path (a file the query names)",
    )


class ConfidenceOut(_Out):
    score: float = Field(
        description="How likely the hits hold what was asked for, 0-1 (a logistic model fitted on real "
        "queries: about that share of results with this score had a relevant hit among the first five)"
    )
    label: str = Field(description="high (>= 0.8) | medium (>= 0.5) | low (>= 0.2) | none")
    no_good_match: bool = Field(
        description="True when nothing matched well (score < 0.5): what was asked for may not exist in "
        "this codebase. Say so, or search with other words, rather than build on these hits"
    )
    reason: str = Field(
        description="One sentence on why: the query terms the best hit covers, any the index lacks"
    )
    signals: dict[str, Any] = Field(
        description="The measurements behind the score: coverage and absent (idf-weighted shares of the "
        "query terms in the best hit, and in no chunk at all), cosine (best meaning similarity), exact (an "
        "exact symbol/identifier/fragment/path match on top), agree (keywords and meaning agree on the top "
        "hit), gap (how far hit 1 stands above hit 10), long_query, n_terms, covered_terms, missing_terms"
    )


class SearchOut(_Out):
    root: str
    query: str
    hits: list[HitOut]
    total_candidates: int
    took_ms: float
    index_state: str = Field(description=INDEX_STATE)
    offset: int
    next_cursor: str | None
    confidence: ConfidenceOut | None = Field(
        default=None, description="Whether the hits match well (absent only while a first index is built)"
    )
    notice: str | None = Field(
        default=None,
        description="Present when meaning search could not run (the embedding model or provider failed): "
        "the hits come from keywords, names and paths only; rephrase with the code's own words",
    )


class LocalizedFileOut(_Out):
    path: str
    rank: int = Field(description="1 for the most likely file")
    score: float
    freshness: str = Field(description="fresh | modified | deleted | unindexed")


class LocationOut(_Out):
    path: str
    symbol: str = Field(description="Class.method, function, or '' for module-level code")
    start_line: int
    end_line: int
    citation: str = Field(description="path:start-end")
    rank: int = Field(description="1 for the most likely place to change")
    score: float
    freshness: str = Field(
        description="fresh | modified | deleted | unindexed: anything but fresh means the lines may "
        "have moved since indexing; re-read with context_read"
    )


class LocalizeOut(_Out):
    root: str
    issue_chars: int = Field(description="Length of the issue text that was localized")
    files: list[LocalizedFileOut]
    locations: list[LocationOut]
    files_considered: int = Field(description="How many files matched the issue at all")
    took_ms: float
    index_state: str = Field(description=INDEX_STATE)
    confidence: ConfidenceOut | None = Field(
        default=None,
        description="Whether the issue matched the code well, from the search localization starts with "
        "(absent only while a first index is built)",
    )
    notice: str | None = Field(
        default=None,
        description="Present when meaning search could not run (the embedding model or provider failed): "
        "the hits come from keywords, names and paths only; rephrase with the code's own words",
    )


class CitedOut(_Out):
    path: str
    start_line: int
    end_line: int
    citation: str


class RelatedOut(_Out):
    root: str
    target: str
    target_kind: str
    files: list[str]
    definitions: list[CitedOut]
    imports: list[CitedOut]
    importers: list[CitedOut]
    references: list[CitedOut]
    tests: list[CitedOut]
    co_changes: list[CitedOut]
    recent_commits: list[dict[str, Any]]
    notes: list[str]
    index_state: str = Field(description=INDEX_STATE)
    git_history: bool = Field(description="co_changes and recent_commits are filled only when true")


class ExplainOut(_Out):
    root: str
    target: str
    target_kind: str
    subjects: list[dict[str, Any]]
    outline: list[CitedOut]
    hits: list[CitedOut]
    dropped: int
    notes: list[str]
    index_state: str = Field(description=INDEX_STATE)


class GrepMatchOut(_Out):
    path: str
    line: int
    column: int
    citation: str
    text: str
    before: list[str]
    after: list[str]


class GrepOut(_Out):
    root: str
    pattern: str
    matches: list[GrepMatchOut]
    files_searched: int
    files_matched: int
    files_skipped: int
    truncated: bool
    timed_out: bool
    took_ms: float
    index_state: str = Field(description=INDEX_STATE)


class ReadLineOut(_Out):
    line: int
    text: str


class ReadOut(_Out):
    root: str
    path: str
    start_line: int
    end_line: int
    citation: str
    total_lines: int
    lines: list[ReadLineOut]
    freshness: str = Field(description="fresh | modified | unindexed | deleted")
    freshness_note: str | None = Field(
        default=None,
        description="Set when this server has no working tree: the text is the last indexed one and "
        "freshness is relative to that index",
    )
    truncated: bool
    next_start: int | None


class StatusArgs(_Args):
    check_stale: bool = Field(
        default=True, description="Also compare every indexed file with the disk (counts stale files)."
    )
    root: RootArg


class StatusOut(_Out):
    root: str
    index_state: str = Field(description=INDEX_STATE)
    message: str = Field(description="A readable summary of the status")
    status: dict[str, Any] = Field(
        description="Phase, progress, counts, languages, skipped files by reason, last run (status "
        "interrupted when its process died), partial, identity, stale files, working_tree and "
        "freshness_basis (what freshness is relative to), jobs and watcher state"
    )
    roots: list[dict[str, Any]] = Field(description="Every served root: name, path, source, watcher")


class IndexControlOut(_Out):
    root: str
    action: str
    index_state: str = Field(description=INDEX_STATE)
    message: str
    status: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    jobs: list[dict[str, Any]] | None = None
    roots: list[dict[str, Any]] | None = None


class ConnectorOut(_Out):
    action: str
    message: str
    connector: dict[str, Any] | None = None
    connectors: list[dict[str, Any]]
    roots: list[dict[str, Any]]
