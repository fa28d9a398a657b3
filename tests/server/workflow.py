"""The assistant's whole loop as one function, run by every kind of client's test.

Index (done before), search, read the cited lines, edit, see the edit: each citation a
search returns must be exactly the lines ``read`` gives back, and an edit saved to disk
must be searchable and readable within seconds, with no reindex asked for. ``tool(name,
arguments)`` is the client under test calling ``search`` or ``read`` and returning the
structured result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tests.server.conftest import eventually

EDIT_WITHIN_S = 30.0
NEW_FUNCTION = "def pangolin_checksum(data: bytes) -> int:\n    return sum(data) % 251\n"

Tool = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


async def assistant_loop(repo: Path, tool: Tool) -> None:
    found = await tool("search", {"query": "parse a Link header", "top_k": 5})
    hit = next(h for h in found["hits"] if h["path"] == "pkg/http_utils.py")
    assert hit["freshness"]["state"] == "fresh"
    cited = await tool(
        "read", {"path": hit["path"], "start_line": hit["start_line"], "end_line": hit["end_line"]}
    )
    on_disk = (repo / hit["path"]).read_text(encoding="utf-8").splitlines()
    assert [line["text"] for line in cited["lines"]] == on_disk[hit["start_line"] - 1 : hit["end_line"]]
    assert "def parse_header_links" in "\n".join(line["text"] for line in cited["lines"])

    with open(repo / "pkg/http_utils.py", "a", encoding="utf-8") as fh:
        fh.write("\n\n" + NEW_FUNCTION)

    async def edit_searchable() -> dict[str, Any] | None:
        answer = await tool("search", {"query": "pangolin_checksum", "top_k": 3})
        return next((h for h in answer["hits"] if "pangolin_checksum" in h.get("snippet", "")), None)

    new_hit = await eventually(edit_searchable, EDIT_WITHIN_S, "the edit is searchable")
    assert new_hit["path"] == "pkg/http_utils.py" and new_hit["freshness"]["state"] == "fresh"
    shown = await tool(
        "read",
        {"path": new_hit["path"], "start_line": new_hit["start_line"], "end_line": new_hit["end_line"]},
    )
    assert "def pangolin_checksum(data: bytes) -> int:" in [line["text"] for line in shown["lines"]]
