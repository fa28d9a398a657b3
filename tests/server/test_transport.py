"""Transport guards over a real loopback socket: TLS, security headers, CORS, Host and Origin checks.

The TLS test runs ``conexus serve`` as a subprocess with a certificate the
test makes (``cryptography``) and an httpx client that trusts only it; the
others run the real app in the test's process (:mod:`tests.server.inprocess`).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import re
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conexus.server.settings import ServerSettings
from tests.server.conftest import MCP_HEADERS, MCP_INITIALIZE, server_env, start_http_server
from tests.server.inprocess import serving

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

API = "/api/v1"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def assert_secured(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# -- security headers ----------------------------------------------------------------------------------


async def test_every_answer_carries_the_security_headers_and_api_answers_are_not_cached(
    repo: Path, home: Path
) -> None:
    async with serving(repo, home) as s, httpx.AsyncClient(base_url=s.url) as http:
        answers = [
            await http.get("/healthz"),
            await http.post(f"{API}/status", json={}),
            await http.post(f"{API}/nope", json={}),  # an error answer
            await http.post(f"{API}/status", json={}, headers={"Host": "evil.example"}),  # a refusal
            await http.post("/mcp", json=MCP_INITIALIZE, headers=MCP_HEADERS),
            await http.get("/openapi.json"),
        ]
        for response in answers:
            assert_secured(response)
            if response.headers["content-type"].startswith("text/event-stream"):
                assert "no-cache" in response.headers["cache-control"]  # the SDK's own, for SSE
            else:
                assert response.headers["cache-control"] == "no-store"
            assert response.headers["content-security-policy"].startswith("default-src 'none'")
            assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS
            assert "server" not in response.headers


async def test_the_docs_page_is_allowed_its_local_assets_and_its_own_inline_script_only(
    repo: Path, home: Path
) -> None:
    async with serving(repo, home) as s, httpx.AsyncClient(base_url=s.url) as http:
        page = await http.get("/docs")
        assert page.status_code == 200
        assert_secured(page)
        csp = page.headers["content-security-policy"]
        inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
        assert inline
        for script in inline:
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in csp
        assert "script-src 'self' 'sha256-" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
        assets = re.findall(r'(?:src|href)="(/static-offline-docs/[^"]+)"', page.text)
        assert len(assets) >= 2
        for asset in assets:
            response = await http.get(asset)
            assert response.status_code == 200 and response.headers["x-content-type-options"] == "nosniff"


# -- CORS ----------------------------------------------------------------------------------------------


PREFLIGHT = {
    "Origin": "https://app.example",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type, authorization",
}


async def test_cors_is_off_by_default_so_a_preflight_gets_no_permission(repo: Path, home: Path) -> None:
    async with serving(repo, home) as s, httpx.AsyncClient(base_url=s.url) as http:
        response = await http.options(f"{API}/search", headers=PREFLIGHT)
        assert "access-control-allow-origin" not in response.headers
        simple = await http.post(f"{API}/status", json={}, headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in simple.headers


async def test_cors_origins_configured_are_allowed_and_others_are_not(repo: Path, home: Path) -> None:
    settings = ServerSettings(cors_origins=("https://app.example",))
    async with serving(repo, home, settings) as s, httpx.AsyncClient(base_url=s.url) as http:
        response = await http.options(f"{API}/search", headers=PREFLIGHT)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "POST" in response.headers["access-control-allow-methods"]
        assert_secured(response)
        other = await http.options(f"{API}/search", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        answer = await http.post(f"{API}/status", json={}, headers={"Origin": "https://app.example"})
        assert answer.headers["access-control-allow-origin"] == "https://app.example"


# -- Host and Origin (DNS rebinding) -------------------------------------------------------------------


async def test_a_host_header_that_is_not_allowed_is_refused_on_every_route_but_the_probes(
    repo: Path, home: Path
) -> None:
    async with serving(repo, home) as s, httpx.AsyncClient(base_url=s.url) as http:
        rebound = {"Host": f"evil.example:{s.port}"}
        refused = await http.post(f"{API}/status", json={}, headers=rebound)
        assert refused.status_code == 421 and refused.json()["type"].endswith("/misdirected-request")
        assert (await http.get("/docs", headers=rebound)).status_code == 421
        mcp = await http.post("/mcp", json=MCP_INITIALIZE, headers={**MCP_HEADERS, **rebound})
        assert mcp.status_code == 421 and mcp.json()["error"]["code"] == -32000
        assert (await http.get("/healthz", headers=rebound)).status_code == 200
        for host in (f"localhost:{s.port}", f"127.0.0.1:{s.port}", "LOCALHOST"):
            response = await http.post(f"{API}/status", json={}, headers={"Host": host})
            assert response.status_code == 200, host


async def test_allowed_hosts_replace_the_defaults_for_rest_and_for_the_sdk_check_on_mcp(
    repo: Path, home: Path
) -> None:
    settings = ServerSettings(allowed_hosts=("conexus.internal",))
    async with serving(repo, home, settings) as s, httpx.AsyncClient(base_url=s.url) as http:
        named = {"Host": f"conexus.internal:{s.port}"}
        assert (await http.post(f"{API}/status", json={}, headers=named)).status_code == 200
        mcp = await http.post("/mcp", json=MCP_INITIALIZE, headers={**MCP_HEADERS, **named})
        assert mcp.status_code == 200, mcp.text
        assert (await http.post(f"{API}/status", json={})).status_code == 421  # 127.0.0.1 is not listed


async def initialize(http: httpx.AsyncClient, origin: str | None) -> httpx.Response:
    headers = dict(MCP_HEADERS)
    if origin is not None:
        headers["Origin"] = origin
    return await http.post("/mcp", json=MCP_INITIALIZE, headers=headers)


async def test_a_browser_origin_that_is_not_allowed_gets_403_on_mcp(repo: Path, home: Path) -> None:
    settings = ServerSettings(allowed_origins=("https://ide.example",))
    async with serving(repo, home, settings) as s, httpx.AsyncClient(base_url=s.url) as http:
        assert (await initialize(http, "http://evil.example")).status_code == 403
        assert (await initialize(http, f"http://evil.example:{s.port}")).status_code == 403
        assert (await initialize(http, None)).status_code == 200  # not a browser
        assert (await initialize(http, f"http://127.0.0.1:{s.port}")).status_code == 200  # same host
        assert (await initialize(http, "https://ide.example")).status_code == 200


# -- TLS -----------------------------------------------------------------------------------------------


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


async def test_with_a_certificate_the_server_speaks_https_only_and_sends_hsts(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    server = start_http_server([repo], home, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert server.url.startswith("https://127.0.0.1:")
        base = server.url.removesuffix("/mcp")
        trust = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(base_url=base, verify=trust) as https:
            response = await https.post(f"{API}/status", json={})
            assert response.status_code == 200, response.text
            assert_secured(response)
            assert response.headers["strict-transport-security"].startswith("max-age=")
            assert (await https.get("/healthz")).status_code == 200
        async with httpx.AsyncClient(base_url=base) as untrusting:  # the system CAs do not know it
            with pytest.raises(httpx.ConnectError):
                await untrusting.get("/healthz")
        async with httpx.AsyncClient(base_url=base.replace("https://", "http://")) as plain:
            with pytest.raises(httpx.HTTPError):
                await plain.get("/healthz")
    finally:
        server.stop()


def test_a_key_that_does_not_match_the_certificate_stops_the_server_with_a_message(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, _ = self_signed(tmp_path / "a")
    _, other_key = self_signed(tmp_path / "b")
    args: list[Any] = ["--http", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", other_key, repo]
    result = subprocess.run(
        [sys.executable, "-m", "conexus", "serve", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**server_env(home), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "tls_cert/tls_key" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
