"""The server's pure parts, without a server: schemas, messages, connectors, the watcher's filter."""

from __future__ import annotations

import json
import os
import re
import stat
import threading
from pathlib import Path

import click
import pytest
from pydantic import ValidationError
from watchfiles import Change

from conexus.api.errors import describe, validation_failure
from conexus.api.models import LocalizeArgs, SearchArgs, SearchOut
from conexus.api.operations import OPERATIONS
from conexus.app.connectors import MASK, ConnectorRegistry, mask_secrets, validate_options
from conexus.errors import ConfigError, IndexIncompatibleError, PathError, QueryError
from conexus.server.mcp.app import to_tool
from conexus.server.mcp.schema import input_schema, output_schema
from conexus.server.serve_cli import parse_listen
from conexus.sources.filesystem.ignore import WalkOptions
from conexus.sources.filesystem.watcher import ChangeBatch, TreeWatcher
from tests.server.conftest import write

TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [str(node["$ref"])] if "$ref" in node else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def validation_message(exc: ValidationError, tool: str, model: type[SearchArgs] | type[LocalizeArgs]) -> str:
    return validation_failure(exc, tool, model).message


def error_message(exc: BaseException, tool: str) -> str:
    return describe(exc, tool).message


def test_every_tool_has_a_valid_name_described_arguments_and_an_object_output_schema() -> None:
    assert len(OPERATIONS) == 9
    for op in OPERATIONS:
        assert TOOL_NAME.match(op.tool), op.tool
        tool = to_tool(op)
        schema = tool.input_schema
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert not _refs(schema) and "$defs" not in schema
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{op.tool}.{name} has no description for the model"
            assert "anyOf" not in prop, f"{op.tool}.{name} should not advertise null"
        out = tool.output_schema
        assert out is not None and out["type"] == "object" and not _refs(out)
        assert len(tool.description or "") > 80


def test_search_arguments_bound_the_query_and_top_k() -> None:
    schema = input_schema(SearchArgs)
    assert schema["required"] == ["query"]
    assert schema["properties"]["query"]["maxLength"] == 200_000
    assert schema["properties"]["top_k"]["maximum"] == 100
    assert schema["properties"]["work_context"]["properties"]["active_file"]["type"] == "string"


def test_localize_arguments_bound_the_issue_and_the_answer_size() -> None:
    schema = input_schema(LocalizeArgs)
    assert schema["required"] == ["issue"]
    assert schema["properties"]["issue"]["maxLength"] == 200_000
    assert schema["properties"]["max_files"]["maximum"] == 20
    assert schema["properties"]["max_locations"]["maximum"] == 50
    with pytest.raises(ValidationError) as info:
        LocalizeArgs.model_validate({"issue": "", "max_files": 0})
    message = validation_message(info.value, "context_localize", LocalizeArgs)
    assert "issue: String should have at least 1 character" in message
    assert "max_files: Input should be greater than or equal to 1 (got 0)" in message


def test_output_schemas_keep_nullable_fields_nullable() -> None:
    hit = output_schema(SearchOut)["properties"]["hits"]["items"]
    assert {"type": "null"} in hit["properties"]["symbol"]["anyOf"]


def test_argument_errors_name_each_bad_argument_with_what_came() -> None:
    with pytest.raises(ValidationError) as info:
        SearchArgs.model_validate({"query": "x" * 200_001, "top_k": "5", "qurey": 1})
    message = validation_message(info.value, "context_search", SearchArgs)
    assert message.startswith("Invalid arguments for context_search:")
    assert (
        "query: String should have at most 200000 characters (got a string of 200001 characters)" in message
    )
    assert "top_k: Input should be a valid integer (got '5')" in message
    assert "qurey: unknown argument (valid: query, top_k" in message
    with pytest.raises(ValidationError) as info:
        SearchArgs.model_validate({})
    assert "query: required argument is missing" in validation_message(info.value, "t", SearchArgs)


def test_conexus_errors_become_messages_that_say_what_to_do() -> None:
    assert "action=rebuild" in error_message(IndexIncompatibleError("built by another embedder"), "t")
    assert error_message(PathError("leaves the root"), "t").startswith("Path refused: leaves the root")
    assert error_message(QueryError("top_k too big"), "t") == "Invalid request: top_k too big"
    crash = error_message(KeyError("secret internals"), "context_search")
    assert "secret internals" not in crash and "server log" in crash


def test_listen_addresses_parse_with_defaults_and_ipv6() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen(":0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8000", "host:http", "host:70000"):
        with pytest.raises(click.BadParameter):
            parse_listen(bad)


# -- connectors ---------------------------------------------------------------------------------------


