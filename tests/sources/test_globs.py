"""Runs of stars in gitignore-style globs: read as git reads them, and matched in linear time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conexus.sources.filesystem.globs import collapse_stars, gitignore_spec
from conexus.sources.filesystem.ignore import _Rules

PATTERNS = ["a***b", "src/***/x.py", "***/gen", "lib/**", "***", "*.p**y", "docs/****"]
# Not in PATTERNS: git matches "x**/y" against "x/q/y" too (a star run glued to a name still crosses
# the "/" right after it), while pathspec, before and after the collapse alike, reads it as "x*/y".
PATHS = [
    "ab",
    "a/b",
    "aXb",
    "src/x.py",
    "src/p/q/x.py",
    "gen",
    "k/gen",
    "lib/z.c",
    "m.py",
    "m.pqqy",
    "docs/a/b.md",
    "x1/y",
    "x/q/y",
]


def test_star_runs_collapse_to_what_git_reads() -> None:
    # bounded by "/" or the ends, a run is "**"; glued to a name it is one "*"
    assert collapse_stars("a***b") == "a*b"
    assert collapse_stars("/***/") == "/**/"
    assert collapse_stars("src/***/x.py") == "src/**/x.py"
    assert collapse_stars("x/**b") == "x/*b"
    assert collapse_stars(r"\***") == r"\**"  # an escaped star stays a literal one
    assert collapse_stars("plain*glob") == "plain*glob"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_with_star_runs_ignore_exactly_what_git_check_ignore_does(
    pattern: str, tmp_path: Path
) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text(pattern + "\n", encoding="utf-8")
    rules = _Rules(".gitignore", [pattern])
    spec = gitignore_spec([pattern])
    for path in PATHS:
        git = subprocess.run(
            ["git", "-C", str(tmp_path), "check-ignore", "--no-index", "-q", path], check=False
        )
        ignored_by_git = git.returncode == 0
        decided = rules.decide(path, is_dir=False)
        parents = [path.rsplit("/", k)[0] for k in range(1, path.count("/") + 1)]
        by_parent = any(rules.decide(p, is_dir=True) is not None for p in parents)
        assert (decided is not None or by_parent) == ignored_by_git, (pattern, path)
        assert spec.match_file(path) == ignored_by_git, (pattern, path)


def test_a_long_run_of_stars_is_matched_at_once_not_after_minutes_of_backtracking() -> None:
    # 40 stars: before the collapse, each star was its own [^/]* and this took hours.
    rules = _Rules(".gitignore", ["*" * 40 + "<"])
    assert rules.decide("node_modules/some/deep/path/file.js", is_dir=False) is None
    assert not gitignore_spec(["*" * 40 + "<"]).match_file("node_modules/some/deep/path/file.js")
