"""The walker: ignore rules (checked against git itself), symlinks, duplicate links, odd files."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conexus.errors import PathError
from conexus.models import SkippedFile, SkipReason
from conexus.sources.base import DocumentRef
from conexus.sources.filesystem import ignore as ignore_module
from conexus.sources.filesystem import walk as walk_module
from conexus.sources.filesystem.ignore import IgnoreMatcher, WalkOptions
from conexus.sources.filesystem.read import read_source
from conexus.sources.filesystem.walk import files_under, walk

CACHEDIR_TAG = b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache directory\n"


def make(root: Path, rel: str, content: str | bytes = "x = 1\n") -> Path:
    """Create ``root/rel`` with ``content``, making folders as needed."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def entries(root: Path, options: WalkOptions | None = None) -> dict[str, DocumentRef | SkippedFile]:
    return {e.path: e for e in walk(root, options or WalkOptions())}


def indexed(root: Path, options: WalkOptions | None = None) -> set[str]:
    return {p for p, e in entries(root, options).items() if isinstance(e, DocumentRef)}


def skipped(root: Path, options: WalkOptions | None = None) -> dict[str, SkippedFile]:
    return {p: e for p, e in entries(root, options).items() if isinstance(e, SkippedFile)}


# -- ignore files --------------------------------------------------------------------------------


def test_nested_gitignores_apply_negation_anchoring_and_directory_only_patterns(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "*.log\n!important.log\n/top.txt\nlogs/\n")
    for rel in ["a.log", "important.log", "top.txt", "sub/top.txt", "logs/x.py", "sub/logs", "keep.py"]:
        make(tmp_path, rel)
    make(tmp_path, "sub/.gitignore", "!a.log\n/local.py\n")
    make(tmp_path, "sub/a.log")
    make(tmp_path, "sub/local.py")
    make(tmp_path, "sub/deeper/local.py")

    assert indexed(tmp_path) == {
        ".gitignore",
        "important.log",  # negated
        "sub/top.txt",  # /top.txt is anchored to the root
        "sub/logs",  # logs/ only matches directories
        "keep.py",
        "sub/.gitignore",
        "sub/a.log",  # the deeper file re-includes it
        "sub/deeper/local.py",  # /local.py is anchored to sub/
    }
    assert skipped(tmp_path)["logs/"].reason is SkipReason.IGNORED


def test_double_star_patterns_match_at_any_depth(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "**/gen/**\ndocs/**/draft.md\n")
    for rel in ["gen/a.py", "x/gen/b.py", "docs/draft.md", "docs/a/b/draft.md", "docs/final.md"]:
        make(tmp_path, rel)
    assert indexed(tmp_path) == {".gitignore", "docs/final.md"}


def test_a_file_cannot_be_reincluded_when_its_directory_is_excluded(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "build/\n!build/keep.txt\n")
    make(tmp_path, "build/keep.txt")
    assert "build/keep.txt" not in indexed(tmp_path)
    assert IgnoreMatcher(tmp_path, WalkOptions()).is_ignored("build/keep.txt", is_dir=False)


def test_a_pattern_matches_the_path_itself_not_its_parent_directory(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "foo/*\n!foo/bar/\n")
    make(tmp_path, "foo/bar/x.txt")
    make(tmp_path, "foo/y.txt")
    assert indexed(tmp_path) == {".gitignore", "foo/bar/x.txt"}


def test_whitelist_idiom_keeps_directories_walkable(tmp_path: Path) -> None:
    # pathspec's GitIgnoreSpec calls src/ ignored here; git does not.
    make(tmp_path, ".gitignore", "*\n!*/\n!*.py\n")
    make(tmp_path, "src/a.py")
    make(tmp_path, "src/b.txt")
    make(tmp_path, "src/sub/c.py")
    assert indexed(tmp_path) == {"src/a.py", "src/sub/c.py"}


