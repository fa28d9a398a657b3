"""API keys of the HTTP server: created, listed and revoked with ``conexus keys``, stored hashed.

A key is ``cx_`` followed by 32 random bytes (URL-safe base64). Its secret is
shown once, when it is created; the data home keeps only its sha256, with an
id, a name, a scope (``read`` < ``index`` < ``admin``), the creation time, an
optional expiry and an optional allow-list of roots (root names or absolute
folders; empty: every served root).

The store is ``$CONEXUS_HOME/keys.json``, written atomically (a temporary
file, then a rename) with mode 0600. A running server re-reads it when it
changes (:meth:`KeyStore.refresh` compares size, mtime and inode), so
``conexus keys revoke`` takes effect on the next request without a restart.

A plain sha256 is enough here: the secrets are 256-bit random values, so
there is nothing for a slow hash to protect against (guessing a key is as
hard as guessing its hash); comparisons are constant-time.

The presence of the file is what closes the server: once a key has been
created, revoking every key leaves an empty store and a server nobody can
call until a new key is created (deleting ``keys.json`` opens it again).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conexus.embedding.model_files import atomic_write
from conexus.errors import ConfigError

logger = logging.getLogger(__name__)

KEYS_FILE = "keys.json"
FORMAT_VERSION = 1
SECRET_PREFIX = "cx_"
SECRET_BYTES = 32
SCOPES = ("read", "index", "admin")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ROOTS = 100


def hash_secret(secret: str) -> str:
    """The sha256 (hex) under which a key's secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_key(token: str) -> bool:
    """True for a bearer token shaped like a Conexus API key (as opposed to a JWT)."""
    return token.startswith(SECRET_PREFIX)


@dataclass(frozen=True)
class ApiKey:
    """One stored key: everything but its secret."""

    id: str
    name: str
    scope: str
    secret_sha256: str
    created_at: float
    expires_at: float | None = None
    roots: tuple[str, ...] = ()

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now if now is not None else time.time()) >= self.expires_at

    def to_dict(self, *, with_hash: bool = False) -> dict[str, Any]:
        """JSON form; the hash only for the file on disk."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "roots": list(self.roots),
        }
        if with_hash:
            out["secret_sha256"] = self.secret_sha256
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApiKey:
        scope = str(data["scope"])
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
        expires = data.get("expires_at")
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            scope=scope,
            secret_sha256=str(data["secret_sha256"]),
            created_at=float(data["created_at"]),
            expires_at=None if expires is None else float(expires),
            roots=tuple(str(r) for r in data.get("roots") or ()),
        )


class KeyRejectedError(Exception):
    """A presented key is not accepted; ``reason`` is ``invalid`` or ``expired`` (never the key itself)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class KeyStore:
    """The keys of one data home. Thread-safe; re-reads the file when it changes on disk."""

    def __init__(self, home: Path) -> None:
        self.path = home / KEYS_FILE
        self._lock = threading.Lock()
        self._keys: list[ApiKey] = []
        self._stamp: tuple[int, int, int] | None = None
        self._exists = False
        self.refresh()

    # -- reading ------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload the file when its size, mtime or inode changed since the last read."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            with self._lock:
                self._keys, self._stamp, self._exists = [], None, False
            return
        except OSError as exc:  # unreadable: keep what we had rather than open the server
            logger.error("cannot stat the key store %s: %s", self.path, exc)
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if stamp == self._stamp:
                return
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                keys = [ApiKey.from_dict(d) for d in data.get("keys", [])]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # A broken store must fail closed: the server stays locked, with no key accepted.
                logger.error("the key store %s is unreadable; no key is accepted: %s", self.path, exc)
                keys = []
            self._keys, self._stamp, self._exists = keys, stamp, True

    @property
    def enabled(self) -> bool:
        """True once a key store exists in the data home: then every non-health route needs a credential."""
        self.refresh()
        with self._lock:
            return self._exists

    def all(self) -> list[ApiKey]:
        """Every stored key, oldest first."""
        self.refresh()
        with self._lock:
            return list(self._keys)

    def find(self, ref: str) -> ApiKey:
        """The key whose id or name is ``ref``.

        Raises:
            ConfigError: no such key.
        """
        for key in self.all():
            if ref in (key.id, key.name):
                return key
        raise ConfigError(f"no API key with id or name {ref!r}; see `conexus keys list`")

    def verify(self, secret: str, now: float | None = None) -> ApiKey:
        """The key whose secret is ``secret``.

        Raises:
            KeyRejectedError: unknown or revoked (``invalid``), or past its expiry (``expired``).
        """
        self.refresh()
        digest = hash_secret(secret)
        found: ApiKey | None = None
        with self._lock:
            for key in self._keys:  # compare with every key, in constant time each
                if hmac.compare_digest(key.secret_sha256, digest):
                    found = key
        if found is None:
            raise KeyRejectedError("invalid", "the API key is not valid (unknown or revoked)")
        if found.expired(now):
            raise KeyRejectedError("expired", f"the API key {found.name!r} has expired")
        return found

    # -- changing -------------------------------------------------------------------------------------
    def create(
        self,
        name: str,
        scope: str,
        *,
        expires_at: float | None = None,
        roots: Sequence[str] = (),
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it and its secret (the only time the secret exists outside the caller).

        Raises:
            ConfigError: a bad or taken name, an unknown scope, an expiry in the past, too many roots.
        """
        if not NAME.match(name):
            raise ConfigError(
                f"invalid key name {name!r}: 1-64 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        if scope not in SCOPES:
            raise ConfigError(f"unknown scope {scope!r}; use one of: {', '.join(SCOPES)}")
        now = time.time()
        if expires_at is not None and expires_at <= now:
            raise ConfigError("the expiry is in the past")
        clean_roots = tuple(dict.fromkeys(r for r in roots if r))
        if len(clean_roots) > MAX_ROOTS:
            raise ConfigError(f"at most {MAX_ROOTS} roots per key")
        secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
        key = ApiKey(
            id="key_" + secrets.token_hex(6),
            name=name,
            scope=scope,
            secret_sha256=hash_secret(secret),
            created_at=now,
            expires_at=expires_at,
            roots=clean_roots,
        )
        with self._lock:
            keys = self._read_for_update()
            if any(k.name == name for k in keys):
                raise ConfigError(f"an API key named {name!r} exists already; revoke it or pick another name")
            self._write([*keys, key])
        return key, secret

    def revoke(self, ref: str) -> ApiKey:
        """Delete the key whose id or name is ``ref``; a server refuses it from its next request on.

        Raises:
            ConfigError: no such key.
        """
        with self._lock:
            keys = self._read_for_update()
            found = next((k for k in keys if ref in (k.id, k.name)), None)
            if found is None:
                raise ConfigError(f"no API key with id or name {ref!r}; see `conexus keys list`")
            self._write([k for k in keys if k is not found])
        return found

    def _read_for_update(self) -> list[ApiKey]:
        # Read the file itself, not the cache: another process may have changed it.
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return [ApiKey.from_dict(d) for d in data.get("keys", [])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"the key store {self.path} is unreadable ({exc}); fix or delete it") from exc

    def _write(self, keys: list[ApiKey]) -> None:
        payload = {"version": FORMAT_VERSION, "keys": [k.to_dict(with_hash=True) for k in keys]}
        # atomic_write goes through mkstemp, which creates the file with mode 0600.
        atomic_write(self.path, (json.dumps(payload, indent=2) + "\n").encode("utf-8"))
        os.chmod(self.path, 0o600)
        self._stamp = None  # re-read on the next refresh
        self._keys, self._exists = keys, True
