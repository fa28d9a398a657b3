"""The documentation site builds with MkDocs in strict mode (a warning is an error)."""

from __future__ import annotations

import os
import re
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
    # The walkthroughs play in their pages, from the cast files and the player served with the site.
    for page, cast in (("getting-started", "getting-started"), ("tutorials/team-server", "team-server")):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        found = re.search(r'AsciinemaPlayer\.create\("([^"]+)"', html)
        assert found, f"{page} embeds no player"
        assert (site / page / found.group(1)).resolve() == (site / "casts" / f"{cast}.cast").resolve()
        assert (site / "casts" / f"{cast}.cast").exists()
    assert (site / "js" / "asciinema-player.min.js").exists()
    assert (site / "reference" / "openapi.json").exists()
    for page in ("getting-started", "tutorials/team-server", "reference/cli", "reference/mcp-tools"):
        assert (site / page / "index.html").exists()
