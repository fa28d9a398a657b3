"""The web console in a real browser: Playwright for Python driving Debian's Chromium.

Each module starts its own ``conexus serve --http 127.0.0.1:0`` subprocess
(:func:`tests.server.conftest.start_http_server`) over the fixture repository
of the server tests, waits (bounded) until its index is built, and opens the
console at ``/`` in a fresh browser context per test. Playwright cannot
download its own browser here, so it launches the Debian binary
(``executable_path``): without ``chromium`` the tests skip with the reason,
and fail in CI (``CONEXUS_REQUIRE_SERVICES=1``, :func:`tests.services.require_binary`).

The tests take a screenshot of each view. With ``CONEXUS_SCREENSHOTS=docs/images``
they write them there (``docs/images/console-*.png``: the pictures of
``docs/console.md`` are these); otherwise into a temporary folder, so a test run
leaves the committed pictures alone::

    CONEXUS_SCREENSHOTS=docs/images pytest tests/console
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.conftest import HttpServer, start_http_server
from tests.services import require_binary

_SHOTS = os.environ.get("CONEXUS_SCREENSHOTS")
IMAGES = Path(_SHOTS).resolve() if _SHOTS else Path(tempfile.mkdtemp(prefix="conexus-console-shots-"))
VIEWPORT = {"width": 1280, "height": 800}  # a laptop screen
READY_TIMEOUT_S = 120.0
UI_TIMEOUT_MS = 30_000  # what one step of the UI may take on a loaded 2-core machine

try:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
except ImportError:  # the dev extra pins it; a bare environment skips (CI fails) below
    sync_playwright = None


def require_playwright() -> None:
    if sync_playwright is not None:
        return
    reason = "playwright is not installed (pip install -e '.[dev]')"
    if os.environ.get("CONEXUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CONEXUS_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    require_playwright()
    require_binary("chromium")
    assert sync_playwright is not None
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Root (CI) cannot use Chromium's sandbox; the pages are our own, on loopback.
    launched = playwright.chromium.launch(
        executable_path=require_binary("chromium"), chromium_sandbox=False, headless=True
    )
    yield launched
    launched.close()


@dataclass
class Console:
    """A live server and the base URL the console is served at."""

    server: HttpServer
    base: str
    keys: dict[str, str] = field(default_factory=dict)

    def api(self, operation: str, key: str | None = None, **arguments: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.post(f"{self.base}/api/v1/{operation}", json=arguments, headers=headers, timeout=60)

    def wait_ready(self, key: str | None = None) -> None:
        """Poll status until every root's index is ready and no job runs (bounded)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        names: list[str] = [r["name"] for r in self.api("status", key, check_stale=False).json()["roots"]]
        for name in names:
            while True:
                body: dict[str, Any] = self.api("status", key, check_stale=False, root=name).json()
                jobs = body.get("status", {}).get("jobs", {})
                idle = jobs.get("current") is None and not jobs.get("queued")
                if body.get("index_state") == "ready" and idle:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name}: index not ready within {READY_TIMEOUT_S}s: {body}")
                time.sleep(0.1)  # polling interval, not synchronisation: the deadline decides


def start_console(
    roots: list[Path], home: Path, keys: dict[str, str] | None = None, *args: str
) -> Iterator[Console]:
    """Serve ``roots`` from ``home`` until the generator is closed; the indexes are built first."""
    # No watcher: a test that edits a file sees it stale until it asks for a reindex.
    server = start_http_server(roots, home, "--no-watch", *args)
    try:
        console = Console(server, server.url.removesuffix("/mcp"), dict(keys or {}))
        console.wait_ready(next(iter(console.keys.values()), None))
        yield console
    finally:
        server.stop()


class PageErrors(list[str]):
    """What the page reported as broken: uncaught errors, console errors, CSP refusals."""


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
def page(context: BrowserContext, page_errors: PageErrors) -> Iterator[Page]:
    opened = context.new_page()
    opened.on("pageerror", lambda error: page_errors.append(f"uncaught: {error}"))

    def on_console(message: Any) -> None:
        # A refused request (401, 403) is logged by Chromium as a console error: those the tests
        # provoke on purpose; anything else (a CSP refusal, a script error) is a failure.
        if message.type == "error" and "Failed to load resource" not in message.text:
            page_errors.append(message.text)

    opened.on("console", on_console)
    yield opened
    assert not page_errors, page_errors


def screenshot(page: Page, name: str) -> Path:
    """Write ``console-<name>.png`` (the whole page) into :data:`IMAGES` and return its path."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path
