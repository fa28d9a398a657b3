"""The console's routes over HTTP (no browser): open page and assets, closed API, caching, containment.

One in-process server (uvicorn on a loopback socket) whose data home holds a key, so it is closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from conexus.app.keys import KeyStore
from conexus.server.console import STATIC_DIR, console_routes, is_console_path
from tests.server.conftest import make_repo
from tests.server.inprocess import LiveServer, live_server

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("console-routes")
    KeyStore(base / "home").create("reader", "read")  # the server starts closed
    with live_server([make_repo(base / "repo")], base / "home") as live:
        yield live


def asset_paths() -> list[str]:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return re.findall(r'(?:src|href)="(/console/assets/[^"]+)"', page)


def test_the_page_and_its_assets_need_no_key_while_the_api_behind_them_does(server: LiveServer) -> None:
    with server.client() as http:
        for path in ("/", "/console/", "/console"):
            page = http.get(path, follow_redirects=False)
            assert page.status_code == 200, (path, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-cache"  # revalidated: a new build is seen at once
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert '<div id="app">' in page.text
        assets = asset_paths()
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
        for path in assets:
            asset = http.get(path)
            assert asset.status_code == 200, path
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert asset.headers["x-content-type-options"] == "nosniff"
        assert http.post("/api/v1/status", json={}).status_code == 401
        assert http.get("/metrics").status_code in (200, 401)  # public_metrics decides, not the console


def test_only_the_console_paths_are_opened_and_nothing_outside_the_bundle_is_served(
    server: LiveServer,
) -> None:
    assert is_console_path("/") and is_console_path("/console/assets/index-abc.js")
    assert not is_console_path("/console/other") and not is_console_path("/api/v1/status")
    with server.client() as http:
        assert http.get("/console/assets/missing-0000.js").status_code == 404
        # A client normalises "..", a raw request need not: either way it is not an open path.
        assert http.get("/console/assets/../__init__.py").status_code == 401
        assert http.get("/console/assets/%2e%2e/%2e%2e/api/v1/status").status_code == 401
        assert not is_console_path("/console/assets/../../api/v1/status")
        assert http.get("/console/other").status_code == 401  # not a console path: closed like the rest


def test_a_checkout_without_a_built_bundle_answers_the_page_with_how_to_build_it(tmp_path: Path) -> None:
    with TestClient(Starlette(routes=console_routes(tmp_path))) as client:
        page = client.get("/")
        assert page.status_code == 404
        assert "npm run build" in page.text
        assert client.get("/console/assets/index.js").status_code == 404
