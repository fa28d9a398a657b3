"""Language detection and tree-sitter parsers.

``detect_language`` maps a path (and, for extensionless scripts, the shebang
line) to a language name. Names in ``TREE_SITTER_LANGUAGES`` are chunked by
syntax; the others are text kinds the chunker splits by sections or windows.

Parsers are cached per thread: a ``tree_sitter.Parser`` is not thread-safe,
while a ``tree_sitter.Language`` is immutable and shared. Parse with
:func:`parse_source`: it bounds the CPU time one file may take (some grammars'
error recovery runs without end on pathological input).
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import tree_sitter

logger = logging.getLogger(__name__)

PARSE_BUDGET_S = 3.0
"""CPU seconds one parse may take before it is halted (real files of the indexer's size limit take
well under a second; only pathological input, where error recovery explodes, reaches it)."""

# language name -> (grammar module, function returning the language pointer)
_GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "csharp": ("tree_sitter_c_sharp", "language"),
    "ruby": ("tree_sitter_ruby", "language"),
    # The full PHP grammar: it accepts the HTML around <?php ... ?> blocks.
    "php": ("tree_sitter_php", "language_php"),
    "kotlin": ("tree_sitter_kotlin", "language"),
    "swift": ("tree_sitter_swift", "language"),
    "scala": ("tree_sitter_scala", "language"),
    "bash": ("tree_sitter_bash", "language"),
}

TREE_SITTER_LANGUAGES: frozenset[str] = frozenset(_GRAMMARS)

# Lower-cased extension (with the dot) -> language. ".h" goes to C: the C
# grammar is the conventional choice and still finds the functions of most C++
# headers.
_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".h++": "cpp",
    ".ipp": "cpp",
    ".tpp": "cpp",
    ".inl": "cpp",
    ".cu": "cpp",
    ".cuh": "cpp",
    ".cs": "csharp",
    ".csx": "csharp",
    ".rb": "ruby",
    ".rake": "ruby",
    ".gemspec": "ruby",
    ".ru": "ruby",
    ".php": "php",
    ".phtml": "php",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".sc": "scala",
    ".sh": "bash",
    ".bash": "bash",
    ".zsh": "bash",
    ".ksh": "bash",
    ".bats": "bash",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdx": "markdown",
    ".rst": "rst",
    ".rest": "rst",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".jsonc": "json",
    ".json5": "json",
    ".jsonl": "json",
    ".ndjson": "json",
    ".geojson": "json",
    ".ipynb": "json",
    ".toml": "toml",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".vue": "vue",
    ".svelte": "svelte",
    ".css": "css",
    ".scss": "css",
    ".sass": "css",
    ".less": "css",
    ".sql": "sql",
    ".xml": "xml",
    ".xsd": "xml",
    ".xsl": "xml",
    ".svg": "xml",
    ".plist": "xml",
    ".csproj": "xml",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".adoc": "asciidoc",
    ".asciidoc": "asciidoc",
    ".tex": "latex",
    ".ini": "ini",
    ".cfg": "ini",
    ".conf": "ini",
    ".properties": "ini",
    ".env": "dotenv",
    ".proto": "protobuf",
    ".graphql": "graphql",
    ".gql": "graphql",
    ".tf": "hcl",
    ".hcl": "hcl",
    ".cmake": "cmake",
    ".mk": "make",
    ".dockerfile": "dockerfile",
    ".bzl": "starlark",
    ".bazel": "starlark",
    ".lua": "lua",
    ".pl": "perl",
    ".pm": "perl",
    ".r": "r",
    ".dart": "dart",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".mli": "ocaml",
    ".clj": "clojure",
    ".cljs": "clojure",
    ".el": "elisp",
    ".vim": "vim",
    ".ps1": "powershell",
    ".bat": "batch",
    ".cmd": "batch",
    ".zig": "zig",
    ".nim": "nim",
    ".jl": "julia",
    ".m": "objc",
    ".mm": "objc",
    ".groovy": "groovy",
    ".gradle": "groovy",
    ".pyx": "cython",
    ".pxd": "cython",
    ".jinja": "jinja",
    ".j2": "jinja",
    ".csv": "csv",
    ".tsv": "csv",
}

# Case-sensitive extensions that differ from their lower-case reading.
_EXACT_EXTENSIONS: dict[str, str] = {".C": "cpp", ".H": "cpp", ".R": "r"}

# Whole file names (lower-cased) -> language.
_FILE_NAMES: dict[str, str] = {
    "makefile": "make",
    "gnumakefile": "make",
    "dockerfile": "dockerfile",
    "containerfile": "dockerfile",
    "cmakelists.txt": "cmake",
    "gemfile": "ruby",
    "rakefile": "ruby",
    "podfile": "ruby",
    "vagrantfile": "ruby",
    "guardfile": "ruby",
    "brewfile": "ruby",
    "fastfile": "ruby",
    ".irbrc": "ruby",
    ".pryrc": "ruby",
    "build": "starlark",
    "workspace": "starlark",
    "tiltfile": "starlark",
    ".bashrc": "bash",
    ".bash_profile": "bash",
    ".bash_aliases": "bash",
    ".bash_logout": "bash",
    ".profile": "bash",
    ".zshrc": "bash",
    ".zprofile": "bash",
    ".zshenv": "bash",
    ".envrc": "bash",
    "pkgbuild": "bash",
    "pipfile": "toml",
    "cargo.lock": "toml",
    "poetry.lock": "toml",
    "uv.lock": "toml",
    ".gitignore": "ignore",
    ".dockerignore": "ignore",
    ".npmignore": "ignore",
    ".conexusignore": "ignore",
    ".gitattributes": "text",
    ".editorconfig": "ini",
    ".gitmodules": "ini",
    "go.mod": "gomod",
    "go.sum": "text",
    "license": "text",
    "licence": "text",
    "copying": "text",
    "notice": "text",
    "authors": "text",
    "contributors": "text",
    "changelog": "text",
    "readme": "text",
    "todo": "text",
    "manifest.in": "text",
    "requirements.txt": "text",
    "codeowners": "text",
    "jenkinsfile": "groovy",
}

# Interpreter name (version suffix removed) -> language, for shebang lines.
_INTERPRETERS: dict[str, str] = {
    "python": "python",
    "pypy": "python",
    "sh": "bash",
    "bash": "bash",
    "zsh": "bash",
    "dash": "bash",
    "ksh": "bash",
    "ash": "bash",
    "node": "javascript",
    "nodejs": "javascript",
    "bun": "javascript",
    "deno": "typescript",
    "ts-node": "typescript",
    "tsx": "typescript",
    "ruby": "ruby",
    "php": "php",
    "perl": "perl",
    "lua": "lua",
    "kotlin": "kotlin",
    "scala": "scala",
    "swift": "swift",
    "rscript": "r",
}

_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def _from_shebang(first_line: str) -> str | None:
    if not first_line.startswith("#!"):
        return None
    words = first_line[2:].split()
    if not words:
        return None
    program = words[0].rsplit("/", 1)[-1]
    if program == "env":
        # "#!/usr/bin/env -S python3 -u": the first word that is not an option.
        program = next((w for w in words[1:] if not w.startswith("-") and "=" not in w), "")
        program = program.rsplit("/", 1)[-1]
    program = _VERSION_SUFFIX.sub("", program.lower()) or program.lower()
    return _INTERPRETERS.get(program)


_CPP_IN_HEADER = re.compile(
    r"^[ \t]*class[ \t]+\w+[^;\n]*\{|^[ \t]*namespace\b|^[ \t]*template[ \t]*<"
    r"|^[ \t]*(?:public|private|protected)[ \t]*:|\bstd::\w",
    re.MULTILINE,
)


def refine_language(language: str, path: str, text: str) -> str:
    """The language of a file once its text is known: a ``.h`` header written in C++ (a class with a
    body, a namespace, a template, an access label or ``std::``) is C++, not C.

    ``.h`` maps to C by extension alone; parsed with the C grammar, a C++ header loses its classes
    and methods (they fall into nameless module chunks).
    """
    if language == "c" and path.lower().endswith(".h") and _CPP_IN_HEADER.search(text):
        return "cpp"
    return language


def detect_language(path: str, first_line: str = "") -> str | None:
    """Return the language name of ``path``, or None when it is not a text language we know.

    A known whole file name decides first (``Makefile``, ``Dockerfile``,
    ``CMakeLists.txt``...), then the extension, then, for files without an
    extension, a ``#!`` line given as ``first_line``. ``Dockerfile.dev``-style names count as
    their stem. Never raises.
    """
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    lower = name.lower()
    found = _FILE_NAMES.get(lower)
    if found is not None:
        return found
    dot = name.rfind(".")
    if dot > 0:
        ext = name[dot:]
        found = _EXACT_EXTENSIONS.get(ext) or _EXTENSIONS.get(ext.lower())
        if found is not None:
            return found
        stem = lower[:dot]
        if stem in ("dockerfile", "containerfile", "makefile", "jenkinsfile"):
            return _FILE_NAMES[stem]
        if lower.startswith(".env."):
            return "dotenv"
    if dot <= 0 or name.startswith("."):
        return _from_shebang(first_line)
    return None


@cache
def _language(name: str) -> tree_sitter.Language:
    module_name, function_name = _GRAMMARS[name]
    module = importlib.import_module(module_name)
    factory: Callable[[], Any] = getattr(module, function_name)
    return tree_sitter.Language(factory())


_local = threading.local()


def get_parser(language: str) -> tree_sitter.Parser | None:
    """Return this thread's parser for ``language``, or None when it has no tree-sitter grammar.

    The parser is created on first use and reused by later calls from the same
    thread. Returns None (never raises) when the grammar cannot be loaded.
    """
    if language not in _GRAMMARS:
        return None
    parsers: dict[str, tree_sitter.Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = {}
        _local.parsers = parsers
    parser = parsers.get(language)
    if parser is None:
        try:
            parser = tree_sitter.Parser(_language(language))
        except (ImportError, AttributeError, ValueError, TypeError):
            return None
        parsers[language] = parser
    return parser


# A character outside the Basic Multilingual Plane, as UTF-8 (four bytes).
_ASTRAL = re.compile(rb"[\xf0-\xf4][\x80-\xbf]{3}")


def parse_source(language: str, source: bytes, budget_s: float = PARSE_BUDGET_S) -> tree_sitter.Tree | None:
    """Parse ``source`` with this thread's ``language`` parser, halting after ``budget_s`` CPU seconds.

    Returns None when the language has no grammar or the parse was halted;
    callers then treat the file as text. The budget is the thread's CPU time,
    not wall time, so a loaded machine does not halt ordinary parses.

    The parser sees every character outside the Basic Multilingual Plane as
    four ``_`` bytes: tree-sitter-bash 0.25.1's scanner crashes the process
    (SIGSEGV) on some of them, e.g. ``{`` followed by U+E71B4 (found by
    hypothesis). The stand-in has the same length, so every byte offset and
    row of the tree is that of ``source``, and callers still read names and
    text from ``source`` itself; an emoji in a string or comment parses the
    same either way.
    """
    last = getattr(_LAST_PARSE, "entry", None)
    if last is not None and last[0] == language and last[1] == source:
        # The indexer parses each file twice, to chunk it and to extract its imports: the
        # second asks for the tree of the same text (trees are immutable once parsed).
        return last[2]  # type: ignore[no-any-return]
    tree = _parse(language, source, budget_s)
    _LAST_PARSE.entry = (language, source, tree)
    return tree


#: Per thread, the last (language, source, tree) of :func:`parse_source`.
_LAST_PARSE = threading.local()


def _parse(language: str, source: bytes, budget_s: float) -> tree_sitter.Tree | None:
    parser = get_parser(language)
    if parser is None:
        return None
    source = _ASTRAL.sub(b"____", source)  # the same object when there is none
    started = time.thread_time()

    def read(offset: int, _point: tree_sitter.Point) -> bytes:
        return source[offset : offset + 65536]

    def halt(_offset: int, _has_error: bool) -> bool:
        return time.thread_time() - started > budget_s

    try:
        return parser.parse(read, progress_callback=halt)
    except ValueError:  # halted: the parser keeps the partial state unless reset
        parser.reset()
        logger.warning("%s parse halted after %.1f s of CPU (%d bytes)", language, budget_s, len(source))
        return None


def get_language(language: str) -> tree_sitter.Language | None:
    """Return the shared (thread-safe) tree-sitter ``Language`` for ``language``, or None."""
    if language not in _GRAMMARS:
        return None
    try:
        return _language(language)
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


#: Every language an indexed file can carry: what :func:`detect_language` returns, plus
#: ``text`` (the indexer's name for any other text file). Search filters accept these.
KNOWN_LANGUAGES: frozenset[str] = frozenset(
    {
        *_EXTENSIONS.values(),
        *_EXACT_EXTENSIONS.values(),
        *_FILE_NAMES.values(),
        *_INTERPRETERS.values(),
        "dotenv",
        "text",
    }
)
