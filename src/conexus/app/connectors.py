"""Connector sources: extra filesystem roots and the git history of a root, persisted as JSON.

A connector is a source of context the server reads besides the roots it was
started with:

* ``filesystem``: another folder, served as a root with its own engine and watcher;
* ``git``: the commit history of a served root. When enabled, related-info
  answers carry co-change and recent-commit information (``max_commits`` bounds
  how much history is read).

The registry lives in ``$CONEXUS_HOME/connectors.json`` (mode 0600, since
options may hold credentials for future remote sources). Secrets (any option
whose name contains token, key, secret or password) are stored but never
echoed: :func:`mask_secrets` replaces them in everything the server returns
or logs, and an update that sends the mask back keeps the stored value.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conexus.errors import ConfigError

logger = logging.getLogger(__name__)

CONNECTORS_FILE = "connectors.json"
FORMAT_VERSION = 1
KINDS = ("filesystem", "git")
MASK = "********"
SECRET_NAME = re.compile(r"token|key|secret|passw(or)?d|credential|auth", re.IGNORECASE)
MAX_OPTION_BYTES = 16_384
DEFAULT_MAX_COMMITS = 500
MAX_COMMITS_LIMIT = 100_000


def is_secret_name(name: str) -> bool:
    """True when an option called ``name`` must never be echoed back."""
    return bool(SECRET_NAME.search(name))


def mask_secrets(value: Any) -> Any:
    """A copy of ``value`` with every secret-named field replaced by a mask (recursively)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = str(k)
            if is_secret_name(key) and v not in (None, ""):
                out[key] = MASK
            else:
                out[key] = mask_secrets(v)
        return out
    if isinstance(value, list | tuple):
        return [mask_secrets(v) for v in value]
    return value


def _merge_keeping_secrets(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``new`` over ``old``, where a secret sent back as the mask keeps its stored value; None deletes."""
    merged = dict(old)
    for k, v in new.items():
        if v is None:
            merged.pop(k, None)
        elif v == MASK and is_secret_name(k):
            continue
        elif isinstance(v, Mapping) and isinstance(old.get(k), Mapping):
            merged[k] = _merge_keeping_secrets(old[k], v)
        else:
            merged[k] = v
    return merged


@dataclass
class Connector:
    """One configured source."""

    id: str
    kind: str  # "filesystem" | "git"
    target: str  # filesystem: the folder; git: the served root whose history is read
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_dict(self, *, masked: bool = True) -> dict[str, Any]:
        """JSON form; secrets masked unless ``masked`` is False (the file on disk only)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "enabled": self.enabled,
            "options": mask_secrets(self.options) if masked else dict(self.options),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Connector:
        return cls(
            id=str(data["id"]),
            kind=str(data["kind"]),
            target=str(data["target"]),
            enabled=bool(data.get("enabled", True)),
            options=dict(data.get("options") or {}),
            created_at=float(data.get("created_at", time.time())),
            updated_at=float(data.get("updated_at", time.time())),
        )

    @property
    def max_commits(self) -> int:
        """For git connectors: how many commits of history to read."""
        return int(self.options.get("max_commits", DEFAULT_MAX_COMMITS))


def validate_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check a connector's options for its kind; returns a clean copy.

    Raises:
        ConfigError: unknown kind, options too large or not JSON, a bad ``max_commits``.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown connector kind {kind!r}; use one of: {', '.join(KINDS)}")
    try:
        blob = json.dumps(dict(options))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"connector options must be JSON values: {exc}") from exc
    if len(blob) > MAX_OPTION_BYTES:
        raise ConfigError(
            f"connector options are too large ({len(blob)} bytes; the limit is {MAX_OPTION_BYTES})"
        )
    clean: dict[str, Any] = json.loads(blob)
    if kind == "git" and "max_commits" in clean:
        value = clean["max_commits"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COMMITS_LIMIT:
            raise ConfigError(
                f"max_commits must be an integer between 1 and {MAX_COMMITS_LIMIT}, got {value!r}"
            )
    return clean


class ConnectorRegistry:
    """The persisted list of connectors. Thread-safe; every change is written through atomically."""

    def __init__(self, home: Path) -> None:
        self.path = home / CONNECTORS_FILE
        self._lock = threading.Lock()
        self._items: dict[str, Connector] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.is_file():
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            items = [Connector.from_dict(d) for d in data.get("connectors", [])]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A broken registry must not keep the server from starting; say so and start empty.
            logger.error("ignoring unreadable connector registry %s: %s", self.path, exc)
            return
        self._items = {c.id: c for c in items}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": FORMAT_VERSION,
            "connectors": [c.to_dict(masked=False) for c in self._items.values()],
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        os.replace(tmp, self.path)

    def all(self) -> list[Connector]:
        with self._lock:
            return list(self._items.values())

    def get(self, connector_id: str) -> Connector:
        """Raises ConfigError when there is no such connector."""
        with self._lock:
            found = self._items.get(connector_id)
        if found is None:
            raise ConfigError(f"no connector with id {connector_id!r}; list them with action=list")
        return found

    def find(self, kind: str, target: str) -> Connector | None:
        with self._lock:
            for c in self._items.values():
                if c.kind == kind and c.target == target:
                    return c
        return None

    def add(self, kind: str, target: str, options: Mapping[str, Any], enabled: bool = True) -> Connector:
        """Register a new connector (options already validated).

        Raises:
            ConfigError: a connector of this kind for this target exists already.
        """
        with self._lock:
            for c in self._items.values():
                if c.kind == kind and c.target == target:
                    raise ConfigError(
                        f"a {kind} connector for {target} exists already (id {c.id}); use action=update"
                    )
            connector = Connector(
                id=f"{kind[:3]}-{uuid.uuid4().hex[:8]}",
                kind=kind,
                target=target,
                enabled=enabled,
                options=dict(options),
            )
            self._items[connector.id] = connector
            self._save()
            return connector

    def update(self, connector_id: str, options: Mapping[str, Any] | None, enabled: bool | None) -> Connector:
        """Change options (merged; a masked secret keeps its value; None removes a key) or enabled.

        Raises:
            ConfigError: no such connector, or the merged options are invalid.
        """
        with self._lock:
            current = self._items.get(connector_id)
            if current is None:
                raise ConfigError(f"no connector with id {connector_id!r}; list them with action=list")
            merged = _merge_keeping_secrets(current.options, options or {})
            clean = validate_options(current.kind, merged)
            updated = Connector(
                id=current.id,
                kind=current.kind,
                target=current.target,
                enabled=current.enabled if enabled is None else enabled,
                options=clean,
                created_at=current.created_at,
            )
            self._items[connector_id] = updated
            self._save()
            return updated

    def remove(self, connector_id: str) -> Connector:
        """Raises ConfigError when there is no such connector."""
        with self._lock:
            found = self._items.pop(connector_id, None)
            if found is None:
                raise ConfigError(f"no connector with id {connector_id!r}; list them with action=list")
            self._save()
            return found
