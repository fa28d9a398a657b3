"""The results of ``related_info``: items with citations, definitions, targets, references. Pure data."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from conexus.gitinfo import Commit

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class RelatedItem:
    """One related thing, with the lines that show it.

    ``kind`` says what it is: a symbol kind for definitions (``function``,
    ``class``...), ``import`` for import statements, ``call``/``reference``/
    ``import`` for references, ``test``, ``co_change``. ``name`` is the symbol,
    import specifier or enclosing symbol; ``detail`` a one-line excerpt or
    explanation; ``resolved`` the repository file an import resolves to.
    """

    path: str
    start_line: int
    end_line: int
    kind: str
    name: str | None = None
    detail: str = ""
    resolved: str | None = None
    count: int | None = None

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "citation": self.citation,
            "kind": self.kind,
            "name": self.name,
            "detail": self.detail,
        }
        if self.resolved is not None:
            out["resolved"] = self.resolved
        if self.count is not None:
            out["count"] = self.count
        return out


@dataclass(frozen=True, slots=True)
class RelatedInfo:
    """Everything :func:`related_info` found about one target.

    ``target_kind`` is ``file`` or ``symbol``; ``files`` the file(s) the target
    lives in. Each list is capped at the request's ``limit``; ``notes`` say
    when something was cut, ambiguous or unavailable (no git, not indexed).
    """

    target: str
    target_kind: str
    files: tuple[str, ...]
    definitions: tuple[RelatedItem, ...]
    imports: tuple[RelatedItem, ...]
    importers: tuple[RelatedItem, ...]
    references: tuple[RelatedItem, ...]
    tests: tuple[RelatedItem, ...]
    co_changes: tuple[RelatedItem, ...]
    recent_commits: tuple[Commit, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "target_kind": self.target_kind,
            "files": list(self.files),
            "definitions": [i.to_dict() for i in self.definitions],
            "imports": [i.to_dict() for i in self.imports],
            "importers": [i.to_dict() for i in self.importers],
            "references": [i.to_dict() for i in self.references],
            "tests": [i.to_dict() for i in self.tests],
            "co_changes": [i.to_dict() for i in self.co_changes],
            "recent_commits": [c.to_dict() for c in self.recent_commits],
            "notes": list(self.notes),
        }


@dataclass(frozen=True, slots=True)
class Definition:
    """A symbol as the index knows it; a symbol split over several chunks is one Definition."""

    path: str
    start_line: int
    end_line: int
    symbol: str
    parent: str | None
    kind: str
    language: str
    signature: str | None
    docstring: str | None
    chunk_ids: tuple[int, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.parent}.{self.symbol}" if self.parent else self.symbol

    @property
    def citation(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"

    def contains(self, path: str, line: int) -> bool:
        return path == self.path and self.start_line <= line <= self.end_line


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved ``target`` string: a file (``definitions`` are its symbols) or a symbol."""

    text: str
    kind: str  # "file" | "symbol"
    files: tuple[str, ...]
    definitions: tuple[Definition, ...]
    indexed: bool = True
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reference:
    """One confirmed occurrence of a name in an indexed chunk."""

    path: str
    line: int
    name: str
    text: str
    kind: str  # "call" | "import" | "reference"
    chunk_id: int
    enclosing: str | None  # qualified symbol of the chunk the line is in

    def to_item(self) -> RelatedItem:
        return RelatedItem(self.path, self.line, self.line, self.kind, self.name, self.text)
