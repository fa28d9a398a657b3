"""The settings of ``conexus serve``: one model, read from options, environment and a file.

Resolution: ``conexus serve`` option > ``CONEXUS_<NAME>`` environment variable >
the ``[serve]`` table of the file given by ``--config`` (or
``CONEXUS_CONFIG``) > default. These are the server's settings, fixed at
start-up; what an index contains is :class:`conexus.config.Settings`, read per
root. Every field carries its help text, so the CLI options
(:func:`click_options`) and the configuration reference in
``docs/operations.md`` are generated from this one model.

List values are comma-separated in the environment (``CONEXUS_ALLOW_ROOTS=/srv/a,/srv/b``)
and repeatable on the command line (``--allow-root /srv/a --allow-root /srv/b``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import click

from conexus.app.workers import DEFAULT_HEAVY_PROCESSES, DEFAULT_NICE, DEFAULT_SEARCH_PROCESSES
from conexus.config import coerce_setting as _coerce
from conexus.errors import ConfigError
from conexus.server.lanes import DEFAULT_HEAVY_WORKERS, DEFAULT_QUEUE_TIMEOUT_S, DEFAULT_WORKERS

#: The serving process's interpreter-lock switch interval, ms (docs/reliability.md: at 200 sessions
#: Python's 5 ms made thread hand-offs a large part of a search's latency).
DEFAULT_SWITCH_INTERVAL_MS = 1.0

F = TypeVar("F", bound=Callable[..., Any])


def _opt(default: Any, help: str, *, flag: str | None = None, secret: bool = False) -> Any:
    """A settings field with its help text and (when it differs from the name) its CLI flag."""
    return field(default=default, metadata={"help": help, "flag": flag, "secret": secret})


@dataclass(frozen=True)
class ServerSettings:
    """Every setting of a running server. Frozen: derive variants with ``dataclasses.replace``."""

    # ---- reach
    allow_roots: tuple[str, ...] = _opt(
        (),
        "Directories inside which roots may be served or added by a connector "
        "(default: only the roots given at start-up).",
        flag="--allow-root",
    )
    # ---- access control (API keys live in the data home: `conexus keys`)
    oauth_issuer: str = _opt("", "OAuth 2.1 authorization server whose JWTs are accepted (the `iss` claim).")
    oauth_audience: str = _opt(
        "", "Audience the JWTs must carry (`aud`; default: the server's resource URL)."
    )
    oauth_jwks_url: str = _opt(
        "", "URL of the authorization server's JWKS (default: discovered from the issuer)."
    )
    resource_url: str = _opt(
        "", "Public URL of this server's MCP endpoint, as clients see it (for OAuth resource metadata)."
    )
    public_metrics: bool = _opt(True, "Serve /metrics without a key (set false to require the admin scope).")
    # ---- limits
    rate_per_key: float = _opt(20.0, "Requests per second allowed to one API key or token (0: unlimited).")
    burst_per_key: int = _opt(40, "Burst size of the per-key token bucket.")
    rate_per_address: float = _opt(50.0, "Requests per second allowed to one client address (0: unlimited).")
    burst_per_address: int = _opt(100, "Burst size of the per-address token bucket.")
    redis_url: str = _opt(
        "",
        "Redis URL for rate limits shared by several replicas (default: in memory, per process).",
        secret=True,
    )
    max_concurrent: int = _opt(
        32, "Requests served at once; more are answered 503 with Retry-After instead of queueing."
    )
    request_timeout_s: float = _opt(60.0, "Longest time a request may run before it is cancelled (504).")
    workers: int = _opt(
        DEFAULT_WORKERS, "Worker threads for light operations (search, read, status, index control)."
    )
    heavy_workers: int = _opt(
        DEFAULT_HEAVY_WORKERS,
        "Worker threads for heavy operations (grep, localize, related, explain), apart from the light "
        "ones so a burst of them never delays searches.",
    )
    search_processes: int = _opt(
        DEFAULT_SEARCH_PROCESSES,
        "Worker processes searches run in, over the same index, so searches run on every core and "
        "the serving process keeps only the HTTP and MCP exchanges (HTTP server; 0: searches run "
        "in the server's process).",
    )
    heavy_processes: int = _opt(
        DEFAULT_HEAVY_PROCESSES,
        "Worker processes the heavy operations run in, over the same index at a lower CPU priority, "
        "so they never hold the interpreter searches run on (HTTP server; 0: run them in the "
        "server's process).",
    )
    heavy_nice: int = _opt(
        DEFAULT_NICE, "How much lower the CPU priority of those worker processes is (nice, 0-19)."
    )
    heavy_idle: bool = _opt(
        True,
        "Run those worker processes under Linux's SCHED_IDLE policy too: they get only the CPU time "
        "searches and the serving process leave (elsewhere, or false: the nice value alone).",
    )
    switch_interval_ms: float = _opt(
        DEFAULT_SWITCH_INTERVAL_MS,
        "How often the serving process's threads must hand over Python's interpreter lock, in ms "
        "(Python's own default is 5): an answer crosses several threads, and each crossing can wait "
        "one interval while another thread runs (0.1-100).",
    )
    queue_timeout_s: float = _opt(
        DEFAULT_QUEUE_TIMEOUT_S,
        "Longest a request may wait for a worker; past it the answer is 503 with Retry-After.",
    )
    max_body_bytes: int = _opt(4_000_000, "Largest request body accepted (413 above it).")
    trust_forwarded_for: bool = _opt(
        False,
        "Take the client address (for per-address rate limits) from X-Forwarded-For; only behind "
        "a reverse proxy that sets it.",
    )
    # ---- transport
    tls_cert: str = _opt("", "PEM certificate (chain) file: serve HTTPS.")
    tls_key: str = _opt("", "PEM private key of --tls-cert.", secret=True)
    cors_origins: tuple[str, ...] = _opt(
        (), "Origins allowed by CORS for the REST API (default: none; CORS is off).", flag="--cors-origin"
    )
    allowed_hosts: tuple[str, ...] = _opt(
        (),
        "Host headers accepted (DNS-rebinding protection; default: the listen address and localhost).",
        flag="--allowed-host",
    )
    allowed_origins: tuple[str, ...] = _opt(
        (), "Origin headers accepted on /mcp (default: none beyond same-host).", flag="--allowed-origin"
    )
    # ---- telemetry (tracing export is configured by the standard OTEL_* variables)
    log_format: str = _opt("text", "Log format on stderr: text or json.")
    log_level: str = _opt("info", "Log level of Conexus' own loggers: debug, info, warning, error.")
    # ---- replicas (docs/scale-out.md)
    role: str = _opt(
        "all",
        "What this replica does: all (queries, index jobs, watchers), query (queries only: no "
        "indexing, no watcher; index and connector changes are refused), or index (index jobs "
        "and watchers; answers queries too).",
    )

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked (for status output and logs)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                value = "***"
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


def env_name(name: str) -> str:
    """The environment variable of a setting."""
    return f"CONEXUS_{name.upper()}"


def flag_name(f: dataclasses.Field[Any]) -> str:
    """The CLI flag of a setting."""
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def load_server_settings(
    options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> ServerSettings:
    """Resolve the server's settings (option > environment > ``[serve]`` of the config file > default).

    ``options`` holds values given on the command line (None or an empty tuple:
    not given).

    Raises:
        ConfigError: an unknown key in the file, an unreadable file, an invalid value.
    """
    env = os.environ if environ is None else environ
    defaults = {f.name: f.default for f in fields(ServerSettings)}
    values: dict[str, Any] = {}
    path = config_file or (Path(env["CONEXUS_CONFIG"]) if env.get("CONEXUS_CONFIG") else None)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        table = data.get("serve", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [serve] must be a table")
        for key, raw in table.items():
            name = key.replace("-", "_")
            if name not in defaults:
                raise ConfigError(f"{path}: unknown setting {key!r} in [serve]")
            values[name] = _coerce(name, raw, defaults[name])
    for name, default in defaults.items():
        raw_env = env.get(env_name(name))
        if raw_env:
            values[name] = _coerce(name, raw_env, default)
    for name, raw in (options or {}).items():
        if name not in defaults:
            raise ConfigError(f"unknown server setting {name!r}")
        if raw is None or raw == ():
            continue
        values[name] = _coerce(name, raw, defaults[name])
    settings = dataclasses.replace(ServerSettings(), **values)
    _validate(settings)
    return settings


def _validate(s: ServerSettings) -> None:
    if s.log_format not in ("text", "json"):
        raise ConfigError(f"log_format must be text or json, not {s.log_format!r}")
    if s.role not in ("all", "query", "index"):
        raise ConfigError(f"role must be all, query or index, not {s.role!r}")
    if s.log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"log_level must be debug, info, warning or error, not {s.log_level!r}")
    if bool(s.tls_cert) != bool(s.tls_key):
        raise ConfigError("tls_cert and tls_key go together: give both or neither")
    for name in ("rate_per_key", "rate_per_address"):
        if getattr(s, name) < 0:
            raise ConfigError(f"{name} must be >= 0")
    if s.max_concurrent < 1:
        raise ConfigError("max_concurrent must be at least 1")
    if s.workers < 1 or s.heavy_workers < 1:
        raise ConfigError("workers and heavy_workers must be at least 1")
    if s.search_processes < 0:
        raise ConfigError("search_processes must be >= 0 (0: searches run in the server's process)")
    if s.heavy_processes < 0:
        raise ConfigError("heavy_processes must be >= 0 (0: heavy operations run in the server's process)")
    if not 0.1 <= s.switch_interval_ms <= 100:
        raise ConfigError(f"switch_interval_ms must be between 0.1 and 100, not {s.switch_interval_ms}")
    if not 0 <= s.heavy_nice <= 19:
        raise ConfigError(f"heavy_nice must be between 0 and 19, not {s.heavy_nice}")
    if s.queue_timeout_s <= 0:
        raise ConfigError("queue_timeout_s must be positive")
    if s.request_timeout_s <= 0:
        raise ConfigError("request_timeout_s must be greater than 0")


def settings_fields() -> Iterator[dataclasses.Field[Any]]:
    """The fields of :class:`ServerSettings`, in declaration order."""
    yield from fields(ServerSettings)


def click_options(command: F) -> F:
    """Add one CLI option per server setting to a click command (values None when not given)."""
    for f in reversed(list(settings_fields())):
        default = f.default
        help_text = f"{f.metadata['help']} [env {env_name(f.name)}]"
        if isinstance(default, tuple):
            option = click.option(flag_name(f), f.name, multiple=True, default=(), help=help_text)
        elif isinstance(default, bool):
            option = click.option(
                f"{flag_name(f)}/--no-{f.name.replace('_', '-')}", f.name, default=None, help=help_text
            )
        else:
            kind: Any = float if isinstance(default, float) else int if isinstance(default, int) else str
            option = click.option(flag_name(f), f.name, type=kind, default=None, help=help_text)
        command = option(command)
    return command
