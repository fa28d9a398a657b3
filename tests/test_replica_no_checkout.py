"""A query replica without the repository checkout: read, grep, related, explain and freshness
answer from what the indexer stored (issue #14, "Stateless replicas").

The repository is indexed, then its checkout is moved away; an engine on the same root and
store (SQLite in the same data home, or the same PostgreSQL database) answers from the indexed
tree, as the checkout did, and says its freshness is relative to the last index.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conexus.engine import Engine
from conexus.errors import PathError, PathNotFoundError
from conexus.search.related import find_importers, imports_of, repo_layout
from conexus.search.tree import INDEXED_NOTE, IndexedTree, WorkingTree
from conexus.store.base import Store
from tests.conftest import FIXTURES

MakeEngine = Callable[..., Engine]

RELATED_TARGETS = (
    "src/shop/pricing.py",
    "src/shop/util/__init__.py",  # imported relatively from inside its package
    "src/shop/cart.py",
    "web/src/format.ts",
    "web/src/client/index.ts",
    "internal/store/store.go",
    "Cart",  # a symbol
)


def _repo(tmp_path: Path, name: str) -> Path:
    dest = tmp_path / name
    shutil.copytree(FIXTURES / name, dest)
    return dest


def _related(engine: Engine, target: str) -> dict[str, Any]:
    out = engine.related(target, history=False).to_dict()
    out.pop("notes")
    return out


def _explained(engine: Engine, target: str) -> dict[str, Any]:
    out = engine.explain(target).to_dict()
    out.pop("took_ms", None)
    out["notes"] = [n for n in out.get("notes", []) if INDEXED_NOTE not in n]
    return out


def _answers(engine: Engine) -> dict[str, Any]:
    read = engine.read("src/shop/pricing.py").to_dict()
    for key in ("source", "freshness_note"):
        read.pop(key)
    grep = engine.grep(r"def \w+\(", context_lines=1).to_dict()
    grep.pop("took_ms")
    return {
        "read": read,
        "grep": grep,
        "related": {t: _related(engine, t) for t in RELATED_TARGETS},
        "explain": {t: _explained(engine, t) for t in ("total", "src/shop/cart.py")},
        "search": [(h.citation, h.freshness.state) for h in engine.search("apply a discount").hits],
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_replica_without_the_checkout_answers_as_the_checkout_did(
    backend: str, tmp_path: Path, make_engine: MakeEngine, request: pytest.FixtureRequest
) -> None:
    options: dict[str, object] = {}
    if backend == "postgres":
        options["store_url"] = request.getfixturevalue("postgres_url")
    root = _repo(tmp_path, "related_repo")
    indexer = make_engine(root, **options)
    indexer.index()
    expected = _answers(indexer)
    assert indexer.status()["working_tree"] is True
    indexer.close()

    root.rename(tmp_path / "elsewhere")  # this machine has no checkout any more
    replica = make_engine(root, **options)
    assert not replica.has_checkout() and replica.has_index()
    assert _answers(replica) == expected

    read = replica.read("src/shop/pricing.py", 1, 3)
    assert (read.freshness, read.source, read.freshness_note) == ("fresh", "index", INDEXED_NOTE)
    hit = replica.search("apply a discount").hits[0]
    assert (hit.freshness.state, hit.freshness.note) == ("fresh", INDEXED_NOTE)
    status = replica.status()
    assert status["working_tree"] is False and status["freshness_basis"] == INDEXED_NOTE
    assert (status["stale"]["modified"], status["stale"]["deleted"]) == (0, 0)
    assert replica.freshness("src/shop/cart.py") == "fresh"
    notes = replica.related("src/shop/cart.py").notes
    assert any("no working tree" in n for n in notes)
    assert any(INDEXED_NOTE in n for n in replica.explain("total").notes)
    with pytest.raises(PathNotFoundError, match="no checkout"):
        replica.index()


def test_the_indexed_tree_confines_paths_and_refuses_what_the_index_does_not_hold(
    tmp_path: Path, make_engine: MakeEngine
) -> None:
    root = _repo(tmp_path, "related_repo")
    make_engine(root).index()
    root.rename(tmp_path / "elsewhere")
    replica = make_engine(root)
    for hostile in ("../elsewhere/go.mod", "/etc/passwd", "src/\x00x.py"):
        with pytest.raises(PathError):
            replica.read(hostile)
    with pytest.raises(PathNotFoundError):
        replica.read("src/shop/absent.py")
    with pytest.raises(PathError, match="directory"):
        replica.read("src/shop")


def test_an_index_from_before_texts_were_stored_gets_them_at_the_next_run_without_new_chunks(
    tmp_path: Path, make_engine: MakeEngine
) -> None:
    root = _repo(tmp_path, "related_repo")
    engine = make_engine(root)
    engine.index()
    store = engine._open_store(create=False)
    chunk_ids = [c.id for c in store.chunks_of_file("src/shop/cart.py")]
    engine.close()
    with sqlite3.connect(engine.index_dir / "index.sqlite3") as raw:  # as an older Conexus left it
        raw.execute("DELETE FROM import_terms")
        raw.execute("DELETE FROM contents")
    again = make_engine(root)
    assert again._open_store(create=False).unstored_files()
    report = again.index()
    assert report.files_changed == 0 and report.chunks_written == 0
    store = again._open_store(create=False)
    assert store.unstored_files() == []
    assert store.file_text("src/shop/cart.py") == (root / "src/shop/cart.py").read_text()
    assert [c.id for c in store.chunks_of_file("src/shop/cart.py")] == chunk_ids


def _parsed_importers(root: Path, store: Store, target: str) -> set[tuple[str, int]]:
    """Every indexed file parsed from disk, its imports resolved: the importers of ``target``."""
    layout = repo_layout(WorkingTree(root), store)
    found = set()
    for path, row in layout.files.items():
        if path == target:
            continue
        for ref in imports_of(root, path, row.language):
            if target in layout.resolve(path, row.language, ref):
                found.add((path, ref.line))
    return found


@pytest.mark.parametrize("fixture", ["related_repo", "golden_repo"])
def test_importers_from_stored_edges_agree_with_parsing_every_file(
    fixture: str, tmp_path: Path, make_engine: MakeEngine
) -> None:
    root = _repo(tmp_path, fixture)
    engine = make_engine(root)
    engine.index()
    store = engine._open_store(create=False)
    compared = 0
    for target in sorted(store.files()):
        expected = _parsed_importers(root, store, target)
        for tree in (WorkingTree(root), IndexedTree(root, store)):
            edges = find_importers(tree, store, [target])
            assert {(e.importer, e.line) for e in edges} == expected, (target, tree)
        compared += bool(expected)
    assert compared >= 3


NATIVE_REPO = {
    "core/src/main/java/com/acme/util/Pool.java": "package com.acme.util; public class Pool {}",
    "core/src/main/java/com/acme/Json.java": "package com.acme; public class Json { static class F {} }",
    "core/src/main/java/com/acme/io/Reader.java": (
        "package com.acme.io;\nimport com.acme.Json;\nimport static com.acme.Json.F.X;\n"
        "import com.acme.util.*;\nclass Reader { Pool pool; }\n"
    ),
    "Cargo.toml": '[workspace]\nmembers = ["app", "core-crate"]\n',
    "app/Cargo.toml": '[package]\nname = "app"\n',
    "app/src/lib.rs": "mod attr;\nuse crate::net::{tcp::Stream, udp};\nuse core_crate::span::Id;\n",
    "app/src/attr.rs": "use super::net::udp;\n",
    "app/src/net/mod.rs": "pub mod tcp;\npub mod udp;\n",
    "app/src/net/tcp.rs": "use super::udp::Socket;\n",
    "app/src/net/udp.rs": "pub struct Socket;\n",
    "core-crate/Cargo.toml": '[package]\nname = "core-crate"\n',
    "core-crate/src/lib.rs": "pub mod span;\n",
    "core-crate/src/span.rs": "pub struct Id;\n",
    "native/include/util/buf.h": "int buf(void);\n",
    "native/src/buf.c": '#include "util/buf.h"\n#include <stdio.h>\nint buf(void) { return 0; }\n',
    "native/src/main.cpp": '#include "../include/util/buf.h"\nint main() { return buf(); }\n',
    "php/src/Http/Client.php": "<?php\nnamespace Acme\\Http;\nclass Client {}\n",
    "php/src/app.php": "<?php\nuse Acme\\Http\\Client;\nrequire __DIR__ . '/Http/Client.php';\n",
    "ruby/lib/acme/format.rb": "module Acme; def self.f; end; end\n",
    "ruby/lib/acme.rb": "require 'acme/format'\nrequire_relative 'acme/format'\n",
}


def test_native_language_importers_from_stored_edges_agree_with_parsing_every_file(
    tmp_path: Path, make_engine: MakeEngine
) -> None:
    root = tmp_path / "native"
    for rel, text in NATIVE_REPO.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    engine = make_engine(root)
    engine.index()
    store = engine._open_store(create=False)
    compared = 0
    for target in sorted(store.files()):
        expected = _parsed_importers(root, store, target)
        for tree in (WorkingTree(root), IndexedTree(root, store)):
            edges = find_importers(tree, store, [target])
            assert {(e.importer, e.line) for e in edges} == expected, (target, tree)
        compared += bool(expected)
    assert compared >= 8
