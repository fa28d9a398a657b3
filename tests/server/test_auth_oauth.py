"""OAuth 2.1 bearer JWTs on the real HTTP server, against an authorization server the test runs.

The test mints its own keys with ``cryptography`` (RSA 2048 and EC P-256) and
serves their JWKS and the RFC 8414 metadata from a small ``http.server`` on
loopback; Conexus discovers the JWKS from the issuer. Tokens are signed with
PyJWT. Good tokens work over REST and over MCP (the SDK's streamable HTTP
client with a bearer header); every kind of bad token gets 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import ProtectedResourceMetadata

from conexus.server.http.oauth import JwtVerifier, TokenRejectedError, scopes_of
from conexus.server.settings import ServerSettings
from tests.server.conftest import START_TIMEOUT_S, text_of, write
from tests.server.inprocess import LiveServer, auth_failures, live_server

pytestmark = pytest.mark.timeout(180)

API = "/api/v1"
RESOURCE = "https://conexus.example/mcp"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    data: dict[str, Any] = json.loads(algorithm.to_jwk(public_key))
    return {**data, "kid": kid, "use": "sig", "alg": alg}


class AuthorizationServer:
    """RFC 8414 metadata and a JWKS on loopback; counts the JWKS fetches."""

    def __init__(self) -> None:
        jwks = {
            "keys": [_jwk(RSA_KEY.public_key(), "rsa-1", "RS256"), _jwk(EC_KEY.public_key(), "ec-1", "ES256")]
        }
        owner = self
        self.jwks_fetches = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/oauth-authorization-server":
                    body: dict[str, Any] = {"issuer": owner.issuer, "jwks_uri": owner.issuer + "/jwks.json"}
                elif self.path == "/jwks.json":
                    owner.jwks_fetches += 1
                    body = jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output about the test

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> AuthorizationServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def mint(issuer: str, *, key: Any = RSA_KEY, alg: str = "RS256", kid: str = "rsa-1", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": RESOURCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 600,
        "scope": "conexus:read",
    }
    payload.update(claims)
    for name in [k for k, v in payload.items() if v is None]:
        del payload[name]
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(issuer: str) -> str:
    """An ``alg: none`` token with good claims."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = _b64(
        json.dumps({"iss": issuer, "aud": RESOURCE, "sub": "x", "exp": int(time.time()) + 600}).encode()
    )
    return f"{header}.{body}."


def hmac_with_public_key(issuer: str) -> str:
    """The classic confusion attack: HS256 keyed by the RSA public key's PEM."""
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    body = _b64(
        json.dumps(
            {
                "iss": issuer,
                "aud": RESOURCE,
                "sub": "x",
                "exp": int(time.time()) + 600,
                "scope": "conexus:admin",
            }
        ).encode()
    )
    signature = hmac.new(pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


@pytest.fixture(scope="module")
def issuer() -> Iterator[AuthorizationServer]:
    with AuthorizationServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, issuer: AuthorizationServer) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("auth-oauth")
    roots = []
    for word in ("alpha", "beta"):
        write(
            base / word,
            f"{word}.py",
            f'def {word}_handler() -> str:\n    """Handle {word} requests."""\n    return "{word}"\n',
        )
        roots.append(base / word)
    settings = ServerSettings(oauth_issuer=issuer.issuer, resource_url=RESOURCE)
    with live_server(roots, base / "home", settings) as live:
        yield live


def status(server: LiveServer, token: str) -> Any:
    with server.client(token) as http:
        return http.post(f"{API}/status", json={})


def test_the_protected_resource_metadata_names_the_issuer_and_the_scopes(
    server: LiveServer, issuer: AuthorizationServer
) -> None:
    with server.client() as http:
        for path in ("/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"):
            response = http.get(path)
            assert response.status_code == 200
            metadata = ProtectedResourceMetadata.model_validate(response.json())  # as the MCP SDK reads it
            assert str(metadata.resource) == RESOURCE
            assert [str(a) for a in metadata.authorization_servers] == [issuer.issuer]
            assert metadata.scopes_supported == ["conexus:read", "conexus:index", "conexus:admin"]
        refused = http.post(f"{API}/status", json={})
    assert refused.status_code == 401
    expected = 'resource_metadata="https://conexus.example/.well-known/oauth-protected-resource/mcp"'
    assert expected in refused.headers["www-authenticate"]


