"""``conexus keys``: create, list and revoke the API keys of ``conexus serve --http``.

Keys live in the data home (``$CONEXUS_HOME/keys.json``, hashed, mode 0600);
a running server re-reads the file when it changes, so a revoked key is
refused from the next request on. Registered on the ``conexus`` group by the CLI.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from conexus.errors import ConexusError, ConfigError

DURATION = re.compile(r"^(\d+)\s*([hdw])$")
UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400}


def parse_expiry(value: str, now: float | None = None) -> float:
    """Unix time of ``--expires``: a duration (``12h``, ``30d``, ``2w``) or an ISO date or date-time.

    A date without a time is midnight UTC at its start; a date-time without an offset is UTC.

    Raises:
        ConfigError: neither form, or a time in the past.
    """
    now = time.time() if now is None else now
    text = value.strip()
    m = DURATION.match(text)
    if m:
        seconds = int(m.group(1)) * UNIT_SECONDS[m.group(2)]
        if seconds <= 0:
            raise ConfigError("--expires must be in the future")
        return now + seconds
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--expires takes a duration (12h, 30d, 2w) or an ISO date (2027-01-31), not {value!r}"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = when.timestamp()
    if stamp <= now:
        raise ConfigError(f"--expires {value} is in the past")
    return stamp


def root_entry(value: str) -> str:
    """A ``--root`` entry as stored: a root name as given, or a folder as an absolute resolved path.

    A value with a path separator, or starting with ``.`` or ``~``, is a folder; anything else a name.
    """
    if os.sep in value or "/" in value or value.startswith((".", "~")):
        return str(Path(value).expanduser().resolve())
    return value


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _store(ctx: click.Context) -> Any:
    from conexus.app.keys import KeyStore
    from conexus.config import load_settings

    overrides = {k: v for k, v in (ctx.obj or {}).items() if v is not None}
    return KeyStore(load_settings(None, overrides=overrides).home)


def _fail(exc: ConexusError) -> None:
    click.echo(f"conexus: error: {exc}", err=True)
    sys.exit(exc.exit_code)


@click.group()
def keys() -> None:
    """Manage the API keys of `conexus serve --http`.

    While no key exists (and no OAuth issuer is configured) the HTTP server is
    open. Once a key is created, every route but /healthz and /readyz needs
    `Authorization: Bearer <key>`. Scopes: read (search, read, status, ...),
    index (also index control), admin (also connectors and /metrics when not public).
    """


@keys.command("create")
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(["read", "index", "admin"]),
    default="read",
    show_default=True,
    help="What the key may do: read < index < admin (each includes the ones before).",
)
@click.option(
    "--expires", help="Expiry: a duration (12h, 30d, 2w) or an ISO date/time (UTC). Default: never."
)
@click.option(
    "--root",
    "roots",
    multiple=True,
    metavar="PATH_OR_NAME",
    help="Only this served root: its name, or a folder (every root inside it). Repeatable. Default: all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the key and its secret as JSON.")
@click.pass_context
def create(
    ctx: click.Context, name: str, scope: str, expires: str | None, roots: tuple[str, ...], as_json: bool
) -> None:
    """Create a key NAME and print its secret, once: it is stored only as a hash."""
    try:
        expires_at = parse_expiry(expires) if expires else None
        key, secret = _store(ctx).create(
            name, scope, expires_at=expires_at, roots=[root_entry(r) for r in roots]
        )
    except ConexusError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps({**key.to_dict(), "secret": secret}, indent=2))
        return
    click.echo(f"Created API key {key.name} ({key.id}), scope {key.scope}, expires {_when(key.expires_at)}.")
    if key.roots:
        click.echo("Roots: " + ", ".join(key.roots))
    click.echo("Secret (shown only now; send it as 'Authorization: Bearer <secret>'):")
    click.echo(secret)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the keys as JSON.")
@click.pass_context
def list_keys(ctx: click.Context, as_json: bool) -> None:
    """List the keys (never their secrets)."""
    try:
        items = _store(ctx).all()
    except ConexusError as exc:
        _fail(exc)
    now = time.time()
    if as_json:
        click.echo(json.dumps([{**k.to_dict(), "expired": k.expired(now)} for k in items], indent=2))
        return
    if not items:
        click.echo("No API keys.")
        return
    for k in items:
        state = " (expired)" if k.expired(now) else ""
        roots = ", ".join(k.roots) if k.roots else "all roots"
        click.echo(
            f"{k.id}  {k.name}  {k.scope}  created {_when(k.created_at)}  "
            f"expires {_when(k.expires_at)}{state}  {roots}"
        )


@keys.command("revoke")
@click.argument("ref", metavar="ID_OR_NAME")
@click.pass_context
def revoke(ctx: click.Context, ref: str) -> None:
    """Revoke a key: running servers refuse it from their next request on."""
    try:
        key = _store(ctx).revoke(ref)
    except ConexusError as exc:
        _fail(exc)
    click.echo(f"Revoked API key {key.name} ({key.id}).")
