"""Path confinement, and the one rule for "this is a test file".

Every user-supplied path is checked here before anything opens it.

A path given to a tool may come from a model that read hostile text, so it is
treated as untrusted: it must name something inside the root, lexically *and*
after symlinks are resolved. The checks are, in order: empty, NUL bytes,
length (``PATH_MAX``/``NAME_MAX`` of common filesystems), ``..`` or an absolute
path leaving the root, and finally a symlink whose target leaves the root.

Backslashes are read as separators, so ``src\\app.py`` from a Windows-minded
caller names ``src/app.py``; a file whose name contains a backslash cannot be
addressed, which is the safer way round.

:func:`is_test_path` is the one test-file rule: ranking damps tests with it
(``search/fusion.py``, ``search/localize.py``) and related/explain list a
file's tests with it, so the two never disagree about what a test is.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

from conexus.errors import PathError

MAX_PATH_CHARS = 4096  # PATH_MAX on Linux
MAX_COMPONENT_CHARS = 255  # NAME_MAX on ext4, APFS, NTFS


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def real_path(path: Path | str) -> Path:
    """``path`` absolute, with ``~``, ``..`` and every symlink resolved (it need not exist).

    Raises:
        PathError: a NUL byte, or a symlink loop.
    """
    text = str(path)
    if "\x00" in text:
        raise PathError("path contains a NUL byte")
    try:
        return Path(os.path.realpath(os.path.expanduser(text), strict=False))
    except (OSError, RuntimeError, ValueError) as exc:
        raise PathError(f"cannot resolve {text!r}: {exc}") from exc


def within_any(path: Path | str, roots: Iterable[Path | str]) -> bool:
    """True when ``path`` is one of ``roots`` or lies inside one, both sides resolved by :func:`real_path`.

    Resolving first means neither ``..`` nor a symlink can lead out of an allowed directory.
    """
    target = str(real_path(path))
    return any(_inside(target, str(real_path(root))) for root in roots)


def confine(root: Path, user_path: str) -> tuple[Path, str]:
    """Resolve ``user_path`` against ``root`` and prove it stays inside.

    ``user_path`` may be relative to the root or absolute; an absolute path is
    accepted only when it lies inside the root. The path need not exist.

    Returns:
        ``(absolute_path, relative_posix_path)``. The absolute path is the
        resolved root joined with the relative path (symlinks inside the root
        are kept as named, so the relative path is the one the index uses);
        the root itself is ``"."``.

    Raises:
        PathError: empty path, NUL byte, over-long path or component, a path
            that leaves the root (``..``, absolute elsewhere, or a symlink
            whose target is outside), or a symlink loop.
    """
    return Confiner(root).confine(user_path)


class Confiner:
    """:func:`confine` for many paths under one root.

    The resolved directories are cached, so checking thousands of files (grep
    over an index) costs one ``lstat`` per file instead of one per path
    component. A cache lives for one request: it does not see later changes.
    """

    def __init__(self, root: Path) -> None:
        try:
            self.real_root = os.path.realpath(root)
        except (OSError, RuntimeError, ValueError) as exc:
            raise PathError(f"cannot resolve root {root}: {exc}") from exc
        self.given_root = os.path.normpath(os.path.abspath(root))
        self._dirs: dict[str, str] = {"": self.real_root}

    def confine(self, user_path: str) -> tuple[Path, str]:
        """See :func:`confine`."""
        rel = self._lexical(user_path)
        if rel == ".":
            return Path(self.real_root), "."
        parent, name = posixpath.split(rel)
        real_parent = self._resolve_dir(parent, user_path)
        full = os.path.join(real_parent, name)
        resolved = self._realpath(full, user_path) if os.path.islink(full) else full
        if not _inside(resolved, self.real_root):
            raise PathError(
                f"path {user_path!r} resolves through a symlink to {resolved}, outside the repository root"
            )
        return Path(os.path.join(self.real_root, rel)), rel

    def _lexical(self, user_path: str) -> str:
        """The normalised root-relative POSIX path, or PathError for what can be refused without the disk."""
        if not isinstance(user_path, str) or not user_path.strip():
            raise PathError("empty path: give a file path relative to the repository root")
        if "\x00" in user_path:
            raise PathError("path contains a NUL byte")
        if len(user_path) > MAX_PATH_CHARS:
            raise PathError(f"path is too long ({len(user_path)} characters; the limit is {MAX_PATH_CHARS})")
        raw = user_path.replace("\\", "/")
        for part in raw.split("/"):
            if len(part) > MAX_COMPONENT_CHARS:
                raise PathError(
                    f"path component is too long ({len(part)} characters; the limit is "
                    f"{MAX_COMPONENT_CHARS}): {part[:40]}…"
                )
        if os.path.isabs(raw) or raw.startswith("/"):
            lexical = os.path.normpath(raw)
            # Accept the root as given or as resolved (e.g. /tmp vs /private/tmp on macOS).
            for base in (self.real_root, self.given_root):
                if _inside(lexical, base):
                    rel = os.path.relpath(lexical, base)
                    break
            else:
                raise PathError(
                    f"absolute path {user_path!r} is outside the repository root {self.real_root}; "
                    "give a path inside the root, or relative to it"
                )
        else:
            rel = os.path.normpath(raw)
            if rel == ".." or rel.startswith("../"):
                raise PathError(f"path {user_path!r} leaves the repository root via '..'")
        return rel.replace(os.sep, "/")

    def _realpath(self, path: str, user_path: str) -> str:
        try:
            resolved = os.path.realpath(path, strict=False)
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loops raise RuntimeError before 3.13
            raise PathError(f"cannot resolve {user_path!r}: {exc}") from exc
        if os.path.islink(resolved):  # realpath(strict=False) stops silently at a loop
            raise PathError(f"path {user_path!r} is a symlink loop")
        return resolved

    def _resolve_dir(self, rel_dir: str, user_path: str) -> str:
        cached = self._dirs.get(rel_dir)
        if cached is None:
            parent, name = posixpath.split(rel_dir)
            full = os.path.join(self._resolve_dir(parent, user_path), name)
            cached = self._realpath(full, user_path) if os.path.islink(full) else full
            self._dirs[rel_dir] = cached
        return cached


# -- test files ----------------------------------------------------------------------------------

_TEST_DIRS = frozenset({"test", "tests", "testing", "__tests__", "spec", "specs", "testdata", "selftest"})
_NOT_TESTS = frozenset({"latest", "contest", "attest", "protest", "latests", "contests", "protests"})


def is_test_path(path: str) -> bool:
    """True for test files by the common conventions of Python, JS/TS, Go, Java, C/C++, Ruby and Rust.

    Directories named like ``tests`` (``UnitTests``, ``UsageTests``) hold tests
    too, and so do files named ``FooTests.java`` or ``misc.tests.cpp``.
    """
    p = path.lower()
    name = p.rsplit("/", 1)[-1]
    parts = p.split("/")[:-1]
    if any(d in _TEST_DIRS or (d.endswith("tests") and d not in _NOT_TESTS) for d in parts):
        return True
    stem = name.rsplit(".", 1)[0]
    return (
        stem.startswith("test_")
        or (stem.endswith(("_spec", ".spec", "test", "tests")) and stem not in _NOT_TESTS)
        or name == "conftest.py"
    )
