"""One ``Settings`` object, resolved as: CLI option > ``CONEXUS_*`` env > ``conexus.toml`` > default.

``conexus.toml`` is read from the root being indexed (a ``[conexus]`` table or
top-level keys). Environment variables are the upper-cased field names with a
``CONEXUS_`` prefix; list values are comma-separated (``CONEXUS_EXCLUDE=a/**,b``).

The subset of settings that changes what an index contains (``index_options``)
is hashed into the index metadata, so changing it triggers a re-index rather
than silently mixing two configurations.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from conexus.errors import ConfigError

DEFAULT_MAX_FILE_BYTES = 1024 * 1024


def default_home() -> Path:
    """The data home: ``$CONEXUS_HOME`` or the user's data directory."""
    env = os.environ.get("CONEXUS_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("conexus", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Every tunable of Conexus. Frozen: derive variants with ``dataclasses.replace``."""

    home: Path = field(default_factory=default_home)
    # walking
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    include: tuple[str, ...] = ()  # gitignore-style globs; when set, only matching files are indexed
    exclude: tuple[str, ...] = ()  # gitignore-style globs added to the defaults
    follow_symlinks: bool = True  # only ever inside the root
    # secrets (issue #13): files holding credentials are never indexed, read or grepped unless
    # the root opts in (index_secrets) or names them safe (gitignore-style secrets_allow globs)
    index_secrets: bool = False
    secrets_allow: tuple[str, ...] = ()
    # chunking
    max_chunk_lines: int = 120
    window_lines: int = 60
    window_overlap: int = 10
    # embedding
    embedder: str = "bundled"  # bundled | fake | st:NAME | onnx:PATH | openai:MODEL
    embed_threads: int = 0  # 0 = all cores
    # 8: as fast as 32 on 2 cores (measured) and ONNX Runtime's working memory stays ~230 MB lower.
    embed_batch_size: int = 8
    # 128 tokens: ~2x the throughput of 256 on 2 cores with equal retrieval quality on our checks
    # (the chunk's path, symbol, signature and docstring come first; BM25 covers the rest).
    embed_max_tokens: int = 128
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    # search
    bm25_weight: float = 1.0
    vector_weight: float = 1.0
    # Votes of the chunks holding a rare identifier or code fragment the query names (issue #12).
    exact_weight: float = 2.0
    rrf_k: int = 60
    candidates: int = 200
    max_hits_per_file: int = 3
    query_cache: int = 256  # recent search results kept per index (0: none); freshness is rechecked
    learned_ranker: bool = True  # localize re-orders its first files by search/ranker.py's model
    history_prior: bool = True  # localize reads the git log (similar commits, co-change) when there is one
    # storage (issue #14): empty = the embedded SQLite index under the data home; a
    # postgresql:// URL = that PostgreSQL database (with pgvector), shared by every root and
    # replica that names it. Never read from conexus.toml: it may hold a password, and a
    # repository must not choose where its index (its code) is sent.
    store_url: str = ""

    def index_options(self) -> dict[str, Any]:
        """The settings that decide what an index contains."""
        return {
            "max_file_bytes": self.max_file_bytes,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "follow_symlinks": self.follow_symlinks,
            "index_secrets": self.index_secrets,
            "secrets_allow": list(self.secrets_allow),
            "max_chunk_lines": self.max_chunk_lines,
            "window_lines": self.window_lines,
            "window_overlap": self.window_overlap,
            "embed_max_tokens": self.embed_max_tokens,
        }

    def options_hash(self) -> str:
        """A short stable hash of ``index_options()``."""
        blob = json.dumps(self.index_options(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict, with secrets masked (for status output and logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "openai_api_key":
                value = "***" if value else ""
            elif f.name == "store_url":
                value = mask_url(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


#: Settings conexus.toml may not set: they belong to the machine, or are secret.
NOT_IN_TOML = frozenset({"home", "openai_api_key", "store_url"})

_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:?#]*):[^/@?#]*@")
_PARAM_PASSWORD = re.compile(r"((?:^|[?&\s])password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)", re.I)


def mask_url(url: str) -> str:
    """A database URL (or libpq ``key=value`` string) with its password replaced by ``***``."""
    masked = _URL_PASSWORD.sub(r"\1:***@", url)
    return _PARAM_PASSWORD.sub(lambda m: m.group(1) + "***", masked)


def coerce_setting(name: str, raw: Any, target: Any) -> Any:
    """Convert a raw TOML/env/option value to the type of the default ``target``.

    Raises:
        ConfigError: the value does not convert (or is a negative integer).
    """
    try:
        if isinstance(target, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"not a boolean: {raw!r}")
        if isinstance(target, int):
            value = int(raw)
            if value < 0:
                raise ValueError("must be >= 0")
            return value
        if isinstance(target, float):
            return float(raw)
        if isinstance(target, tuple):
            if isinstance(raw, str):
                return tuple(p.strip() for p in raw.split(",") if p.strip())
            if isinstance(raw, list | tuple):
                return tuple(str(p) for p in raw)
            raise ValueError(f"not a list: {raw!r}")
        if isinstance(target, Path):
            return Path(str(raw)).expanduser()
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid value for {name}: {exc}") from exc


def load_settings(
    root: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings for ``root``.

    Raises:
        ConfigError: unknown keys in conexus.toml, unparsable values.
    """
    base = Settings()
    defaults = {f.name: getattr(base, f.name) for f in fields(Settings)}
    values: dict[str, Any] = {}

    if root is not None:
        toml_path = root / "conexus.toml"
        if toml_path.is_file():
            try:
                data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read {toml_path}: {exc}") from exc
            table = data.get("conexus", data)
            if not isinstance(table, dict):
                raise ConfigError(f"{toml_path}: [conexus] must be a table")
            for key, raw in table.items():
                name = key.replace("-", "_")
                if name not in defaults or name in NOT_IN_TOML:
                    raise ConfigError(f"{toml_path}: unknown setting {key!r}")
                values[name] = coerce_setting(name, raw, defaults[name])

    env = os.environ if environ is None else environ
    for name, default in defaults.items():
        raw_env = env.get(f"CONEXUS_{name.upper()}")
        if raw_env is not None and raw_env != "":
            values[name] = coerce_setting(name, raw_env, default)
    if "openai_api_key" not in values and env.get("OPENAI_API_KEY"):
        values["openai_api_key"] = env["OPENAI_API_KEY"]

    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        if name not in defaults:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = coerce_setting(name, raw, defaults[name])

    settings = dataclasses.replace(base, **values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.max_file_bytes < 1:
        raise ConfigError("max_file_bytes must be at least 1")
    if s.max_chunk_lines < 5:
        raise ConfigError("max_chunk_lines must be at least 5")
    if s.window_lines < 2 or s.window_overlap >= s.window_lines:
        raise ConfigError("window_lines must be >= 2 and greater than window_overlap")
    if s.embed_batch_size < 1:
        raise ConfigError("embed_batch_size must be at least 1")
    if not 8 <= s.embed_max_tokens <= 512:
        raise ConfigError("embed_max_tokens must be between 8 and 512")
    if s.bm25_weight < 0 or s.vector_weight < 0 or (s.bm25_weight == 0 and s.vector_weight == 0):
        raise ConfigError("bm25_weight and vector_weight must be >= 0 and not both 0")
    if s.exact_weight < 0:
        raise ConfigError("exact_weight must be >= 0")
    if s.store_url and not s.store_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            f"store_url must be a postgresql:// URL, or empty for the embedded SQLite index "
            f"(got {mask_url(s.store_url)!r})"
        )