def test_git_info_exclude_is_honoured(tmp_path: Path) -> None:
    make(tmp_path, ".git/info/exclude", "# local\nsecret.txt\n")
    make(tmp_path, "secret.txt")
    make(tmp_path, "a.py")
    found = entries(tmp_path)
    assert found["secret.txt"] == SkippedFile(
        "secret.txt", SkipReason.IGNORED, ".git/info/exclude:2:secret.txt"
    )
    assert isinstance(found["a.py"], DocumentRef)
    assert found[".git/"] == SkippedFile(".git/", SkipReason.IGNORED, "always excluded: .git")


def test_gitignore_files_above_the_root_apply_inside_a_repository(tmp_path: Path) -> None:
    make(tmp_path, ".git/info/exclude", "secret.txt\n")
    make(tmp_path, ".gitignore", "*.log\nproject/gen/\n")
    root = tmp_path / "project"
    for rel in ["a.log", "gen/x.py", "secret.txt", "ok.py"]:
        make(root, rel)
    assert indexed(root) == {"ok.py"}
    matcher = IgnoreMatcher(root, WalkOptions())
    assert matcher.explain("a.log", is_dir=False) == "../.gitignore:1:*.log"
    assert matcher.is_ignored("gen", is_dir=True)


def test_conexusignore_excludes_and_can_reinclude_what_gitignore_ignores(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "generated/\n*.txt\n")
    make(tmp_path, ".conexusignore", "!generated/\n!notes.txt\nscratch.py\n")
    make(tmp_path, "sub/.conexusignore", "local.py\n")
    for rel in ["generated/api.py", "notes.txt", "other.txt", "scratch.py", "sub/local.py", "sub/a.py"]:
        make(tmp_path, rel)
    assert indexed(tmp_path) == {
        ".gitignore",
        ".conexusignore",
        "generated/api.py",
        "notes.txt",
        "sub/a.py",
    } | {"sub/.conexusignore"}


def test_conexusignore_negation_reincludes_a_default_excluded_directory(tmp_path: Path) -> None:
    make(tmp_path, ".conexusignore", "!vendored/node_modules/\n")
    make(tmp_path, "vendored/node_modules/lib/index.js")
    make(tmp_path, "node_modules/other/index.js")
    found = indexed(tmp_path)
    assert "vendored/node_modules/lib/index.js" in found
    assert "node_modules/other/index.js" not in found


def test_gitignore_negation_cannot_reinclude_a_default_excluded_directory(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "!node_modules/\n")
    make(tmp_path, "node_modules/x/index.js")
    assert skipped(tmp_path)["node_modules/"].detail == "default exclude: node_modules/"


def test_malformed_ignore_lines_are_skipped_and_the_rest_still_applies(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "[z-a]\n[[\ntrailing\\\n\xff\n*.log\n")
    make(tmp_path, "a.log")
    make(tmp_path, "a.py")
    assert indexed(tmp_path) == {".gitignore", "a.py"}


def test_each_ignore_file_is_read_once_per_walk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for d in ["", "a/", "a/b/", "c/"]:
        make(tmp_path, d + ".gitignore", "*.log\n")
        for i in range(3):
            make(tmp_path, f"{d}f{i}.py")
    reads: list[str] = []
    real = ignore_module._read_rules

    def counting(path: str, src: str) -> object:
        reads.append(path)
        return real(path, src)

    monkeypatch.setattr(ignore_module, "_read_rules", counting)
    list(walk(tmp_path, WalkOptions()))
    gitignores = [r for r in reads if r.endswith(".gitignore")]
    assert sorted(gitignores) == sorted(set(gitignores))
    assert len(gitignores) == 4


# -- defaults ------------------------------------------------------------------------------------

