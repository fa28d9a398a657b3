"""Who is calling and what they may do: the :class:`Principal` on every ``Call``.

A principal comes from an API key (``conexus keys``) or from an OAuth JWT,
and holds:

* a **scope**, the highest it was granted: ``read`` < ``index`` < ``admin``
  (``admin`` implies ``index``, which implies ``read``). Operations declare the
  scope they need (search, read, ... ``read``; index control ``index``;
  connectors ``admin``) and :meth:`Operation.execute` refuses the rest with
  :class:`~conexus.errors.ForbiddenError`;
* an optional **allow-list of roots** (None: every served root). An entry is a
  root's name, or an absolute folder that admits every served root inside it.

``principal=None`` is the trusted local caller: the CLI, MCP over stdio, and
HTTP when no key exists and no OAuth issuer is configured.

Each served root has its own index, so the allow-list is applied when the
root of a request is chosen (:meth:`Call.root`), before any store is queried:
a key restricted to root A searches A's index only, and its counts, paging
and ``top_k`` are those of that index. A root outside the list is reported
exactly as a root that does not exist, and listings (status, connectors)
show only the allowed roots.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from conexus.app.service import ServedRoot

Scope = Literal["read", "index", "admin"]
SCOPE_ORDER: dict[str, int] = {"read": 0, "index": 1, "admin": 2}
# Where the HTTP authentication middleware leaves the caller in a request's ASGI scope.
PRINCIPAL_KEY = "conexus.principal"


def scope_implies(held: str | None, needed: str) -> bool:
    """True when the scope ``held`` covers ``needed`` (admin covers index covers read)."""
    return held is not None and SCOPE_ORDER.get(held, -1) >= SCOPE_ORDER[needed]


def highest_scope(scopes: Iterable[str]) -> Scope | None:
    """The highest of ``scopes`` (names among read, index, admin), or None when there is none."""
    best: Scope | None = None
    for s in scopes:
        if s in SCOPE_ORDER and (best is None or SCOPE_ORDER[s] > SCOPE_ORDER[best]):
            best = s  # type: ignore[assignment]  # narrowed by the membership test
    return best


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an API key or the subject of an OAuth token.

    ``id`` is stable and safe to log (a key's id, ``jwt:<subject>``); ``name``
    is for people (a key's name, the token's subject). ``scope`` is None for a
    token that carries none of Conexus' scopes: such a caller may do nothing.
    """

    id: str
    name: str
    kind: Literal["key", "token"]
    scope: Scope | None
    roots: tuple[str, ...] | None = None
    issuer: str | None = None

    def allows(self, needed: str) -> bool:
        """True when this caller holds ``needed`` (or a scope above it)."""
        return scope_implies(self.scope, needed)

    def scopes(self) -> list[str]:
        """Every scope this caller holds, the implied ones included."""
        return [s for s in SCOPE_ORDER if self.allows(s)]

    def may_use(self, root: ServedRoot) -> bool:
        """True when ``root`` is on the allow-list (by name, or lying inside a listed folder)."""
        if self.roots is None:
            return True
        return any(_entry_admits(entry, root.name, root.path) for entry in self.roots)

    def visible(self, roots: Sequence[ServedRoot]) -> list[ServedRoot]:
        """The roots of ``roots`` this caller may use, in order."""
        return [r for r in roots if self.may_use(r)]


def principal_of(scope: Mapping[str, Any]) -> Principal | None:
    """The caller a transport left in a request's ASGI scope (None: no authentication, a trusted caller)."""
    found = scope.get(PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else None


def _entry_admits(entry: str, name: str, path: Path) -> bool:
    if not os.path.isabs(entry):
        return entry == name
    folder = Path(os.path.normpath(entry))
    return path == folder or path.is_relative_to(folder)
