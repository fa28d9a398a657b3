"""Connectors cannot widen the server's reach, and removing one deletes its index (issue #13).

The service is checked in-process (allow-list, ``..`` and symlink escapes, the CLI's
unrestricted local use); the transports against a real ``conexus serve --http`` on
loopback: REST, MCP (the SDK's client) and the CLI, which finds the running server
through the data home and sends it the operation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from conexus.api.errors import PROBLEM_BASE
from conexus.api.models import ConnectorArgs
from conexus.api.operations import BY_NAME
from conexus.app.connectors import ConnectorRegistry
from conexus.app.service import ConexusService
from conexus.config import Settings
from conexus.errors import PathDeniedError, PathError
from conexus.layout import INDEX_DB, index_dir_for
from tests.server.conftest import (
    START_TIMEOUT_S,
    call_error,
    eventually,
    server_env,
    start_http_server,
    write,
)

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

API = "/api/v1"


def _service(
    settings_for: Callable[..., Settings], home: Path, allow_roots: list[Path] | None
) -> ConexusService:
    return ConexusService(
        lambda root: settings_for(root), home, watch=False, auto_index=False, allow_roots=allow_roots
    )


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    """``allowed/repo`` (served) and ``outside`` (a folder beside it, with a file worth stealing)."""
    repo = tmp_path / "allowed" / "repo"
    write(repo, "app.py", "def main() -> None:\n    pass\n")
    outside = tmp_path / "outside"
    write(outside, "passwd", "root:x:0:0:root:/root:/bin/bash\n")
    return repo, outside


# -- the service ----------------------------------------------------------------------------------------


def test_roots_outside_the_allow_list_are_refused_with_the_setting_named(
    trees: tuple[Path, Path], home: Path, settings_for: Callable[..., Settings]
) -> None:
    repo, outside = trees
    service = _service(settings_for, home, [repo.parent])
    try:
        service.add_root(repo)
        with pytest.raises(PathDeniedError, match=r"allow_roots setting \(--allow-root, CONEXUS_ALLOW_ROOTS"):
            service.add_root(outside)
        sub = repo / "pkg"
        sub.mkdir()
        assert service.add_root(sub).path == sub  # inside an allowed directory: fine
    finally:
        service.close()


def test_dot_dot_and_symlinks_cannot_lead_out_of_an_allowed_root(
    trees: tuple[Path, Path], home: Path, settings_for: Callable[..., Settings]
) -> None:
    repo, outside = trees
    (repo / "escape").symlink_to(outside, target_is_directory=True)
    service = _service(settings_for, home, [repo])
    try:
        for sneaky in (repo / ".." / ".." / "outside", repo / "escape", f"{repo}/escape/../../outside"):
            with pytest.raises(PathDeniedError, match="outside the directories"):
                service.add_root(sneaky)
        # An allowed directory given through a symlink is resolved too: what counts is where it leads.
        link = repo.parent / "repo-link"
        link.symlink_to(repo, target_is_directory=True)
        assert service.add_root(link).path == repo
    finally:
        service.close()


def test_an_empty_allow_list_allows_nothing_and_none_keeps_the_local_cli_unrestricted(
    trees: tuple[Path, Path], home: Path, settings_for: Callable[..., Settings]
) -> None:
    repo, outside = trees
    closed = _service(settings_for, home, [])
    with pytest.raises(PathDeniedError, match=r"\(none\)"):
        closed.add_root(repo)
    closed.close()
    local = _service(settings_for, home, None)
    try:
        assert local.add_root(outside).path == outside
    finally:
        local.close()


def test_the_data_home_stays_refused_inside_an_allowed_directory(
    tmp_path: Path, settings_for: Callable[..., Settings]
) -> None:
    home = tmp_path / "conexus-home"
    home.mkdir()
    service = _service(settings_for, home, [tmp_path])
    with pytest.raises(PathError, match="data home"):
        service.add_root(home)
    service.close()


def test_a_saved_connector_outside_the_allow_list_is_not_served_after_a_restart(
    trees: tuple[Path, Path], home: Path, settings_for: Callable[..., Settings]
) -> None:
    repo, outside = trees
    ConnectorRegistry(home).add("filesystem", str(outside), {})  # saved by an earlier, wider server
    service = _service(settings_for, home, [repo])
    service.add_root(repo)
    service.start()
    try:
        assert [r.path for r in service.roots] == [repo]
    finally:
        service.close()


def test_connector_management_needs_the_admin_scope_and_documents_keep_index() -> None:
    assert BY_NAME["connectors"].scope == "admin"  # filesystem and git connectors alike
    field = ConnectorArgs.model_fields["keep_index"]
    assert field.default is False and field.description and "deleted" in field.description
    assert "allowed roots" in BY_NAME["connectors"].description


def test_serve_refuses_a_start_up_root_outside_its_allow_roots(
    trees: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, outside = trees
    served = subprocess.run(
        [sys.executable, "-m", "conexus", "serve", "--no-index", "--allow-root", str(repo), str(outside)],
        capture_output=True,
        text=True,
        env={**os.environ, **server_env(tmp_path / "conexus-home")},
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert served.returncode == 3, served.stderr
    assert "outside the directories this server may serve" in served.stderr
    assert "--allow-root" in served.stderr


# -- over the wire -----------------------------------------------------------------------------------------


def _index_files(path: Path, home: Path) -> list[str]:
    index = index_dir_for(path.resolve(), home)
    return sorted(p.name for p in index.iterdir()) if index.is_dir() else []


async def test_connectors_outside_the_allow_list_are_refused_over_rest_mcp_and_the_cli(
    trees: tuple[Path, Path], tmp_path: Path
) -> None:
    repo, outside = trees
    home = tmp_path / "conexus-home"
    server = start_http_server([repo], home)  # no --allow-root: only the root it starts with
    try:
        base = server.url.removesuffix("/mcp")
        async with httpx.AsyncClient(base_url=base, timeout=START_TIMEOUT_S) as http:
            for path in (str(outside), "/etc", f"{repo}/../../outside", "/does/not/exist"):
                response = await http.post(
                    f"{API}/connectors", json={"action": "add", "kind": "filesystem", "path": path}
                )
                assert response.status_code == 403, response.text
                problem = response.json()
                assert problem["type"] == PROBLEM_BASE + "path-denied"
                assert "allow_roots" in problem["detail"] and "passwd" not in response.text
            listed = (await http.post(f"{API}/connectors", json={"action": "list"})).json()
            assert listed["connectors"] == [] and len(listed["roots"]) == 1
            read = await http.post(f"{API}/read", json={"path": str(outside / "passwd")})
            assert read.status_code == 400 and "root:x:0:0" not in read.text

        async with Client(server.url, read_timeout_seconds=START_TIMEOUT_S) as client:
            message = await call_error(
                client,
                "context_connector_management",
                {"action": "add", "kind": "filesystem", "path": "/etc"},
            )
            assert "outside the directories this server may serve" in message and "--allow-root" in message

        env = {**os.environ, **server_env(home)}
        cli = subprocess.run(
            [sys.executable, "-m", "conexus", "connectors", "add", "--kind", "filesystem", "--path", "/etc"],
            capture_output=True,
            text=True,
            env=env,
            cwd=repo,
            timeout=120,
        )
        assert cli.returncode == 3, cli.stdout + cli.stderr
        assert "outside the directories this server may serve" in cli.stderr
    finally:
        server.stop()


async def test_removing_a_connector_deletes_its_index_unless_asked_to_keep_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "app.py", "def main() -> None:\n    pass\n")
    other = tmp_path / "other"
    write(other, "otter.py", "def otter_swims() -> str:\n    return 'otter'\n")
    home = tmp_path / "conexus-home"
    server = start_http_server([repo], home, "--allow-root", str(tmp_path))
    try:
        base = server.url.removesuffix("/mcp")
        async with httpx.AsyncClient(base_url=base, timeout=START_TIMEOUT_S) as http:

            async def add_and_index() -> str:
                added = await http.post(
                    f"{API}/connectors", json={"action": "add", "kind": "filesystem", "path": str(other)}
                )
                assert added.status_code == 200, added.text
                cid: str = added.json()["connector"]["id"]

                async def indexed() -> dict[str, Any] | None:
                    st = (await http.post(f"{API}/status", json={"root": "other"})).json()
                    jobs = st["status"]["jobs"]
                    idle = jobs["current"] is None and not jobs["queued"]
                    return st if st["index_state"] == "ready" and idle else None

                await eventually(indexed, START_TIMEOUT_S, "the connector's folder is indexed")
                assert INDEX_DB in _index_files(other, home)
                return cid

            cid = await add_and_index()
            removed = await http.post(f"{API}/connectors", json={"action": "remove", "id": cid})
            assert removed.status_code == 200, removed.text
            assert "its index was deleted" in removed.json()["message"]
            assert _index_files(other, home) == []

            cid = await add_and_index()
            kept = await http.post(
                f"{API}/connectors", json={"action": "remove", "id": cid, "keep_index": True}
            )
            assert kept.status_code == 200, kept.text
            assert "its index is kept" in kept.json()["message"]
            assert INDEX_DB in _index_files(other, home)
            remaining = json.loads((home / "connectors.json").read_text())["connectors"]
            assert remaining == []
    finally:
        server.stop()
