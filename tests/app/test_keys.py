"""The API key store and ``conexus keys``: shown once, stored hashed, 0600, re-read when changed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conexus.api.access import Principal
from conexus.api.operations import BY_NAME, Call
from conexus.app.keys import KEYS_FILE, KeyRejectedError, KeyStore, hash_secret
from conexus.app.service import ConexusService
from conexus.cli_keys import parse_expiry, root_entry
from conexus.config import Settings, load_settings
from conexus.errors import ConfigError, ForbiddenError, PathNotFoundError
from tests.conftest import write
from tests.server.inprocess import auth_failures


def conexus(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONEXUS_HOME": str(home), "CONEXUS_EMBEDDER": "fake"}
    return subprocess.run(
        [sys.executable, "-m", "conexus", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_keys_create_list_revoke_round_trip_shows_the_secret_once_and_stores_only_its_hash(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "projects"
    folder.mkdir()
    created = conexus(
        home, "keys", "create", "ci", "--scope", "index", "--expires", "30d", "--root", str(folder), "--json"
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    secret = key["secret"]
    assert secret.startswith("cx_") and len(secret) >= 40
    assert key["scope"] == "index" and key["roots"] == [str(folder.resolve())]
    assert key["expires_at"] == pytest.approx(time.time() + 30 * 86400, abs=120)

    path = home / KEYS_FILE
    stored = path.read_text()
    assert secret not in stored
    assert hash_secret(secret) in stored
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    listed = conexus(home, "keys", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert secret not in listed.stdout and "secret_sha256" not in listed.stdout
    (entry,) = json.loads(listed.stdout)
    assert (entry["id"], entry["name"], entry["expired"]) == (key["id"], "ci", False)

    text = conexus(home, "keys", "list")
    assert "ci" in text.stdout and "index" in text.stdout and secret not in text.stdout

    again = conexus(home, "keys", "create", "ci")
    assert again.returncode == 2 and "exists already" in again.stderr

    revoked = conexus(home, "keys", "revoke", "ci")
    assert revoked.returncode == 0, revoked.stderr
    assert json.loads(conexus(home, "keys", "list", "--json").stdout) == []
    missing = conexus(home, "keys", "revoke", "ci")
    assert missing.returncode == 2 and "no API key" in missing.stderr


def test_a_plain_create_prints_the_secret_once_with_how_to_send_it(tmp_path: Path) -> None:
    created = conexus(tmp_path / "home", "keys", "create", "laptop")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("cx_")
    assert "Authorization: Bearer" in created.stdout and "scope read" in created.stdout


def test_verify_accepts_the_secret_and_refuses_unknown_expired_and_revoked_keys(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, secret = store.create("a", "read", expires_at=time.time() + 100)
    assert store.verify(secret).id == key.id
    with pytest.raises(KeyRejectedError) as unknown:
        store.verify(secret + "x")
    assert unknown.value.reason == "invalid"
    with pytest.raises(KeyRejectedError) as expired:
        store.verify(secret, now=time.time() + 200)
    assert expired.value.reason == "expired"
    other = KeyStore(tmp_path)  # another process, as `conexus keys revoke` is
    other.revoke("a")
    with pytest.raises(KeyRejectedError):
        store.verify(secret)  # the first store sees the file change without being told


def test_a_broken_key_file_accepts_no_key_but_keeps_the_server_closed(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    _key, secret = store.create("a", "admin")
    (tmp_path / KEYS_FILE).write_text("{not json")
    assert store.enabled
    with pytest.raises(KeyRejectedError):
        store.verify(secret)
    with pytest.raises(ConfigError, match="unreadable"):
        store.create("b", "read")


def test_names_scopes_and_expiries_are_checked(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    assert not store.enabled
    for name, scope, expires in (("bad name", "read", None), ("ok", "root", None), ("ok", "read", 1.0)):
        with pytest.raises(ConfigError):
            store.create(name, scope, expires_at=expires)
    assert not (tmp_path / KEYS_FILE).exists()


def test_expiry_takes_durations_dates_and_date_times() -> None:
    now = 1_900_000_000.0
    assert parse_expiry("12h", now) == now + 12 * 3600
    assert parse_expiry("2w", now) == now + 14 * 86400
    assert parse_expiry("2031-01-31", now) == datetime(2031, 1, 31, tzinfo=UTC).timestamp()
    assert parse_expiry("2031-01-31T12:00:00Z", now) == datetime(2031, 1, 31, 12, tzinfo=UTC).timestamp()
    for bad in ("soon", "0d", "2001-01-01"):
        with pytest.raises(ConfigError):
            parse_expiry(bad, now)


def test_a_root_entry_is_a_name_or_an_absolute_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert root_entry("alpha") == "alpha"
    assert root_entry("./alpha") == str(tmp_path.resolve() / "alpha")
    assert root_entry(str(tmp_path)) == str(tmp_path.resolve())


def test_the_operation_table_enforces_scopes_and_roots_for_every_transport(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for word in ("alpha", "beta"):
        write(tmp_path / word, f"{word}.py", f"def {word}() -> None:\n    pass\n")

    def settings_for(root: Path) -> Settings:
        return load_settings(root, overrides={"home": home, "embedder": "fake"})

    service = ConexusService(settings_for, home, watch=False, auto_index=False)
    service.add_root(tmp_path / "alpha")
    service.add_root(tmp_path / "beta")
    reader = Principal("key_1", "r", "key", "read", roots=("beta",))
    call = Call(service, transport="cli", principal=reader)
    try:
        assert call.root().name == "beta"
        assert [r.name for r in call.roots] == ["beta"]
        before = auth_failures("root")
        with pytest.raises(PathNotFoundError, match="served roots: beta"):
            call.root("alpha")
        assert auth_failures("root") == before + 1
        before = auth_failures("scope")
        with pytest.raises(ForbiddenError, match="needs the 'index' scope"):
            BY_NAME["index"].execute(call, {"action": "status"})
        assert auth_failures("scope") == before + 1
        assert Call(service, transport="cli").root().name == "alpha"  # no principal: everything
    finally:
        service.close()
