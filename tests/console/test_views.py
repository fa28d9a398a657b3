"""Every view of the web console, in Chromium, against an open ``conexus serve --http`` (no key store).

The fixture repository is the server tests' (:func:`tests.server.conftest.make_repo`): a small
Python package with a test, a README, an ignored secret and a symlink leaving the root.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.conftest import Console, screenshot, start_console
from tests.server.conftest import make_repo, write

with contextlib.suppress(ImportError):  # without playwright the fixtures skip (CI: fail) first
    from playwright.sync_api import Page, expect

pytestmark = pytest.mark.timeout(300)


# An AWS access key id of the right shape, assembled here so that no scanner flags this file.
AWS_KEY_ID = "AKIA" + "Z7Q3M5K2XR4TLW6P"


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    base = tmp_path_factory.mktemp("console-open")
    repo = make_repo(base / "repo")
    write(repo, "deploy/settings.py", f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n')  # withheld as a secret
    notes = base / "notes"
    write(notes, "runbook.md", "# Runbook\n\nRotate the signing certificates every spring.\n")
    yield from start_console([repo, notes], base / "home")


def open_view(page: Page, console: Console, view: str) -> None:
    page.goto(f"{console.base}/#/{view}")
    expect(page.locator(f'nav a[href="#/{view}"]')).to_have_attribute("aria-current", "page")


def test_the_page_and_its_assets_are_served_from_the_server_itself_under_its_content_security_policy(
    page: Page, console: Console
) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = page.goto(console.base + "/")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    expect(page.locator("#search-query")).to_be_focused()  # the search field has the focus at once
    assert requested and all(url.startswith(console.base) for url in requested), requested
    assert any("/console/assets/" in url and url.endswith(".js") for url in requested)
    expect(page.locator(".access")).to_have_text("open server: no key needed")


def test_search_shows_cited_hits_with_highlighted_snippets_freshness_and_signals(
    page: Page, console: Console
) -> None:
    open_view(page, console, "search")
    page.locator("#search-query").fill("parse header links")
    page.keyboard.press("Enter")
    first = page.locator(".hit").first
    expect(first.locator(".citation")).to_have_text("pkg/http_utils.py:4-10")
    expect(first.locator(".badge")).to_have_text("fresh")
    expect(first.locator(".signal").first).to_contain_text("#")  # a retriever's rank, e.g. "bm25 #2"
    expect(first.locator(".snippet .ln").first).to_have_text("4")  # line numbers start at the citation
    marked = first.locator("mark").all_inner_texts()
    assert {"parse_header_links", "links"} & set(marked), marked
    expect(page.locator(".confidence")).to_contain_text("confidence")
    screenshot(page, "search")


def test_search_filters_narrow_the_hits_and_a_bad_filter_shows_the_servers_problem(
    page: Page, console: Console
) -> None:
    open_view(page, console, "search")
    page.locator("#search-query").fill("demo project sessions")
    page.locator("#search-languages").fill("markdown")
    page.locator("#search-query").press("Enter")
    expect(page.locator(".hit .citation").first).to_have_text("README.md:1-3")
    assert set(page.locator(".hit .tag").all_inner_texts()) <= {"section", "markdown"}
    page.locator("#search-languages").fill("klingon")
    page.locator("#search-query").press("Enter")
    expect(page.locator(".error")).to_contain_text("400")
    expect(page.locator(".error")).to_contain_text("klingon")


def test_slash_focuses_the_query_field_of_the_open_view(page: Page, console: Console) -> None:
    open_view(page, console, "localize")
    page.locator("nav a").first.focus()
    page.keyboard.press("/")
    expect(page.locator("#localize-issue")).to_be_focused()
    assert page.locator("#localize-issue").input_value() == ""  # the slash was not typed into it


def test_localize_turns_a_pasted_issue_into_files_and_functions(page: Page, console: Console) -> None:
    open_view(page, console, "localize")
    issue = (
        "parse_header_links drops the rel of a Link header\n\n"
        'parse_header_links("<a>; rel=next") returns rel "rel=next" instead of "next".\n'
        'File "pkg/http_utils.py", line 8, in parse_header_links'
    )
    page.locator("#localize-issue").fill(issue)
    page.locator("#localize-issue").press("Control+Enter")
    files = page.locator("#localize-files").locator("tbody .citation")
    expect(files.first).to_have_text("pkg/http_utils.py")
    locations = page.locator("#localize-locations").locator("tbody tr")
    expect(locations.first.locator(".symbol")).to_have_text("parse_header_links")
    expect(locations.first.locator(".citation")).to_have_text("pkg/http_utils.py:4-10")
    screenshot(page, "localize")


def test_related_explores_a_file_and_a_click_on_a_citation_explores_that(
    page: Page, console: Console
) -> None:
    open_view(page, console, "related")
    page.locator("#related-target").fill("pkg/http_utils.py")
    page.locator("#related-target").press("Enter")
    importers = page.locator("#related-importers")
    expect(importers.locator(".citation").first).to_contain_text("pkg/session.py")
    tests = page.locator("#related-tests")
    expect(tests.locator(".citation").first).to_contain_text("tests/test_http_utils.py")
    screenshot(page, "related")
    importers.locator(".citation").first.click()
    expect(page.locator(".summary strong")).to_contain_text("pkg/session.py")
    assert "target=pkg%2Fsession.py" in page.url  # the hash holds the target: back goes back
    page.go_back()
    expect(page.locator(".summary strong")).to_have_text("pkg/http_utils.py")


def test_a_search_hit_opens_the_related_explorer_at_its_citation(page: Page, console: Console) -> None:
    open_view(page, console, "search")
    page.locator("#search-query").fill("Session send")
    page.locator("#search-query").press("Enter")
    hit = page.locator(".hit .citation", has_text="pkg/session.py:4-10")
    hit.click()
    expect(page.locator(".summary strong")).to_have_text("pkg/session.py:4-10")


def test_status_shows_the_index_skips_and_stale_files_live_and_its_controls_reindex(
    page: Page, console: Console
) -> None:
    open_view(page, console, "status")
    expect(page.locator("#index-state")).to_have_text("ready")
    skipped = page.locator("#status-skipped")
    expect(skipped).to_contain_text("symlink_outside_root")
    expect(skipped).to_contain_text("ignored")
    expect(page.locator("#status-secrets")).to_contain_text("deploy/settings.py")
    expect(page.locator("#status-secrets")).to_contain_text("AWS Access Key")
    assert AWS_KEY_ID not in page.content()  # what was found, never its value
    expect(page.locator("#status-stale")).to_contain_text("0 modified, 0 deleted")
    polls = int(page.locator(".view").get_attribute("data-polls") or 0)
    # Polled: the view asks again by itself (every 2 s) without a reload.
    expect(page.locator(f'.view:not([data-polls="{polls}"])')).to_have_count(1)
    screenshot(page, "status")

    # An edit on disk is a stale file once the view checks again.
    edited = Path(console.api("status").json()["status"]["path"]) / "pkg/http_utils.py"
    original = edited.read_bytes()
    edited.write_text("# edited\n", encoding="utf-8")  # the server runs without a watcher
    try:
        page.get_by_role("button", name="Check again").click()
        expect(page.locator("#status-stale")).to_contain_text("pkg/http_utils.py")
    finally:
        edited.write_bytes(original)
    recent = page.locator("#status-jobs").locator("li")
    before = recent.count()
    page.get_by_role("button", name="Reindex").click()
    expect(page.locator(".action-message")).not_to_be_empty()
    expect(page.locator("#status-jobs").locator("li")).not_to_have_count(before)
    console.wait_ready()
    expect(page.locator("#index-state")).to_have_text("ready")


def test_metrics_sums_up_requests_latency_and_index_sizes(page: Page, console: Console) -> None:
    assert console.api("search", query="retry delay").status_code == 200
    open_view(page, console, "metrics")
    row = page.locator("#requests-table tr", has_text="search").filter(has_text="rest")
    expect(row.first).to_be_visible()
    assert int(row.first.locator("td").nth(2).inner_text()) >= 1
    expect(page.locator("#metrics-indexes")).to_contain_text("repo")
    expect(page.locator("#metrics-indexes")).to_contain_text("KiB")
    screenshot(page, "metrics")


def test_the_root_selector_switches_every_view_to_another_served_root(page: Page, console: Console) -> None:
    open_view(page, console, "status")
    expect(page.locator("#status-index h3")).to_contain_text("Index of repo")
    page.locator("#root").select_option("notes")
    expect(page.locator("#status-index h3")).to_contain_text("Index of notes")
    expect(page.locator("#status-roots tr.selected")).to_contain_text("notes")
    open_view(page, console, "search")
    page.locator("#search-query").fill("rotate signing certificates")
    page.locator("#search-query").press("Enter")
    expect(page.locator(".hit .citation").first).to_have_text("runbook.md:1-3")
