"""Running HTTP servers announce themselves in the data home, so the CLI can ask them instead of
loading the model itself.

Each ``conexus serve --http`` writes ``$CONEXUS_HOME/servers/<pid>.json`` with
its base URL and the roots it serves, and removes it on shutdown. An entry whose
process is gone (``kill -9``) is ignored and removed by the next lookup.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SERVERS_DIR = "servers"


@dataclass(frozen=True)
class RunningServer:
    """A live server found in the data home."""

    pid: int
    url: str  # base URL, e.g. http://127.0.0.1:8765
    roots: tuple[str, ...]


def announce(home: Path, url: str, roots: Sequence[Path]) -> Path:
    """Record this process as serving ``roots`` at ``url``; returns the entry to :func:`withdraw`."""
    folder = home / SERVERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    entry = folder / f"{os.getpid()}.json"
    tmp = entry.with_suffix(".tmp")
    data = {"pid": os.getpid(), "url": url, "roots": [str(r) for r in roots], "started_at": time.time()}
    tmp.write_text(json.dumps(data))
    os.replace(tmp, entry)
    return entry


def withdraw(entry: Path) -> None:
    """Remove an entry written by :func:`announce` (missing is fine)."""
    entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def running_servers(home: Path) -> list[RunningServer]:
    """Every announced server whose process is alive (stale entries are removed)."""
    folder = home / SERVERS_DIR
    if not folder.is_dir():
        return []
    out = []
    for entry in sorted(folder.glob("*.json")):
        try:
            data = json.loads(entry.read_text())
            server = RunningServer(int(data["pid"]), str(data["url"]), tuple(str(r) for r in data["roots"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(server.pid):
            with contextlib.suppress(OSError):
                entry.unlink()
            continue
        out.append(server)
    return out


def server_for(home: Path, root: Path) -> RunningServer | None:
    """A live server that serves ``root``, if any."""
    wanted = str(root)
    for server in running_servers(home):
        if wanted in server.roots:
            return server
    return None
