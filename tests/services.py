"""External services the tests run for real (redis-server, prometheus, promtool, amtool, loki).

A test that needs one calls :func:`require_binary`: it skips with the reason when the binary is
absent, unless ``CONEXUS_REQUIRE_SERVICES=1`` (CI sets it), where absence fails the test.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str) -> str:
    """The path of the executable ``name``; skips (or fails under CONEXUS_REQUIRE_SERVICES=1) without it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin")
    if path is None:
        reason = f"{name} is not installed (Debian: apt-get install prometheus prometheus-alertmanager ...)"
        if os.environ.get("CONEXUS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"CONEXUS_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return path
