"""The operations every transport serves: models, the table, renderers, errors, paging.

Adapters import from here: :data:`OPERATIONS` (with :data:`BY_NAME` and
:data:`BY_TOOL`), :class:`Call`, :func:`describe` for errors.
"""

from conexus.api.errors import Failure, InvalidArgumentsError, describe
from conexus.api.operations import BY_NAME, BY_TOOL, OPERATIONS, Call, Operation, index_state

__all__ = [
    "BY_NAME",
    "BY_TOOL",
    "OPERATIONS",
    "Call",
    "Failure",
    "InvalidArgumentsError",
    "Operation",
    "describe",
    "index_state",
]
