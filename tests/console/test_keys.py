"""The console behind API keys: the page loads without one, every call carries the key the user entered.

One ``conexus serve --http --no-public-metrics`` subprocess whose data home has a read, an index
and an admin key (created before it starts, so it starts closed; ``/metrics`` needs admin).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from conexus.app.keys import KeyStore
from tests.console.conftest import Console, screenshot, start_console
from tests.server.conftest import make_repo

with contextlib.suppress(ImportError):  # without playwright the fixtures skip (CI: fail) first
    from playwright.sync_api import BrowserContext, Page, expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    base = tmp_path_factory.mktemp("console-keys")
    home = base / "home"
    store = KeyStore(home)
    keys = {scope: store.create(f"console-{scope}", scope)[1] for scope in ("admin", "index", "read")}
    yield from start_console([make_repo(base / "repo")], home, keys, "--no-public-metrics")


def enter_key(page: Page, key: str) -> None:
    page.locator("#api-key").fill(key)
    page.locator("#api-key").press("Enter")
    expect(page.locator(".access")).to_contain_text("key set")


def test_without_a_key_the_page_loads_and_asks_for_one_and_no_data_is_shown(
    page: Page, console: Console
) -> None:
    response = page.goto(console.base + "/")
    assert response is not None and response.status == 200  # the page itself holds no data
    expect(page.locator("#needs-key")).to_be_visible()
    expect(page.locator("#api-key")).to_be_focused()
    assert page.locator("#search-query").count() == 0
    assert console.api("search", query="retry").status_code == 401  # the API stays closed
    screenshot(page, "key")


def test_a_refused_key_says_so_and_a_valid_one_opens_the_views(page: Page, console: Console) -> None:
    page.goto(console.base + "/")
    page.locator("#api-key").fill("cx_not-a-real-key")
    page.locator("#api-key").press("Enter")
    expect(page.locator(".keybar")).to_contain_text("Key refused")
    enter_key(page, console.keys["read"])
    page.locator("#search-query").fill("retry delay")
    page.locator("#search-query").press("Enter")
    expect(page.locator(".hit .citation").first).to_have_text("pkg/http_utils.py:13-15")


def test_the_key_is_kept_in_session_storage_never_in_the_url_or_a_cookie(
    page: Page, context: BrowserContext, console: Console
) -> None:
    page.goto(console.base + "/")
    enter_key(page, console.keys["read"])
    with page.expect_request("**/api/v1/search") as sent:
        page.locator("#search-query").fill("session")
        page.locator("#search-query").press("Enter")
    assert sent.value.headers["authorization"] == f"Bearer {console.keys['read']}"
    assert console.keys["read"] not in page.url
    assert context.cookies() == []
    assert page.evaluate("sessionStorage.getItem('conexus.apiKey')") == console.keys["read"]
    assert page.evaluate("localStorage.length") == 0
    page.reload()  # the tab remembers it
    expect(page.locator(".access")).to_contain_text("key set")
    page.get_by_role("button", name="forget key").click()
    expect(page.locator("#api-key")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('conexus.apiKey')") is None


def test_a_read_key_sees_the_status_without_controls_and_metrics_need_admin(
    page: Page, console: Console
) -> None:
    page.goto(console.base + "/#/status")
    enter_key(page, console.keys["read"])
    expect(page.locator("#index-state")).to_have_text("ready")
    expect(page.locator("#read-only")).to_be_visible()  # index control answered 403
    assert page.get_by_role("button", name="Reindex").count() == 0
    page.goto(console.base + "/#/metrics")
    expect(page.locator(".notice")).to_contain_text("needs an admin key")


def test_an_index_key_gets_the_controls_and_a_rebuild_asks_to_be_confirmed(
    page: Page, console: Console
) -> None:
    page.goto(console.base + "/#/status")
    enter_key(page, console.keys["index"])
    expect(page.locator("#index-state")).to_have_text("ready")
    page.get_by_role("button", name="Rebuild").click()
    confirm = page.get_by_role("button", name="Confirm rebuild")
    expect(confirm).to_be_visible()  # nothing was sent yet: a second, deliberate click is needed
    page.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    page.get_by_role("button", name="Rebuild").click()
    with page.expect_response("**/api/v1/index") as answered:
        page.get_by_role("button", name="Confirm rebuild").click()
    assert answered.value.status == 200
    expect(page.locator(".action-message")).not_to_be_empty()
    console.wait_ready(console.keys["index"])
    expect(page.locator("#index-state")).to_have_text("ready")


def test_an_admin_key_clears_the_index_and_the_status_follows_until_a_reindex_restores_it(
    page: Page, console: Console
) -> None:
    page.goto(console.base + "/#/status")
    enter_key(page, console.keys["admin"])
    expect(page.locator("#index-state")).to_have_text("ready")
    page.get_by_role("button", name="Clear").click()
    page.get_by_role("button", name="Confirm clear").click()
    expect(page.locator("#index-state")).not_to_have_text("ready")  # followed by polling, no reload
    page.get_by_role("button", name="Reindex").click()
    expect(page.locator("#index-state")).to_have_text("ready")
    screenshot(page, "status-admin")
    page.goto(console.base + "/#/metrics")
    expect(page.locator("#requests-table")).to_contain_text("index")