IGNORED_BY_DEFAULT = [
    *(
        f"{d}/f.js"
        for d in [
            "node_modules",
            "bower_components",
            ".venv",
            "venv",
            ".tox",
            ".nox",
            "__pycache__",
            ".mypy_cache",
            ".pytest_cache",
            ".ruff_cache",
            ".cache",
            ".gradle",
            ".next",
            ".nuxt",
            "htmlcov",
            ".git",
            ".hg",
            ".svn",
            ".bzr",
            "pkg.egg-info",
            ".conexus",
            "deep/down/node_modules",
        ]
    ),
    "app.min.js",
    "style.min.css",
    "app.js.map",
    "msg_pb2.py",
    "api.pb.go",
    "Form.generated.cs",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "poetry.lock",
    "Cargo.lock",
    "Gemfile.lock",
    "composer.lock",
    "uv.lock",
    "go.sum",
    "logo.png",
    "photo.JPG",
    "font.woff2",
    "lib.so",
    "app.exe",
    "Main.class",
    "mod.pyc",
    "data.sqlite",
    "manual.pdf",
    "archive.tar.gz",
    "clip.mp4",
]


@pytest.mark.parametrize("rel", IGNORED_BY_DEFAULT)
def test_default_excludes_leave_out_dependencies_caches_outputs_and_binaries(
    tmp_path: Path, rel: str
) -> None:
    make(tmp_path, rel)
    make(tmp_path, "main.py")
    assert indexed(tmp_path) == {"main.py"}
    assert all(e.reason is SkipReason.IGNORED for e in skipped(tmp_path).values())


@pytest.mark.parametrize(
    ("manifest", "output"),
    [
        ("pyproject.toml", "build"),
        ("setup.py", "dist"),
        ("Cargo.toml", "target"),
        ("pom.xml", "target"),
        ("package.json", "dist"),
        ("package.json", "coverage"),
        ("build.gradle", "build"),
        ("build.gradle.kts", "out"),
    ],
)
def test_build_output_directories_are_excluded_beside_their_manifest(
    tmp_path: Path, manifest: str, output: str
) -> None:
    make(tmp_path, f"pkg/{manifest}", "")
    make(tmp_path, f"pkg/{output}/generated.py")
    make(tmp_path, f"other/{output}/source.py")
    found = indexed(tmp_path)
    assert f"pkg/{output}/generated.py" not in found
    assert f"other/{output}/source.py" in found  # e.g. Go's go/build, cmd/dist packages


@pytest.mark.parametrize(
    "rel", ["docs/_static/logo.svg", "fonts/cmr10.afm", "locale/de/LC_MESSAGES/django.po"]
)
def test_data_files_are_excluded_by_default_and_can_be_reincluded(tmp_path: Path, rel: str) -> None:
    make(tmp_path, rel, 'msgid "Enter a valid value."\nmsgstr "Geben Sie einen gültigen Wert ein."\n')
    make(tmp_path, "main.py")
    assert indexed(tmp_path) == {"main.py"}
    ext = rel.rsplit(".", 1)[1]
    assert skipped(tmp_path)[rel].detail == f"default exclude: *.{ext} (data)"
    make(tmp_path, ".conexusignore", f"!*.{ext}\n")
    assert rel in indexed(tmp_path)


def test_a_directory_with_pyvenv_cfg_is_a_virtualenv_whatever_its_name(tmp_path: Path) -> None:
    make(tmp_path, "env/pyvenv.cfg", "home = /usr/bin\n")
    make(tmp_path, "env/lib/site.py")
    make(tmp_path, "env2/lib/site.py")
    assert indexed(tmp_path) == {"env2/lib/site.py"}
    assert skipped(tmp_path)["env/"].detail == "default exclude: virtualenv (pyvenv.cfg)"


def test_a_directory_tagged_with_cachedir_tag_is_never_indexed(tmp_path: Path) -> None:
    make(tmp_path, ".conexusignore", "!data/\n")
    make(tmp_path, "data/CACHEDIR.TAG", CACHEDIR_TAG)
    make(tmp_path, "data/index.py")
    make(tmp_path, "fake/CACHEDIR.TAG", "not the signature\n")
    make(tmp_path, "fake/a.py")
    assert indexed(tmp_path) == {".conexusignore", "fake/CACHEDIR.TAG", "fake/a.py"}
    assert IgnoreMatcher(tmp_path, WalkOptions()).is_ignored("data/index.py", is_dir=False)


