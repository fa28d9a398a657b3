"""The REST adapter: ``POST /api/v1/<operation>`` for every operation of the table.

Each route takes the operation's input model as its JSON body and answers its
output model, so the OpenAPI document (``/openapi.json``) is generated from
the same models the MCP tools advertise. Errors are RFC 9457 problem details
(``application/problem+json``) with the status of
:func:`conexus.api.errors.describe`; ``503`` answers carry ``Retry-After``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conexus.api.access import principal_of
from conexus.api.errors import Failure, describe, invalid_arguments
from conexus.api.limits import MAX_ARGUMENT_BYTES
from conexus.api.operations import BY_NAME, OPERATIONS, Call, Operation
from conexus.app.service import ConexusService
from conexus.errors import TooLargeError
from conexus.observability.instrument import record_rejected
from conexus.server.http.body import BodyTooLargeError, read_body, replaying
from conexus.server.http.limits.middleware import DEADLINE_SCOPE_KEY
from conexus.server.lanes import Lanes

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
PROBLEM_JSON = "application/problem+json"


class ProblemItem(BaseModel):
    field: str = Field(description="The argument, dotted for nested ones")
    problem: str = Field(description="What is wrong with it and what was expected")


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="A URI naming the kind of problem")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to change")
    instance: str | None = Field(default=None, description="The request path")
    errors: list[ProblemItem] | None = Field(default=None, description="One item per invalid argument")


_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text, "content": {PROBLEM_JSON: {}}}
    for status, text in (
        (400, "Invalid request or arguments"),
        (401, "No API key or token, or one that is invalid or expired (see WWW-Authenticate)"),
        (403, "The key or token lacks the operation's scope"),
        (404, "Unknown root, file, or no index"),
        (409, "The index was built with another embedder or format"),
        (413, "The request, or a file it asks for, is too large"),
        (421, "The Host header names no host this server answers for"),
        (429, "A rate limit (per API key or per client address) is reached; see Retry-After"),
        (500, "Internal error"),
        (
            503,
            "Not ready (the index is being built, the store or model is unavailable), "
            "or too many requests in flight; see Retry-After",
        ),
        (504, "The request ran longer than the server's time limit and was stopped"),
    )
}


def problem_response(failure: Failure, instance: str) -> JSONResponse:
    """The HTTP response for a failure."""
    headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else None
    return JSONResponse(
        failure.problem(instance), status_code=failure.status, media_type=PROBLEM_JSON, headers=headers
    )


def _endpoint(op: Operation[Any, Any], service: ConexusService, lanes: Lanes) -> Any:
    async def endpoint(request: Request, args: BaseModel) -> Any:
        call = Call(
            service,
            transport="rest",
            principal=principal_of(request.scope),
            deadline=request.scope.get(DEADLINE_SCOPE_KEY),
        )
        try:
            result = await lanes.run(op.cost, op.execute, call, args)
        except anyio.get_cancelled_exc_class():
            call.cancelled.set()
            raise
        except Exception as exc:  # the top of a request: every failure becomes a problem document
            failure = describe(exc, op.tool)
            if failure.status >= 500 and failure.type == "internal":
                logger.exception("%s crashed", op.name)
            else:
                logger.info("%s failed: %s", op.name, exc)
            return problem_response(failure, request.url.path)
        # Already validated when built: skip FastAPI's second validation of the response model.
        return JSONResponse(result.model_dump(mode="json"))

    # FastAPI reads the body model from the signature: give each route its own input model.
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter("args", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=op.input),
        ]
    )
    endpoint.__name__ = op.name
    return endpoint


def rest_router(service: ConexusService, lanes: Lanes) -> APIRouter:
    """One POST route per operation under ``/api/v1``."""
    router = APIRouter(prefix=API_PREFIX)
    for op in OPERATIONS:
        router.add_api_route(
            f"/{op.name}",
            _endpoint(op, service, lanes),
            methods=["POST"],
            response_model=op.output,
            responses=_PROBLEM_RESPONSES,
            summary=op.title,
            description=op.description + f"\n\nMCP tool: `{op.tool}`. Scope: `{op.scope}`.",
            operation_id=op.name,
            tags=[op.scope],
            # Machine-readable twin of the description's tool name: clients generate their MCP
            # helpers from it (sdk/typescript), so tool names are never copied by hand.
            openapi_extra={"x-mcp-tool": op.tool},
        )
    return router


class BodyLimit:
    """ASGI middleware: a REST request body over ``max_bytes`` gets 413 before anything parses it.

    Counts what arrives, so a chunked body (no Content-Length) is bounded too, and the
    server never holds more than ``max_bytes`` of one request.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_ARGUMENT_BYTES, prefix: str = API_PREFIX) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send, int(declared))
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except BodyTooLargeError as big:
            await self._refuse(scope, send, big.size)
            return
        if body is not None:
            await self.app(scope, replaying(body, receive), send)

    async def _refuse(self, scope: Scope, send: Send, size: int) -> None:
        exc = TooLargeError(f"the request body has at least {size} bytes; the limit is {self.max_bytes}")
        response = problem_response(describe(exc, "the REST API"), str(scope.get("path", "")))
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def install_error_handlers(app: FastAPI) -> None:
    """Problem documents for what fails before an endpoint runs (body not JSON, wrong arguments)."""

    async def invalid_body(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        name = request.url.path.removeprefix(API_PREFIX + "/")
        op = BY_NAME.get(name)
        errors = [dict(e) for e in exc.errors()]
        if any(e.get("type") == "json_invalid" for e in errors):
            failure = Failure(400, "invalid-json", "Invalid JSON", "The request body is not valid JSON.")
        elif op is None:
            failure = Failure(
                400, "invalid-request", "Invalid request", "The request does not fit the route."
            )
        else:
            body_missing = any(
                e.get("type") == "missing" and tuple(e.get("loc", ())) == ("body",) for e in errors
            )
            if body_missing:
                failure = Failure(
                    400, "invalid-arguments", "Invalid arguments", "The request needs a JSON object body."
                )
            else:
                failure = invalid_arguments(errors, op.tool, op.input)
        if op is not None:  # refused before the operation's dispatch, which counts the others
            record_rejected(op.name, "rest", "client_error")
        return problem_response(failure, request.url.path)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = str(exc.detail)
        if exc.status_code == 404:
            detail = f"No route {request.url.path}; see /openapi.json for the POST {API_PREFIX}/<name> routes"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}; operations take POST"
        response = problem_response(Failure(exc.status_code, kind, title, detail), request.url.path)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    app.add_exception_handler(RequestValidationError, invalid_body)
    app.add_exception_handler(StarletteHTTPException, http_error)
