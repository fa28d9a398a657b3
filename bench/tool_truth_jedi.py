"""Ground truth for Python from jedi: the symbols of a tree, their references, call sites, callees, imports.

Used by :mod:`bench.tool_accuracy`. jedi (a dev dependency) resolves names the way an editor does:
``Script.get_references`` for references (and, when a ``(`` follows the name, call sites),
``Script.goto(follow_imports=True)`` at a use for its definitions and on each call expression
of a function body for its callees, and on each imported name or module path for the import
graph. parso (jedi's parser) lists the definitions and the call and import nodes.

The project's ``sys_path`` is the tree itself (and its ``src`` folder when there is one), never
the running environment's site-packages, so ``import pytest`` inside pytest's tree resolves to
the tree's ``src/pytest``, not to the installed copy.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.tool_scoring import Loc, SymbolTruth, TreeTruth

logger = logging.getLogger(__name__)


def _project(root: Path) -> Any:
    import jedi

    paths = [str(root / "src")] if (root / "src").is_dir() else []
    return jedi.Project(root, sys_path=[*paths, str(root)], smart_sys_path=False)


def _rel(root: Path, module_path: Any, files: set[str]) -> str | None:
    if module_path is None:
        return None
    try:
        rel = Path(module_path).resolve().relative_to(root).as_posix()
    except ValueError:
        return None
    return rel if rel in files else None


def iter_definitions(module: Any, path: str) -> Iterator[SymbolTruth]:
    """Classes, functions and methods of a parso module, not those local to a function body."""

    def walk(node: Any, chain: tuple[str, ...], scope: str) -> Iterator[SymbolTruth]:
        for child in getattr(node, "children", ()):
            if child.type in ("funcdef", "classdef"):
                name = child.name.value
                kind = "class" if child.type == "classdef" else "method" if scope == "class" else "function"
                if scope != "function":
                    yield SymbolTruth(
                        path=path,
                        name=name,
                        qualname=".".join((*chain, name)),
                        kind=kind,
                        line=child.name.start_pos[0],
                        col=child.name.start_pos[1],
                        end_line=child.end_pos[0] - (1 if child.end_pos[1] == 0 else 0),
                    )
                inner = "class" if child.type == "classdef" else "function"
                yield from walk(child, (*chain, name), inner if scope != "function" else "function")
            else:
                yield from walk(child, chain, scope)

    yield from walk(module, (), "module")


def _call_names(node: Any) -> Iterator[Any]:
    """The name leaf of every call ``name(`` / ``obj.name(`` inside ``node``."""
    children = getattr(node, "children", None)
    if children is None:
        return
    for i, child in enumerate(children):
        first = child.children[0] if child.type == "trailer" else None
        if first is not None and first.type == "operator" and first.value == "(":
            prev = children[i - 1] if i else None
            if prev is not None and prev.type == "name":
                yield prev
            elif prev is not None and prev.type == "trailer" and prev.children[0].value == ".":
                yield prev.children[1]
        yield from _call_names(child)


def _find_def(module: Any, line: int, col: int) -> Any:
    leaf = module.get_leaf_for_position((line, col + 1))
    node = leaf.parent if leaf is not None else None
    return node if node is not None and node.type in ("funcdef", "classdef") else None


def _alias_of(leaf: Any) -> Any:
    """The alias leaf of ``name as alias`` in an import, when ``leaf`` is the imported name."""
    parent = leaf.parent
    if parent is not None and parent.type in ("import_as_name", "dotted_as_name"):
        alias = parent.children[-1]
        if alias is not leaf and alias.type == "name":
            return alias
    return None


def _followed_by_call(lines: Sequence[str], line: int, col: int, name: str) -> bool:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return text[col + len(name) :].lstrip().startswith("(")


def _imports(root: Path, rel: str, script: Any, module: Any, files: set[str]) -> list[str]:
    """Repository files the imports of one module resolve to (a submodule, else the module named)."""
    out: dict[str, None] = {}

    def goto(leaf: Any) -> list[Any]:
        try:
            return list(script.goto(leaf.start_pos[0], leaf.start_pos[1], follow_imports=True))
        except Exception:  # jedi raises many kinds on odd code; a failed lookup is no edge
            logger.debug("jedi goto failed in %s at %s", rel, leaf.start_pos, exc_info=True)
            return []

    def modules(found: list[Any]) -> list[str]:
        return [r for d in found if d.type == "module" and (r := _rel(root, d.module_path, files))]

    stack = [module]
    while stack:
        node = stack.pop()
        if node.type in ("import_name", "import_from"):
            from_names = node.get_from_names() if node.type == "import_from" else []
            from_target: list[str] | None = None
            for path in node.get_paths():
                if node.type == "import_from" and len(path) == len(from_names):
                    continue  # "from . import *" and the like: no name to follow
                found = modules(goto(path[-1]))
                if not found and node.type == "import_from":
                    if from_target is None:
                        from_target = modules(goto(from_names[-1])) if from_names else []
                        if not from_names:  # "from . import name": the package itself
                            pkg = Path(rel).parent
                            for _ in range(node.level - 1):
                                pkg = pkg.parent
                            init = (pkg / "__init__.py").as_posix()
                            from_target = [init] if init in files else []
                    found = from_target
                out.update(dict.fromkeys(found))
            continue
        stack.extend(getattr(node, "children", ()))
    out.pop(rel, None)
    return list(out)


def tree_truth(root: Path, files: Sequence[str], sample: int, seed: int, is_test: Any) -> TreeTruth:
    """Sample ``sample`` symbols of the non-test Python files (seeded) and answer every question with jedi."""
    import random

    import jedi
    import parso

    root = root.resolve()
    py_files = sorted(f for f in files if f.endswith(".py"))
    file_set = set(files)
    project = _project(root)
    texts: dict[str, str] = {}
    modules: dict[str, Any] = {}
    scripts: dict[str, Any] = {}

    def load(rel: str) -> tuple[Any, Any, list[str]]:
        if rel not in scripts:
            texts[rel] = (root / rel).read_text(encoding="utf-8", errors="replace")
            modules[rel] = parso.parse(texts[rel])
            scripts[rel] = jedi.Script(code=texts[rel], path=root / rel, project=project)
        return scripts[rel], modules[rel], texts[rel].split("\n")

    candidates: list[SymbolTruth] = []
    for rel in py_files:
        if is_test(rel):
            continue
        _, module, _ = load(rel)
        for sym in iter_definitions(module, rel):
            if sym.name.startswith("__") and sym.name.endswith("__"):
                continue  # dunders are called by the language, not by name
            candidates.append(sym)
    chosen = random.Random(seed).sample(candidates, min(sample, len(candidates)))
    chosen.sort(key=lambda s: (s.path, s.line))

    for sym in chosen:
        script, module, _ = load(sym.path)
        try:
            refs = script.get_references(sym.line, sym.col, scope="project", include_builtins=False)
        except Exception:
            logger.warning("jedi get_references failed for %s:%s", sym.path, sym.line, exc_info=True)
            refs = []
        uses: list[tuple[str, int, int]] = []
        for r in refs:
            rel = _rel(root, r.module_path, file_set)
            if rel is None or r.name != sym.name or (rel == sym.path and r.line == sym.line):
                continue
            _, use_module, _ = load(rel)
            leaf = use_module.get_leaf_for_position((r.line, r.column + 1))
            in_import = leaf is not None and leaf.search_ancestor("import_from", "import_name") is not None
            if r.is_definition() and not in_import:
                continue  # another binding of the same name, not a use of this one
            uses.append((rel, r.line, r.column))
            alias = _alias_of(leaf) if in_import else None
            if alias is not None:  # "import x as y": the uses of y are uses of x (jedi stops at the alias)
                alias_script, _, _ = load(rel)
                for a in alias_script.get_references(alias.start_pos[0], alias.start_pos[1], scope="file"):
                    if not a.is_definition() and a.name == alias.value:
                        uses.append((rel, a.line, a.column))
        uses = sorted(set(uses))
        sym.references = sorted({Loc(p, ln) for p, ln, _ in uses})
        calls: set[Loc] = set()
        for p, ln, col in uses:
            _, _, other_lines = load(p)
            word = re.match(r"[A-Za-z_]\w*", other_lines[ln - 1][col:])
            if word and _followed_by_call(other_lines, ln, col, word.group(0)):
                calls.add(Loc(p, ln))
        sym.calls = sorted(calls)
        # The definitions of the name as an assistant meets it: the first use outside an import.
        for p, ln, col in uses:
            use_script, use_module, _ = load(p)
            leaf = use_module.get_leaf_for_position((ln, col + 1))
            if leaf is None or leaf.value != sym.name or leaf.search_ancestor("import_from", "import_name"):
                continue  # an import or an alias: an assistant asks about the name it reads in code
            sym.use = Loc(p, ln, sym.name)
            try:
                found = use_script.goto(ln, col, follow_imports=True)
            except Exception:
                found = []
            sym.use_definitions = sorted(
                {
                    Loc(rel, d.line, d.name)
                    for d in found
                    if d.type in ("function", "class") and (rel := _rel(root, d.module_path, file_set))
                }
            )
            break
        if sym.kind != "class":
            node = _find_def(module, sym.line, sym.col)
            callees: set[Loc] = set()
            for leaf in _call_names(node.children[-1]) if node is not None else ():
                try:
                    found = script.goto(leaf.start_pos[0], leaf.start_pos[1], follow_imports=True)
                except Exception:
                    found = []
                for d in found:
                    rel = _rel(root, d.module_path, file_set)
                    if rel is None or d.type not in ("function", "class") or d.line is None:
                        continue
                    if not (rel == sym.path and sym.line == d.line):  # recursion is no callee
                        callees.add(Loc(rel, d.line, d.name))
            sym.callees = sorted(callees)

    imports: dict[str, list[str]] = {}
    for rel in py_files:
        script, module, _ = load(rel)
        imports[rel] = _imports(root, rel, script, module, file_set)
    return TreeTruth(symbols=chosen, imports=imports, candidates=len(candidates))