def test_conexus_data_directories_are_never_indexed_even_when_reincluded(tmp_path: Path) -> None:
    make(tmp_path, ".conexusignore", "!.conexus/\n!.conexus-home/\n")
    make(tmp_path, ".conexus/store.py")
    make(tmp_path, ".conexus-home/indexes/x.py")
    assert indexed(tmp_path) == {".conexusignore"}


def test_a_pruned_directory_yields_one_skipped_entry_with_a_trailing_slash(tmp_path: Path) -> None:
    for i in range(5):
        make(tmp_path, f"node_modules/pkg{i}/index.js")
    result = list(walk(tmp_path, WalkOptions()))
    assert result == [SkippedFile("node_modules/", SkipReason.IGNORED, "default exclude: node_modules/")]


# -- options -------------------------------------------------------------------------------------


def test_include_option_indexes_only_matching_files(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "src/skip.py\n")
    for rel in ["src/a.py", "src/deep/b.py", "src/skip.py", "README.md", "docs/x.md", "docs/x.txt", "t/t.py"]:
        make(tmp_path, rel)
    options = WalkOptions(include=("src/", "*.md"))
    assert indexed(tmp_path, options) == {"src/a.py", "src/deep/b.py", "README.md", "docs/x.md"}
    found = skipped(tmp_path, options)
    assert found["docs/x.txt"].detail == "not matched by the include option"
    assert found["src/skip.py"].detail == ".gitignore:1:src/skip.py"


def test_exclude_option_wins_over_conexusignore_negations(tmp_path: Path) -> None:
    make(tmp_path, ".conexusignore", "!keep.txt\n")
    for rel in ["keep.txt", "a.py", "gen/b.py", "src/gen/c.py"]:
        make(tmp_path, rel)
    found = indexed(tmp_path, WalkOptions(exclude=("*.txt", "gen/")))
    assert found == {".conexusignore", "a.py"}


def test_walk_order_is_sorted_depth_first_and_repeatable(tmp_path: Path) -> None:
    for rel in ["b.py", "a/z.py", "a/b/c.py", "c.py", "a.py", "A.py"]:
        make(tmp_path, rel)
    paths = [e.path for e in walk(tmp_path, WalkOptions())]
    assert paths == ["A.py", "a/b/c.py", "a/z.py", "a.py", "b.py", "c.py"]
    assert paths == [e.path for e in walk(tmp_path, WalkOptions())]


# -- sizes and odd entries -----------------------------------------------------------------------


def test_files_over_the_size_limit_are_skipped_by_their_stat_size(tmp_path: Path) -> None:
    make(tmp_path, "exact.py", "x" * 100)
    with open(tmp_path / "huge.py", "wb") as fh:
        fh.truncate(10**9)  # sparse: no gigabyte is written
    options = WalkOptions(max_file_bytes=100)
    assert indexed(tmp_path, options) == {"exact.py"}
    assert skipped(tmp_path, options)["huge.py"].reason is SkipReason.TOO_LARGE