def test_a_good_rsa_token_reads_over_rest_but_cannot_control_the_index(
    server: LiveServer, issuer: AuthorizationServer
) -> None:
    token = mint(issuer.issuer)
    with server.client(token) as http:
        found = http.post(f"{API}/search", json={"query": "handle requests"})
        assert found.status_code == 200, found.text
        refused = http.post(f"{API}/index", json={"action": "status"})
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]


@pytest.mark.anyio
async def test_a_good_ec_token_works_over_mcp_streamable_http(
    server: LiveServer, issuer: AuthorizationServer
) -> None:
    token = mint(issuer.issuer, key=EC_KEY, alg="ES256", kid="ec-1", scope="openid conexus:admin")
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=START_TIMEOUT_S) as http,
        Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client,
    ):
        found = await client.call_tool("context_search", {"query": "handle requests"})
        assert not found.is_error, text_of(found)
        listed = await client.call_tool("context_connector_management", {"action": "list"})
        assert not listed.is_error, text_of(listed)


def test_a_token_limited_to_a_root_by_its_claim_sees_only_that_root(
    server: LiveServer, issuer: AuthorizationServer
) -> None:
    response = status(server, mint(issuer.issuer, scope="read", conexus_roots=["beta"]))
    assert response.status_code == 200
    assert [r["name"] for r in response.json()["roots"]] == ["beta"]
    assert response.json()["root"] == "beta"


def test_a_valid_token_without_a_conexus_scope_is_forbidden(
    server: LiveServer, issuer: AuthorizationServer
) -> None:
    response = status(server, mint(issuer.issuer, scope="openid profile"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


BAD_TOKENS = {
    "wrong issuer": lambda iss: mint("https://evil.example"),
    "wrong audience": lambda iss: mint(iss, aud="https://other.example/mcp"),
    "expired": lambda iss: mint(iss, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "no expiry": lambda iss: mint(iss, exp=None),
    "not yet valid": lambda iss: mint(iss, nbf=int(time.time()) + 3600),
    "bad signature": lambda iss: mint(iss, key=OTHER_RSA_KEY),
    "unknown kid": lambda iss: mint(iss, kid="rotated-away"),
    "alg none": unsigned,
    "HS256 keyed by the public key": hmac_with_public_key,
    "not a JWT": lambda iss: "not-a-jwt",
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_token_is_refused_with_invalid_token(
    server: LiveServer, issuer: AuthorizationServer, kind: str
) -> None:
    reason = "expired" if kind == "expired" else "invalid"
    before = auth_failures(reason)
    response = status(server, BAD_TOKENS[kind](issuer.issuer))
    assert response.status_code == 401, (kind, response.text)
    value = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in value and "resource_metadata=" in value
    assert auth_failures(reason) == before + 1


def test_the_jwks_is_fetched_once_and_cached(server: LiveServer, issuer: AuthorizationServer) -> None:
    for _ in range(3):
        assert status(server, mint(issuer.issuer)).status_code == 200
    fetched = issuer.jwks_fetches
    for _ in range(3):
        assert status(server, mint(issuer.issuer)).status_code == 200
    assert issuer.jwks_fetches == fetched


@pytest.mark.anyio
async def test_the_verifier_is_a_token_verifier_of_the_mcp_sdk(issuer: AuthorizationServer) -> None:
    verifier = JwtVerifier(issuer.issuer, RESOURCE)
    access = await verifier.verify_token(mint(issuer.issuer, scope="conexus:index"))
    assert access is not None
    assert access.client_id == "jwt:user-1" and access.scopes == ["conexus:read", "conexus:index"]
    assert await verifier.verify_token(mint(issuer.issuer, aud="https://other.example")) is None
    with pytest.raises(TokenRejectedError) as rejected:
        verifier.verify(mint(issuer.issuer, exp=int(time.time()) - 3600))
    assert rejected.value.reason == "expired"


def test_scopes_map_from_the_scope_claim_with_or_without_the_conexus_prefix() -> None:
    assert scopes_of({"scope": "openid conexus:read index"}) == ["read", "index"]
    assert scopes_of({"scp": ["admin", "email"]}) == ["admin"]
    assert scopes_of({}) == []


def test_an_issuer_without_an_audience_is_a_configuration_error(tmp_path: Path) -> None:
    from conexus.errors import ConfigError

    with pytest.raises(ConfigError, match="audience"):
        JwtVerifier("https://issuer.example", "")
