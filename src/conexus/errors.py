"""The one exception tree of Conexus.

::

    ConexusError
    ├── ConfigError            bad option, bad conexus.toml, unknown embedder
    ├── PathError              path outside the root, hostile path
    │   ├── PathNotFoundError      no such root, file or folder
    │   └── PathDeniedError        a path the server will not serve: outside allow_roots,
    │                              or a file that holds secrets
    ├── IndexStateError            no index, corrupt index, incompatible index
    │   ├── IndexNotFoundError
    │   ├── IndexIncompatibleError
    │   ├── IndexNotReadyError     the first build is still running: retry shortly
    │   ├── IndexInUseError        another process has the index open (restore refuses)
    │   └── IndexBusyError         another replica is indexing this root (its job lock is held)
    ├── RoleError              a query replica asked to index (roles: all, query, index)
    ├── StoreError             the database or vector index failed underneath
    │   └── StoreUnavailableError  the database cannot be reached (down, restarting, cut off)
    ├── EmbeddingError         the model could not be loaded or failed to run
    ├── OverloadedError        the server's workers are busy: retry after ``retry_after`` seconds
    ├── AccessError            who is calling may not do this (HTTP with keys or OAuth)
    │   ├── AuthenticationError    no credentials, or a key/token that is invalid or expired
    │   └── ForbiddenError         a valid caller without the scope the operation needs
    └── QueryError             a query the engine cannot answer (never a syntax error:
        │                      any string is a valid query)
        └── TooLargeError      a request, or a file it asks for, exceeds a size limit

Third-party errors are translated at the boundary (``raise StoreError(...) from exc``).
Adapters map the tree to their protocol: the CLI to a one-line message and an
exit code (``exit_code``), the MCP server to ``isError`` results, the HTTP API
to problem documents with ``http_status`` and the RFC 9457 type ``problem``
(:mod:`conexus.api.errors`; the CLI's REST client maps a problem back to its class).
"""

from __future__ import annotations


class ConexusError(Exception):
    """Root of every error Conexus raises on purpose."""

    exit_code = 1
    http_status = 400
    problem = "request-failed"


class ConfigError(ConexusError):
    """An option, environment variable or conexus.toml value is invalid."""

    exit_code = 2
    http_status = 400
    problem = "configuration"


class PathError(ConexusError):
    """A path does not exist, or leaves the root it must stay in."""

    exit_code = 3
    http_status = 400
    problem = "path-refused"


class PathNotFoundError(PathError):
    """A root, file or folder that the request names does not exist."""

    exit_code = 3
    http_status = 404
    problem = "not-found"


class PathDeniedError(PathError):
    """A path the server refuses to serve: a root outside ``allow_roots``, or a file holding secrets."""

    exit_code = 3
    http_status = 403
    problem = "path-denied"


class IndexStateError(ConexusError):
    """Base for problems with an index as a whole."""

    exit_code = 4
    http_status = 409
    problem = "index-state"


class IndexNotFoundError(IndexStateError):
    """No index exists for the requested root."""

    exit_code = 4
    http_status = 404
    problem = "index-not-found"


class IndexIncompatibleError(IndexStateError):
    """The index was built by another format, embedder or chunker, or is corrupt."""

    exit_code = 5
    http_status = 409
    problem = "index-incompatible"


class IndexNotReadyError(IndexStateError):
    """The index is being built for the first time and cannot answer yet."""

    exit_code = 4
    http_status = 503
    problem = "index-not-ready"


class IndexInUseError(IndexStateError):
    """Another process (a running server, an index run) has the index open."""

    exit_code = 4
    http_status = 409
    problem = "index-in-use"


class IndexBusyError(IndexStateError):
    """Another process or replica holds this index's job lock: its index job runs there."""

    exit_code = 4
    http_status = 409
    problem = "index-busy"


class RoleError(ConexusError):
    """This replica serves queries only: index jobs run on replicas with role index or all."""

    exit_code = 2
    http_status = 409
    problem = "query-replica"


class StoreError(ConexusError):
    """The storage layer failed (SQLite, vector index files)."""

    exit_code = 6
    http_status = 503
    problem = "store-unavailable"


class StoreUnavailableError(StoreError):
    """The database server cannot be reached (stopped, restarting, network cut): retry shortly."""

    exit_code = 6
    http_status = 503
    problem = "store-unreachable"


class EmbeddingError(ConexusError):
    """The embedding model could not be loaded or failed."""

    exit_code = 7
    http_status = 503
    problem = "embedding-unavailable"


class OverloadedError(ConexusError):
    """Every worker of the request's lane stayed busy past the queue time limit: retry later.

    ``retry_after`` is the wait, in seconds, the server suggests (sent as ``Retry-After``).
    """

    exit_code = 6
    http_status = 503
    problem = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AccessError(ConexusError):
    """The caller is not allowed to do this (API keys and OAuth on the HTTP server)."""

    exit_code = 8
    http_status = 403
    problem = "access-denied"


class AuthenticationError(AccessError):
    """No credentials, or a key or token that is unknown, revoked, expired or badly signed."""

    exit_code = 8
    http_status = 401
    problem = "unauthorized"


class ForbiddenError(AccessError):
    """A valid key or token that lacks the scope the operation needs (read < index < admin)."""

    exit_code = 8
    http_status = 403
    problem = "forbidden"


class QueryError(ConexusError):
    """A request the engine cannot answer (bad filter, bad limits)."""

    exit_code = 2
    http_status = 400
    problem = "invalid-request"


class TooLargeError(QueryError):
    """A request, or the file it asks for, is larger than the limit."""

    exit_code = 2
    http_status = 413
    problem = "too-large"
