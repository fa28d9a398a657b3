"""Every tool and its error cases through the SDK's client, over stdio and over HTTP.

These tests only read, so each transport shares one server (and one index)
for the whole module; tests that change files or the index are in
``test_live.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from tests.server.conftest import TRANSPORTS, call, call_error, connect, text_of, wait_ready

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# What the index must hold: secret.env is ignored, assets/logo.png binary, escape/ a symlink out of the root.
INDEXED = {
    ".gitignore",
    "README.md",
    "pkg/__init__.py",
    "pkg/http_utils.py",
    "pkg/session.py",
    "tests/test_http_utils.py",
}
HOSTILE_PATHS = [  # and what the refusal must say
    ("../outside.py", "leaves the repository root"),
    ("pkg/../../outside.py", "leaves the repository root"),
    ("/etc/passwd", "outside the repository root"),
    ("escape/leak.py", "outside the repository root"),
    ("pkg/\x00.py", "NUL byte"),
    ("a/" * 2100, "too long"),
    ("x" * 300, "component is too long"),
]


@pytest.fixture(scope="module", params=TRANSPORTS)
async def client(
    request: pytest.FixtureRequest, shared_dirs: tuple[Path, Path], anyio_backend: str
) -> AsyncIterator[Client]:
    repo, base_home = shared_dirs
    # One data home per transport: two servers must never write the same index.
    home = base_home.parent / f"home-{request.param}"
    async with connect(request.param, [repo], home, log=home.parent / f"{request.param}.log") as c:
        await wait_ready(c)
        yield c


@pytest.fixture(scope="module")
def repo_dir(shared_dirs: tuple[Path, Path]) -> Path:
    return shared_dirs[0]


async def search(client: Client, **arguments: Any) -> dict[str, Any]:
    result = await call(client, "context_search", **arguments)
    data: dict[str, Any] | None = result.structured_content
    assert data is not None
    return data


# -- listing -----------------------------------------------------------------------------------------


async def test_the_server_lists_nine_tools_with_schemas_for_the_model(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == {
        "context_search",
        "context_localize",
        "context_get_related_info",
        "context_explain",
        "context_grep",
        "context_read",
        "context_status",
        "context_index_control",
        "context_connector_management",
    }
    for tool in tools:
        assert TOOL_NAME.match(tool.name)
        assert tool.input_schema["type"] == "object" and tool.output_schema is not None
        assert tool.description and tool.annotations is not None
    assert client.server_info is not None and client.server_info.name == "conexus"


# -- context_search ------------------------------------------------------------------------------------


async def test_search_hits_cite_fresh_line_ranges_in_structured_and_text_content(client: Client) -> None:
    result = await call(client, "context_search", query="parse_header_links Link header", top_k=5)
    data = result.structured_content
    assert data is not None and data["index_state"] == "ready" and data["root"] == "repo"
    top = data["hits"][0]
    assert top["citation"] == "pkg/http_utils.py:4-10"
    assert top["symbol"] == "parse_header_links" and top["freshness"]["state"] == "fresh"
    assert "def parse_header_links" in top["snippet"]
    text = text_of(result)
    assert "pkg/http_utils.py:4-10" in text and "def parse_header_links" in text


async def test_search_says_in_structured_and_text_content_when_nothing_matched_well(client: Client) -> None:
    result = await call(client, "context_search", query="Kafka consumer offsets", top_k=3)
    data = result.structured_content
    assert data is not None and data["confidence"]["no_good_match"] is True
    assert (
        data["confidence"]["label"] in {"low", "none"}
        and "kafka" in data["confidence"]["signals"]["missing_terms"]
    )
    assert "No strong match" in text_of(result)
    good = await search(client, query="parse_header_links", top_k=3)
    assert good["confidence"]["no_good_match"] is False


async def test_search_pages_with_an_opaque_cursor_bound_to_the_query(client: Client) -> None:
    first = await search(client, query="retry", top_k=2)
    assert first["next_cursor"]
    second = await search(client, query="retry", top_k=2, cursor=first["next_cursor"])
    assert second["offset"] == 2
    assert {h["citation"] for h in first["hits"]}.isdisjoint(h["citation"] for h in second["hits"])
    by_offset = await search(client, query="retry", top_k=2, offset=2)
    assert [h["citation"] for h in by_offset["hits"]] == [h["citation"] for h in second["hits"]]
    msg = await call_error(
        client, "context_search", {"query": "other", "top_k": 2, "cursor": first["next_cursor"]}
    )
    assert "different query" in msg
    msg = await call_error(client, "context_search", {"query": "retry", "cursor": "!!not-a-cursor"})
    assert "invalid cursor" in msg
    msg = await call_error(
        client, "context_search", {"query": "retry", "cursor": first["next_cursor"], "offset": 1}
    )
    assert "either cursor or offset" in msg


async def test_search_filters_by_path_glob_language_and_kind(client: Client) -> None:
    data = await search(client, query="parse_header_links", paths=["tests/**"])
    assert data["hits"] and all(h["path"].startswith("tests/") for h in data["hits"])
    data = await search(client, query="parse_header_links", paths=["**", "!tests/**"])
    assert data["hits"] and not any(h["path"].startswith("tests/") for h in data["hits"])
    data = await search(client, query="sessions retries", languages=["markdown"])
    assert data["hits"] and {h["language"] for h in data["hits"]} == {"markdown"}
    data = await search(client, query="session", kinds=["class"])
    assert [h["symbol"] for h in data["hits"]] == ["Session"]


async def test_search_trims_snippets_to_the_max_chars_budget(client: Client) -> None:
    full = await search(client, query="parse header links retry session", top_k=5)
    budget = 120
    trimmed = await search(client, query="parse header links retry session", top_k=5, max_chars=budget)
    assert sum(len(h["snippet"]) for h in full["hits"]) > budget
    assert sum(len(h["snippet"]) for h in trimmed["hits"]) <= budget
    assert [h["citation"] for h in trimmed["hits"]] == [h["citation"] for h in full["hits"]]


async def test_work_context_boosts_hits_in_the_active_and_open_files(client: Client) -> None:
    plain = await search(client, query="parse_header_links", top_k=10)
    boosted = await search(
        client,
        query="parse_header_links",
        top_k=10,
        work_context={"active_file": "tests/test_http_utils.py", "open_files": []},
    )

    def score(data: dict[str, Any], path: str) -> float:
        return float(next(h["score"] for h in data["hits"] if h["path"] == path))

    ratio = score(boosted, "tests/test_http_utils.py") / score(plain, "tests/test_http_utils.py")
    assert ratio == pytest.approx(1.3, rel=1e-3)
    assert score(boosted, "pkg/http_utils.py") == pytest.approx(score(plain, "pkg/http_utils.py"))


# -- context_grep ------------------------------------------------------------------------------------------


async def test_grep_finds_regex_matches_with_line_citations_and_context(client: Client) -> None:
    result = await call(client, "context_grep", pattern=r"def \w+\(", context_lines=1)
    data = result.structured_content
    assert data is not None
    assert [m["citation"] for m in data["matches"]] == [
        "pkg/http_utils.py:4-4",
        "pkg/http_utils.py:13-13",
        "pkg/session.py:7-7",
        "tests/test_http_utils.py:4-4",
    ]
    first = data["matches"][0]
    assert first["column"] == 1 and first["after"] == [
        '    """Parse a Link header into a list of dicts with url and rel."""'
    ]
    assert data["files_matched"] == 3 and not data["truncated"] and not data["timed_out"]
    assert "pkg/http_utils.py:4:  def parse_header_links" in text_of(result)


async def test_grep_supports_literal_case_insensitive_path_filtered_and_capped_searches(
    client: Client,
) -> None:
    literal = (
        await call(client, "context_grep", pattern="parse_header_links(", literal=True)
    ).structured_content
    assert literal is not None and len(literal["matches"]) == 4  # the test function's name contains it too
    loose = (await call(client, "context_grep", pattern="SESSION", case_sensitive=False)).structured_content
    assert loose is not None and any(m["path"] == "README.md" for m in loose["matches"])
    only_tests = (
        await call(client, "context_grep", pattern="parse_header_links", paths=["tests/**"])
    ).structured_content
    assert only_tests is not None and {m["path"] for m in only_tests["matches"]} == {
        "tests/test_http_utils.py"
    }
    capped = (
        await call(client, "context_grep", pattern="parse_header_links", max_results=1)
    ).structured_content
    assert capped is not None and len(capped["matches"]) == 1 and capped["truncated"] is True
    ignored = (await call(client, "context_grep", pattern="do-not-index-me", literal=True)).structured_content
    assert ignored is not None and ignored["matches"] == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"pattern": "(unclosed"}, "Invalid request: invalid regular expression"),
        ({"pattern": ""}, "pattern: String should have at least 1 character"),
        ({"pattern": "x", "context_lines": 99}, "context_lines: Input should be less than or equal to 20"),
        ({"pattern": "x", "paths": ["\x00"]}, "NUL byte"),
    ],
)
async def test_bad_grep_requests_get_actionable_errors(
    client: Client, arguments: dict[str, Any], expected: str
) -> None:
    assert expected in await call_error(client, "context_grep", arguments)


# -- context_read ------------------------------------------------------------------------------------------


async def test_read_returns_numbered_lines_from_disk_with_freshness(client: Client) -> None:
    result = await call(client, "context_read", path="pkg/session.py", start_line=4, end_line=5)
    data = result.structured_content
    assert data is not None and data["citation"] == "pkg/session.py:4-5" and data["freshness"] == "fresh"
    assert data["lines"] == [
        {"line": 4, "text": "class Session:"},
        {"line": 5, "text": '    """A connection pool that follows redirects."""'},
    ]
    assert "4  class Session:" in text_of(result)
    paged = (await call(client, "context_read", path="pkg/http_utils.py", max_lines=3)).structured_content
    assert paged is not None and paged["truncated"] is True and paged["next_start"] == 4
    unindexed = (await call(client, "context_read", path=".gitignore")).structured_content
    assert unindexed is not None and unindexed["total_lines"] == 1


@pytest.mark.parametrize(("path", "expected"), HOSTILE_PATHS)
async def test_hostile_paths_to_read_are_refused(client: Client, path: str, expected: str) -> None:
    message = await call_error(client, "context_read", {"path": path})
    assert message.startswith("Path refused") and expected in message


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"path": "pkg/missing.py"}, "no such file: pkg/missing.py"),
        ({"path": "pkg"}, "pkg is a directory"),
        ({"path": "assets/logo.png"}, "binary file"),
        ({"path": "pkg/session.py", "start_line": 99}, "past the end of pkg/session.py, which has 10 lines"),
        ({"path": "pkg/session.py", "start_line": 5, "end_line": 2}, "before start line"),
        (
            {"path": "pkg/session.py", "start_line": 0},
            "start_line: Input should be greater than or equal to 1",
        ),
    ],
)
async def test_bad_reads_get_actionable_errors(
    client: Client, arguments: dict[str, Any], expected: str
) -> None:
    assert expected in await call_error(client, "context_read", arguments)


# -- context_get_related_info and context_explain -------------------------------------------------------


async def test_related_info_lists_definitions_importers_references_and_tests(client: Client) -> None:
    result = await call(client, "context_get_related_info", target="pkg/http_utils.py")
    data = result.structured_content
    assert data is not None and data["target_kind"] == "file" and data["files"] == ["pkg/http_utils.py"]
    assert [d["citation"] for d in data["definitions"]] == [
        "pkg/http_utils.py:4-10",
        "pkg/http_utils.py:13-15",
    ]
    assert {i["path"] for i in data["importers"]} == {"pkg/session.py", "tests/test_http_utils.py"}
    assert "pkg/session.py:10-10" in {r["citation"] for r in data["references"]}
    assert [t["path"] for t in data["tests"]] == ["tests/test_http_utils.py"]
    assert data["git_history"] is True and data["co_changes"] == [] and data["recent_commits"] == []
    assert any("not a git repository" in n for n in data["notes"])
    symbol = (await call(client, "context_get_related_info", target="retry_delay")).structured_content
    assert symbol is not None and symbol["target_kind"] == "symbol"
    assert [d["citation"] for d in symbol["definitions"]] == ["pkg/http_utils.py:13-15"]
    assert [r["citation"] for r in symbol["references"] if r["path"] == "pkg/session.py"] == [
        "pkg/session.py:1-1",
        "pkg/session.py:9-9",
    ]


async def test_related_info_for_an_unknown_target_says_how_to_find_one(client: Client) -> None:
    message = await call_error(client, "context_get_related_info", {"target": "no_such_symbol_xyz"})
    assert "no file or symbol named 'no_such_symbol_xyz'" in message
    message = await call_error(client, "context_get_related_info", {"target": "x", "limit": 0})
    assert "limit: Input should be greater than or equal to 1" in message


async def test_explain_gathers_verified_evidence_for_a_symbol_and_for_a_question(client: Client) -> None:
    result = await call(client, "context_explain", target="parse_header_links")
    data = result.structured_content
    assert data is not None and data["target_kind"] == "symbol" and data["dropped"] == 0
    subject = data["subjects"][0]
    assert subject["definition"]["citation"] == "pkg/http_utils.py:4-10"
    assert subject["definition"]["status"] == "verified"
    assert {c["citation"] for c in subject["callers"]} >= {"pkg/session.py:10-10"}
    assert "## function parse_header_links  pkg/http_utils.py:4-10" in text_of(result)
    question = (
        await call(client, "context_explain", target="how are Link headers parsed")
    ).structured_content
    assert question is not None and question["target_kind"] == "query" and question["hits"]
    message = await call_error(client, "context_explain", {"target": "x", "limit": 51})
    assert "limit: Input should be less than or equal to 50" in message


# -- argument errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"query": 42}, "query: Input should be a valid string (got 42)"),
        ({}, "query: required argument is missing"),
        ({"query": "x", "top_k": 500}, "top_k: Input should be less than or equal to 100 (got 500)"),
        ({"query": "x", "top_k": "5"}, "top_k: Input should be a valid integer (got '5')"),
        ({"query": "x", "offset": -1}, "offset: Input should be greater than or equal to 0"),
        ({"query": "x", "qurey": "y"}, "qurey: unknown argument"),
        ({"query": "x", "paths": "src/**"}, "paths: Input should be a valid list"),
        ({"query": "x", "work_context": {"active_file": 3}}, "work_context.active_file"),
        ({"query": "x" * 200_001}, "at most 200000 characters (got a string of 200001 characters)"),
    ],
)
async def test_bad_search_arguments_get_an_actionable_error_and_the_server_stays_up(
    client: Client, arguments: dict[str, Any], expected: str
) -> None:
    message = await call_error(client, "context_search", arguments)
    assert message.startswith("Invalid arguments for context_search")
    assert expected in message
    assert (await search(client, query="session"))["hits"]


async def test_oversized_arguments_are_refused_before_validation(client: Client) -> None:
    message = await call_error(client, "context_search", {"query": "x", "paths": ["a" * 900] * 2000})
    assert "too large" in message


async def test_an_unknown_tool_is_a_protocol_error_naming_the_available_tools(client: Client) -> None:
    with pytest.raises(MCPError) as info:
        await client.call_tool("context_teleport", {})
    assert info.value.error.code == -32602
    assert "context_teleport" in info.value.error.message and "context_search" in info.value.error.message
    assert (await search(client, query="session"))["hits"]


async def test_an_unknown_root_is_refused_with_the_list_of_served_roots(
    client: Client, repo_dir: Path
) -> None:
    message = await call_error(client, "context_search", {"query": "x", "root": "elsewhere"})
    assert "not a served root" in message and str(repo_dir) in message
    data = await search(client, query="session", root=str(repo_dir))
    assert data["root"] == "repo"


# -- path confinement ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), HOSTILE_PATHS)
async def test_hostile_paths_in_the_work_context_are_refused(
    client: Client, path: str, expected: str
) -> None:
    message = await call_error(
        client, "context_search", {"query": "x", "work_context": {"active_file": path}}
    )
    assert message.startswith("Path refused") and expected in message


@pytest.mark.parametrize(("path", "expected"), HOSTILE_PATHS)
async def test_hostile_paths_to_reindex_are_refused(client: Client, path: str, expected: str) -> None:
    message = await call_error(client, "context_index_control", {"action": "reindex_paths", "paths": [path]})
    assert message.startswith("Path refused") and expected in message


@pytest.mark.parametrize(("path", "expected"), HOSTILE_PATHS)
async def test_hostile_resource_uris_are_refused(client: Client, path: str, expected: str) -> None:
    from urllib.parse import quote

    with pytest.raises(MCPError) as info:
        await client.read_resource("conexus://file/" + quote(path, safe="/"))
    assert info.value.error.code == -32002
    assert expected in info.value.error.message


# -- resources ---------------------------------------------------------------------------------------------


async def test_indexed_files_are_resources_that_read_as_their_current_text(
    client: Client, repo_dir: Path
) -> None:
    listed = await client.list_resources()
    assert {r.uri for r in listed.resources} == {f"conexus://file/{p}" for p in INDEXED}
    assert listed.next_cursor is None
    templates = (await client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["conexus://file/{path}"]
    read = await client.read_resource("conexus://file/pkg/session.py")
    content = read.contents[0]
    assert content.mime_type == "text/x-python"
    assert getattr(content, "text", "") == (repo_dir / "pkg/session.py").read_text()


async def test_reading_an_ignored_or_missing_file_as_a_resource_is_an_error(client: Client) -> None:
    for uri, expected in [
        ("conexus://file/secret.env", "not an indexed file"),
        ("conexus://file/nope.py", "not an indexed file"),
        ("https://example.com/x", "unknown resource"),
    ]:
        with pytest.raises(MCPError) as info:
            await client.read_resource(uri)
        assert expected in info.value.error.message


# -- context_index_control (read-only actions) ---------------------------------------------------------------


async def test_status_reports_counts_skips_jobs_and_the_watcher(client: Client) -> None:
    result = await call(client, "context_index_control", action="status")
    data = result.structured_content
    assert data is not None
    st = data["status"]
    assert st["files"] == len(INDEXED) and st["chunks"] >= len(INDEXED) and st["compatible"] is True
    assert st["skipped"].get("ignored", 0) >= 1
    assert st["stale"]["modified"] == 0 and st["stale"]["deleted"] == 0
    assert st["watcher"]["ready"] is True and st["auto_index"] is True
    assert st["jobs"]["current"] is None
    assert st["jobs"]["recent"][-1]["kind"] == "incremental"
    assert [r["name"] for r in data["roots"]] == ["repo"]
    assert f"files {len(INDEXED)}" in text_of(result)


async def test_index_control_rejects_paths_outside_reindex_paths_and_empty_reindex_paths(
    client: Client,
) -> None:
    message = await call_error(client, "context_index_control", {"action": "status", "paths": ["a.py"]})
    assert "only used with action=reindex_paths" in message
    message = await call_error(client, "context_index_control", {"action": "reindex_paths"})
    assert "needs paths" in message
    message = await call_error(client, "context_index_control", {"action": "explode"})
    assert "action: Input should be 'status', 'start', 'stop'" in message


async def test_stop_without_a_running_job_says_so(client: Client) -> None:
    result = await call(client, "context_index_control", action="stop")
    assert "No index job was running" in text_of(result)


# -- connectors (read-only) ----------------------------------------------------------------------


async def test_connector_listing_shows_the_served_roots(client: Client, repo_dir: Path) -> None:
    result = await call(client, "context_connector_management", action="list")
    data = result.structured_content
    assert data is not None and data["connectors"] == []
    assert data["roots"][0]["path"] == str(repo_dir) and data["roots"][0]["source"] == "cli"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"action": "add"}, "add needs kind"),
        ({"action": "add", "kind": "filesystem"}, "needs path"),
        ({"action": "add", "kind": "filesystem", "path": "relative/dir"}, "absolute folder path"),
        ({"action": "add", "kind": "filesystem", "path": "{repo}/does/not/exist"}, "not an existing folder"),
        ({"action": "add", "kind": "filesystem", "path": "/does/not/exist"}, "outside the directories"),
        ({"action": "add", "kind": "filesystem", "path": "/"}, "outside the directories"),
        ({"action": "add", "kind": "filesystem", "path": "{repo}/../.."}, "outside the directories"),
        ({"action": "add", "kind": "git", "path": "nowhere"}, "not a served root"),
        ({"action": "add", "kind": "git", "options": {"max_commits": -1}}, "max_commits"),
        ({"action": "add", "kind": "s3"}, "kind: Input should be 'filesystem' or 'git'"),
        ({"action": "update"}, "update needs id"),
        ({"action": "update", "id": "nope"}, "no connector with id 'nope'"),
        ({"action": "remove", "id": "nope"}, "no connector with id 'nope'"),
    ],
)
async def test_bad_connector_requests_get_actionable_errors(
    client: Client, repo_dir: Path, arguments: dict[str, Any], expected: str
) -> None:
    if "path" in arguments:
        arguments = {**arguments, "path": arguments["path"].replace("{repo}", str(repo_dir))}
    message = await call_error(client, "context_connector_management", arguments)
    assert expected in message


async def test_the_data_home_cannot_become_a_root(client: Client, shared_dirs: tuple[Path, Path]) -> None:
    status = (await call(client, "context_index_control", action="status")).structured_content
    assert status is not None
    index_dir = Path(status["status"]["index_dir"])
    message = await call_error(
        client,
        "context_connector_management",
        {"action": "add", "kind": "filesystem", "path": str(index_dir)},
    )
    # The data home lies outside the served root, so the allow-list refuses it before anything else.
    assert "outside the directories this server may serve" in message
    assert os.path.isdir(index_dir)
