"""The MCP adapter: Conexus tools and resources over the official SDK's low-level ``Server``.

The low-level server is used (not ``MCPServer``) because the tools need what
the decorator layer does not give: input schemas with bounds and
descriptions written for the model, strict argument checking with messages a
model can act on, structured output plus a readable rendering, progress
notifications from index jobs running on other threads, and paginated
resource listings.

Error policy (MCP 2025-11-25, "Error Handling"):

* an unknown tool is a protocol error (``-32602``);
* bad arguments, refused paths and every :class:`~conexus.errors.ConexusError`
  are tool results with ``isError: true`` and a message saying what to change,
  so the model can correct itself;
* anything else is logged with its traceback on stderr and reported as an
  internal error without one.

Paths sent by clients go through :func:`conexus.paths.confine` before use.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import mimetypes
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, cast
from urllib.parse import parse_qs, quote, unquote, urlsplit

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conexus import __version__
from conexus.app.connectors import KINDS as CONNECTOR_KINDS
from conexus.app.connectors import Connector, mask_secrets, validate_options
from conexus.app.service import ConexusService, IndexJob, ServedRoot
from conexus.engine import Engine
from conexus.errors import (
    ConexusError,
    ConfigError,
    EmbeddingError,
    IndexIncompatibleError,
    IndexNotFoundError,
    PathError,
    QueryError,
    StoreError,
)
from conexus.indexing.indexer import walk_options
from conexus.models import decode_text
from conexus.paths import confine
from conexus.search.hybrid import MAX_TOP_K, SearchRequest, WorkContext
from conexus.search.read import MAX_READ_BYTES, looks_binary
from conexus.sources.watcher import files_under

logger = logging.getLogger(__name__)

SERVER_NAME = "conexus"
MAX_QUERY_CHARS = 100_000
MAX_PATH_CHARS = 4096
MAX_ARGUMENT_BYTES = 1_000_000
MAX_LIST_ITEMS = 200
RESOURCE_PAGE_SIZE = 200
RESOURCE_NOT_FOUND = -32002  # MCP: "Resource not found"
FILE_URI_PREFIX = "conexus://file/"
PROGRESS_POLL_S = 0.2
GREP_TIMEOUT_S = 10.0
DEFAULT_MAX_WAIT_S = 300.0

INSTRUCTIONS = """\
Conexus gives you the code of the repositories it serves, with exact citations.
Start with context_search (meaning + keywords + symbol names); every hit cites \
path:start-end and says whether the file changed since indexing. Given a bug report, issue \
or failing test output to fix, use context_localize to get the files and functions most \
likely to need changing. Use context_read to \
read or verify cited lines, context_grep for exact strings or regexes, \
context_get_related_info for imports/importers/references/tests/history of a file or \
symbol, and context_explain for a checked evidence bundle about a symbol, file or question. \
The index follows file edits automatically; context_index_control shows its state. \
Paths are relative to the served root; with several roots, pass `root`."""

# ==================================================================================== arguments

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
    git_branch: Annotated[str, Field(max_length=256)] | None = Field(
        default=None, description="The current git branch, if known."
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
        default=0, ge=0, le=10_000, description="Skip this many hits (paging). Prefer cursor."
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
    max_lines: int = Field(default=400, ge=1, le=10_000, description="At most this many lines per call.")
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
        max_length=10_000,
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
    score: float
    snippet: str
    freshness: FreshnessOut


class SearchOut(_Out):
    root: str
    query: str
    hits: list[HitOut]
    total_candidates: int
    took_ms: float
    index_state: str = Field(description="ready | indexing (results may be incomplete) | empty")
    offset: int
    next_cursor: str | None


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
    index_state: str = Field(description="ready | indexing (results may be incomplete) | empty")


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
    index_state: str
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
    index_state: str


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
    index_state: str


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
    truncated: bool
    next_start: int | None


class IndexControlOut(_Out):
    root: str
    action: str
    index_state: str
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


# ======================================================================================= schemas


def _inline(schema: dict[str, Any], *, for_input: bool) -> dict[str, Any]:
    """Inline ``$ref``s and drop pydantic's titles; for inputs, advertise ``X | None`` as plain ``X``.

    Tool schemas are read by many clients, some of which handle neither
    ``$ref`` nor ``anyOf`` with null (the MCP Inspector's ``--strict`` flags both).
    """
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = walk(dict(defs[node["$ref"].rsplit("/", 1)[-1]]))
            rest = walk({k: v for k, v in node.items() if k != "$ref"})
            return {**target, **rest}
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            out[key] = value if key in ("default", "enum", "const") else walk(value)
        if for_input and isinstance(out.get("anyOf"), list):
            options = [o for o in out["anyOf"] if o.get("type") != "null"]
            if len(options) == 1 and len(options) < len(out["anyOf"]):
                merged = {**options[0], **{k: v for k, v in out.items() if k != "anyOf"}}
                if merged.get("default", 0) is None:
                    del merged["default"]
                out = merged
        return out

    result: dict[str, Any] = walk(schema)
    return result


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    return _inline(model.model_json_schema(), for_input=True)


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    return _inline(model.model_json_schema(mode="serialization"), for_input=False)


# ================================================================================ error messages


class ToolError(Exception):
    """A message for the model: becomes an ``isError`` result."""


def error_message(exc: BaseException, tool: str) -> str:
    """The ``isError`` text for an exception raised while running ``tool``."""
    if isinstance(exc, ToolError):
        return str(exc)
    if isinstance(exc, PathError):
        return (
            f"Path refused: {exc}. Paths are relative to the served root (see context_index_control status)."
        )
    if isinstance(exc, IndexNotFoundError):
        return f"{exc}. Start indexing with context_index_control action=start, then retry."
    if isinstance(exc, IndexIncompatibleError):
        return f"{exc}. Rebuild it with context_index_control action=rebuild."
    if isinstance(exc, QueryError):
        return f"Invalid request: {exc}"
    if isinstance(exc, ConfigError):
        return f"Configuration problem: {exc}"
    if isinstance(exc, EmbeddingError):
        return f"The embedding model failed: {exc}. Keyword search still works via context_grep."
    if isinstance(exc, StoreError):
        return f"The index storage failed: {exc}. Try context_index_control action=rebuild."
    if isinstance(exc, ConexusError):
        return str(exc)
    return f"Internal error in {tool} (details are in the server log); retry, or report it if it persists."


def _describe_input(value: Any) -> str:
    if isinstance(value, str):
        return f"a string of {len(value)} characters" if len(value) > 60 else repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return f"an array of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def validation_message(exc: ValidationError, tool: str, model: type[BaseModel]) -> str:
    """One line per bad argument, each with what was expected and what came."""
    parts = []
    for err in exc.errors(include_url=False)[:8]:
        loc = ".".join(str(p) for p in err["loc"]) or "arguments"
        kind = err["type"]
        if kind == "extra_forbidden":
            parts.append(f"{loc}: unknown argument (valid: {', '.join(model.model_fields)})")
        elif kind == "missing":
            parts.append(f"{loc}: required argument is missing")
        else:
            parts.append(f"{loc}: {err['msg']} (got {_describe_input(err.get('input'))})")
    more = f" (and {exc.error_count() - 8} more)" if exc.error_count() > 8 else ""
    return f"Invalid arguments for {tool}: " + "; ".join(parts) + more + ". See the tool's input schema."


# ============================================================================== tool definitions

_A = TypeVar("_A", bound=BaseModel)
Handler = Callable[[ServerRequestContext[Any, Any], Any], Awaitable[tuple[dict[str, Any], str]]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    args: type[BaseModel]
    output: type[BaseModel]
    read_only: bool
    destructive: bool = False
    idempotent: bool = True

    def to_tool(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=input_schema(self.args),
            output_schema=output_schema(self.output),
            annotations=types.ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=False,
            ),
        )


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "context_search",
        "Search the codebase",
        "Search the indexed code by meaning and by keywords at once (BM25 + embeddings + exact symbol "
        "and file-name matches), ranked. Use it first to find where something is implemented, defined, "
        "configured or tested. Any text works: a question, identifiers, a file name. Each hit cites "
        "path:start-end with a snippet and a freshness state: 'fresh' means the file is unchanged since "
        "indexing; 'modified' or 'deleted' means re-read it with context_read before quoting. Narrow with "
        "paths/languages/kinds, boost the user's files with work_context, page with next_cursor, cap "
        "output size with max_chars. index_state 'indexing' means results may still be incomplete.",
        SearchArgs,
        SearchOut,
        read_only=True,
    ),
    ToolSpec(
        "context_localize",
        "Localize an issue",
        "Find where to fix a bug report. Paste the whole issue, bug report, feature request or failing "
        "test output (stack traces and error messages included) as `issue`; get back the files most "
        "likely to need changing, best first, then the functions and methods inside them (symbol '' "
        "is module-level code), each citing path:start-end with a freshness state. Use it at the "
        "start of a fix to know where to look; use context_search for questions and for finding "
        "something specific. The ranking is a retrieval guess, not a diagnosis: read the cited lines "
        "with context_read, and check callers and tests with context_get_related_info, before "
        "editing.",
        LocalizeArgs,
        LocalizeOut,
        read_only=True,
    ),
    ToolSpec(
        "context_get_related_info",
        "Related code",
        "What is connected to a file or a symbol: where it is defined, what it imports, who imports it, "
        "where it is referenced or called, the tests that cover it and, unless git history is turned off, "
        "files that usually change with it and its recent commits. Every item cites path:start-end. "
        "Use it to find the blast radius of a change or the tests to run.",
        RelatedArgs,
        RelatedOut,
        read_only=True,
    ),
    ToolSpec(
        "context_explain",
        "Evidence to explain code",
        "Gather checked evidence to explain a symbol, a file or a question about the code: the "
        "definition (signature, docstring), callers, callees, tests and usage examples. Nothing is "
        "generated: each claim is a citation verified against the file on disk (status verified, stale "
        "or unverified). Read the claims, then answer with their citations.",
        ExplainArgs,
        ExplainOut,
        read_only=True,
    ),
    ToolSpec(
        "context_grep",
        "Grep the codebase",
        "Exact text or regular-expression search over the indexed files (ignore rules applied), one "
        "result per matching line with path:line citations, like ripgrep. Use it for exact strings, "
        "every use of an identifier, error messages, TODOs; use context_search for concepts. Slow "
        "patterns stop at a deadline and return what was found (timed_out).",
        GrepArgs,
        GrepOut,
        read_only=True,
    ),
    ToolSpec(
        "context_read",
        "Read file lines",
        "Read lines of a file as they are on disk now, with line numbers. Use it to verify or widen a "
        "citation from another tool (path:start-end) before quoting or editing. Says whether the file "
        "changed since it was indexed; long files are returned in pages (next_start).",
        ReadArgs,
        ReadOut,
        read_only=True,
    ),
    ToolSpec(
        "context_index_control",
        "Index status and control",
        "Show or control the index of a served root. The server already indexes on start and follows "
        "file edits by itself, so this is rarely needed: use status to see progress, counts, skipped "
        "files and staleness; rebuild when status says the index is incompatible; reindex_paths to "
        "force specific files; stop to interrupt a long job. Jobs started here report progress and "
        "can be cancelled.",
        IndexControlArgs,
        IndexControlOut,
        read_only=False,
        destructive=True,
        idempotent=False,
    ),
    ToolSpec(
        "context_connector_management",
        "Context sources",
        "List, add, update or remove context sources. kind=filesystem serves another folder as an "
        "additional root (with its own index and watcher; pass its name as `root` to the other tools). "
        "kind=git turns on git history for a served root (co-changed files and recent commits in "
        "context_get_related_info; option max_commits). Settings persist across restarts; secret "
        "options (tokens, keys, passwords) are stored but never shown.",
        ConnectorArgs,
        ConnectorOut,
        read_only=False,
        destructive=True,
        idempotent=False,
    ),
)
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


# ====================================================================================== cursors


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _unb64(token: str) -> dict[str, Any]:
    """Raises ValueError for anything that is not a cursor this server made."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def _search_key(root: ServedRoot, args: SearchArgs) -> str:
    parts = [root.name, args.query, args.paths, args.languages, args.kinds, args.top_k]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


# ======================================================================================= the app


def _index_state(root: ServedRoot) -> str:
    if root.busy:
        return "indexing"
    return "ready" if root.engine.has_index() else "empty"


def _rel(root: ServedRoot, user_path: str) -> str:
    """Root-relative POSIX path for a client path, or PathError."""
    _abs, rel = confine(root.path, user_path)
    return rel


async def _run(fn: Callable[[], _T]) -> _T:
    return await anyio.to_thread.run_sync(fn)


_T = TypeVar("_T")


class ConexusMCP:
    """Builds the MCP ``Server`` for a :class:`ConexusService` and implements its handlers."""

    def __init__(self, service: ConexusService) -> None:
        self.service = service
        self._handlers: dict[str, Handler] = {
            "context_search": self._search,
            "context_localize": self._localize,
            "context_get_related_info": self._related,
            "context_explain": self._explain,
            "context_grep": self._grep,
            "context_read": self._read,
            "context_index_control": self._index_control,
            "context_connector_management": self._connectors,
        }
        self.server: Server[Any] = Server(
            SERVER_NAME,
            version=__version__,
            title="Conexus",
            description="Codebase context: hybrid code search with exact, fresh citations.",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_resource_templates,
            on_read_resource=self._read_resource,
        )
        self._tools = [t.to_tool() for t in TOOLS]

    # -- tools ------------------------------------------------------------------------------------
    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self._tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = TOOLS_BY_NAME.get(params.name)
        if spec is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Unknown tool: {params.name!r}. Available tools: {', '.join(TOOLS_BY_NAME)}",
            )
        arguments = params.arguments or {}
        try:
            size = len(json.dumps(arguments))
        except (TypeError, ValueError):
            size = MAX_ARGUMENT_BYTES + 1
        if size > MAX_ARGUMENT_BYTES:
            return _error_result(
                f"Arguments for {spec.name} are too large ({size} bytes; the limit is {MAX_ARGUMENT_BYTES})."
            )
        try:
            args = spec.args.model_validate(arguments)
        except ValidationError as exc:
            logger.info("%s: rejected arguments %s", spec.name, sorted({str(e["loc"]) for e in exc.errors()}))
            return _error_result(validation_message(exc, spec.name, spec.args))
        try:
            structured, text = await self._handlers[spec.name](ctx, args)
        except ConexusError as exc:
            logger.info("%s failed: %s", spec.name, exc)
            return _error_result(error_message(exc, spec.name))
        except ToolError as exc:
            logger.info("%s failed: %s", spec.name, exc)
            return _error_result(str(exc))
        except MCPError:
            raise
        except Exception as exc:  # the top of a request: log the traceback, never send it
            logger.exception("%s crashed", spec.name)
            return _error_result(error_message(exc, spec.name))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured
        )

    # -- context_search -----------------------------------------------------------------------------
    async def _search(
        self, ctx: ServerRequestContext[Any, Any], args: SearchArgs
    ) -> tuple[dict[str, Any], str]:
        root = self.service.root(args.root)
        key = _search_key(root, args)
        offset = args.offset
        if args.cursor is not None:
            if args.offset:
                raise ToolError("Pass either cursor or offset, not both.")
            try:
                data = _unb64(args.cursor)
                offset = int(data["o"])
                if data.get("k") != key:
                    raise ToolError(
                        "This cursor belongs to a different query, filters or top_k; "
                        "repeat the same arguments with the cursor, or start again without it."
                    )
            except (ValueError, KeyError, TypeError) as exc:
                raise ToolError(
                    "Invalid cursor: pass next_cursor from a previous context_search result unchanged."
                ) from exc
            if not 0 <= offset <= 10_000:
                raise ToolError("Invalid cursor: offset out of range.")
        ctx_args = args.work_context
        work = WorkContext()
        if ctx_args is not None:
            work = WorkContext(
                active_file=_rel(root, ctx_args.active_file) if ctx_args.active_file else None,
                open_files=tuple(_rel(root, p) for p in ctx_args.open_files),
            )
        for glob in args.paths:
            if "\x00" in glob:
                raise ToolError("paths: a glob contains a NUL byte.")
        request = SearchRequest(
            query=args.query,
            top_k=args.top_k,
            offset=offset,
            paths=tuple(args.paths),
            languages=tuple(args.languages),
            kinds=tuple(args.kinds),
            work_context=work,
            snippet_lines=args.snippet_lines,
            max_chars=args.max_chars,
        )
        busy = root.busy
        try:
            result = await _run(lambda: root.engine.search(request))
        except IndexNotFoundError:
            if not busy:
                raise
            out: dict[str, Any] = {
                "root": root.name,
                "query": args.query,
                "hits": [],
                "total_candidates": 0,
                "took_ms": 0.0,
                "index_state": "indexing",
                "offset": offset,
                "next_cursor": None,
            }
            return out, f'No results yet for "{_short(args.query)}": the index of {root.name} is being built.'
        data = result.to_dict()
        state = str(data["index_state"])
        if state == "ready" and busy:
            state = "indexing"
        next_offset = offset + len(result.hits)
        more = (
            len(result.hits) == args.top_k and next_offset < result.total_candidates and next_offset <= 10_000
        )
        data.update(
            root=root.name,
            index_state=state,
            offset=offset,
            next_cursor=_b64({"o": next_offset, "k": key}) if more else None,
        )
        return data, render_search(data)

    # -- context_localize ---------------------------------------------------------------------------
    async def _localize(
        self, ctx: ServerRequestContext[Any, Any], args: LocalizeArgs
    ) -> tuple[dict[str, Any], str]:
        if not args.issue.strip():
            raise ToolError("issue is blank: paste the bug report, issue or failing test output to localize.")
        root = self.service.root(args.root)
        engine = root.engine
        busy = root.busy
        started = time.perf_counter()
        try:
            data = await _run(
                lambda: localization_dict(
                    engine, args.issue, max_files=args.max_files, max_locations=args.max_locations
                )
            )
        except IndexNotFoundError:
            if not busy:
                raise
            out: dict[str, Any] = {
                "root": root.name,
                "issue_chars": len(args.issue),
                "files": [],
                "locations": [],
                "files_considered": 0,
                "took_ms": 0.0,
                "index_state": "indexing",
            }
            return out, f"No results yet: the index of {root.name} is being built; retry shortly."
        data.update(
            root=root.name,
            issue_chars=len(args.issue),
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            index_state="indexing" if busy else _index_state(root),
        )
        return data, render_localize(data)

    # -- engine wrappers ----------------------------------------------------------------------------
    async def _related(
        self, ctx: ServerRequestContext[Any, Any], args: RelatedArgs
    ) -> tuple[dict[str, Any], str]:
        root = self.service.root(args.root)
        engine = root.engine
        git = root.git
        # Git history is on by default for a git repository; a git connector can turn it off
        # (enabled=false) or bound it (max_commits).
        history = git is None or git.enabled
        max_commits = git.max_commits if git is not None else 500
        result = await _run(
            lambda: engine.related(args.target, limit=args.limit, history=history, max_commits=max_commits)
        )
        data: dict[str, Any] = dict(result.to_dict())
        data.update(root=root.name, index_state=_index_state(root), git_history=history)
        return data, render_related(data)

    async def _explain(
        self, ctx: ServerRequestContext[Any, Any], args: ExplainArgs
    ) -> tuple[dict[str, Any], str]:
        root = self.service.root(args.root)
        engine = root.engine
        result = await _run(lambda: engine.explain(args.target, limit=args.limit))
        data = dict(result.to_dict())
        data.update(root=root.name, index_state=_index_state(root))
        return data, render_explain(data)

    async def _grep(self, ctx: ServerRequestContext[Any, Any], args: GrepArgs) -> tuple[dict[str, Any], str]:
        root = self.service.root(args.root)
        for glob in args.paths:
            if "\x00" in glob:
                raise ToolError("paths: a glob contains a NUL byte.")
        include = [g for g in args.paths if not g.startswith("!")]
        exclude = [g[1:] for g in args.paths if g.startswith("!")]
        engine = root.engine
        result = await _run(
            lambda: engine.grep(
                args.pattern,
                literal=args.literal,
                case_sensitive=args.case_sensitive,
                include=include,
                exclude=exclude,
                context_lines=args.context_lines,
                max_results=args.max_results,
                timeout_s=GREP_TIMEOUT_S,
            )
        )
        data = dict(result.to_dict())
        data.update(root=root.name, index_state=_index_state(root))
        return data, render_grep(data)

    async def _read(self, ctx: ServerRequestContext[Any, Any], args: ReadArgs) -> tuple[dict[str, Any], str]:
        root = self.service.root(args.root)
        engine = root.engine
        result = await _run(lambda: engine.read(args.path, args.start_line, args.end_line, args.max_lines))
        data = dict(result.to_dict())
        data.update(root=root.name)
        return data, render_read(data)

    # -- context_index_control ------------------------------------------------------------------------
    async def _index_control(
        self, ctx: ServerRequestContext[Any, Any], args: IndexControlArgs
    ) -> tuple[dict[str, Any], str]:
        root = self.service.root(args.root)
        action = args.action
        if args.paths and action != "reindex_paths":
            raise ToolError("paths is only used with action=reindex_paths.")
        if action == "status":
            return await self._status(root)
        if action == "stop":
            stopped = root.stop()
            await _run(lambda: [j.done.wait(10) for j in stopped])
            msg = (
                f"Stopped {len(stopped)} job(s) on {root.name}; the index keeps every batch written so far."
                if stopped
                else f"No index job was running on {root.name}."
            )
            out = self._control_out(root, action, msg)
            out["jobs"] = [j.to_dict() for j in stopped]
            return out, msg
        if action == "clear":
            root.stop()
            root.pause()
            job, _ = root.submit("clear")
            await _run(lambda: job.done.wait(60))
            if job.status == "failed":
                raise ToolError(f"Clearing the index of {root.name} failed: {job.error}")
            root.pause()
            msg = (
                f"Cleared the index of {root.name}. Automatic indexing is paused until "
                "action=start, reindex or rebuild."
            )
            out = self._control_out(root, action, msg)
            out["job"] = job.to_dict()
            return out, msg
        if action == "reindex_paths":
            if not args.paths:
                raise ToolError("reindex_paths needs paths: root-relative files or folders.")
            rels = await _run(lambda: self._expand_paths(root, args.paths))
            job, owned = root.submit("paths", paths=rels)
        elif action == "rebuild":
            root.stop()  # a rebuild supersedes whatever is running
            job, owned = root.submit("rebuild")
        elif action == "reindex":
            job, owned = root.submit("incremental", join=False)
        else:  # start
            job, owned = root.submit("incremental")
        finished = False
        if args.wait:
            finished = await self._await_job(ctx, job, owned=owned, max_wait=args.max_wait_s)
        if finished:
            msg = _job_summary(root, job)
        else:
            msg = f"{action}: job {job.id} on {root.name} is {job.status}; follow it with action=status."
        out = self._control_out(root, action, msg)
        out["job"] = job.to_dict()
        if finished:
            out["status"] = await _run(lambda: _status_dict(root, check_stale=False))
        if job.status == "failed":
            raise ToolError(f"The {job.kind} job on {root.name} failed: {job.error}")
        return out, msg

    def _expand_paths(self, root: ServedRoot, paths: Sequence[str]) -> list[str]:
        rels: set[str] = set()
        indexed: list[str] | None = None
        for p in paths:
            absolute, rel = confine(root.path, p)
            if rel == ".":
                raise ToolError("reindex_paths: to re-index the whole root, use action=reindex.")
            if absolute.is_dir():
                if indexed is None:
                    indexed = root.indexed_paths()
                rels.update(f for f in indexed if f.startswith(rel + "/"))
                rels.update(files_under(root.path, rel, walk_options(root.engine.settings)))
            else:
                rels.add(rel)
        return sorted(rels)

    async def _await_job(
        self, ctx: ServerRequestContext[Any, Any], job: IndexJob, *, owned: bool, max_wait: float
    ) -> bool:
        """Wait for ``job``, reporting progress; cancelling the request stops a job it started."""
        deadline = anyio.current_time() + max_wait
        last_sent = -1.0
        try:
            while True:
                done = await anyio.to_thread.run_sync(job.done.wait, PROGRESS_POLL_S, abandon_on_cancel=True)
                p = job.progress
                if p is not None and p.files_done > last_sent:
                    last_sent = float(p.files_done)
                    total = float(p.files_total) if p.files_total else None
                    await ctx.session.report_progress(
                        last_sent,
                        total,
                        f"{job.kind}: {p.phase}, {p.files_done}/{p.files_total} files, "
                        f"{p.chunks_done} chunks",
                    )
                if done:
                    return True
                if anyio.current_time() >= deadline:
                    return False
        except anyio.get_cancelled_exc_class():
            if owned:
                logger.info("request cancelled: stopping %s job %d", job.kind, job.id)
                job.request_stop()
            raise

    async def _status(self, root: ServedRoot) -> tuple[dict[str, Any], str]:
        status = await _run(lambda: _status_dict(root, check_stale=True))
        msg = render_status(root, status)
        out = self._control_out(root, "status", msg)
        out["status"] = status
        out["roots"] = [r.describe() for r in self.service.roots]
        return out, msg

    def _control_out(self, root: ServedRoot, action: str, message: str) -> dict[str, Any]:
        return {"root": root.name, "action": action, "index_state": _index_state(root), "message": message}

    # -- context_connector_management -----------------------------------------------------------------
    async def _connectors(
        self, ctx: ServerRequestContext[Any, Any], args: ConnectorArgs
    ) -> tuple[dict[str, Any], str]:
        registry = self.service.connectors
        connector: Connector | None = None
        if args.action == "list":
            msg = f"{len(registry.all())} connector(s); {len(self.service.roots)} served root(s)."
        elif args.action == "add":
            if args.kind is None:
                raise ToolError(f"add needs kind: one of {', '.join(CONNECTOR_KINDS)}.")
            if args.id is not None:
                raise ToolError("add assigns the id itself; do not pass id.")
            options = validate_options(args.kind, args.options or {})
            target = await _run(lambda: self._connector_target(args.kind or "", args.path))
            added = registry.add(
                args.kind, target, options, enabled=True if args.enabled is None else args.enabled
            )
            try:
                await _run(partial(self.service.apply_connector, added))
            except ConexusError:
                registry.remove(added.id)
                raise
            connector = added
            msg = f"Added {added.kind} connector {added.id} for {added.target}."
            if added.kind == "filesystem" and added.enabled:
                served = next((r for r in self.service.roots if r.connector_id == added.id), None)
                if served is not None:
                    msg += f" Served as root {served.name!r}; indexing has started."
        elif args.action == "update":
            if args.id is None:
                raise ToolError("update needs id (see action=list).")
            if args.kind is not None or args.path is not None:
                raise ToolError("kind and path cannot change; remove the connector and add a new one.")
            connector = registry.update(args.id, args.options, args.enabled)
            await _run(partial(self.service.apply_connector, connector))
            msg = f"Updated connector {connector.id}."
        else:
            if args.id is None:
                raise ToolError("remove needs id (see action=list).")
            connector = registry.remove(args.id)
            await _run(partial(self.service.drop_connector, connector))
            msg = (
                f"Removed connector {connector.id} ({connector.kind} {connector.target}); its index is kept."
            )
        out = {
            "action": args.action,
            "message": msg,
            "connector": connector.to_dict() if connector is not None else None,
            "connectors": [c.to_dict() for c in registry.all()],
            "roots": [r.describe() for r in self.service.roots],
        }
        out = cast(dict[str, Any], mask_secrets(out))
        return out, render_connectors(out)

    def _connector_target(self, kind: str, path: str | None) -> str:
        if kind == "git":
            return str(self.service.root(path).path)
        if not path:
            raise ToolError("add kind=filesystem needs path: the absolute path of a folder to serve.")
        if "\x00" in path:
            raise PathError("path contains a NUL byte")
        candidate = Path(path).expanduser()
        if not candidate.is_absolute():
            raise PathError(f"give an absolute folder path, not {path!r}")
        if not candidate.is_dir():
            raise PathError(f"not an existing folder: {candidate}")
        return str(candidate.resolve())

    # -- resources ------------------------------------------------------------------------------------
    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        roots = self.service.roots
        root_index, offset = 0, 0
        if params is not None and params.cursor:
            try:
                data = _unb64(params.cursor)
                root_index, offset = int(data["r"]), int(data["o"])
            except (ValueError, KeyError, TypeError) as exc:
                raise MCPError(
                    code=types.INVALID_PARAMS, message="Invalid cursor for resources/list"
                ) from exc
        resources: list[types.Resource] = []
        next_cursor: str | None = None
        while root_index < len(roots) and len(resources) < RESOURCE_PAGE_SIZE:
            root = roots[root_index]
            files = await _run(root.indexed_paths)
            take = files[offset : offset + RESOURCE_PAGE_SIZE - len(resources)]
            resources.extend(_resource(root, p, default=root_index == 0) for p in take)
            offset += len(take)
            if offset >= len(files):
                root_index, offset = root_index + 1, 0
        if root_index < len(roots):
            next_cursor = _b64({"r": root_index, "o": offset})
        return types.ListResourcesResult(resources=resources, next_cursor=next_cursor)

    async def _list_resource_templates(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    uri_template=FILE_URI_PREFIX + "{path}",
                    name="file",
                    title="Indexed file",
                    description=(
                        "The current text of an indexed file of the default root; path is root-relative "
                        "(URL-encoded). Files of other roots add ?root=<name>."
                    ),
                )
            ]
        )

    async def _read_resource(
        self, ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            root, rel = self._parse_file_uri(uri)
            text = await _run(lambda: _read_indexed_file(root, rel))
        except (ConexusError, ToolError) as exc:
            raise MCPError(
                code=RESOURCE_NOT_FOUND, message=error_message(exc, "resources/read"), data={"uri": uri}
            ) from exc
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type=_mime(rel))]
        )

    def _parse_file_uri(self, uri: str) -> tuple[ServedRoot, str]:
        if not uri.startswith(FILE_URI_PREFIX):
            raise ToolError(f"Unknown resource {uri!r}: Conexus serves {FILE_URI_PREFIX}{{path}}")
        parts = urlsplit(uri)
        raw_path = uri[len(FILE_URI_PREFIX) :].split("?", 1)[0].split("#", 1)[0]
        root_name = parse_qs(parts.query).get("root", [None])[0]
        root = self.service.root(root_name)
        path = unquote(raw_path)
        rel = _rel(root, path)
        return root, rel


