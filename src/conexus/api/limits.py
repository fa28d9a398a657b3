"""Request limits every transport enforces the same way (MCP, REST, CLI)."""

from __future__ import annotations

from conexus.search.hybrid import MAX_OFFSET, MAX_TOP_K
from conexus.search.query import MAX_QUERY_CHARS

__all__ = [
    "DEADLINE_MARGIN_S",
    "DEFAULT_MAX_WAIT_S",
    "GREP_TIMEOUT_S",
    "MAX_ARGUMENT_BYTES",
    "MAX_LIST_ITEMS",
    "MAX_OFFSET",
    "MAX_PATH_CHARS",
    "MAX_QUERY_CHARS",
    "MAX_TOP_K",
    "PROGRESS_POLL_S",
]

MAX_PATH_CHARS = 4096
MAX_ARGUMENT_BYTES = 1_000_000  # a request's arguments, serialised; larger ones are refused (413)
MAX_LIST_ITEMS = 200
PROGRESS_POLL_S = 0.2
GREP_TIMEOUT_S = 10.0
DEADLINE_MARGIN_S = 0.5  # a wait ends this long before the server's time limit, to answer in time
DEFAULT_MAX_WAIT_S = 300.0
