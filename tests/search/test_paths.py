"""Path confinement: every way out of the root is refused with a clear message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conexus.errors import PathError
from conexus.paths import confine


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / "src" / "pkg").mkdir(parents=True)
    (r / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "outside.txt").write_text("secret\n")
    return r


def test_relative_path_inside_root_resolves_to_absolute_and_posix_relative(root: Path) -> None:
    absolute, rel = confine(root, "src/pkg/mod.py")
    assert rel == "src/pkg/mod.py"
    assert absolute == root.resolve() / "src" / "pkg" / "mod.py"


def test_dot_segments_that_stay_inside_are_normalised(root: Path) -> None:
    assert confine(root, "./src/./pkg/../pkg/mod.py")[1] == "src/pkg/mod.py"


def test_backslashes_are_read_as_separators(root: Path) -> None:
    assert confine(root, "src\\pkg\\mod.py")[1] == "src/pkg/mod.py"


def test_the_root_itself_is_dot(root: Path) -> None:
    absolute, rel = confine(root, ".")
    assert rel == "."
    assert absolute == root.resolve()


def test_a_missing_file_inside_the_root_is_accepted(root: Path) -> None:
    assert confine(root, "src/new_file.py")[1] == "src/new_file.py"


def test_dotdot_escaping_the_root_is_refused(root: Path) -> None:
    with pytest.raises(PathError, match=r"leaves the repository root"):
        confine(root, "../outside.txt")
    with pytest.raises(PathError, match=r"leaves the repository root"):
        confine(root, "src/../../outside.txt")


def test_absolute_path_inside_the_root_is_accepted(root: Path) -> None:
    absolute, rel = confine(root, str(root / "src" / "pkg" / "mod.py"))
    assert rel == "src/pkg/mod.py"
    assert absolute.is_file()


def test_absolute_path_through_an_unresolved_root_is_accepted(tmp_path: Path, root: Path) -> None:
    link = tmp_path / "repo-link"
    link.symlink_to(root, target_is_directory=True)
    assert confine(link, str(link / "src" / "pkg" / "mod.py"))[1] == "src/pkg/mod.py"


def test_absolute_path_outside_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    with pytest.raises(PathError, match=r"outside the repository root"):
        confine(root, str(tmp_path / "outside.txt"))
    with pytest.raises(PathError, match=r"outside the repository root"):
        confine(root, "/etc/passwd")


def test_sibling_directory_sharing_the_root_prefix_is_outside(tmp_path: Path, root: Path) -> None:
    sibling = tmp_path / "repo2"
    sibling.mkdir()
    (sibling / "a.txt").write_text("a\n")
    with pytest.raises(PathError):
        confine(root, str(sibling / "a.txt"))


def test_symlink_leaving_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "escape.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(PathError, match=r"symlink"):
        confine(root, "escape.txt")


def test_symlinked_directory_leaving_the_root_is_refused(root: Path, tmp_path: Path) -> None:
    (root / "up").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(PathError, match=r"symlink"):
        confine(root, "up/outside.txt")


def test_symlink_staying_inside_the_root_keeps_its_own_name(root: Path) -> None:
    (root / "alias.py").symlink_to(root / "src" / "pkg" / "mod.py")
    absolute, rel = confine(root, "alias.py")
    assert rel == "alias.py"
    assert absolute.read_text() == "x = 1\n"


def test_symlink_loop_is_refused(root: Path) -> None:
    (root / "a").symlink_to(root / "b")
    (root / "b").symlink_to(root / "a")
    with pytest.raises(PathError, match=r"loop"):
        confine(root, "a")


def test_nul_byte_is_refused(root: Path) -> None:
    with pytest.raises(PathError, match=r"NUL"):
        confine(root, "src/pkg\x00/mod.py")


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_empty_path_is_refused(root: Path, value: str) -> None:
    with pytest.raises(PathError, match=r"empty path"):
        confine(root, value)


def test_over_long_path_is_refused(root: Path) -> None:
    with pytest.raises(PathError, match=r"too long"):
        confine(root, "/".join(["abcdefgh"] * 600))


def test_over_long_component_is_refused(root: Path) -> None:
    with pytest.raises(PathError, match=r"component is too long"):
        confine(root, "src/" + "x" * 256 + ".py")


@given(st.lists(st.sampled_from(["..", ".", "a", "b", "", "/", "\\", "c.py"]), max_size=12))
def test_any_accepted_path_lies_inside_the_root(parts: list[str]) -> None:
    base = Path(os.path.realpath(os.path.dirname(__file__)))
    user_path = "/".join(parts)
    try:
        absolute, rel = confine(base, user_path)
    except PathError:
        return
    resolved = os.path.realpath(absolute)
    assert resolved == str(base) or resolved.startswith(str(base) + os.sep)
    assert not rel.startswith("..")