def _resource(root: ServedRoot, rel: str, *, default: bool) -> types.Resource:
    uri = FILE_URI_PREFIX + quote(rel, safe="/")
    if not default:
        uri += "?root=" + quote(root.name, safe="")
    return types.Resource(uri=uri, name=rel, title=rel, mime_type=_mime(rel))


def _mime(rel: str) -> str:
    guessed, _ = mimetypes.guess_type(rel, strict=False)
    if guessed and (guessed.startswith("text/") or guessed.endswith(("json", "xml", "javascript"))):
        return guessed
    return "text/plain"


def _read_indexed_file(root: ServedRoot, rel: str) -> str:
    if rel not in set(root.indexed_paths()):
        raise ToolError(f"{rel} is not an indexed file of root {root.name}")
    absolute, _ = confine(root.path, rel)
    try:
        size = os.stat(absolute).st_size
        if size > MAX_READ_BYTES:
            raise ToolError(f"{rel} is too large to read as a resource ({size} bytes)")
        with open(absolute, "rb") as fh:
            data = fh.read(MAX_READ_BYTES + 1)
    except FileNotFoundError as exc:
        raise PathError(f"{rel} was deleted since it was indexed") from exc
    except OSError as exc:
        raise PathError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    if looks_binary(data):
        raise ToolError(f"{rel} is binary")
    text, _invalid = decode_text(data)
    return text


