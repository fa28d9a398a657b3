"""API keys on the real HTTP server: 401 with the bearer challenge, scopes per operation, root allow-lists.

One in-process server (uvicorn on a loopback socket, its data home's key
store shared with the test) serves two roots, ``beta`` first and ``alpha``
second; keys are created in the store the server reads, and revoked there
while it runs. One ``conexus serve --http`` subprocess shows the open server
closing as soon as a key exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conexus.api.operations import OPERATIONS
from conexus.app.keys import KEYS_FILE, KeyStore
from tests.server.conftest import (
    MCP_HEADERS,
    MCP_INITIALIZE,
    START_TIMEOUT_S,
    make_repo,
    server_env,
    start_http_server,
    text_of,
    write,
)
from tests.server.inprocess import LiveServer, auth_failures, live_server

pytestmark = pytest.mark.timeout(180)

API = "/api/v1"


def _repo(root: Path, word: str) -> Path:
    write(
        root,
        f"{word}/credentials.py",
        f'"""Credential rotation for the {word} service."""\n\n\n'
        f"def rotate_{word}_credentials(days: int) -> str:\n"
        f'    """Rotate the {word} credentials every ``days`` days and return the new token id."""\n'
        f'    return "{word}-" + str(days)\n',
    )
    write(root, "README.md", f"# {word}\n\nThe {word} project rotates credentials.\n")
    return root


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("auth-keys")
    return _repo(base / "beta", "beta"), _repo(base / "alpha", "alpha"), base / "home"


@pytest.fixture(scope="module")
def server(dirs: tuple[Path, Path, Path]) -> Iterator[LiveServer]:
    beta, alpha, home = dirs
    KeyStore(home).create("bootstrap", "admin")  # the server starts closed
    with live_server([beta, alpha], home) as live:
        yield live


@pytest.fixture(scope="module")
def store(server: LiveServer) -> KeyStore:
    return KeyStore(server.home)  # another instance: as `conexus keys` in another process would be


_names = iter(range(10_000))


def new_key(store: KeyStore, scope: str, **kwargs: Any) -> str:
    _key, secret = store.create(f"k{next(_names)}", scope, **kwargs)
    return secret


def challenge(response: httpx.Response) -> str:
    value = response.headers.get("www-authenticate", "")
    assert value.startswith("Bearer "), response.headers
    return value


def test_a_request_without_a_key_is_refused_with_a_bearer_challenge_naming_the_resource_metadata(
    server: LiveServer,
) -> None:
    before = auth_failures("missing")
    with server.client() as http:
        for response in (
            http.post(f"{API}/search", json={"query": "credentials"}),
            http.post(f"{API}/status", json={}),
            http.get("/openapi.json"),
            http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        ):
            assert response.status_code == 401, response.text
            value = challenge(response)
            assert f'resource_metadata="{server.url}/.well-known/oauth-protected-resource/mcp"' in value
            assert "error=" not in value  # RFC 6750: no error code when no credential was sent
            assert response.json()["type"].endswith("/unauthorized")
        assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
        metadata = http.get("/.well-known/oauth-protected-resource/mcp")
        assert metadata.status_code == 200
        assert metadata.json()["resource"] == server.url + "/mcp"
        assert metadata.json()["bearer_methods_supported"] == ["header"]
    assert auth_failures("missing") == before + 4


def test_an_unknown_key_is_refused_as_an_invalid_token(server: LiveServer) -> None:
    before = auth_failures("invalid")
    with server.client("cx_" + "A" * 43) as http:
        response = http.post(f"{API}/status", json={})
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge(response)
    assert auth_failures("invalid") == before + 1


def test_an_expired_key_is_refused(server: LiveServer, store: KeyStore) -> None:
    secret = new_key(store, "read", expires_at=time.time() + 3600)
    data = json.loads(store.path.read_text())
    data["keys"][-1]["expires_at"] = time.time() - 1  # an hour went by
    store.path.write_text(json.dumps(data))
    before = auth_failures("expired")
    with server.client(secret) as http:
        response = http.post(f"{API}/status", json={})
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge(response)
    assert "expired" in response.json()["detail"]
    assert auth_failures("expired") == before + 1


def test_a_revoked_key_is_refused_from_the_next_request_on_without_a_restart(
    server: LiveServer, store: KeyStore
) -> None:
    key, secret = store.create("short-lived", "read")
    with server.client(secret) as http:
        assert http.post(f"{API}/status", json={}).status_code == 200
        store.revoke(key.id)
        response = http.post(f"{API}/status", json={})
    assert response.status_code == 401
    assert 'error="invalid_token"' in challenge(response)


def test_a_read_key_searches_but_cannot_control_the_index_nor_the_connectors(
    server: LiveServer, store: KeyStore
) -> None:
    before = auth_failures("scope")
    with server.client(new_key(store, "read")) as http:
        assert http.post(f"{API}/search", json={"query": "rotate credentials"}).status_code == 200
        for route, body in (("index", {"action": "status"}), ("connectors", {"action": "list"})):
            response = http.post(f"{API}/{route}", json=body)
            assert response.status_code == 403, response.text
            assert response.json()["type"].endswith("/forbidden")
            assert 'error="insufficient_scope"' in challenge(response)
    assert auth_failures("scope") == before + 2


def test_an_index_key_controls_the_index_but_not_the_connectors(server: LiveServer, store: KeyStore) -> None:
    with server.client(new_key(store, "index")) as http:
        assert http.post(f"{API}/index", json={"action": "status"}).status_code == 200
        assert http.post(f"{API}/connectors", json={"action": "list"}).status_code == 403


def test_an_admin_key_may_do_everything(server: LiveServer, store: KeyStore) -> None:
    with server.client(new_key(store, "admin")) as http:
        assert http.post(f"{API}/search", json={"query": "credentials"}).status_code == 200
        assert http.post(f"{API}/index", json={"action": "status"}).status_code == 200
        listed = http.post(f"{API}/connectors", json={"action": "list"})
        assert listed.status_code == 200
        assert {r["name"] for r in listed.json()["roots"]} == {"alpha", "beta"}


def test_a_key_restricted_to_one_root_searches_that_root_only_and_the_other_is_not_found(
    server: LiveServer, store: KeyStore
) -> None:
    alpha = next(r for r in server.service.roots if r.name == "alpha")
    beta = next(r for r in server.service.roots if r.name == "beta")
    assert server.service.roots[0] is beta  # the server's default root is not the key's
    before = auth_failures("root")
    with server.client(new_key(store, "read", roots=["alpha"])) as http:
        found = http.post(f"{API}/search", json={"query": "rotate credentials", "top_k": 20})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["root"] == "alpha"  # the default root is the first allowed one
        assert body["hits"] and all(h["path"].startswith(("alpha/", "README")) for h in body["hits"])
        assert not any("beta" in json.dumps(h) for h in body["hits"])
        assert body["total_candidates"] >= len(body["hits"])

        refused = {
            ref: http.post(f"{API}/search", json={"query": "rotate", "root": ref})
            for ref in ("beta", str(beta.path), "no-such-root")
        }
        for ref, response in refused.items():
            assert response.status_code == 404, response.text
            problem = response.json()
            assert problem["type"].endswith("/not-found")
            # Exactly the answer for a root that does not exist: only the allowed root is named.
            expected = f"{ref!r} is not a served root; served roots: alpha ({alpha.path})."
            assert problem["detail"] == expected, ref
            assert "beta (" not in problem["detail"]

        status = http.post(f"{API}/status", json={})
        assert status.status_code == 200
        assert [r["name"] for r in status.json()["roots"]] == ["alpha"]
        read = http.post(f"{API}/read", json={"path": "beta/credentials.py", "root": "beta"})
        assert read.status_code == 404
    assert auth_failures("root") == before + 3  # beta by name, beta by path, and the read


def test_a_key_restricted_to_a_folder_admits_the_roots_inside_it(
    server: LiveServer, store: KeyStore, dirs: tuple[Path, Path, Path]
) -> None:
    _beta, alpha, _home = dirs
    with server.client(new_key(store, "read", roots=[str(alpha.parent / "alpha")])) as http:
        status = http.post(f"{API}/status", json={})
    assert [r["name"] for r in status.json()["roots"]] == ["alpha"]


@pytest.mark.anyio
async def test_mcp_over_http_with_a_key_gets_its_roots_and_scope_only(
    server: LiveServer, store: KeyStore
) -> None:
    secret = new_key(store, "read", roots=["alpha"])
    headers = {"Authorization": f"Bearer {secret}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=START_TIMEOUT_S) as http,
        Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client,
    ):
        listed = {tool.name for tool in (await client.list_tools()).tools}
        read_tools = {op.tool for op in OPERATIONS if op.scope == "read"}
        assert listed == read_tools  # index control and connectors are not offered to a read key

        found = await client.call_tool("context_search", {"query": "rotate credentials"})
        assert not found.is_error, text_of(found)
        assert found.structured_content is not None and found.structured_content["root"] == "alpha"

        refused = await client.call_tool("context_index_control", {"action": "status"})
        assert refused.is_error
        assert "needs the 'index' scope" in text_of(refused)

        hidden = await client.call_tool("context_search", {"query": "rotate", "root": "beta"})
        assert hidden.is_error and "'beta' is not a served root" in text_of(hidden)

        resources = await client.list_resources()
        uris = [str(r.uri) for r in resources.resources]
        assert uris and all("beta" not in u for u in uris)


def test_an_mcp_session_cannot_be_used_with_another_key(server: LiveServer, store: KeyStore) -> None:
    first, second = new_key(store, "read"), new_key(store, "read")
    headers = MCP_HEADERS
    with server.client(first) as http:
        opened = http.post("/mcp", json=MCP_INITIALIZE, headers=headers)
        assert opened.status_code == 200, opened.text
        session = opened.headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    with server.client(second) as http:
        hijack = http.post("/mcp", json=ping, headers={**headers, "mcp-session-id": session})
    assert hijack.status_code == 404


def test_a_server_without_keys_is_open_and_closes_once_a_key_is_created(tmp_path: Path) -> None:
    repo, home = make_repo(tmp_path / "repo"), tmp_path / "home"
    server = start_http_server([repo], home, "--no-index")
    base = server.url.removesuffix("/mcp")
    try:
        with httpx.Client(base_url=base, timeout=START_TIMEOUT_S) as http:
            assert http.post(f"{API}/status", json={}).status_code == 200  # open, as before keys
            key, secret = KeyStore(home).create("ops", "read")
            assert (home / KEYS_FILE).stat().st_mode & 0o777 == 0o600
            assert http.post(f"{API}/status", json={}).status_code == 401
            ok = http.post(f"{API}/status", json={}, headers={"Authorization": f"Bearer {secret}"})
            assert ok.status_code == 200
            # The CLI asks the running server with CONEXUS_API_KEY; without one it answers locally.
            env = {**os.environ, **server_env(home)}
            cli = [sys.executable, "-m", "conexus", "status", "--root", str(repo), "--json"]
            local = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
            assert local.returncode == 0, local.stderr
            remote = subprocess.run(
                cli, capture_output=True, text=True, env={**env, "CONEXUS_API_KEY": secret}, timeout=120
            )
            assert remote.returncode == 0, remote.stderr
            wrong = subprocess.run(
                cli, capture_output=True, text=True, env={**env, "CONEXUS_API_KEY": "cx_wrong"}, timeout=120
            )
            assert wrong.returncode == 8 and "Unauthorized" in wrong.stderr, wrong.stderr
            KeyStore(home).revoke(key.name)
            # Revoking the last key does not reopen the server: the store exists and is empty.
            assert http.post(f"{API}/status", json={}).status_code == 401
    finally:
        server.stop()
