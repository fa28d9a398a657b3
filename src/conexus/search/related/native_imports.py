"""Imports of Java, Rust, C/C++, PHP and Ruby: what a statement names, and which repository file that is.

The parser (:func:`conexus.search.related.imports.extract_imports`) hands each
import statement's node here; :func:`statement_specifiers` turns its text into
the specifiers it names, and :class:`NativeResolver` maps a specifier to the
files of the repository it refers to, the way each language's own tooling does,
minus its build configuration:

- **Java** ``import a.b.C;`` is the file ``…/a/b/C.java`` under any source root
  (``import static a.b.C.m;`` and nested classes drop trailing names until a
  file matches; ``import a.b.*;`` is every file of the package directory).
- **Rust** ``mod m;`` is ``m.rs`` or ``m/mod.rs`` beside the declaring module;
  ``use crate::a::b::X`` descends from the crate root (``src/lib.rs`` /
  ``src/main.rs`` under the nearest ``Cargo.toml``) through module files for as
  long as they exist; ``self::``/``super::`` start from the importer; a
  workspace crate's name (``[package] name`` of a ``Cargo.toml``) starts from
  that crate's root.
- **C/C++** ``#include "x/y.h"`` is tried beside the importer first; then, like
  ``<x/y.h>``, as a path suffix anywhere in the repository (include
  directories are configured in build files this does not read), the match
  nearest the importer winning.
- **PHP** ``use A\\B\\C;`` is ``…/A/B/C.php`` or, as PSR-4 autoloading drops a
  vendor prefix, ``…/B/C.php``; ``require``/``include`` of a string literal is
  relative to the importer.
- **Ruby** ``require_relative 'x'`` is relative to the importer;
  ``require 'a/b'`` is ``…/a/b.rb`` (``lib/`` first).

External names (a JDK class, a crate from crates.io, ``<stdio.h>``) resolve to
nothing. Pure functions over the list of indexed paths; no file is read here
except a ``Cargo.toml`` for its crate name (from the root's tree).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from conexus.indexing.imports import NATIVE_LANGUAGES, java_type_names, statement_specifiers
from conexus.search.tree import Tree, as_tree, config_text

__all__ = ["NATIVE_LANGUAGES", "NativeResolver", "import_name", "java_type_names", "statement_specifiers"]


_CARGO_NAME = re.compile(r"^\s*\[package\][^\[]*?^\s*name\s*=\s*[\"']([^\"']+)[\"']", re.M | re.S)


# -------------------------------------------------------------------------------- resolution


def _common_prefix_len(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a.split("/"), b.split("/"), strict=False):
        if x != y:
            break
        n += 1
    return n


def _rust_crate_name(tree: Tree, cargo_toml: str) -> str | None:
    text = config_text(tree, cargo_toml)
    m = _CARGO_NAME.search(text) if text is not None else None
    return m.group(1).replace("-", "_") if m else None


class NativeResolver:
    """Resolves Java, Rust, C/C++, PHP and Ruby specifiers against the indexed paths."""

    def __init__(self, root: Tree | Path, paths: Iterable[str]) -> None:
        """Resolve against ``paths``; crate names are read from the ``Cargo.toml`` files of ``root``."""
        tree = as_tree(root)
        self.files = frozenset(paths)
        self._by_name: dict[str, list[str]] = {}
        self._java_dirs: dict[str, list[str]] = {}
        cargo_dirs: set[str] = set()
        for path in sorted(self.files):
            name = posixpath.basename(path)
            self._by_name.setdefault(name, []).append(path)
            if name.endswith(".java"):
                self._java_dirs.setdefault(posixpath.dirname(path), []).append(path)
            elif name == "Cargo.toml":
                cargo_dirs.add(posixpath.dirname(path))
        self._cargo_dirs = frozenset(cargo_dirs)
        self._crates: dict[str, str] = {}  # crate name -> its root module file
        for d in sorted(cargo_dirs):
            crate_root = self._crate_root_in(d)
            crate = _rust_crate_name(tree, posixpath.join(d, "Cargo.toml")) if crate_root else None
            if crate and crate_root and crate not in self._crates:
                self._crates[crate] = crate_root

    def resolve(self, importer: str, language: str, spec: str, names: Sequence[str] = ()) -> list[str]:
        """The repository files ``spec`` (written in ``importer``) refers to; empty when external.

        ``names`` narrows a Java wildcard import to the classes the importer mentions.
        """
        if language == "java":
            out = self._java(importer, spec, names)
        elif language == "rust":
            out = self._rust(importer, spec)
        elif language in ("c", "cpp"):
            out = self._include(importer, spec)
        elif language == "php":
            out = self._php(importer, spec)
        elif language == "ruby":
            out = self._ruby(importer, spec)
        else:
            out = []
        return [p for p in dict.fromkeys(out) if p != importer]

    # -- shared ----------------------------------------------------------------------------------
    def _by_suffix(self, suffix: str, importer: str) -> list[str]:
        """The indexed file whose path is ``suffix`` or ends with ``/suffix``, nearest ``importer``."""
        suffix = suffix.strip("/")
        if not suffix:
            return []
        same_name = self._by_name.get(posixpath.basename(suffix), ())
        cands = [p for p in same_name if p == suffix or p.endswith("/" + suffix)]
        if not cands:
            return []
        return [min(cands, key=lambda p: (-_common_prefix_len(p, importer), len(p), p))]

    def _relative(self, importer: str, spec: str) -> str | None:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
        return path if path in self.files else None

    # -- Java ------------------------------------------------------------------------------------
    def _java(self, importer: str, spec: str, names: Sequence[str]) -> list[str]:
        parts = [p for p in spec.split(".") if p]
        if not parts:
            return []
        if parts[-1] == "*":
            parts = parts[:-1]
            package = "/".join(parts)
            dirs = [d for d in self._java_dirs if d == package or d.endswith("/" + package)]
            if dirs:
                best = min(dirs, key=lambda d: (-_common_prefix_len(d, importer), len(d), d))
                used = set(names)
                return [p for p in self._java_dirs[best] if posixpath.basename(p)[: -len(".java")] in used]
            # ``import static a.b.C.*``: the members of class C.
        for n in range(len(parts), 1, -1):
            found = self._by_suffix("/".join(parts[:n]) + ".java", importer)
            if found:
                return found
        return []

    # -- Rust ------------------------------------------------------------------------------------
    def _crate_root_in(self, cargo_dir: str) -> str | None:
        for name in ("src/lib.rs", "src/main.rs", "lib.rs"):
            cand = posixpath.join(cargo_dir, name) if cargo_dir else name
            if cand in self.files:
                return cand
        return None

    def _crate_root_of(self, path: str) -> str | None:
        d = posixpath.dirname(path)
        while True:
            if d in self._cargo_dirs:
                return self._crate_root_in(d)
            if not d:
                return None
            d = posixpath.dirname(d)

    @staticmethod
    def _module_dir(module_file: str) -> str:
        directory, name = posixpath.split(module_file)
        if name in ("mod.rs", "lib.rs", "main.rs"):
            return directory
        return posixpath.join(directory, name[: -len(".rs")]) if name.endswith(".rs") else directory

    def _child_module(self, module_file: str, name: str) -> str | None:
        d = self._module_dir(module_file)
        for cand in (posixpath.join(d, f"{name}.rs"), posixpath.join(d, name, "mod.rs")):
            if cand in self.files:
                return cand
        return None

    def _parent_module(self, module_file: str) -> str | None:
        directory, name = posixpath.split(module_file)
        if name in ("lib.rs", "main.rs") or not directory:
            return None
        parent_dir = posixpath.dirname(directory) if name == "mod.rs" else directory
        owner_dir, owner_name = posixpath.split(parent_dir)
        cands = [
            posixpath.join(parent_dir, "mod.rs"),
            posixpath.join(parent_dir, "lib.rs"),
            posixpath.join(parent_dir, "main.rs"),
            posixpath.join(owner_dir, f"{owner_name}.rs"),
        ]
        return next((c for c in cands if c in self.files), None)

    def _rust(self, importer: str, spec: str) -> list[str]:
        segs = [s for i, s in enumerate(spec.split("::")) if s and s != "*" and (i == 0 or s != "self")]
        if not segs:
            return []
        head = segs[0]
        start: str | None
        if head == "crate":
            start, rest = self._crate_root_of(importer), segs[1:]
        elif head in ("self", "super"):
            start, rest = importer, segs
            while rest and rest[0] in ("self", "super"):
                if rest[0] == "super":
                    start = self._parent_module(start) if start else None
                rest = rest[1:]
        elif head in self._crates:
            start, rest = self._crates[head], segs[1:]
        elif self._child_module(importer, head) is not None:  # 2018 uniform paths: a child module
            start, rest = importer, segs
        else:
            return []  # std, core or a crates.io dependency
        if start is None:
            return []
        target = start
        for seg in rest:
            child = self._child_module(target, seg)
            if child is None:
                break
            target = child
        return [target]

    # -- C / C++ ---------------------------------------------------------------------------------
    def _include(self, importer: str, spec: str) -> list[str]:
        name = spec[1:-1].strip()
        if not name:
            return []
        if spec.startswith('"'):
            beside = self._relative(importer, name)
            if beside:
                return [beside]
        normal = posixpath.normpath(name)
        while normal.startswith("../"):
            normal = normal[3:]
        return self._by_suffix(normal, importer)

    # -- PHP -------------------------------------------------------------------------------------
    def _php(self, importer: str, spec: str) -> list[str]:
        if "\\" in spec or (spec and not spec.endswith(".php") and "/" not in spec):
            parts = [p for p in spec.split("\\") if p]
            # PSR-4 maps a namespace prefix to a directory: try the whole name, then drop prefixes.
            for i in range(len(parts) - 1 if len(parts) > 1 else 1):
                found = self._by_suffix("/".join(parts[i:]) + ".php", importer)
                if found:
                    return found
            return []
        beside = self._relative(importer, spec.lstrip("/"))
        return [beside] if beside else self._by_suffix(posixpath.normpath(spec), importer)

    # -- Ruby ------------------------------------------------------------------------------------
    def _ruby(self, importer: str, spec: str) -> list[str]:
        relative = spec.startswith("relative:")
        name = spec.removeprefix("relative:")
        if not name.endswith(".rb"):
            name += ".rb"
        if relative:
            found = self._relative(importer, name)
            return [found] if found else []
        lib = self._by_suffix(posixpath.join("lib", name), importer)
        return lib or self._by_suffix(name, importer)


_STEM_IMPORTED = frozenset(
    {"java", "php", "rb", "h", "hh", "hpp", "hxx", "h++", "ipp", "tpp", "inl", "cuh", "c", "cc", "cpp", "cxx"}
)


def import_name(path: str) -> str | None:
    """The word an import of ``path`` spells in these languages, for finding its importers by text
    (None: not one of them)."""
    directory, name = posixpath.split(path)
    stem, _, ext = name.rpartition(".")
    if ext == "rs":
        if name in ("lib.rs", "main.rs"):
            crate_dir = posixpath.dirname(directory) if posixpath.basename(directory) == "src" else directory
            return posixpath.basename(crate_dir).replace("-", "_") or None
        return posixpath.basename(directory) if name == "mod.rs" else stem
    if ext in _STEM_IMPORTED:
        return stem
    return None