def localization_dict(engine: Engine, issue: str, *, max_files: int, max_locations: int) -> dict[str, Any]:
    """``Engine.localize`` as JSON: ranked files, then cited locations, each with its file's freshness.

    Raises:
        IndexNotFoundError, IndexIncompatibleError, QueryError.
    """
    data = engine.localize(issue).to_dict(engine.freshness, max_files=max_files, max_locations=max_locations)
    return data


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def _status_dict(root: ServedRoot, *, check_stale: bool) -> dict[str, Any]:
    status = root.engine.status(check_stale=check_stale)
    status = {k: (str(v) if isinstance(v, Path) else v) for k, v in status.items()}
    status.update(root.describe())
    status["jobs"] = root.jobs()
    status["index_state"] = _index_state(root)
    status["watch_updates"] = root.watch_updates
    return status


def _job_summary(root: ServedRoot, job: IndexJob) -> str:
    if job.status == "failed":
        return f"{job.kind} job {job.id} on {root.name} failed: {job.error}"
    r = job.report
    if r is None:
        return f"{job.kind} job {job.id} on {root.name}: {job.status}."
    return (
        f"{job.kind} job {job.id} on {root.name} {job.status} in {r.seconds:.2f}s: "
        f"{r.files_changed} changed, {r.files_unchanged} unchanged, {r.files_deleted} deleted, "
        f"{r.chunks_written} chunks written" + (f", skipped {r.skipped}" if r.skipped else "") + "."
    )


