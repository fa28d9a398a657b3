"""Confinement and abuse over a live ``conexus serve --http`` (issue #15, hostile input).

One server over a tree that holds what an attacker (or an accident) would put there: a
character device, a file of one 3 MB line, a gzip bomb, a huge minified file; then
requests that try to leave the root through encoded, Unicode-lookalike and absolute paths,
an oversized header, and an address-spoofing header against a per-address rate limit.
Each must be refused or skipped with a clear reason, and the server must go on answering.
"""

from __future__ import annotations

import gzip
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import START_TIMEOUT_S, HttpServer, start_http_server, write

API = "/api/v1"
OUTSIDE_SECRET = "root-only-marker-5f2c"  # written outside the root: must never come back


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpServer, httpx.Client, bool]]:
    base = tmp_path_factory.mktemp("abuse")
    root = base / "repo"
    write(root, "app.py", "def handle_request(path):\n    return open(path).read()\n")
    (base / "outside.txt").write_text(OUTSIDE_SECRET, encoding="utf-8")
    write(root, "one_line.py", "x = [" + "1, " * 1_000_000 + "]\n")  # 3 MB on one line
    with gzip.open(root / "bomb.py.gz", "wb") as fh:  # 100 MB of zeros in about 100 KB
        for _ in range(100):
            fh.write(b"\0" * 1_000_000)
    write(root, "dist/app.min.js", "var a=1;" * 40_000)  # one generated 320 KB line
    device = True
    try:
        os.mknod(root / "null-device", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    except (PermissionError, OSError):
        device = False  # not root here: the FIFO test of the walker covers special files
    server = start_http_server([root], base / "home", "--rate-per-address", "0")
    http = httpx.Client(base_url=server.url.removesuffix("/mcp"), timeout=START_TIMEOUT_S)

    deadline = time.monotonic() + START_TIMEOUT_S
    while http.post(f"{API}/status", json={}).json()["index_state"] != "ready":
        assert time.monotonic() < deadline, "the hostile tree was not indexed in time"
        time.sleep(0.2)  # polling interval; the deadline decides
    yield server, http, device
    http.close()
    server.stop()


def test_special_huge_and_bomb_files_are_skipped_with_their_reason(
    hostile: tuple[HttpServer, httpx.Client, bool],
) -> None:
    _, http, device = hostile
    status = http.post(f"{API}/status", json={}).json()["status"]
    skipped = status["skipped"]
    # The gzip bomb is an archive (ignored by the default excludes, never decompressed), the 3 MB
    # line is over the size limit, the minified file lies in a build output folder.
    assert skipped.get("ignored", 0) >= 2 and skipped.get("too_large", 0) >= 1, skipped
    if device:
        assert skipped.get("not_regular", 0) == 1, skipped
    assert status["files"] == 1  # app.py, and nothing else
    hits = http.post(f"{API}/search", json={"query": "handle_request"}).json()["hits"]
    assert [h["path"] for h in hits][:1] == ["app.py"]


@pytest.mark.parametrize(
    "path",
    [
        "../outside.txt",
        "%2e%2e/outside.txt",  # percent-encoding is not decoded: a literal name in the root
        "..%2foutside.txt",
        "\uff0e\uff0e/outside.txt",  # fullwidth full stops: not "..", whatever NFKC would say
        "..\u2215outside.txt",  # division slash: not a separator
        "app.py/../../outside.txt",
        "/etc/passwd",
        "app.py\x00.txt",
        "null-device",
        "bomb.py.gz",
    ],
)
def test_reads_that_try_to_leave_the_root_or_read_special_files_are_refused(
    hostile: tuple[HttpServer, httpx.Client, bool], path: str
) -> None:
    _, http, _ = hostile
    answer = http.post(f"{API}/read", json={"path": path})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert OUTSIDE_SECRET not in answer.text and "root:x:0:0" not in answer.text


def test_an_oversized_header_is_refused_and_the_server_answers_the_next_request(
    hostile: tuple[HttpServer, httpx.Client, bool],
) -> None:
    _, http, _ = hostile
    huge = http.post(f"{API}/search", json={"query": "x"}, headers={"X-Padding": "a" * 200_000})
    assert huge.status_code in (400, 431), huge.status_code
    assert http.post(f"{API}/search", json={"query": "handle_request"}).status_code == 200


def test_a_spoofed_forwarded_for_header_does_not_reset_the_per_address_limit(tmp_path: Path) -> None:
    """Without ``trust_forwarded_for`` the limit is the socket peer's: inventing an address per
    request buys nothing."""
    write(tmp_path / "repo", "app.py", "def main():\n    pass\n")
    server = start_http_server(
        [tmp_path / "repo"], tmp_path / "home", "--rate-per-address", "1", "--burst-per-address", "3"
    )
    try:
        with httpx.Client(base_url=server.url.removesuffix("/mcp"), timeout=START_TIMEOUT_S) as http:
            codes = [
                http.post(
                    f"{API}/read", json={"path": "app.py"}, headers={"X-Forwarded-For": f"203.0.113.{k}"}
                ).status_code
                for k in range(10)
            ]
        assert 429 in codes, codes
        assert codes.count(200) <= 4, codes  # the burst of 3, and at most one refill meanwhile
    finally:
        server.stop()
