"""Reference declarations for ``bench.chunk_accuracy``, from each language's own tooling.

* Python: the standard library's ``ast`` (a declaration starts at its first decorator).
* TypeScript / JavaScript: the TypeScript compiler's parser (``bench/ts/declarations.js``; needs
  Node and ``npm ci --prefix bench/ts``).
* Java: javac's Tree API (``bench/java/Declarations.java``, compiled into the work folder).
* Rust, C, C++, Go: Universal Ctags (``--output-format=json --fields=+neKZ``). Ctags is a neutral
  reference, not the compiler: its own parsers, with their own blind spots (its Rust parser gives
  no end lines; a C function starts at the line of its name).

Each ``*_declarations`` function takes a root folder and paths relative to it and returns
``{path: [RefSymbol, ...]}``; ``available(language)`` says why a tool is missing, or None.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bench.chunk_scoring import RefSymbol

BENCH = Path(__file__).resolve().parent
TS_SCRIPT = BENCH / "ts" / "declarations.js"
JAVA_SOURCE = BENCH / "java" / "Declarations.java"
CTAGS_LANGUAGES = {"rust": "Rust", "c": "C", "cpp": "C++", "go": "Go"}


def available(language: str) -> str | None:
    """None when the reference tool for ``language`` can run here, else why not."""
    if language == "python":
        return None
    if language in ("typescript", "javascript", "tsx"):
        if shutil.which("node") is None:
            return "node is not installed"
        if not (BENCH / "ts" / "node_modules" / "typescript").is_dir():
            return "bench/ts/node_modules is missing (npm ci --prefix bench/ts)"
        return None
    if language == "java":
        missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
        return f"{' and '.join(missing)} not installed" if missing else None
    if language in CTAGS_LANGUAGES:
        if shutil.which("ctags") is None:
            return "ctags (Universal Ctags) is not installed"
        version = subprocess.run(["ctags", "--version"], capture_output=True, text=True).stdout
        return None if "Universal Ctags" in version else "ctags is not Universal Ctags"
    return f"no reference tool for {language}"


def declarations(language: str, root: Path, paths: Sequence[str], work: Path) -> dict[str, list[RefSymbol]]:
    """The reference declarations of ``paths`` (relative to ``root``) in ``language``."""
    if language == "python":
        return {
            p: python_declarations((root / p).read_text(encoding="utf-8", errors="replace")) for p in paths
        }
    if language in ("typescript", "javascript", "tsx"):
        return _json_lines(["node", str(TS_SCRIPT), str(root)], paths)
    if language == "java":
        return _json_lines(["java", "-cp", str(_compile_java(work)), "Declarations", str(root)], paths)
    return ctags_declarations(language, root, paths)


# ----------------------------------------------------------------------------------------- Python


def python_declarations(text: str) -> list[RefSymbol]:
    """Classes, functions and methods of a Python source, with module and class assignments."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out: list[RefSymbol] = []

    def visit(node: ast.AST, parent: str | None, in_class: bool, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                start = min([d.lineno for d in child.decorator_list] + [child.lineno])
                is_class = isinstance(child, ast.ClassDef)
                kind = "class" if is_class else ("method" if in_class else "function")
                out.append(RefSymbol(child.name, kind, start, child.end_lineno, parent, local))
                qual = f"{parent}.{child.name}" if parent else child.name
                visit(child, qual, is_class, local or not is_class)
            elif isinstance(child, (ast.Assign, ast.AnnAssign)) and not local:
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        out.append(RefSymbol(target.id, "variable", child.lineno, child.end_lineno, parent))
            elif not isinstance(child, (ast.expr, ast.Lambda)):
                visit(child, parent, in_class, local)

    visit(tree, None, False, False)
    return out


# ------------------------------------------------------------------------- TypeScript and Java


def _json_lines(command: list[str], paths: Sequence[str]) -> dict[str, list[RefSymbol]]:
    out: dict[str, list[RefSymbol]] = {}
    batch = 50  # keeps the command line short
    for i in range(0, len(paths), batch):
        proc = subprocess.run(
            command + list(paths[i : i + batch]), capture_output=True, text=True, check=True
        )
        for line in proc.stdout.splitlines():
            data = json.loads(line)
            out[data["path"]] = [
                RefSymbol(
                    s["name"], s["kind"], s["line"], s["end_line"], s.get("parent"), bool(s.get("local"))
                )
                for s in data["symbols"]
            ]
    return out


def _compile_java(work: Path) -> Path:
    classes = work / "java-classes"
    target = classes / "Declarations.class"
    if not target.is_file() or target.stat().st_mtime < JAVA_SOURCE.stat().st_mtime:
        classes.mkdir(parents=True, exist_ok=True)
        subprocess.run(["javac", "-d", str(classes), str(JAVA_SOURCE)], check=True, capture_output=True)
    return classes


# ----------------------------------------------------------------------------------------- ctags

# ctags kind -> the kinds scoring knows; absent kinds (fields, variables, enumerators...) are "other".
_CTAGS_KINDS = {
    "function": "function",
    "func": "function",
    "method": "method",
    "class": "class",
    "struct": "struct",
    "union": "union",
    "enum": "enum",
    "interface": "interface",
    "implementation": "impl",
    "module": "module",
    "namespace": "namespace",
    "macro": "macro",
    "typedef": "type",
    "type": "type",
    "talias": "type",
    "methodSpec": "signature",
    "prototype": "signature",
}
_CTAGS_FUNCTION_SCOPES = frozenset({"function", "func", "method"})


def ctags_symbol(
    tag: dict[str, object], language: str, anonymous: dict[str, tuple[int, int | None]] | None = None
) -> RefSymbol | None:
    """A ``RefSymbol`` of one ctags JSON tag, or None for an anonymous one.

    ``anonymous`` maps ctags' names of anonymous records (``__anon...``) to their lines: a
    ``typedef struct {...} name;`` is the struct ``name`` over those lines.
    """
    name = str(tag.get("name", ""))
    if not name or name.startswith("__anon"):
        return None
    raw = str(tag.get("kind", ""))
    kind = _CTAGS_KINDS.get(raw, "other")
    if language == "rust" and raw == "interface":
        kind = "trait"
    scope_kind = str(tag.get("scopeKind", ""))
    if kind == "function" and scope_kind in ("class", "struct", "union", "implementation", "interface"):
        kind = "method"
    if raw == "func" and scope_kind and scope_kind != "package":
        kind = "method"  # a Go method: its receiver type is the scope
    line = int(str(tag["line"]))
    end_value = tag.get("end")
    end = end_value if isinstance(end_value, int) else None
    if kind == "type":
        # `typedef struct {...} name;` declares the struct `name`; `typedef struct x name;` is an alias.
        record, _, target = str(tag.get("typeref", "")).partition(":")
        if record in ("struct", "union", "enum") and anonymous and target in anonymous:
            kind = record
            line, end = anonymous[target]
    scope = tag.get("scope")
    return RefSymbol(
        name,
        kind,
        line,
        end,
        str(scope) if scope else None,
        scope_kind in _CTAGS_FUNCTION_SCOPES,
    )


def ctags_declarations(language: str, root: Path, paths: Sequence[str]) -> dict[str, list[RefSymbol]]:
    """Universal Ctags' tags of ``paths``, parsed as ``language`` whatever their extension."""
    out: dict[str, list[RefSymbol]] = {p: [] for p in paths}
    batch = 100
    for i in range(0, len(paths), batch):
        proc = subprocess.run(
            [
                "ctags",
                "--output-format=json",
                "--fields=+neKZ",
                f"--language-force={CTAGS_LANGUAGES[language]}",
                "-o",
                "-",
                *paths[i : i + batch],
            ],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        tags = [json.loads(line) for line in proc.stdout.splitlines()]
        tags = [t for t in tags if t.get("_type") == "tag" and t.get("path") in out]
        anonymous: dict[str, dict[str, tuple[int, int | None]]] = {}
        for tag in tags:
            if str(tag.get("name", "")).startswith("__anon"):
                end = tag.get("end")
                anonymous.setdefault(tag["path"], {})[tag["name"]] = (
                    int(tag["line"]),
                    end if isinstance(end, int) else None,
                )
        for tag in tags:
            sym = ctags_symbol(tag, language, anonymous.get(tag["path"]))
            if sym is not None:
                out[str(tag["path"])].append(sym)
    return out
