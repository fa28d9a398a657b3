"""One error mapping for every transport.

:func:`describe` turns any exception raised by an operation into a
:class:`Failure`: the HTTP status and RFC 9457 problem type the REST API
answers with, and the message an MCP tool result (``isError``) and the CLI
show. Messages say what to change, because a model reads them and retries.

=========================  ======  =====================================
error                      status  problem type (``/problems/...``)
=========================  ======  =====================================
QueryError, ConfigError    400     invalid-request, configuration
PathError                  400     path-refused
PathNotFoundError          404     not-found (also a root the caller's key may not use)
AuthenticationError        401     unauthorized (with WWW-Authenticate, from the HTTP layer)
ForbiddenError             403     forbidden: the key or token lacks the operation's scope
PathDeniedError            403     path-denied: outside the allowed roots, or a file holding secrets
IndexNotFoundError         404     index-not-found
IndexIncompatibleError     409     index-incompatible
IndexBusyError             409     index-busy: another replica runs this root's index job
RoleError                  409     query-replica: this replica serves queries only
TooLargeError              413     too-large
IndexNotReadyError         503     index-not-ready (with Retry-After)
EmbeddingError             503     embedding-unavailable
StoreUnavailableError      503     store-unreachable: the database cannot be reached (Retry-After)
StoreError                 503     store-unavailable
anything else              500     internal (details only in the log)
=========================  ======  =====================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from conexus.errors import (
    AuthenticationError,
    ConexusError,
    ConfigError,
    EmbeddingError,
    ForbiddenError,
    IndexBusyError,
    IndexIncompatibleError,
    IndexNotFoundError,
    IndexNotReadyError,
    OverloadedError,
    PathDeniedError,
    PathError,
    PathNotFoundError,
    QueryError,
    RoleError,
    StoreError,
    StoreUnavailableError,
    TooLargeError,
)

PROBLEM_BASE = "https://conexus.dev/problems/"
RETRY_AFTER_NOT_READY_S = 5


@dataclass(frozen=True)
class Failure:
    """How one failure is reported: HTTP status, problem type, title, and the message for a model."""

    status: int
    type: str
    title: str
    message: str
    retry_after: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document (``application/problem+json``)."""
        out: dict[str, Any] = {
            "type": PROBLEM_BASE + self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.message,
        }
        if instance:
            out["instance"] = instance
        if self.errors:
            out["errors"] = self.errors
        return out


class InvalidArgumentsError(QueryError):
    """Arguments that do not fit an operation's input model; carries the per-field report."""

    problem = "invalid-arguments"

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


# Title and message of each kind of failure; the status and problem type are the error class's own
# (``http_status``, ``problem`` in :mod:`conexus.errors`). The most specific class listed wins.
_REPORTS: dict[type[ConexusError], tuple[str, str]] = {
    PathNotFoundError: ("Not found", "{exc}."),
    AuthenticationError: (
        "Unauthorized",
        "Unauthorized: {exc}. Send a valid API key or token as 'Authorization: Bearer <key>'.",
    ),
    ForbiddenError: (
        "Forbidden",
        "Forbidden: {exc}. Ask for a key or token with that scope (read < index < admin).",
    ),
    PathDeniedError: ("Path denied", "Path denied: {exc}."),
    PathError: (
        "Path refused",
        "Path refused: {exc}. Paths are relative to the served root (see context_status).",
    ),
    IndexNotFoundError: (
        "No index",
        "{exc}. Start indexing with context_index_control action=start, then retry.",
    ),
    IndexNotReadyError: ("Index not ready", "{exc}; retry in a few seconds."),
    IndexIncompatibleError: (
        "Index incompatible",
        "{exc}. Rebuild it with context_index_control action=rebuild.",
    ),
    IndexBusyError: ("Index busy", "{exc}; retry when that job has finished (see context_status)."),
    RoleError: ("Query replica", "{exc}."),
    TooLargeError: ("Too large", "Too large: {exc}"),
    QueryError: ("Invalid request", "Invalid request: {exc}"),
    ConfigError: ("Configuration problem", "Configuration problem: {exc}"),
    EmbeddingError: (
        "Embedding model failed",
        "The embedding model failed: {exc}. Keyword search still works via context_grep.",
    ),
    StoreUnavailableError: (
        "Database unreachable",
        "The index database cannot be reached: {exc}. Retry in a few seconds.",
    ),
    OverloadedError: ("Server busy", "{exc}; retry after the Retry-After seconds."),
    StoreError: (
        "Index storage failed",
        "The index storage failed: {exc}. Try context_index_control action=rebuild.",
    ),
    ConexusError: ("Request failed", "{exc}"),
}


def describe(exc: BaseException, operation: str) -> Failure:
    """The report for an exception raised while running ``operation`` (its tool name)."""
    if isinstance(exc, InvalidArgumentsError):
        return exc.failure
    if isinstance(exc, ConexusError):
        cls = next(c for c in type(exc).__mro__ if c in _REPORTS)
        title, message = _REPORTS[cls]
        retry = (
            RETRY_AFTER_NOT_READY_S if isinstance(exc, IndexNotReadyError | StoreUnavailableError) else None
        )
        if isinstance(exc, OverloadedError):
            retry = exc.retry_after
        return Failure(exc.http_status, exc.problem, title, message.format(exc=exc), retry_after=retry)
    return Failure(
        500,
        "internal",
        "Internal error",
        f"Internal error in {operation} (details are in the server log); retry, or report it if it persists.",
    )


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


def argument_errors(errors: list[dict[str, Any]], model: type[BaseModel]) -> list[dict[str, Any]]:
    """Pydantic's error list as ``{"field", "problem"}`` items, each saying what came and what was expected.

    Raw inputs are never echoed (they may be huge or secret): only their shape is described.
    """
    out = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "arguments"
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            problem = f"unknown argument (valid: {', '.join(model.model_fields)})"
        elif kind == "missing":
            problem = "required argument is missing"
        else:
            problem = f"{err.get('msg', 'invalid')} (got {_describe_input(err.get('input'))})"
        out.append({"field": loc, "problem": problem})
    return out


def invalid_arguments(errors: list[dict[str, Any]], operation: str, model: type[BaseModel]) -> Failure:
    """The 400 report for arguments that do not fit ``model``: one line per bad argument (at most 8)."""
    items = argument_errors(errors, model)
    parts = [f"{e['field']}: {e['problem']}" for e in items[:8]]
    more = f" (and {len(items) - 8} more)" if len(items) > 8 else ""
    message = (
        f"Invalid arguments for {operation}: " + "; ".join(parts) + more + ". See the tool's input schema."
    )
    return Failure(400, "invalid-arguments", "Invalid arguments", message, errors=items)


def validation_failure(exc: ValidationError, operation: str, model: type[BaseModel]) -> Failure:
    """:func:`invalid_arguments` for a pydantic ``ValidationError``."""
    return invalid_arguments([dict(e) for e in exc.errors(include_url=False)], operation, model)
