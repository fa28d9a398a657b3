"""related_info on a real index of a small Python + TypeScript/JavaScript + Go repository, and git history."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conexus import gitinfo
from conexus.engine import Engine
from conexus.errors import PathError, QueryError
from conexus.paths import is_test_path
from conexus.search.related import (
    RelatedInfo,
    extract_imports,
    find_importers,
    imports_of,
    related_info,
    subject_of_test,
)
from conexus.search.related import imports as related
from conexus.store.base import Store
from tests.conftest import FIXTURES, write

MakeEngine = Callable[..., Engine]


# ----------------------------------------------------------------------------------- helpers


def git(root: Path, *args: str, date: str = "2024-01-01T00:00:00+00:00") -> None:
    """Run git in ``root`` with a fixed identity and date, and no user or system config."""
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
    }
    config = [
        "user.name=Ada Tester",
        "user.email=ada@example.com",
        "init.defaultBranch=main",
        "commit.gpgsign=false",
    ]
    options = [arg for item in config for arg in ("-c", item)]
    subprocess.run(["git", *options, *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    dest = tmp_path / "related_repo"
    shutil.copytree(FIXTURES / "related_repo", dest)
    return dest


@pytest.fixture
def indexed(repo: Path, make_engine: MakeEngine) -> tuple[Path, Store, Engine]:
    engine = make_engine(repo)
    engine.index()
    return repo, engine._open_store(create=False), engine


def _cites(items: object) -> list[str]:
    return [i.citation for i in items]  # type: ignore[attr-defined]


def _by_path(items: object) -> dict[str, object]:
    return {i.path: i for i in items}  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------- extraction


def test_python_imports_are_extracted_with_level_and_names() -> None:
    text = (
        "import a.b as c, d\n"
        "from ..x.y import (z,\n    w as q)\n"
        "from . import m\n\n"
        "def f():\n    import inner\n"
    )
    refs = extract_imports("python", text)
    assert [(r.line, r.end_line, r.specifier, r.names, r.level) for r in refs] == [
        (1, 1, "a.b", (), 0),
        (1, 1, "d", (), 0),
        (2, 3, "x.y", ("z", "w"), 2),
        (4, 4, "", ("m",), 1),
        (7, 7, "inner", (), 0),
    ]


def test_imports_inside_strings_and_comments_are_not_imports() -> None:
    text = '"""\nimport fake\n"""\n# from nowhere import thing\nx = "import os"\n'
    assert extract_imports("python", text) == ()


def test_javascript_and_typescript_import_forms_are_all_found() -> None:
    text = (
        'import x, { a as b } from "./a";\n'
        "import type { T } from '../t';\n"
        'export * from "./e";\n'
        'const r = require("./r");\n'
        'const m = await import("./m");\n'
        'import "./side";\n'
        'import fs = require("fs");\n'
        'const notAnImport = load("./nope");\n'
    )
    specs = [r.specifier for r in extract_imports("typescript", text)]
    assert specs == ["./a", "../t", "./e", "./r", "./m", "./side", "fs"]
    js = 'const { f } = require("./f.js");\nimport g from "./g";\n'
    assert [r.specifier for r in extract_imports("javascript", js)] == ["./f.js", "./g"]


def test_go_imports_are_extracted_from_single_and_grouped_forms() -> None:
    text = 'package main\n\nimport (\n\tf "fmt"\n\t"example.com/m/pkg"\n)\n\nimport "os"\n'
    assert [(r.line, r.specifier) for r in extract_imports("go", text)] == [
        (4, "fmt"),
        (5, "example.com/m/pkg"),
        (8, "os"),
    ]


def test_languages_without_import_support_give_no_imports() -> None:
    assert extract_imports("kotlin", "import kotlin.math.abs\n") == ()


def test_import_extraction_is_cached_per_file_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = related.extract_imports

    def counting(language: str, text: str) -> tuple[related.ImportRef, ...]:
        calls.append(text)
        return real(language, text)

    monkeypatch.setattr(related, "extract_imports", counting)
    write(tmp_path, "m.py", "import os\n")
    first = imports_of(tmp_path, "m.py", "python")
    assert imports_of(tmp_path, "m.py", "python") is first
    st = (tmp_path / "m.py").stat()
    os.utime(tmp_path / "m.py", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert imports_of(tmp_path, "m.py", "python") is first  # touched, same content: not re-parsed
    write(tmp_path, "m.py", "import os\nimport sys\n")
    assert [r.specifier for r in imports_of(tmp_path, "m.py", "python")] == ["os", "sys"]
    assert len(calls) == 2


# ----------------------------------------------------------------------------------- test naming


@pytest.mark.parametrize(
    ("path", "is_test", "subject"),
    [
        ("tests/test_cart.py", True, "cart"),
        ("pkg/cart_test.py", True, "cart"),
        ("internal/store/store_test.go", True, "store"),
        ("web/src/format.test.ts", True, "format"),
        ("web/src/format.spec.jsx", True, "format"),
        ("src/test/java/CartTest.java", True, "Cart"),
        ("tests/helpers.py", True, "helpers"),
        ("web/__tests__/api.ts", True, "api"),
        ("src/shop/cart.py", False, None),
        # One rule with ranking (conexus.paths.is_test_path): anything under tests/ is test material.
        ("tests/fixtures/sample.py", True, "sample"),
        ("tests/README.md", True, "README"),
        ("src/contest.py", False, None),
    ],
)
def test_test_files_are_recognised_by_convention(path: str, is_test: bool, subject: str | None) -> None:
    assert is_test_path(path) is is_test
    assert subject_of_test(path) == subject


# ----------------------------------------------------------------------------------- Python


def test_python_file_lists_its_symbols_with_citations(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/pricing.py")
    assert info.target_kind == "file"
    assert info.files == ("src/shop/pricing.py",)
    assert [(d.name, d.citation) for d in info.definitions] == [
        ("round_money", "src/shop/pricing.py:6-8"),
        ("apply_discount", "src/shop/pricing.py:11-15"),
    ]


def test_python_importers_resolve_absolute_relative_and_parent_relative_imports(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/pricing.py")
    importers = {(i.path, i.start_line, i.name) for i in info.importers}
    assert importers == {
        ("src/shop/cart.py", 7, "from shop import pricing"),  # absolute, src layout, submodule
        ("src/shop/checkout.py", 3, "from . import pricing"),  # relative
        ("src/shop/util/money.py", 3, "from ..pricing import round_money"),  # parent-relative
        ("tests/test_pricing.py", 2, "from shop import pricing"),
    }
    assert all(i.resolved == "src/shop/pricing.py" for i in info.importers)


def test_python_imports_resolve_inside_the_repo_and_mark_the_rest_external(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/cli.py")
    resolved = {(i.start_line, i.resolved) for i in info.imports}
    assert resolved == {
        (3, "src/shop/checkout.py"),  # import shop.checkout
        (4, "src/shop/__init__.py"),  # from shop import Cart: a name defined in the package
    }
    cart = related_info(root, store, "src/shop/cart.py")
    assert {(i.name, i.resolved) for i in cart.imports} == {
        ("logging", None),
        ("from shop import pricing", "src/shop/pricing.py"),
        ("from shop.util.money import format_money", "src/shop/util/money.py"),
    }
    external = [i for i in cart.imports if i.resolved is None]
    assert [i.detail for i in external] == ["external"]


def test_package_init_is_imported_by_from_package_imports(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/__init__.py")
    # "from shop import Cart" names the package; "from .. import Cart" inside it does not.
    assert [(i.path, i.start_line) for i in info.importers] == [
        ("src/shop/cli.py", 4),
        ("src/shop/util/labels.py", 3),
    ]


def test_references_are_confirmed_identifiers_not_token_matches(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "apply_discount")
    assert info.target_kind == "symbol"
    paths = {r.path for r in info.references}
    assert "src/shop/flags.py" not in paths  # APPLY_DISCOUNT shares the FTS token, not the identifier
    calls = {(r.path, r.start_line) for r in info.references if r.kind == "call"}
    assert {("src/shop/cart.py", 30), ("src/shop/checkout.py", 9), ("tests/test_pricing.py", 7)} <= calls
    assert not any(r.path == "src/shop/pricing.py" and 11 <= r.start_line <= 15 for r in info.references)


def test_qualified_method_target_finds_the_method_and_its_callers(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "Cart.total")
    assert [(d.name, d.citation, d.kind) for d in info.definitions] == [
        ("Cart.total", "src/shop/cart.py:27-30", "method")
    ]
    refs = {(r.path, r.start_line) for r in info.references}
    assert {("src/shop/cart.py", 33), ("src/shop/checkout.py", 9), ("tests/test_cart.py", 8)} <= refs
    assert ("src/shop/cart.py", 27) not in refs


def test_citation_target_narrows_to_the_symbol_at_that_line(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/cart.py:29")
    assert info.target_kind == "symbol"
    assert [d.name for d in info.definitions] == ["Cart.total"]


def test_tests_are_found_by_import_mention_and_name(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    tests = _by_path(related_info(root, store, "src/shop/pricing.py").tests)
    assert set(tests) == {"tests/test_pricing.py"}
    detail = tests["tests/test_pricing.py"].detail  # type: ignore[attr-defined]
    assert "mentions apply_discount" in detail
    assert "imports src/shop/pricing.py" in detail
    assert "named after it" in detail


# ----------------------------------------------------------------------------------- JS / TS


def test_typescript_importers_resolve_extensions_index_files_and_js_specifiers(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "web/src/format.ts")
    assert {(i.path, i.start_line, i.name) for i in info.importers} == {
        ("web/src/api.ts", 1, "./format"),
        ("web/src/format.test.ts", 1, "./format"),
        ("web/src/legacy.js", 1, "./format.js"),  # a .js specifier naming the .ts source
    }
    api = related_info(root, store, "web/src/api.ts")
    assert {(i.name, i.resolved) for i in api.imports} == {
        ("./format", "web/src/format.ts"),
        ("./client", "web/src/client/index.ts"),  # directory import -> index.ts
        ("lodash", None),
    }


def test_typescript_test_file_is_related_to_its_subject(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    tests = _by_path(related_info(root, store, "formatPrice").tests)
    assert list(tests) == ["web/src/format.test.ts"]


# ----------------------------------------------------------------------------------- Go


def test_go_package_imports_resolve_through_the_module_path(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "internal/store/store.go")
    assert [(i.path, i.start_line, i.name) for i in info.importers] == [
        ("cmd/server/main.go", 6, "example.com/shop/internal/store")
    ]
    main = related_info(root, store, "cmd/server/main.go")
    assert {(i.name, i.resolved) for i in main.imports} == {
        ("fmt", None),
        ("example.com/shop/internal/store", "internal/store/store.go"),
    }


def test_go_test_in_the_same_package_is_found_without_an_import(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    tests = _by_path(related_info(root, store, "internal/store/store.go").tests)
    assert list(tests) == ["internal/store/store_test.go"]


# ----------------------------------------------------------------------------------- targets


def test_unknown_target_is_a_query_error_that_suggests_search(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    with pytest.raises(QueryError, match="no file or symbol named 'NoSuchThing'"):
        related_info(root, store, "NoSuchThing")


def test_a_path_leaving_the_root_is_a_path_error(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    with pytest.raises(PathError):
        related_info(root, store, "../../etc/passwd")


def test_a_bare_file_name_resolves_when_unique_and_lists_candidates_when_not(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    assert related_info(root, store, "checkout.py").files == ("src/shop/checkout.py",)
    with pytest.raises(QueryError, match=r"matches 2 files.*src/shop/__init__.py"):
        related_info(root, store, "__init__.py")


def test_a_package_directory_stands_for_its_entry_file(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    assert related_info(root, store, "src/shop").files == ("src/shop/__init__.py",)
    assert related_info(root, store, "web/src/client/").files == ("web/src/client/index.ts",)
    with pytest.raises(QueryError, match="web/src is a directory"):
        related_info(root, store, "web/src")


def test_a_file_created_after_indexing_is_related_but_marked_unindexed(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, _ = indexed
    write(root, "src/shop/late.py", "from shop import pricing\n")
    info = related_info(root, store, "src/shop/late.py")
    assert info.target_kind == "file"
    assert [i.resolved for i in info.imports] == ["src/shop/pricing.py"]
    assert "src/shop/late.py is not indexed" in info.notes


def test_limit_caps_every_list_and_notes_the_cut(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/pricing.py", limit=1)
    assert len(info.importers) == 1
    assert any(n.startswith("importers: showing 1 of 4") for n in info.notes)
    with pytest.raises(QueryError):
        related_info(root, store, "src/shop/pricing.py", limit=0)


def test_importers_are_cached_until_the_index_changes(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, engine = indexed
    before = {e.importer for e in find_importers(root, store, ["src/shop/pricing.py"])}
    write(root, "src/shop/extra.py", "from shop.pricing import round_money\n")
    assert {e.importer for e in find_importers(root, store, ["src/shop/pricing.py"])} == before
    engine.index()
    after = {e.importer for e in find_importers(root, store, ["src/shop/pricing.py"])}
    assert after == before | {"src/shop/extra.py"}


def test_the_file_graph_lists_resolved_imports_and_counts_importers(
    indexed: tuple[Path, Store, Engine],
) -> None:
    root, store, engine = indexed
    graph = engine.file_graph(["src/shop/cart.py", "src/shop/cli.py", "README.md"])
    assert set(graph.imports) == {"src/shop/cart.py", "src/shop/cli.py"}  # prose imports nothing
    assert set(graph.imports["src/shop/cart.py"]) == {"src/shop/pricing.py", "src/shop/util/money.py"}
    # pricing.py is imported by cart, checkout, util/money and the pricing test (the importers above).
    assert graph.in_degree["src/shop/pricing.py"] == len(find_importers(root, store, ["src/shop/pricing.py"]))
    assert graph.in_degree["src/shop/pricing.py"] == 4
    # Only the asked files and their targets are described.
    assert set(graph.in_degree) <= {"src/shop/cart.py", "src/shop/cli.py", "README.md"}.union(
        *graph.imports.values()
    )


def test_the_file_graph_follows_the_index_generation(indexed: tuple[Path, Store, Engine]) -> None:
    root, _store, engine = indexed
    before = engine.file_graph(["src/shop/pricing.py"]).in_degree["src/shop/pricing.py"]
    write(root, "src/shop/extra.py", "from shop.pricing import round_money\n")
    engine.index()
    graph = engine.file_graph(["src/shop/extra.py", "src/shop/pricing.py"])
    assert graph.imports["src/shop/extra.py"] == ("src/shop/pricing.py",)
    assert graph.in_degree["src/shop/pricing.py"] == before + 1


def test_past_the_size_bound_the_graph_reads_only_the_asked_files(
    indexed: tuple[Path, Store, Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    _root, _store, engine = indexed
    monkeypatch.setattr(related, "MAX_GRAPH_FILES", 2)
    related._LAYOUTS.clear()
    graph = engine.file_graph(["src/shop/cart.py"])
    assert set(graph.imports["src/shop/cart.py"]) == {"src/shop/pricing.py", "src/shop/util/money.py"}
    assert graph.in_degree == {}  # no whole-tree count: no centrality


def test_result_is_json_ready_and_every_item_cites_lines(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/cart.py")
    data = json.loads(json.dumps(info.to_dict()))
    assert data["target_kind"] == "file"
    for section in ("definitions", "imports", "importers", "references", "tests"):
        for item in data[section]:
            assert item["citation"] == f"{item['path']}:{item['start_line']}-{item['end_line']}"
            lines = (root / item["path"]).read_text().split("\n")
            assert 1 <= item["start_line"] <= item["end_line"] <= len(lines)


def test_without_git_history_the_result_says_so(indexed: tuple[Path, Store, Engine]) -> None:
    root, store, _ = indexed
    info = related_info(root, store, "src/shop/cart.py")
    assert info.co_changes == ()
    assert info.recent_commits == ()
    assert any("not a git repository" in n for n in info.notes)


# ----------------------------------------------------------------------------------- git


@pytest.fixture
def history(repo: Path) -> Path:
    """The fixture repository with three commits: cart+pricing twice, a huge formatting commit once."""
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial import", date="2024-01-01T10:00:00+00:00")
    write(repo, "src/shop/cart.py", (repo / "src/shop/cart.py").read_text() + "\n# tweak 1\n")
    write(repo, "src/shop/pricing.py", (repo / "src/shop/pricing.py").read_text() + "\n# tweak 1\n")
    git(repo, "commit", "-q", "-am", "Tune discounts", date="2024-01-02T10:00:00+00:00")
    write(repo, "src/shop/cart.py", (repo / "src/shop/cart.py").read_text() + "# tweak 2\n")
    write(repo, "src/shop/pricing.py", (repo / "src/shop/pricing.py").read_text() + "# tweak 2\n")
    write(repo, "tests/test_cart.py", (repo / "tests/test_cart.py").read_text() + "# tweak 2\n")
    git(repo, "commit", "-q", "-am", "Round totals", date="2024-01-03T10:00:00+00:00")
    return repo


def test_a_directory_without_git_is_not_a_repo_and_gives_empty_history(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert not gitinfo.is_git_repo(plain)
    assert gitinfo.recent_commits(plain, "a.py") == []
    assert gitinfo.co_changed(plain, "a.py") == []


def test_recent_commits_are_newest_first_with_sha_date_author_subject(history: Path) -> None:
    assert gitinfo.is_git_repo(history)
    commits = gitinfo.recent_commits(history, "src/shop/cart.py", limit=2)
    assert [c.subject for c in commits] == ["Round totals", "Tune discounts"]
    assert commits[0].author == "Ada Tester"
    assert commits[0].date == "2024-01-03T10:00:00+00:00"
    assert len(commits[0].sha) == 40


def test_co_changed_counts_shared_commits_most_often_first(history: Path) -> None:
    changes = gitinfo.co_changed(history, "src/shop/cart.py")
    # pricing.py shares 3 commits; the rest shares only the initial import, so rank by count then path.
    assert changes[0] == gitinfo.CoChange("src/shop/pricing.py", 3)
    assert gitinfo.CoChange("tests/test_cart.py", 2) in changes


def test_co_changed_ignores_commits_touching_too_many_files(history: Path) -> None:
    changes = gitinfo.co_changed(history, "src/shop/cart.py", max_files_per_commit=5)
    assert changes == [gitinfo.CoChange("src/shop/pricing.py", 2), gitinfo.CoChange("tests/test_cart.py", 1)]


def test_co_changed_leaves_out_files_that_no_longer_exist(history: Path) -> None:
    (history / "tests/test_cart.py").unlink()
    assert "tests/test_cart.py" not in {c.path for c in gitinfo.co_changed(history, "src/shop/cart.py")}


def test_git_paths_stay_relative_to_a_root_below_the_repository_top(history: Path) -> None:
    sub = history / "src"
    changes = gitinfo.co_changed(sub, "shop/cart.py", max_files_per_commit=5)
    assert changes[0] == gitinfo.CoChange("shop/pricing.py", 2)
    assert [c.subject for c in gitinfo.recent_commits(sub, "shop/cart.py", limit=1)] == ["Round totals"]


def test_git_output_over_the_byte_cap_is_cut_to_whole_records(history: Path) -> None:
    out = gitinfo.run_git(history, ["log", "--format=%H%x1e"], max_bytes=50)
    assert out is not None
    assert not out.complete


def test_related_info_includes_co_changes_and_commits_in_a_git_repo(
    history: Path, make_engine: MakeEngine
) -> None:
    engine = make_engine(history)
    engine.index()
    info: RelatedInfo = related_info(history, engine._open_store(create=False), "src/shop/cart.py")
    assert info.co_changes[0].path == "src/shop/pricing.py"
    assert info.co_changes[0].count == 3
    assert info.co_changes[0].citation.startswith("src/shop/pricing.py:1-")
    assert [c.subject for c in info.recent_commits] == ["Round totals", "Tune discounts", "initial import"]
