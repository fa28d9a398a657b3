"""Real services for tests (Redis, Prometheus, Alertmanager): find their binaries.

A test that needs one calls :func:`require_binary`: it skips with the reason when the
binary is absent, unless ``CONEXUS_REQUIRE_SERVICES=1`` (CI sets it), where absence
fails the test — CI must never go green by skipping the real thing.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str) -> str:
    """The absolute path of the executable ``name``; skip (or fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (Debian: scripts/test installs it when run as root)"
    if os.environ.get("CONEXUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CONEXUS_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)
