"""The data and the scoring of :mod:`bench.tool_accuracy` (pure: no tree, no index, no oracle).

A language's own tooling (jedi, the TypeScript language service) answers each question about a
sampled symbol as a :class:`SymbolTruth`; Conexus's answers are :class:`Answer` s. A relation is
scored per symbol (precision over what Conexus returned, recall over what the tooling found,
the recall denominator capped at what Conexus may return at all), then averaged over the
symbols (macro) and pooled (micro).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

RELATIONS = ("definitions", "references", "importers", "imports", "tests", "callers", "callees")


@dataclass(frozen=True, order=True)
class Loc:
    """A line of a file; ``name`` is the symbol defined or used there, when that matters."""

    path: str
    line: int
    name: str | None = None

    def to_list(self) -> list[Any]:
        return [self.path, self.line] if self.name is None else [self.path, self.line, self.name]

    @classmethod
    def from_list(cls, item: Sequence[Any]) -> Loc:
        return cls(str(item[0]), int(item[1]), str(item[2]) if len(item) > 2 else None)


@dataclass(frozen=True, order=True)
class Span:
    """A cited range Conexus returned (a definition or a callee), with its qualified name."""

    path: str
    start: int
    end: int
    name: str | None = None


@dataclass
class SymbolTruth:
    """One sampled symbol and what the tooling says about it.

    ``line``/``col`` locate its name (1-based line, 0-based column). ``references``: every
    use (not the definition); ``calls``: the uses that are call expressions; ``use``: the
    first use outside an import, where ``use_definitions`` is what goto-definition answers;
    ``callees``: definitions of the calls inside its body (None for a class).
    """

    path: str
    name: str
    qualname: str
    kind: str
    line: int
    col: int
    end_line: int
    references: list[Loc] = field(default_factory=list)
    calls: list[Loc] = field(default_factory=list)
    use: Loc | None = None
    use_definitions: list[Loc] = field(default_factory=list)
    callees: list[Loc] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "qualname": self.qualname,
            "kind": self.kind,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "references": [x.to_list() for x in self.references],
            "calls": [x.to_list() for x in self.calls],
            "use": self.use.to_list() if self.use else None,
            "use_definitions": [x.to_list() for x in self.use_definitions],
            "callees": None if self.callees is None else [x.to_list() for x in self.callees],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SymbolTruth:
        return cls(
            path=d["path"],
            name=d["name"],
            qualname=d["qualname"],
            kind=d["kind"],
            line=d["line"],
            col=d["col"],
            end_line=d["end_line"],
            references=[Loc.from_list(x) for x in d["references"]],
            calls=[Loc.from_list(x) for x in d["calls"]],
            use=Loc.from_list(d["use"]) if d.get("use") else None,
            use_definitions=[Loc.from_list(x) for x in d["use_definitions"]],
            callees=None if d.get("callees") is None else [Loc.from_list(x) for x in d["callees"]],
        )


@dataclass
class TreeTruth:
    """The sampled symbols of one tree and its whole import graph (file -> files it imports)."""

    symbols: list[SymbolTruth]
    imports: dict[str, list[str]]
    candidates: int = 0

    def importers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for src, targets in sorted(self.imports.items()):
            for t in targets:
                out.setdefault(t, []).append(src)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbols": [s.to_dict() for s in self.symbols],
            "imports": self.imports,
            "candidates": self.candidates,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TreeTruth:
        return cls([SymbolTruth.from_dict(s) for s in d["symbols"]], d["imports"], d.get("candidates", 0))


@dataclass
class Tally:
    """Per-relation sums: macro (per-symbol means) and micro (pooled counts)."""

    precisions: list[float] = field(default_factory=list)
    recalls: list[float] = field(default_factory=list)
    symbols: int = 0
    tp_pred: int = 0
    n_pred: int = 0
    tp_truth: int = 0
    n_truth: int = 0

    def add(self, matched_pred: int, n_pred: int, matched_truth: int, n_truth: int) -> None:
        """One symbol's counts; ``n_truth`` already capped at what Conexus may return."""
        if n_pred == 0 and n_truth == 0:
            return
        self.symbols += 1
        if n_pred:
            self.precisions.append(matched_pred / n_pred)
        if n_truth:
            self.recalls.append(min(1.0, matched_truth / n_truth))
        self.tp_pred += matched_pred
        self.n_pred += n_pred
        self.tp_truth += min(matched_truth, n_truth)
        self.n_truth += n_truth

    def summary(self) -> dict[str, float | int]:
        p = sum(self.precisions) / len(self.precisions) if self.precisions else 0.0
        r = sum(self.recalls) / len(self.recalls) if self.recalls else 0.0
        mp = self.tp_pred / self.n_pred if self.n_pred else 0.0
        mr = self.tp_truth / self.n_truth if self.n_truth else 0.0
        return {
            "n": self.symbols,
            "precision": round(p, 3),
            "recall": round(r, 3),
            "f1": round(f1(p, r), 3),
            "micro_precision": round(mp, 3),
            "micro_recall": round(mr, 3),
            "micro_f1": round(f1(mp, mr), 3),
            "predicted": self.n_pred,
            "truth": self.n_truth,
        }


def f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def span_matches(span: Span, loc: Loc) -> bool:
    """A cited range names a definition when it holds its line and ends with its name."""
    if span.path != loc.path or not span.start <= loc.line <= span.end:
        return False
    return loc.name is None or span.name is None or span.name.rsplit(".", 1)[-1] == loc.name


def match_counts(
    predicted: Iterable[Any], truth: Iterable[Any], same: Callable[[Any, Any], bool], cap: int | None = None
) -> tuple[int, int, int, int]:
    """(predicted that match a truth, predicted, truth matched, truth capped at ``cap``)."""
    pred = list(dict.fromkeys(predicted))
    gold = list(dict.fromkeys(truth))
    matched_pred = sum(1 for p in pred if any(same(p, g) for g in gold))
    matched_truth = sum(1 for g in gold if any(same(p, g) for p in pred))
    n_truth = len(gold) if cap is None else min(len(gold), cap)
    return matched_pred, len(pred), min(matched_truth, n_truth), n_truth


def equal(a: Any, b: Any) -> bool:
    return bool(a == b)


def same_line(a: Loc, b: Loc) -> bool:
    return a.path == b.path and a.line == b.line