def test_a_fifo_is_skipped_as_not_regular(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert skipped(tmp_path)["pipe"] == SkippedFile("pipe", SkipReason.NOT_REGULAR, "fifo")


def test_an_unlistable_directory_is_skipped_as_unreadable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can list any directory")
    make(tmp_path, "locked/a.py")
    (tmp_path / "locked").chmod(0)
    try:
        assert skipped(tmp_path)["locked/"].reason is SkipReason.UNREADABLE
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_a_directory_that_fails_to_list_is_skipped_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs as root too (where chmod cannot lock a directory): the listing itself fails.
    make(tmp_path, "locked/a.py")
    make(tmp_path, "open/b.py")
    real_scan = walk_module._scan

    def scan(path: str) -> list[os.DirEntry[str]]:
        if path.endswith("locked"):
            raise PermissionError(13, "Permission denied", path)
        return real_scan(path)

    monkeypatch.setattr(walk_module, "_scan", scan)
    assert skipped(tmp_path)["locked/"] == SkippedFile("locked/", SkipReason.UNREADABLE, "Permission denied")
    assert indexed(tmp_path) == {"open/b.py"}


def test_a_missing_root_raises_path_error(tmp_path: Path) -> None:
    with pytest.raises(PathError):
        walk(tmp_path / "nope", WalkOptions())
    make(tmp_path, "file.py")
    with pytest.raises(PathError):
        walk(tmp_path / "file.py", WalkOptions())
    with pytest.raises(PathError):
        IgnoreMatcher(tmp_path / "nope", WalkOptions())


# -- symlinks ------------------------------------------------------------------------------------


def test_symlinks_inside_the_root_are_followed_and_reported_at_the_link_path(tmp_path: Path) -> None:
    # The targets live in an ignored directory, so the links are the only paths the walk lists.
    make(tmp_path, ".gitignore", "vendored/\n")
    make(tmp_path, "vendored/real/mod.py")
    make(tmp_path, "vendored/one.py")
    (tmp_path / "link.py").symlink_to("vendored/one.py")
    (tmp_path / "alias").symlink_to("vendored/real", target_is_directory=True)
    found = entries(tmp_path)
    assert {"link.py", "alias/mod.py"} <= set(found)
    link = found["link.py"]
    assert isinstance(link, DocumentRef)
    assert link.location == str(tmp_path / "link.py")
    assert read_source(link, 1000) == ("x = 1\n", False)
    assert isinstance(found["alias/mod.py"], DocumentRef)


def test_a_symlinked_directory_inside_the_root_is_indexed_once_at_its_real_path(tmp_path: Path) -> None:
    # psf/requests: tests/certs/expired and tests/certs/valid link to the same folder (its *.pem
    # files are named .crt here: a .pem is left out as a possible private key, see test_secrets.py).
    for name in ["a.crt", "b.crt", "c.py"]:
        make(tmp_path, f"tests/certs/mtls/{name}")
    (tmp_path / "tests/certs/expired").symlink_to("mtls", target_is_directory=True)
    (tmp_path / "tests/certs/valid").symlink_to("mtls", target_is_directory=True)
    found = entries(tmp_path)
    assert indexed(tmp_path) == {"tests/certs/mtls/a.crt", "tests/certs/mtls/b.crt", "tests/certs/mtls/c.py"}
    for link in ["expired", "valid"]:
        for name in ["a.crt", "b.crt", "c.py"]:
            rel = f"tests/certs/{link}/{name}"
            why = f"same file as tests/certs/mtls/{name}"
            assert found[rel] == SkippedFile(rel, SkipReason.DUPLICATE_LINK, why)


def test_a_symlink_to_a_file_is_a_duplicate_of_the_file_itself(tmp_path: Path) -> None:
    make(tmp_path, "docs/readme.md", "# hi\n")
    (tmp_path / "README.md").symlink_to("docs/readme.md")
    assert indexed(tmp_path) == {"docs/readme.md"}
    assert skipped(tmp_path)["README.md"].reason is SkipReason.DUPLICATE_LINK


def test_when_every_path_goes_through_a_link_the_lexicographically_first_is_kept(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "store/\n")
    make(tmp_path, "store/data.py")
    (tmp_path / "b").symlink_to("store", target_is_directory=True)
    (tmp_path / "a").symlink_to("store", target_is_directory=True)
    assert indexed(tmp_path) == {".gitignore", "a/data.py"}
    why = "same file as a/data.py"
    assert skipped(tmp_path)["b/data.py"] == SkippedFile("b/data.py", SkipReason.DUPLICATE_LINK, why)


def test_hard_links_are_indexed_once_at_the_first_path(tmp_path: Path) -> None:
    make(tmp_path, "z.py")
    os.link(tmp_path / "z.py", tmp_path / "y.py")
    assert indexed(tmp_path) == {"y.py"}
    assert skipped(tmp_path)["z.py"].reason is SkipReason.DUPLICATE_LINK


def test_files_under_a_directory_come_from_the_walker_with_the_trees_rules(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "*.log\n")
    make(tmp_path, "pkg/a.py")
    make(tmp_path, "pkg/b.log")
    make(tmp_path, "pkg/node_modules/x.js")
    make(tmp_path, "pkg/sub/c.py")
    make(tmp_path, "other.py")
    assert files_under(tmp_path, "pkg", WalkOptions()) == ["pkg/a.py", "pkg/sub/c.py"]
    assert files_under(tmp_path, "pkg/node_modules", WalkOptions()) == []
    assert files_under(tmp_path, "missing", WalkOptions()) == []
    assert files_under(tmp_path, "pkg", WalkOptions(), limit=1) == ["pkg/a.py"]


def test_symlinks_leaving_the_root_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make(tmp_path, "outside/secret.py")
    make(root, "a.py")
    (root / "escape.py").symlink_to(tmp_path / "outside/secret.py")
    (root / "escape_dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "dotdot").symlink_to("../outside")
    found = skipped(root)
    for rel in ["escape.py", "escape_dir", "dotdot"]:
        assert found[rel].reason is SkipReason.SYMLINK_OUTSIDE_ROOT
    assert indexed(root) == {"a.py"}


def test_symlink_loops_are_detected_and_skipped(tmp_path: Path) -> None:
    make(tmp_path, "a/b/c.py")
    (tmp_path / "a/b/up").symlink_to("..", target_is_directory=True)
    (tmp_path / "a/self").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "knot").symlink_to("knot")
    found = skipped(tmp_path)
    for rel in ["a/b/up/", "a/self/", "knot"]:
        assert found[rel].reason is SkipReason.SYMLINK_LOOP, rel
    assert indexed(tmp_path) == {"a/b/c.py"}


def test_a_dangling_symlink_is_skipped_as_unreadable(tmp_path: Path) -> None:
    (tmp_path / "gone.py").symlink_to("nowhere.py")
    assert skipped(tmp_path)["gone.py"].reason is SkipReason.UNREADABLE


def test_symlinks_are_not_followed_when_the_option_is_off(tmp_path: Path) -> None:
    make(tmp_path, "real/mod.py")
    (tmp_path / "alias").symlink_to("real", target_is_directory=True)
    options = WalkOptions(follow_symlinks=False)
    assert skipped(tmp_path, options)["alias"].reason is SkipReason.NOT_REGULAR
    assert indexed(tmp_path, options) == {"real/mod.py"}


# -- the matcher on single paths -----------------------------------------------------------------


def test_matcher_agrees_with_walk_for_every_path(tmp_path: Path) -> None:
    make(tmp_path, ".gitignore", "*.log\nbuild/\n!keep.log\n")
    make(tmp_path, ".conexusignore", "drafts/\n")
    make(tmp_path, "pkg/.gitignore", "/local/\n")
    make(tmp_path, "pyproject.toml", "")
    for rel in [
        "a.log",
        "keep.log",
        "build/x.py",
        "pkg/local/y.py",
        "pkg/sub/local/z.py",
        "drafts/d.md",
        "node_modules/m.js",
        "venv2/pyvenv.cfg",
        "venv2/lib.py",
        "logo.png",
        "src/app.py",
    ]:
        make(tmp_path, rel)
    options = WalkOptions(exclude=("*.tmp",), include=("src/", "*.log", "pkg/", "*.md"))
    matcher = IgnoreMatcher(tmp_path, options)
    for entry in walk(tmp_path, options):
        is_dir = entry.path.endswith("/")
        expected = isinstance(entry, SkippedFile) and entry.reason is SkipReason.IGNORED
        assert matcher.is_ignored(entry.path, is_dir) is expected, entry
        assert matcher.reason(entry.path.rstrip("/"), is_dir) == (SkipReason.IGNORED if expected else None)
    # files inside pruned directories, which walk never visits
    for rel in ["build/x.py", "node_modules/m.js", "venv2/lib.py", "drafts/d.md"]:
        assert matcher.is_ignored(rel, is_dir=False), rel
    assert not matcher.is_ignored("./src//app.py", is_dir=False)


def test_matcher_rejects_paths_that_leave_the_root(tmp_path: Path) -> None:
    matcher = IgnoreMatcher(tmp_path, WalkOptions())
    with pytest.raises(PathError):
        matcher.is_ignored("../etc/passwd", is_dir=False)
    with pytest.raises(PathError):
        matcher.is_ignored("/etc/passwd", is_dir=False)


def test_matcher_sees_a_changed_gitignore_after_invalidate(tmp_path: Path) -> None:
    make(tmp_path, "sub/a.py")
    matcher = IgnoreMatcher(tmp_path, WalkOptions())
    assert not matcher.is_ignored("sub/a.py", is_dir=False)
    make(tmp_path, "sub/.gitignore", "a.py\n")
    matcher.invalidate()
    assert matcher.explain("sub/a.py", is_dir=False) == "sub/.gitignore:1:a.py"


# -- agreement with git itself -------------------------------------------------------------------

_NAMES = ["a", "b", "c"]
_FILES = ["x.py", "y.log", "a", "keep.txt"]
_SEGMENTS = ["a", "b", "c", "*", "**", "?", "[ab]", "x.py", "*.py", "*.log", "keep.txt"]
_patterns = st.tuples(
    st.sampled_from(["", "!"]),
    st.sampled_from(["", "/"]),
    st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=3).map("/".join),
    st.sampled_from(["", "/"]),
).map("".join) | st.sampled_from(["#comment", "", "*", "!*/", "c/*", "!c/a/"])
_GIT = shutil.which("git")


