"""The committed console bundle is the build of the sources as they are, and needs nothing from outside.

``src/conexus/server/console/static/`` is committed so that a pip install serves the console
without Node. Two checks keep it honest:

* without Node: ``static/SOURCES.sha256`` equals the digest of ``console/``'s sources, computed
  here the way ``console/scripts/stamp.mjs`` computes it at build time (a source changed without
  a rebuild fails);
* with Node (``npm ci --prefix console``, as ``scripts/test`` runs it): a fresh Vite build of
  the sources into a temporary folder is byte for byte the committed bundle.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conexus.server.console import STATIC_DIR

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "console"
TOP_FILES = ("index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts")
TREES = ("src", "scripts")
BUILD_TIMEOUT_S = 240


def sources_digest() -> str:
    """SHA-256 over ``<path>\\0<sha256 of the file>\\n`` for every source file, sorted by path."""
    files = [SOURCES / f for f in TOP_FILES]
    for tree in TREES:
        files += [p for p in (SOURCES / tree).rglob("*") if p.is_file()]
    outer = hashlib.sha256()
    for rel in sorted(p.relative_to(SOURCES).as_posix() for p in files):
        inner = hashlib.sha256((SOURCES / rel).read_bytes()).hexdigest()
        outer.update(f"{rel}\0{inner}\n".encode())
    return outer.hexdigest()


def bundle_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "SOURCES.sha256"
    }


def test_the_committed_bundle_was_built_from_the_sources_as_they_are() -> None:
    recorded = (STATIC_DIR / "SOURCES.sha256").read_text(encoding="utf-8").strip()
    assert recorded == sources_digest(), (
        "console/ changed since the bundle was built: run `npm ci && npm run build` in console/ "
        "and commit src/conexus/server/console/static"
    )


def test_the_page_loads_only_its_own_assets_and_they_exist() -> None:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    referenced = re.findall(r'(?:src|href)="([^"]+)"', page)
    assets = [r for r in referenced if r != "data:,"]
    assert assets, page
    for ref in assets:
        assert ref.startswith("/console/assets/"), f"{ref}: everything is served by the server itself"
        assert (STATIC_DIR / ref.removeprefix("/console/")).is_file(), ref
    for path, body in bundle_files(STATIC_DIR).items():
        # No CDN, no font service, no remote import: the console works on an air-gapped machine.
        assert not re.search(rb"""(?:src|href|url\(|import\(|from)\s*=?\s*["']?https?://""", body), path


def test_rebuilding_the_sources_reproduces_the_committed_bundle_byte_for_byte(tmp_path: Path) -> None:
    npm = shutil.which("npm")
    vite = SOURCES / "node_modules" / ".bin" / "vite"
    if npm is None or not vite.exists():
        reason = "the console's build tools are not installed (npm ci --prefix console)"
        if os.environ.get("CONEXUS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason}; CONEXUS_REQUIRE_SERVICES=1 requires them")
        pytest.skip(reason)
    out = tmp_path / "static"
    done = subprocess.run(
        [str(vite), "build", "--outDir", str(out), "--emptyOutDir", "--logLevel", "warn"],
        cwd=SOURCES,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert bundle_files(out) == bundle_files(STATIC_DIR), "run `npm run build` in console/ and commit"
