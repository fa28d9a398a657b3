"""Service processes for the deploy tests: start on a free loopback port, wait until ready, stop.

Nothing sleeps to synchronise: :func:`poll` retries a check until a deadline.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
POLL_S = 0.25  # polling interval only: the deadlines decide
READY_TIMEOUT_S = 60.0


def poll(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Call ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what} (last: {last!r})")
        time.sleep(POLL_S)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def running(cmd: Sequence[str], log_path: Path, url: str) -> Iterator[httpx.Client]:
    """Run ``cmd`` (its output in ``log_path``) until its ``/-/ready`` answers 200; yield a client of ``url``.

    Prometheus and Alertmanager both serve ``/-/ready``. The process is terminated (then killed) on exit.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    client = httpx.Client(base_url=url, timeout=10)

    def ready() -> bool:
        if process.poll() is not None:
            text = log_path.read_text(encoding="utf-8", errors="replace")
            raise AssertionError(f"{cmd[0]} exited with {process.returncode}:\n{text}")
        try:
            return client.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll(ready, READY_TIMEOUT_S, f"{cmd[0]} is ready")
        yield client
    finally:
        client.close()
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