# ===================================================================================== rendering


def _short(text: str, limit: int = 80) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.split("\n"))


def render_search(data: Mapping[str, Any]) -> str:
    hits = data["hits"]
    state = data["index_state"]
    head = (
        f'{len(hits)} hit(s) for "{_short(data["query"])}" in {data["root"]} '
        f"(of {data['total_candidates']} candidates; index: {state}; {data['took_ms']:.0f} ms)"
    )
    if state == "indexing":
        head += "\nThe index is still being built: results may be incomplete."
    lines = [head]
    for i, h in enumerate(hits, start=int(data["offset"]) + 1):
        name = h.get("symbol")
        if name and h.get("parent"):
            name = f"{h['parent']}.{name}"
        fresh = h["freshness"]["state"]
        note = "" if fresh == "fresh" else f"  [{fresh} since indexing: re-read with context_read]"
        lines.append(f"\n{i}. {h['citation']}  {h['kind']}{' ' + name if name else ''}{note}")
        if h.get("snippet"):
            lines.append(_indent(h["snippet"]))
    if data.get("next_cursor"):
        lines.append(f"\nMore results: call again with cursor={data['next_cursor']!r}.")
    return "\n".join(lines)


def render_localize(data: Mapping[str, Any]) -> str:
    files, locations = data["files"], data["locations"]
    state = data["index_state"]
    head = (
        f"Where the issue ({data['issue_chars']} characters) most likely needs changes in {data['root']} "
        f"({data['files_considered']} matching files; index: {state}; {data['took_ms']:.0f} ms)"
    )
    if state == "indexing":
        head += "\nThe index is still being built: results may be incomplete."
    if not files:
        return head + "\nNo indexed file matches the issue text."
    lines = [head, "\nfiles:"]
    for f in files:
        note = "" if f["freshness"] == "fresh" else f"  [{f['freshness']} since indexing]"
        lines.append(f"  {f['rank']}. {f['path']}  ({f['score']:.4f}){note}")
    if locations:
        lines.append("\nfunctions and methods:")
    for loc in locations:
        name = loc["symbol"] or "(module-level code)"
        fresh = loc["freshness"]
        note = "" if fresh == "fresh" else f"  [{fresh} since indexing: re-read with context_read]"
        lines.append(f"  {loc['rank']}. {loc['citation']}  {name}  ({loc['score']:.3f}){note}")
    lines.append("\nRead the cited lines with context_read before editing.")
    return "\n".join(lines)