def test_secrets_are_masked_at_any_depth_and_other_options_are_kept() -> None:
    masked = mask_secrets(
        {"api_token": "abc", "nested": {"password": "p", "url": "u"}, "keys": ["x"], "max_commits": 5}
    )
    assert masked == {
        "api_token": MASK,
        "nested": {"password": MASK, "url": "u"},
        "keys": MASK,
        "max_commits": 5,
    }
    assert mask_secrets({"token": ""}) == {"token": ""}


def test_the_registry_persists_privately_and_an_update_with_the_mask_keeps_the_secret(tmp_path: Path) -> None:
    reg = ConnectorRegistry(tmp_path)
    c = reg.add("git", "/repo", validate_options("git", {"max_commits": 10, "token": "s3cret"}))
    assert c.to_dict()["options"] == {"max_commits": 10, "token": MASK}
    mode = stat.S_IMODE(os.stat(reg.path).st_mode)
    assert mode == 0o600
    assert json.loads(reg.path.read_text())["connectors"][0]["options"]["token"] == "s3cret"
    updated = reg.update(c.id, {"token": MASK, "max_commits": 20}, enabled=False)
    assert updated.options == {"max_commits": 20, "token": "s3cret"} and not updated.enabled
    assert ConnectorRegistry(tmp_path).get(c.id).options["token"] == "s3cret"
    with pytest.raises(ConfigError, match="exists already"):
        reg.add("git", "/repo", {})
    with pytest.raises(ConfigError, match="max_commits"):
        reg.update(c.id, {"max_commits": 0}, None)
    reg.remove(c.id)
    with pytest.raises(ConfigError, match="no connector"):
        reg.get(c.id)


def test_connector_options_are_checked_for_kind_size_and_json() -> None:
    with pytest.raises(ConfigError, match="unknown connector kind"):
        validate_options("s3", {})
    with pytest.raises(ConfigError, match="too large"):
        validate_options("git", {"note": "x" * 20_000})
    with pytest.raises(ConfigError, match="JSON"):
        validate_options("git", {"bad": object()})
    with pytest.raises(ConfigError, match="max_commits"):
        validate_options("git", {"max_commits": True})


def test_an_unreadable_registry_is_reported_and_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "connectors.json").write_text("{not json")
    assert ConnectorRegistry(tmp_path).all() == []
    assert "unreadable connector registry" in caplog.text


# -- the watcher's filter -------------------------------------------------------------------------------


def _watcher(root: Path, home: Path) -> TreeWatcher:
    return TreeWatcher(root, WalkOptions(), lambda _b: None, exclude_dirs=[home])


def test_changes_to_ignored_files_and_the_data_home_are_dropped(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write(root, ".gitignore", "*.log\nbuild/\n")
    write(root, "src/app.py", "x = 1\n")
    write(root, "debug.log", "noise\n")
    write(root, "build/out.py", "y = 2\n")
    write(root, "node_modules/lib/index.js", "z\n")
    write(root, ".git/HEAD", "ref\n")
    home = root / ".data-home"
    write(home, "indexes/x/index.sqlite3", "")
    raw = {
        (Change.modified, str(root / p))
        for p in ("src/app.py", "debug.log", "build/out.py", "node_modules/lib/index.js", ".git/HEAD")
    }
    raw.add((Change.added, str(home / "indexes/x/index.sqlite3")))
    raw.add((Change.deleted, str(root / "src/gone.py")))
    batch = _watcher(root, home).classify(raw)
    assert batch.changed == {"src/app.py"}
    assert batch.deleted == {"src/gone.py"}
    assert not batch.rules_changed and not batch.overflow


def test_a_directory_renamed_into_the_tree_is_expanded_into_its_files(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write(root, "moved/a.py", "a = 1\n")
    write(root, "moved/deep/b.py", "b = 2\n")
    write(root, "moved/__pycache__/a.cpython-311.pyc", "")
    batch = _watcher(root, tmp_path / "home").classify({(Change.added, str(root / "moved"))})
    assert batch.changed == {"moved/a.py", "moved/deep/b.py"}


def test_an_edited_ignore_file_asks_for_a_full_rescan(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write(root, "pkg/.gitignore", "*.tmp\n")
    batch = _watcher(root, tmp_path / "home").classify({(Change.modified, str(root / "pkg/.gitignore"))})
    assert batch.rules_changed and bool(batch)
    assert not ChangeBatch()


def test_the_watcher_reports_a_saved_file_and_stops_promptly(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    got: list[ChangeBatch] = []
    seen = threading.Event()

    def on_change(batch: ChangeBatch) -> None:
        got.append(batch)
        if any("new.py" in p for b in got for p in b.changed):
            seen.set()

    w = TreeWatcher(root, WalkOptions(), on_change, exclude_dirs=[tmp_path / "home"])
    w.start()
    try:
        assert w.ready.wait(10), "the watcher did not start"
        write(root, "new.py", "print('hi')\n")
        assert seen.wait(5), f"no change reported: {got}"
    finally:
        w.stop(5)
    assert not w.running and w.failed is None
