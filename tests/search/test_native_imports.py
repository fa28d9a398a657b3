"""Java, Rust, C/C++, PHP and Ruby imports: extraction from real syntax, resolution to repository files."""

from __future__ import annotations

from pathlib import Path

import pytest

from conexus.indexing.languages import detect_language
from conexus.search.related.imports import RepoLayout, extract_imports
from conexus.search.related.native_imports import NativeResolver, statement_specifiers
from conexus.store.base import FileRow


def _layout(root: Path, files: dict[str, str]) -> RepoLayout:
    rows = {}
    for i, (rel, text) in enumerate(sorted(files.items())):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        rows[rel] = FileRow(i, rel, "", len(text), 0, detect_language(rel) or "text", 1, 1)
    return RepoLayout.build(root, rows)


def _resolved(layout: RepoLayout, importer: str, text: str) -> list[tuple[str, list[str]]]:
    language = detect_language(importer) or ""
    refs = extract_imports(language, text)
    return [(ref.specifier, layout.resolve(importer, language, ref)) for ref in refs]


def test_java_imports_resolve_under_any_source_root_and_wildcards_keep_only_mentioned_classes(
    tmp_path: Path,
) -> None:
    src = "core/src/main/java/com/acme"
    files = {
        f"{src}/util/Pool.java": "package com.acme.util; public class Pool {}",
        f"{src}/util/Unused.java": "package com.acme.util; public class Unused {}",
        f"{src}/Json.java": "package com.acme; public class Json { public static class Feature {} }",
        f"{src}/io/Reader.java": "",
    }
    reader = (
        "package com.acme.io;\n"
        "import java.util.List;\n"
        "import com.acme.Json;\n"
        "import static com.acme.Json.Feature.X;\n"
        "import com.acme.util.*;\n"
        "class Reader { Pool pool; }\n"
    )
    files[f"{src}/io/Reader.java"] = reader
    layout = _layout(tmp_path, files)
    assert _resolved(layout, f"{src}/io/Reader.java", reader) == [
        ("java.util.List", []),
        ("com.acme.Json", [f"{src}/Json.java"]),
        ("com.acme.Json.Feature.X", [f"{src}/Json.java"]),
        ("com.acme.util.*", [f"{src}/util/Pool.java"]),
    ]


def test_rust_mod_and_use_paths_descend_module_files_and_workspace_crates(tmp_path: Path) -> None:
    lib = (
        "mod attr;\nmod inline { fn f() {} }\nuse crate::net::{tcp::Stream, udp};\nuse std::io;\n"
        "use core_crate::span::Id as SpanId;\n"
    )
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["app", "core-crate"]\n',
        "app/Cargo.toml": '[package]\nname = "app"\n',
        "app/src/lib.rs": lib,
        "app/src/attr.rs": "use super::net::udp;\n",
        "app/src/net/mod.rs": "pub mod tcp;\npub mod udp;\n",
        "app/src/net/tcp.rs": "use self::inner::X;\n",
        "app/src/net/udp.rs": "",
        "core-crate/Cargo.toml": '[package]\nname = "core-crate"\nversion = "0.1.0"\n',
        "core-crate/src/lib.rs": "pub mod span;\n",
        "core-crate/src/span.rs": "",
    }
    layout = _layout(tmp_path, files)
    assert _resolved(layout, "app/src/lib.rs", lib) == [
        ("self::attr", ["app/src/attr.rs"]),
        ("crate::net::tcp::Stream", ["app/src/net/tcp.rs"]),
        ("crate::net::udp", ["app/src/net/udp.rs"]),
        ("std::io", []),
        ("core_crate::span::Id", ["core-crate/src/span.rs"]),
    ]
    assert _resolved(layout, "app/src/attr.rs", files["app/src/attr.rs"]) == [
        ("super::net::udp", ["app/src/net/udp.rs"])
    ]


def test_c_includes_look_beside_the_file_first_then_by_path_suffix_nearest_the_importer(
    tmp_path: Path,
) -> None:
    text = '#include "internal.h"\n#include "../common/mem.h"\n#include <lib/api.h>\n#include <stdio.h>\n'
    files = {
        "lib/compress/compress.c": text,
        "lib/compress/internal.h": "",
        "lib/common/mem.h": "",
        "include/lib/api.h": "",
        "vendor/other/include/lib/api.h": "",
    }
    layout = _layout(tmp_path, files)
    assert _resolved(layout, "lib/compress/compress.c", text) == [
        ('"internal.h"', ["lib/compress/internal.h"]),
        ('"../common/mem.h"', ["lib/common/mem.h"]),
        ("<lib/api.h>", ["include/lib/api.h"]),
        ("<stdio.h>", []),
    ]


def test_php_use_statements_follow_psr4_paths_and_requires_are_relative(tmp_path: Path) -> None:
    text = (
        "<?php\nnamespace App\\Http;\n"
        "use App\\Models\\User;\nuse App\\Support\\{Str, Arr as A};\n"
        "require_once __DIR__ . '/helpers.php';\n"
    )
    files = {
        "src/Http/Controller.php": text,
        "src/Models/User.php": "<?php\n",
        "src/Support/Str.php": "<?php\n",
        "src/Support/Arr.php": "<?php\n",
        "src/Http/helpers.php": "<?php\n",
    }
    layout = _layout(tmp_path, files)
    assert _resolved(layout, "src/Http/Controller.php", text) == [
        ("App\\Models\\User", ["src/Models/User.php"]),
        ("App\\Support\\Arr", ["src/Support/Arr.php"]),
        ("App\\Support\\Str", ["src/Support/Str.php"]),
        ("/helpers.php", ["src/Http/helpers.php"]),
    ]


def test_ruby_require_relative_is_relative_and_require_prefers_lib(tmp_path: Path) -> None:
    text = "require 'json'\nrequire 'shop/cart'\nrequire_relative '../support/money'\n"
    files = {
        "lib/shop/checkout.rb": text,
        "lib/shop/cart.rb": "",
        "lib/support/money.rb": "",
        "spec/shop/cart.rb": "",
    }
    layout = _layout(tmp_path, files)
    assert _resolved(layout, "lib/shop/checkout.rb", text) == [
        ("json", []),
        ("shop/cart", ["lib/shop/cart.rb"]),
        ("relative:../support/money", ["lib/support/money.rb"]),
    ]


@pytest.mark.parametrize(
    ("language", "kind", "text", "expected"),
    [
        ("rust", "use_declaration", "pub(crate) use a::{b::{c, d}, e as f};", ["a::b::c", "a::b::d", "a::e"]),
        ("rust", "mod_item", "#[cfg(test)]\nmod tests;", ["self::tests"]),
        ("rust", "mod_item", "mod inline { }", []),
        ("java", "import_declaration", "import static a.b.C.*;", ["a.b.C.*"]),
        ("cpp", "string_literal", '"x.hpp"', ['"x.hpp"']),
    ],
)
def test_statement_texts_become_the_specifiers_they_name(
    language: str, kind: str, text: str, expected: list[str]
) -> None:
    assert statement_specifiers(language, kind, text) == expected


def test_a_resolver_never_returns_the_importer_itself(tmp_path: Path) -> None:
    resolver = NativeResolver(tmp_path, ["src/a.h"])
    assert resolver.resolve("src/a.h", "c", '"a.h"') == []
