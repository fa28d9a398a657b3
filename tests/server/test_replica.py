"""A server on a root whose checkout is not on its machine serves the root's index (issue #14).

The root is indexed by one process, its checkout moved away, then a real ``conexus serve
--http`` process on the same data home and path answers read, grep, related and status from
the indexed state, over a real MCP session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conexus.search.tree import INDEXED_NOTE
from tests.conftest import FIXTURES
from tests.server.conftest import call, connect, server_env

pytestmark = pytest.mark.anyio


async def test_a_server_without_the_checkout_answers_read_resources_grep_related_and_status_from_the_index(
    tmp_path: Path,
) -> None:
    home = tmp_path / "conexus-home"
    root = tmp_path / "related_repo"
    shutil.copytree(FIXTURES / "related_repo", root)
    subprocess.run(
        [sys.executable, "-m", "conexus", "index", str(root)],
        env={**os.environ, **server_env(home)},
        check=True,
        capture_output=True,
        timeout=300,
    )
    moved = root.rename(tmp_path / "elsewhere")

    async with connect("http", [root], home) as client:
        read = (await call(client, "context_read", path="src/shop/pricing.py")).structured_content
        assert read is not None
        assert [line["text"] for line in read["lines"]] == (
            moved / "src/shop/pricing.py"
        ).read_text().splitlines()
        assert (read["freshness"], read["freshness_note"]) == ("fresh", INDEXED_NOTE)

        resource = await client.read_resource("conexus://file/src/shop/cart.py")
        assert getattr(resource.contents[0], "text", "") == (moved / "src/shop/cart.py").read_text()

        grep = (await call(client, "context_grep", pattern=r"def \w+\(")).structured_content
        assert grep is not None and grep["files_searched"] > 5 and grep["matches"]

        related = (
            await call(client, "context_get_related_info", target="src/shop/pricing.py")
        ).structured_content
        assert related is not None
        assert "src/shop/cart.py" in {item["path"] for item in related["importers"]}

        status = (await call(client, "context_index_control", action="status")).structured_content
        assert status is not None
        assert status["status"]["working_tree"] is False
        assert status["status"]["freshness_basis"] == INDEXED_NOTE
        assert status["status"]["jobs"]["current"] is None  # nothing to index here
