"""The documentation site builds with MkDocs in strict mode (a warning is an error)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_strictly_with_every_page_in_the_navigation(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    # The Python API page is rendered from the docstrings: the roles and the error tree are there.
    python_api = (site / "reference" / "python-api" / "index.html").read_text(encoding="utf-8")
    for name in ("Engine", "Store", "Embedder", "Source", "ConexusError", "IndexIncompatibleError"):
        assert name in python_api
    # The walkthroughs are served with the site, next to the pages that link them.
    assert (site / "casts" / "getting-started.cast").exists()
    assert (site / "reference" / "openapi.json").exists()
    for page in ("getting-started", "tutorials/team-server", "reference/cli", "reference/mcp-tools"):
        assert (site / page / "index.html").exists()