@st.composite
def _trees(draw: st.DrawFn) -> tuple[set[str], set[str], dict[str, list[str]], list[str]]:
    raw = draw(
        st.lists(
            st.tuples(st.lists(st.sampled_from(_NAMES), max_size=3), st.sampled_from(_FILES)),
            min_size=1,
            max_size=12,
        )
    )
    dirs = {"/".join(d[:i]) for d, _ in raw for i in range(1, len(d) + 1)}
    files = {"/".join([*d, f]) for d, f in raw} - dirs
    holders = draw(st.lists(st.sampled_from(sorted(dirs | {""})), max_size=3, unique=True))
    ignores = {h: draw(st.lists(_patterns, min_size=1, max_size=5)) for h in holders}
    info = draw(st.lists(_patterns, max_size=3))
    return files, dirs, ignores, info


def _git_ignored(root: Path, paths: list[str]) -> set[str]:
    home = root.parent
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    out = subprocess.run(
        [_GIT or "git", "check-ignore", "--no-index", "--stdin"],
        cwd=root,
        input="\n".join(paths) + "\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr
    return set(out.stdout.splitlines())


@pytest.mark.skipif(_GIT is None, reason="git is not installed")
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees())
def test_ignore_decisions_match_git_check_ignore(
    tree: tuple[set[str], set[str], dict[str, list[str]], list[str]],
) -> None:
    files, dirs, ignores, info = tree
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        for rel in files:
            make(root, rel)
        for holder, lines in ignores.items():
            make(root, f"{holder}/.gitignore" if holder else ".gitignore", "\n".join(lines) + "\n")
        make(root, ".git/info/exclude", "\n".join(info) + "\n")
        make(root, ".git/HEAD", "ref: refs/heads/main\n")
        (root / ".git/objects").mkdir()
        (root / ".git/refs").mkdir()
        all_files = files | {f"{h}/.gitignore" if h else ".gitignore" for h in ignores}
        paths = sorted(all_files | dirs)

        expected = _git_ignored(root, paths)
        matcher = IgnoreMatcher(root, WalkOptions())
        actual = {p for p in paths if matcher.is_ignored(p, is_dir=p in dirs)}
        assert actual == expected
        walked = {e.path for e in walk(root, WalkOptions()) if isinstance(e, DocumentRef)}
        assert walked == all_files - expected
