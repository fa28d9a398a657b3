"""The MCP adapter: one tool per operation of :data:`conexus.api.OPERATIONS`, plus file resources.

The low-level ``Server`` of the official SDK is used (not ``MCPServer``)
because the tools need what the decorator layer does not give: input schemas
with bounds and descriptions written for the model, strict argument checking
with messages a model can act on, structured output plus a readable
rendering, progress notifications from index jobs running on other threads,
and paginated resource listings.

Error policy (MCP 2025-11-25, "Error Handling"):

* an unknown tool is a protocol error (``-32602``);
* bad arguments, refused paths and every :class:`~conexus.errors.ConexusError`
  are tool results with ``isError: true`` and the message of
  :func:`conexus.api.errors.describe`, so the model can correct itself;
* anything else is logged with its traceback on stderr and reported as an
  internal error without one.

Over HTTP, the caller established by the authentication middleware
(:func:`conexus.api.access.principal_of`, read from the request the SDK
hands each handler) goes on every ``Call``: a tool its key may not use is an
``isError`` result saying which scope it needs, and resources list and read
only the roots the caller may use. Over stdio there is no principal.
"""

from __future__ import annotations

import logging
import math
import mimetypes
import time
from functools import partial
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from conexus import __version__
from conexus.api.access import Principal, principal_of
from conexus.api.errors import describe
from conexus.api.operations import BY_TOOL, OPERATIONS, Call, Operation
from conexus.app.service import ConexusService, ServedRoot
from conexus.errors import (
    ConexusError,
    PathDeniedError,
    PathError,
    PathNotFoundError,
    QueryError,
    TooLargeError,
)
from conexus.observability.instrument import incoming
from conexus.paths import confine
from conexus.search.read import MAX_READ_BYTES, withheld_message
from conexus.server.lanes import Lanes
from conexus.server.mcp.schema import input_schema, output_schema

logger = logging.getLogger(__name__)

SERVER_NAME = "conexus"
RESOURCE_PAGE_SIZE = 200
RESOURCE_NOT_FOUND = -32002  # MCP: "Resource not found"
FILE_URI_PREFIX = "conexus://file/"

INSTRUCTIONS = """\
Conexus gives you the code of the repositories it serves, with exact citations.
Start with context_search (meaning + keywords + symbol names); every hit cites \
path:start-end and says whether the file changed since indexing. Given a bug report, issue \
or failing test output to fix, use context_localize to get the files and functions most \
likely to need changing. Use context_read to \
read or verify cited lines, context_grep for exact strings or regexes, \
context_get_related_info for imports/importers/references/tests/history of a file or \
symbol, and context_explain for a checked evidence bundle about a symbol, file or question. \
The index follows file edits automatically; context_status shows its state. \
Paths are relative to the served root; with several roots, pass `root`."""


def to_tool(op: Operation[Any, Any]) -> types.Tool:
    """The MCP tool definition of an operation."""
    return types.Tool(
        name=op.tool,
        title=op.title,
        description=op.description,
        input_schema=input_schema(op.input),
        output_schema=output_schema(op.output),
        annotations=types.ToolAnnotations(
            title=op.title,
            read_only_hint=op.read_only,
            destructive_hint=op.destructive,
            idempotent_hint=op.idempotent,
            open_world_hint=False,
        ),
    )


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


