"""Which paths under a root are worth indexing: the ignore rules and the walk options.

``IgnoreMatcher`` answers "is this relative path ignored?" and says which rule
decided. The walker (:mod:`conexus.sources.filesystem.walk`) and the watcher
(:mod:`conexus.sources.filesystem.watcher`) both ask it, so the two never disagree.

Ignore rules, first source that decides wins:

1. hard excludes: version-control metadata (``.git``, ``.hg``, ``.svn``,
   ``.bzr``), Conexus' own data directories (``CONEXUS_DATA_DIRS``) and any
   directory tagged with a ``CACHEDIR.TAG`` (https://bford.info/cachedir/);
2. ``WalkOptions.exclude``;
3. ``.conexusignore`` files, deepest first: written for Conexus, so a ``!``
   pattern there re-includes what the defaults or a ``.gitignore`` leave out;
4. the default excludes (``DEFAULT_EXCLUDED_DIRS`` and friends below);
5. ``.gitignore`` files, deepest first, then those of the enclosing git
   repository above the root (git applies them too);
6. ``.git/info/exclude`` of that repository;
7. ``WalkOptions.include`` (files only): when set, a file must match it.

As in git, nothing inside an ignored directory can be re-included, and a
negation written for git (``!*/`` and the like) cannot bring back a directory
Conexus excludes by default.

Why patterns are not matched with ``pathspec.GitIgnoreSpec.match_file``: that
API answers for files and lets a directory pattern stand for everything below
it, which disagrees with git for directories (under ``*`` + ``!*/`` it calls
``src/`` ignored; under ``build/`` + ``!build/keep.txt`` it re-includes
``build/keep.txt``). We keep pathspec's translation of each pattern into a
regular expression and apply git's own rule around it: directories are decided
one level at a time, and the last pattern that matches the path itself wins.
``tests/sources/test_filesystem_walk.py`` checks the result against ``git check-ignore``.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pathspec.patterns.gitignore import GitIgnorePatternError
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from conexus.errors import PathError
from conexus.models import SkipReason
from conexus.sources.filesystem.globs import collapse_stars
from conexus.sources.filesystem.secrets import SecretPolicy, secret_policy

logger = logging.getLogger(__name__)

__all__ = [
    "CONEXUS_DATA_DIRS",
    "DEFAULT_BINARY_EXTENSIONS",
    "DEFAULT_DATA_EXTENSIONS",
    "DEFAULT_EXCLUDED_DIRS",
    "DEFAULT_EXCLUDED_FILES",
    "DEFAULT_EXCLUDED_SUFFIXES",
    "DEFAULT_OUTPUT_DIRS",
    "VCS_DIRS",
    "IgnoreMatcher",
    "WalkOptions",
    "normalize_relative",
]

# -- defaults ------------------------------------------------------------------------------------

VCS_DIRS = frozenset({".git", ".hg", ".svn", ".bzr"})
# Conexus never indexes its own data. The data home normally lives outside the
# project; a store placed inside one should also write a CACHEDIR.TAG.
CONEXUS_DATA_DIRS = frozenset({".conexus", ".conexus-home"})

DEFAULT_EXCLUDED_DIRS = frozenset(
    {
        # dependencies
        "node_modules",
        "bower_components",
        "jspm_packages",
        # virtualenvs (any directory holding a pyvenv.cfg is one too)
        ".venv",
        "venv",
        ".tox",
        ".nox",
        ".eggs",
        # caches and tool state
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".pytype",
        ".cache",
        ".gradle",
        ".next",
        ".nuxt",
        ".svelte-kit",
        ".angular",
        ".parcel-cache",
        ".turbo",
        ".terraform",
        ".dart_tool",
        ".ipynb_checkpoints",
        ".sass-cache",
        "htmlcov",
    }
)

# Output directories are only excluded beside the manifest of the tool that
# writes them: "build", "dist", "target" and "out" are also ordinary source
# folder names (Go's go/build and cmd/dist packages, coverage.py's coverage/).
DEFAULT_OUTPUT_DIRS: Mapping[str, frozenset[str]] = {
    "Cargo.toml": frozenset({"target"}),
    "pom.xml": frozenset({"target"}),
    "build.sbt": frozenset({"target"}),
    "build.gradle": frozenset({"build", "out"}),
    "build.gradle.kts": frozenset({"build", "out"}),
    "settings.gradle": frozenset({"build", "out"}),
    "settings.gradle.kts": frozenset({"build", "out"}),
    "package.json": frozenset({"dist", "build", "out", "coverage", ".output"}),
    "pyproject.toml": frozenset({"build", "dist"}),
    "setup.py": frozenset({"build", "dist"}),
    "setup.cfg": frozenset({"build", "dist"}),
    "composer.json": frozenset({"vendor"}),
    "go.mod": frozenset({"vendor"}),
    "Podfile": frozenset({"Pods"}),
}

DEFAULT_EXCLUDED_FILES = frozenset(
    {
        # lock files: machine-written, huge, no code
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "Pipfile.lock",
        "pdm.lock",
        "uv.lock",
        "Cargo.lock",
        "Gemfile.lock",
        "composer.lock",
        "go.sum",
        "Podfile.lock",
        "pubspec.lock",
        "mix.lock",
        "packages.lock.json",
        # OS and tool droppings
        ".DS_Store",
        "Thumbs.db",
        ".coverage",
    }
)

# Minified and generated files recognisable by name (``*.generated.*`` is checked separately).
DEFAULT_EXCLUDED_SUFFIXES = (
    ".min.js",
    ".min.mjs",
    ".min.css",
    "_pb2.py",
    "_pb2.pyi",
    "_pb2_grpc.py",
    ".pb.go",
    ".pb.gw.go",
    ".pb.cc",
    ".pb.h",
)

# Text files that hold data, not code or prose an assistant needs: vector images, font
# metrics and gettext translation catalogs. They match many queries by vocabulary alone
# (a catalog repeats every user-facing message of a project in each language) and
# made up 15-35% of the chunks of Django, Sphinx and Matplotlib.
DEFAULT_DATA_EXTENSIONS = frozenset({"svg", "svgz", "afm", "po", "pot"})

DEFAULT_BINARY_EXTENSIONS = frozenset(
    {
        # images
        *("png", "jpg", "jpeg", "gif", "bmp", "ico", "icns", "webp", "tif", "tiff"),
        *("psd", "heic", "heif", "avif", "xcf"),
        # archives and packages
        *("zip", "tar", "gz", "tgz", "bz2", "xz", "7z", "rar", "zst", "lz4", "lzma"),
        *("jar", "war", "ear", "whl", "egg", "apk", "aab", "ipa", "dmg", "iso", "deb", "rpm", "msi"),
        # fonts
        *("ttf", "otf", "woff", "woff2", "eot"),
        # compiled code
        *("so", "dylib", "dll", "exe", "a", "lib", "o", "obj", "class", "pyc", "pyo", "pyd", "wasm"),
        # media
        *("mp3", "mp4", "m4a", "m4v", "wav", "ogg", "oga", "flac", "aac", "avi", "mov", "mkv"),
        *("webm", "wmv", "flv"),
        # databases
        *("sqlite", "sqlite3", "db", "db-wal", "db-shm", "sqlite-wal", "sqlite-shm"),
        # documents
        *("pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp"),
        # data, model weights, source maps
        *("npy", "npz", "pkl", "pickle", "onnx", "pt", "pth", "h5", "hdf5", "parquet"),
        *("safetensors", "ckpt", "tflite", "pb", "map"),
    }
)

_VENV_MARKER = "pyvenv.cfg"
_CACHEDIR_TAG = "CACHEDIR.TAG"
_CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"
_GITIGNORE = ".gitignore"
_CONEXUSIGNORE = ".conexusignore"
_MANIFESTS = tuple(DEFAULT_OUTPUT_DIRS)


def _default_exclude(name: str, is_dir: bool, output_dirs: frozenset[str]) -> str | None:
    """The default rule that excludes ``name``, described, or None."""
    if is_dir:
        if name in DEFAULT_EXCLUDED_DIRS:
            return f"default exclude: {name}/"
        if name in output_dirs:
            return f"default exclude: {name}/ (build output)"
        if name.endswith(".egg-info"):
            return "default exclude: *.egg-info/"
        return None
    if name in DEFAULT_EXCLUDED_FILES:
        return f"default exclude: {name}"
    if name.endswith(DEFAULT_EXCLUDED_SUFFIXES):
        return "default exclude: minified or generated file name"
    if ".generated." in name:
        return "default exclude: *.generated.*"
    head, _, ext = name.rpartition(".")
    if head and ext.lower() in DEFAULT_BINARY_EXTENSIONS:
        return f"default exclude: *.{ext.lower()} (binary)"
    if head and ext.lower() in DEFAULT_DATA_EXTENSIONS:
        return f"default exclude: *.{ext.lower()} (data)"
    return None


# -- options -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkOptions:
    """What the walker indexes. Patterns are gitignore-style, relative to the root."""

    max_file_bytes: int = 1024 * 1024
    include: tuple[str, ...] = ()  # when non-empty, only files matching one of these are indexed
    exclude: tuple[str, ...] = ()  # extra excludes, on top of the defaults and ignore files
    follow_symlinks: bool = True  # symlinks are followed only when their target stays inside the root
    index_secrets: bool = False  # True: files holding secrets are indexed too (see secrets.py)
    secrets_allow: tuple[str, ...] = ()  # gitignore-style globs of files known to hold no secrets

    @property
    def secrets(self) -> SecretPolicy:
        """The secret rules these options imply (compiled once per distinct setting)."""
        return secret_policy(self.index_secrets, self.secrets_allow)


# -- one ignore file -----------------------------------------------------------------------------

# pathspec ends a pattern's regex with this when it may also match a directory
# and everything below it; the walker wants "the path itself" only.
_DIR_MARK_OPT = "(?:(?P<ps_d>/)|$)"
_DIR_MARK_OPEN = "(?P<ps_d>"


@dataclass(frozen=True, slots=True)
class _Pattern:
    line: int
    text: str
    negated: bool
    dir_only: bool


def _exact_regex(regex: str) -> str:
    """Turn a pathspec pattern regex into one that, under ``re.match``, matches only the path itself.

    Patterns ending in a name match the whole path; patterns ending in ``**``
    (``a/**``) match anything below a prefix, which pathspec writes as a
    regex without an end anchor; a few catch-alls (``*``, ``**``) come out
    unanchored and match any path.
    """
    if regex.endswith(_DIR_MARK_OPT):
        regex = regex[: -len(_DIR_MARK_OPT)] + r"\Z"
    regex = regex.replace(_DIR_MARK_OPEN, "(?:")
    if not regex.startswith("^"):
        regex = f".*?(?:{regex})"
    return regex


class _Rules:
    """One compiled ignore file (or option list): git's "last matching pattern wins"."""

    __slots__ = ("_dir_re", "_file_re", "_patterns", "source")

    def __init__(self, source: str, lines: Iterable[str]) -> None:
        self.source = source
        self._patterns: list[_Pattern] = []
        parts: list[tuple[int, str, bool]] = []
        for number, raw in enumerate(lines, start=1):
            line = raw if raw.endswith("\\ ") else raw.rstrip()
            dir_only = line.endswith("/")
            body = line.rstrip("/") if dir_only else line
            if not body or body == "!" or body.startswith("#"):
                continue
            try:
                regex, include = GitIgnoreSpecPattern.pattern_to_regex(collapse_stars(body))
            except GitIgnorePatternError:
                logger.debug("%s:%d: invalid pattern %r skipped", source, number, raw)
                continue
            if regex is None or include is None:
                continue
            exact = _exact_regex(regex)
            try:
                _compile(exact)
            except re.error:  # e.g. a reversed range "[z-a]": git ignores such a line too
                logger.debug("%s:%d: invalid pattern %r skipped", source, number, raw)
                continue
            index = len(self._patterns)
            self._patterns.append(_Pattern(number, line, negated=not include, dir_only=dir_only))
            parts.append((index, exact, dir_only))
        # One alternation per kind of path, last pattern first: re tries alternatives
        # in order, so the first one that matches is the pattern git would apply.
        parts.reverse()
        self._dir_re = _compile_alternation(parts)
        self._file_re = _compile_alternation([p for p in parts if not p[2]])

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def decide(self, path: str, is_dir: bool) -> _Pattern | None:
        """The pattern that decides ``path`` (relative to this file's directory), or None."""
        regex = self._dir_re if is_dir else self._file_re
        if regex is None:
            return None
        m = regex.match(path)
        if m is None or m.lastgroup is None:
            return None
        return self._patterns[int(m.lastgroup[1:])]

    def describe(self, pattern: _Pattern) -> str:
        """``source:line:pattern``, as ``git check-ignore -v`` prints it."""
        return f"{self.source}:{pattern.line}:{pattern.text}"


def _compile(regex: str) -> re.Pattern[str]:
    # A glob such as "[[" becomes a regex that Python flags with a FutureWarning
    # ("possible nested set"); one odd line in a user's ignore file must not warn.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return re.compile(regex, re.DOTALL)


def _compile_alternation(parts: list[tuple[int, str, bool]]) -> re.Pattern[str] | None:
    if not parts:
        return None
    return _compile("|".join(f"(?P<p{index}>{regex})" for index, regex, _ in parts))


def _read_rules(path: str, source: str) -> _Rules | None:
    """Compile the ignore file at ``path``; None when it is missing, unreadable or empty."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    rules = _Rules(source, text.splitlines())
    return rules if rules else None


@dataclass(frozen=True, slots=True)
class _Level:
    """An ignore file applied to paths below the directory holding it."""

    rules: _Rules
    strip: int  # characters of the root-relative path to drop (the holding directory + "/")
    prefix: str  # prepended instead, for files above the root ("sub/dir/")

    def decide(self, rel: str, is_dir: bool) -> _Pattern | None:
        return self.rules.decide(self.prefix + rel[self.strip :], is_dir)


@dataclass(frozen=True, slots=True)
class _Dir:
    """What a directory contributes to the decisions about its children."""

    rel: str  # "" for the root
    conexus_levels: tuple[_Level, ...]  # deepest first
    git_levels: tuple[_Level, ...]  # deepest first
    output_dirs: frozenset[str]  # child names that are build outputs here
    include_matched: bool  # this directory or an ancestor matches WalkOptions.include


def _is_cachedir_tag(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_CACHEDIR_SIGNATURE)) == _CACHEDIR_SIGNATURE
    except OSError:
        return False


def _find_git(root: str) -> tuple[str, str] | None:
    """``(worktree, common git dir)`` of the repository holding ``root``, or None."""
    current = root
    while True:
        dot_git = os.path.join(current, ".git")
        if os.path.isdir(dot_git):
            return current, dot_git
        if os.path.isfile(dot_git):  # worktree or submodule: "gitdir: <path>"
            try:
                with open(dot_git, encoding="utf-8", errors="replace") as fh:
                    first = fh.readline().strip()
            except OSError:
                first = ""
            if first.startswith("gitdir:"):
                git_dir = os.path.normpath(os.path.join(current, first[len("gitdir:") :].strip()))
                try:
                    with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
                        git_dir = os.path.normpath(os.path.join(git_dir, fh.read().strip()))
                except OSError:
                    pass
                return current, git_dir
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _list_names(path: str) -> frozenset[str]:
    try:
        return frozenset(os.listdir(path))
    except OSError:
        return frozenset()


# -- the matcher ---------------------------------------------------------------------------------


class IgnoreMatcher:
    """Answers "is this relative path ignored?" for one root.

    Honours every level's ``.gitignore``, the repository's ``.git/info/exclude``,
    ``.conexusignore`` files (root and nested, same syntax), the default excludes
    and the include/exclude options, in the precedence the module docstring
    gives. Each ignore file is read and compiled once; single-path questions
    (the file watcher's) cost a few dictionary lookups and regex matches once
    the directories above the path have been seen. Call ``invalidate`` when an
    ignore file changes.
    """

    def __init__(self, root: Path, options: WalkOptions) -> None:
        """Prepare the rules for ``root``.

        Raises:
            PathError: ``root`` does not exist or is not a directory.
        """
        self.root = os.path.abspath(root)
        if not os.path.exists(self.root):
            raise PathError(f"root does not exist: {root}")
        if not os.path.isdir(self.root):
            raise PathError(f"root is not a directory: {root}")
        self.options = options
        self._exclude = _Rules("exclude option", options.exclude) if options.exclude else None
        self._include = _Rules("include option", options.include) if options.include else None
        self._outer_git_levels: tuple[_Level, ...] = ()
        self._info_exclude: _Level | None = None
        self._find_repository_rules()
        self._cache: dict[str, _Dir | str] = {}
        self._root = self._root_dir(_list_names(self.root))

    def is_ignored(self, rel_path: str, is_dir: bool) -> bool:
        """True when ``rel_path`` (POSIX, relative to the root) is ignored.

        Raises:
            PathError: the path is absolute or leaves the root.
        """
        return self.explain(rel_path, is_dir) is not None

    def reason(self, rel_path: str, is_dir: bool) -> SkipReason | None:
        """``SkipReason.IGNORED`` when ``rel_path`` is ignored, else None.

        Raises:
            PathError: the path is absolute or leaves the root.
        """
        return SkipReason.IGNORED if self.explain(rel_path, is_dir) is not None else None

    def explain(self, rel_path: str, is_dir: bool) -> str | None:
        """Which rule ignores ``rel_path`` (e.g. ``src/.gitignore:3:*.log``), or None when it is not ignored.

        A directory's own markers (``pyvenv.cfg``, ``CACHEDIR.TAG``) are looked up
        on disk; a path that no longer exists is judged by its name alone.

        Raises:
            PathError: the path is absolute or leaves the root.
        """
        rel = normalize_relative(rel_path)
        if not rel:
            return None
        parent_rel, _, name = rel.rpartition("/")
        parent = self._dir(parent_rel)
        if isinstance(parent, str):
            return parent
        detail, kept = self._check(parent, name, rel, is_dir)
        if detail is not None or not is_dir:
            return detail
        names = _list_names(os.path.join(self.root, rel))
        return self._marker(os.path.join(self.root, rel), names, kept)

    def invalidate(self) -> None:
        """Forget every compiled ignore file and cached directory (an ignore file changed)."""
        self._find_repository_rules()
        self._cache.clear()
        self._root = self._root_dir(_list_names(self.root))

    # -- internals shared with the walker ---------------------------------------------------------------

    def _find_repository_rules(self) -> None:
        """Load .git/info/exclude and the .gitignore files between the repository top and the root."""
        self._outer_git_levels = ()
        self._info_exclude = None
        found = _find_git(self.root)
        if found is None:
            return
        top, git_dir = found
        prefix = os.path.relpath(self.root, top).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        info = _read_rules(os.path.join(git_dir, "info", "exclude"), ".git/info/exclude")
        if info is not None:
            self._info_exclude = _Level(info, 0, prefix)
        outer: list[_Level] = []
        current = os.path.dirname(self.root) if prefix else None
        while current is not None and len(current) >= len(top):
            sub = os.path.relpath(self.root, current).replace(os.sep, "/") + "/"
            path = os.path.join(current, _GITIGNORE)
            rules = _read_rules(path, os.path.relpath(path, self.root).replace(os.sep, "/"))
            if rules is not None:
                outer.append(_Level(rules, 0, sub))
            parent = os.path.dirname(current)
            current = parent if parent != current and current != top else None
        self._outer_git_levels = tuple(outer)

    def _root_dir(self, names: frozenset[str]) -> _Dir:
        conexus = _read_rules(os.path.join(self.root, _CONEXUSIGNORE), _CONEXUSIGNORE)
        git = _read_rules(os.path.join(self.root, _GITIGNORE), _GITIGNORE)
        return _Dir(
            rel="",
            conexus_levels=(_Level(conexus, 0, ""),) if conexus is not None else (),
            git_levels=((_Level(git, 0, ""),) if git is not None else ()) + self._outer_git_levels,
            output_dirs=_output_dirs(names),
            include_matched=False,
        )

    def _dir(self, rel: str) -> _Dir | str:
        """The cached context of directory ``rel``, or why it (or an ancestor) is ignored."""
        if not rel:
            return self._root
        cached = self._cache.get(rel)
        if cached is not None:
            return cached
        parent_rel, _, name = rel.rpartition("/")
        parent = self._dir(parent_rel)
        result: _Dir | str
        if isinstance(parent, str):
            result = parent
        else:
            detail, kept = self._check(parent, name, rel, True)
            if detail is None:
                abs_dir = os.path.join(self.root, rel)
                child = self._child(parent, rel, abs_dir, _list_names(abs_dir), kept)
                result = child if isinstance(child, _Dir) else f"in ignored directory {rel}/: {child}"
            else:
                result = f"in ignored directory {rel}/: {detail}"
        self._cache[rel] = result
        return result

    def _check(self, parent: _Dir, name: str, rel: str, is_dir: bool) -> tuple[str | None, bool]:
        """Decide one entry of ``parent``: ``(why it is ignored or None, re-included by .conexusignore)``."""
        if name in VCS_DIRS or (is_dir and name in CONEXUS_DATA_DIRS):
            return f"always excluded: {name}", False
        if self._exclude is not None:
            hit = self._exclude.decide(rel, is_dir)
            if hit is not None and not hit.negated:
                return self._exclude.describe(hit), False
        kept = False
        for level in parent.conexus_levels:
            hit = level.decide(rel, is_dir)
            if hit is not None:
                if not hit.negated:
                    return level.rules.describe(hit), False
                kept = True
                break
        if not kept:
            detail = _default_exclude(name, is_dir, parent.output_dirs) or self._git_decision(
                parent, rel, is_dir
            )
            if detail is not None:
                return detail, False
        if not is_dir and self._include is not None and not parent.include_matched:
            hit = self._include.decide(rel, False)
            if hit is None or hit.negated:
                return "not matched by the include option", kept
        return None, kept

    def _git_decision(self, parent: _Dir, rel: str, is_dir: bool) -> str | None:
        for level in parent.git_levels:
            hit = level.decide(rel, is_dir)
            if hit is not None:
                return None if hit.negated else level.rules.describe(hit)
        if self._info_exclude is not None:
            hit = self._info_exclude.decide(rel, is_dir)
            if hit is not None and not hit.negated:
                return self._info_exclude.rules.describe(hit)
        return None

    def _marker(self, abs_dir: str, names: frozenset[str], kept: bool) -> str | None:
        """Why a directory's own contents mark it as not worth walking, or None."""
        if _CACHEDIR_TAG in names and _is_cachedir_tag(os.path.join(abs_dir, _CACHEDIR_TAG)):
            return "always excluded: cache directory (CACHEDIR.TAG)"
        if not kept and _VENV_MARKER in names:
            return "default exclude: virtualenv (pyvenv.cfg)"
        return None

    def _child(self, parent: _Dir, rel: str, abs_dir: str, names: frozenset[str], kept: bool) -> _Dir | str:
        """The context of a directory that passed ``_check``, or why its markers exclude it."""
        marker = self._marker(abs_dir, names, kept)
        if marker is not None:
            return marker
        conexus_levels = parent.conexus_levels
        git_levels = parent.git_levels
        if _CONEXUSIGNORE in names:
            rules = _read_rules(os.path.join(abs_dir, _CONEXUSIGNORE), f"{rel}/{_CONEXUSIGNORE}")
            if rules is not None:
                conexus_levels = (_Level(rules, len(rel) + 1, ""), *conexus_levels)
        if _GITIGNORE in names:
            rules = _read_rules(os.path.join(abs_dir, _GITIGNORE), f"{rel}/{_GITIGNORE}")
            if rules is not None:
                git_levels = (_Level(rules, len(rel) + 1, ""), *git_levels)
        include_matched = parent.include_matched
        if not include_matched and self._include is not None:
            hit = self._include.decide(rel, True)
            include_matched = hit is not None and not hit.negated
        return _Dir(rel, conexus_levels, git_levels, _output_dirs(names), include_matched)


def _output_dirs(names: frozenset[str]) -> frozenset[str]:
    found = [DEFAULT_OUTPUT_DIRS[m] for m in _MANIFESTS if m in names]
    if not found:
        return frozenset()
    return frozenset().union(*found)


def normalize_relative(rel_path: str) -> str:
    """A root-relative POSIX path without ``./``, doubled or trailing slashes."""
    if rel_path.startswith("/"):
        raise PathError(f"path must be relative to the root: {rel_path}")
    parts = [p for p in rel_path.split("/") if p and p != "."]
    if ".." in parts:
        raise PathError(f"path leaves the root: {rel_path}")
    return "/".join(parts)