def _items(title: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
    if not items:
        return []
    out = [f"\n{title}:"]
    for it in items:
        label = it.get("name") or it.get("kind") or ""
        detail = it.get("detail") or it.get("text") or ""
        extra = f" -> {it['resolved']}" if it.get("resolved") else ""
        status = f" [{it['status']}]" if it.get("status") and it.get("status") != "verified" else ""
        line = f"  {it['citation']}  {label}{extra}{status}"
        if detail:
            line += f"  {_short(str(detail), 120)}"
        out.append(line)
    return out


def render_related(data: Mapping[str, Any]) -> str:
    lines = [
        f"Related to {data['target']} ({data['target_kind']}) in {data['root']}: {', '.join(data['files'])}"
    ]
    for key in ("definitions", "imports", "importers", "references", "tests", "co_changes"):
        lines += _items(key.replace("_", " "), data.get(key, []))
    commits = data.get("recent_commits") or []
    if commits:
        lines.append("\nrecent commits:")
        lines += [
            f"  {c.get('sha', '')[:10]} {c.get('date', '')} {_short(str(c.get('subject', '')))}"
            for c in commits
        ]
    lines += [f"\nnote: {n}" for n in data.get("notes", [])]
    return "\n".join(lines)


def render_explain(data: Mapping[str, Any]) -> str:
    lines = [f"Evidence for {data['target']} ({data['target_kind']}) in {data['root']}"]
    for s in data.get("subjects", []):
        lines.append(f"\n## {s.get('kind', '')} {s.get('name', '')}  {s['definition']['citation']}")
        if s.get("signature"):
            lines.append(f"  signature: {s['signature']}")
        if s.get("docstring"):
            lines.append(f"  docstring: {_short(str(s['docstring']), 300)}")
        for key in ("callers", "callees", "tests", "examples"):
            lines += _items(key, s.get(key, []))
    lines += _items("outline", data.get("outline", []))
    lines += _items("search hits", data.get("hits", []))
    lines += [f"\nnote: {n}" for n in data.get("notes", [])]
    return "\n".join(lines)


def render_grep(data: Mapping[str, Any]) -> str:
    matches = data["matches"]
    head = (
        f"{len(matches)} matching line(s) for {data['pattern']!r} in {data['root']} "
        f"({data['files_matched']} of {data['files_searched']} files)"
    )
    if data.get("truncated"):
        head += "; stopped at max_results"
    if data.get("timed_out"):
        head += "; stopped at the deadline (results are partial)"
    lines = [head]
    for m in matches:  # ripgrep's convention: path:line: for matches, path-line- for context
        for offset, text in enumerate(m.get("before", [])):
            lines.append(f"{m['path']}-{m['line'] - len(m['before']) + offset}-  {text}")
        lines.append(f"{m['path']}:{m['line']}:  {m['text']}")
        for offset, text in enumerate(m.get("after", [])):
            lines.append(f"{m['path']}-{m['line'] + offset + 1}-  {text}")
    return "\n".join(lines)


def render_read(data: Mapping[str, Any]) -> str:
    head = f"{data['citation']} of {data['total_lines']} lines ({data['freshness']})"
    if data.get("freshness") == "deleted":
        head += "; the file is deleted: lines come from the index"
    lines = [head]
    width = len(str(data["end_line"])) if data["lines"] else 1
    lines += [f"{item['line']:>{width}}  {item['text']}" for item in data["lines"]]
    if data.get("truncated"):
        lines.append(f"… more: call again with start_line={data['next_start']}")
    return "\n".join(lines)


def render_status(root: ServedRoot, st: Mapping[str, Any]) -> str:
    lines = [f"root {root.name}: {root.path} (index {st['index_state']})"]
    if not st.get("exists"):
        lines.append("no index yet")
    else:
        lines.append(
            f"files {st.get('files', 0)}, chunks {st.get('chunks', 0)}, embedder {st.get('embedder_id')}"
        )
        skipped = st.get("skipped") or {}
        if skipped:
            lines.append("skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))
        stale = st.get("stale") or {}
        if stale.get("modified") or stale.get("deleted"):
            lines.append(f"stale: {stale['modified']} modified, {stale['deleted']} deleted since indexing")
        if st.get("compatible") is False:
            lines.append(
                "incompatible index (" + ", ".join(st.get("mismatches", [])) + "): use action=rebuild"
            )
    jobs = st.get("jobs") or {}
    current = jobs.get("current")
    if current:
        prog = current.get("progress") or {}
        lines.append(
            f"running: {current['kind']} job {current['id']} ({prog.get('phase', 'starting')}, "
            f"{prog.get('files_done', 0)}/{prog.get('files_total', 0)} files)"
        )
    watcher = st.get("watcher") or {}
    if watcher.get("error"):
        lines.append(f"watcher failed: {watcher['error']}")
    if not st.get("auto_index", True):
        lines.append("automatic indexing is paused (after clear): use action=start")
    return "\n".join(lines)


def render_connectors(data: Mapping[str, Any]) -> str:
    lines = [str(data["message"])]
    for c in data["connectors"]:
        state = "on" if c["enabled"] else "off"
        opts = f" {json.dumps(c['options'])}" if c["options"] else ""
        lines.append(f"  {c['id']}: {c['kind']} {c['target']} ({state}){opts}")
    lines.append("served roots:")
    lines += [f"  {r['name']}: {r['path']} ({r['source']})" for r in data["roots"]]
    return "\n".join(lines)


# ===================================================================================== transports


async def serve_stdio(app: ConexusMCP) -> None:
    """Serve over stdin/stdout until stdin closes.

    The SDK drops lines it cannot parse; JSON-RPC 2.0 wants an answer, so a
    relay in front of the server replies ``-32700`` (not JSON) or ``-32600``
    (JSON, but not a JSON-RPC message) with a null id and keeps serving.
    """
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage

    async with stdio_server() as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            async with send:
                async for item in read_stream:
                    if isinstance(item, Exception):
                        await write_stream.send(SessionMessage(_parse_error(item)))
                        continue
                    await send.send(item)

        async with anyio.create_task_group() as tg:
            tg.start_soon(relay)
            await app.server.run(receive, write_stream, app.server.create_initialization_options())
            tg.cancel_scope.cancel()


def _parse_error(exc: Exception) -> types.JSONRPCError:
    code, message = types.INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message"
    if isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors()):
        code, message = types.PARSE_ERROR, "Parse error: the line is not valid JSON"
    logger.info("answered a malformed message with %d", code)
    return types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(code=code, message=message))


async def serve_http(
    app: ConexusMCP,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None],
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until interrupted.

    The socket is bound before the URL is announced through ``on_ready``, so
    a client that reads the URL can connect at once (port 0 picks a free port).
    ``on_shutdown`` runs in the application's lifespan shutdown: uvicorn
    re-raises SIGTERM/SIGINT once it has shut down, so code after this
    function returns may never run.
    """
    import socket
    from contextlib import asynccontextmanager

    import uvicorn
    from starlette.applications import Starlette

    starlette_app = app.server.streamable_http_app(streamable_http_path="/mcp", host=host)
    sdk_lifespan = starlette_app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Starlette) -> AsyncIterator[None]:
        async with sdk_lifespan(application):
            try:
                yield
            finally:
                if on_shutdown is not None:
                    with anyio.CancelScope(shield=True):
                        await on_shutdown()

    starlette_app.router.lifespan_context = lifespan
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(
        starlette_app, log_config=None, access_log=False, lifespan="on", log_level="warning"
    )
    server = uvicorn.Server(config)
    on_ready(f"http://{shown_host}:{bound_port}/mcp")
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