class ConexusMCP:
    """Builds the MCP ``Server`` for a :class:`ConexusService` and implements its handlers."""

    def __init__(
        self, service: ConexusService, *, request_timeout_s: float | None = None, lanes: Lanes | None = None
    ) -> None:
        self.service = service
        # Longest a tool call may run (None: no limit); the HTTP app sets its request_timeout_s here.
        self.request_timeout_s = request_timeout_s
        # The worker threads tool calls run on; the HTTP app shares its lanes with the REST routes.
        self.lanes = lanes or Lanes()
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
        self._tools = [to_tool(op) for op in OPERATIONS]

    # -- tools ------------------------------------------------------------------------------------
    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        """The tools the caller may call: a key or token lists only the operations its scope allows,
        and a query replica leaves out the tools that index (called anyway, they answer its role).

        A tool outside the scope is still refused with a message naming the
        scope it needs when called by name (``Operation.authorize``).
        """
        principal = _principal(ctx)
        indexer = self.service.runs_index_jobs  # a query replica offers no tool that indexes
        pairs = zip(OPERATIONS, self._tools, strict=True)
        return types.ListToolsResult(
            tools=[
                tool
                for op, tool in pairs
                if (principal is None or principal.allows(op.scope)) and (indexer or not op.indexes)
            ]
        )

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        op = BY_TOOL.get(params.name)
        if op is None:
            raise MCPError(
                code=types.INVALID_PARAMS,
                message=f"Unknown tool: {params.name!r}. Available tools: {', '.join(BY_TOOL)}",
            )

        loop = anyio.lowlevel.current_token()

        def progress(done: float, total: float | None, message: str) -> None:
            # Called on the operation's worker thread: hop back onto the event loop to notify.
            try:
                anyio.from_thread.run(partial(ctx.session.report_progress, done, total, message), token=loop)
            except Exception:  # a client that went away must not fail the job it started
                logger.debug("progress notification not delivered", exc_info=True)

        limit = self.request_timeout_s
        deadline = time.monotonic() + limit if limit else None
        call = Call(
            self.service, transport="mcp", progress=progress, principal=_principal(ctx), deadline=deadline
        )
        # Over HTTP the SDK hands over the HTTP request: its trace context and request id
        # (set by the HTTP middleware) follow the call onto the worker thread.
        request = ctx.request
        headers = {k.lower(): v for k, v in request.headers.items()} if request is not None else {}
        state = getattr(request, "state", None)
        request_id = getattr(state, "request_id", None)
        trace_context = getattr(state, "trace_context", None)
        try:
            timer = anyio.move_on_after(limit or math.inf)
            with incoming(headers, request_id, trace_context), timer:
                result = await self.lanes.run(op.cost, op.execute, call, params.arguments)
            if timer.cancelled_caught:
                call.cancelled.set()  # as for a cancelled request: the operation stops its work
                logger.warning("%s ran longer than %gs and was cancelled", op.tool, self.request_timeout_s)
                return _error_result(
                    f"{op.tool} ran longer than the server's limit of {self.request_timeout_s:g} s and was "
                    "stopped; narrow the request (fewer paths, a smaller max_wait_s) or retry later."
                )
        except anyio.get_cancelled_exc_class():
            call.cancelled.set()  # the operation stops what it started (an index job it owns)
            raise
        except ConexusError as exc:
            logger.info("%s failed: %s", op.tool, exc)
            return _error_result(describe(exc, op.tool).message)
        except MCPError:
            raise
        except Exception as exc:  # the top of a request: log the traceback, never send it
            logger.exception("%s crashed", op.tool)
            return _error_result(describe(exc, op.tool).message)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=op.text(result))],
            structured_content=result.model_dump(mode="json"),
        )

    # -- resources ------------------------------------------------------------------------------------
    async def _list_resources(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        from conexus.api.paging import decode_cursor, encode_cursor

        roots = Call(self.service, transport="mcp", principal=_principal(ctx)).roots
        root_index, offset = 0, 0
        if params is not None and params.cursor:
            try:
                data = decode_cursor(params.cursor)
                root_index, offset = int(data["r"]), int(data["o"])
            except (ValueError, KeyError, TypeError) as exc:
                raise MCPError(
                    code=types.INVALID_PARAMS, message="Invalid cursor for resources/list"
                ) from exc
        resources: list[types.Resource] = []
        next_cursor: str | None = None
        while root_index < len(roots) and len(resources) < RESOURCE_PAGE_SIZE:
            root = roots[root_index]
            files = await anyio.to_thread.run_sync(root.indexed_paths)
            take = files[offset : offset + RESOURCE_PAGE_SIZE - len(resources)]
            resources.extend(_resource(root, p, default=root_index == 0) for p in take)
            offset += len(take)
            if offset >= len(files):
                root_index, offset = root_index + 1, 0
        if root_index < len(roots):
            next_cursor = encode_cursor({"r": root_index, "o": offset})
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
            root, rel = self._parse_file_uri(uri, _principal(ctx))
            text = await anyio.to_thread.run_sync(_read_indexed_file, root, rel)
        except ConexusError as exc:
            raise MCPError(
                code=RESOURCE_NOT_FOUND, message=describe(exc, "resources/read").message, data={"uri": uri}
            ) from exc
        return types.ReadResourceResult(
            contents=[types.TextResourceContents(uri=uri, text=text, mime_type=_mime(rel))]
        )

    def _parse_file_uri(self, uri: str, principal: Principal | None) -> tuple[ServedRoot, str]:
        if not uri.startswith(FILE_URI_PREFIX):
            raise PathNotFoundError(f"unknown resource {uri!r}: Conexus serves {FILE_URI_PREFIX}{{path}}")
        parts = urlsplit(uri)
        raw_path = uri[len(FILE_URI_PREFIX) :].split("?", 1)[0].split("#", 1)[0]
        root_name = parse_qs(parts.query).get("root", [None])[0]
        root = Call(self.service, transport="mcp", principal=principal).root(root_name)
        _abs, rel = confine(root.path, unquote(raw_path))
        return root, rel


def _principal(ctx: ServerRequestContext[Any, Any]) -> Principal | None:
    """The authenticated caller of an HTTP request (None over stdio, or with authentication off)."""
    request = ctx.request
    scope = getattr(request, "scope", None)
    return principal_of(scope) if isinstance(scope, dict) else None


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
        raise PathNotFoundError(f"{rel} is not an indexed file of root {root.name}")
    try:
        # The checkout (never blocking on a FIFO in the file's place), or the indexed text on a
        # server without one.
        loaded = root.engine.load_file(rel, MAX_READ_BYTES)
        if loaded.stamp.size > MAX_READ_BYTES:
            raise TooLargeError(f"{rel} is too large to read as a resource ({loaded.stamp.size} bytes)")
    except FileNotFoundError as exc:
        raise PathNotFoundError(f"{rel} was deleted since it was indexed") from exc
    except OSError as exc:
        raise PathError(f"cannot read {rel}: {exc.strerror or exc}") from exc
    if loaded.text is None:
        raise QueryError(f"{rel} is binary")
    text = loaded.text
    why = root.engine.withheld(rel, text)  # edited since indexing: it may hold a secret now
    if why is not None:
        raise PathDeniedError(withheld_message(rel, why))
    return text
