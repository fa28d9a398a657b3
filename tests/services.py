"""Local services the tests start themselves (redis-server, prometheus, ...): found, or skipped, or failed.

A test that needs a binary calls :func:`require_binary`. Without it the test
is skipped with the reason, unless ``CONEXUS_REQUIRE_SERVICES=1`` (CI), where
a missing binary fails the test.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(name: str) -> str:
    """The path of the executable ``name``; skip (or, with CONEXUS_REQUIRE_SERVICES=1, fail) without it."""
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed"
    if os.environ.get("CONEXUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; CONEXUS_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)
