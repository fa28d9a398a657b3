"""``conexus serve``: MCP over stdio (default), or HTTP with MCP, the REST API and health endpoints.

Registered on the ``conexus`` group by the CLI (``main.add_command(serve)``);
``python -m conexus.server.serve_cli`` runs it on its own.

In stdio mode stdout is the protocol channel: logging goes to stderr (text or
JSON lines, :mod:`conexus.observability.logs`) and is configured before the
engine is imported, and the SDK points file
descriptor 1 at stderr while serving, so stray output from native libraries
cannot corrupt the stream either.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from conexus.server.settings import ServerSettings, click_options, load_server_settings


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; ``:PORT`` means 127.0.0.1) to ``(host, port)``.

    Raises:
        click.BadParameter: not HOST:PORT, or a port outside 0..65535.
    """
    host, sep, port_text = value.rpartition(":")
    if not sep:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}", param_hint="--http")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise click.BadParameter(f"port must be a number, got {port_text!r}", param_hint="--http") from None
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"port must be between 0 and 65535, got {port}", param_hint="--http")
    return host, port


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(file_okay=False), metavar="[PATH]...")
@click.option(
    "--http",
    "listen",
    metavar="HOST:PORT",
    help="Serve HTTP at HOST:PORT instead of stdio: MCP at /mcp, REST at /api/v1 (PORT 0 picks a free port).",
)
@click.option("--no-watch", is_flag=True, help="Do not watch the roots for file changes.")
@click.option("--no-index", is_flag=True, help="Do not index on start (serve the existing index as is).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="TOML file whose [serve] table holds server settings [env CONEXUS_CONFIG].",
)
@click_options
@click.pass_context
def serve(
    ctx: click.Context,
    /,
    paths: tuple[str, ...],
    listen: str | None,
    no_watch: bool,
    no_index: bool,
    config_file: Path | None,
    **server_options: Any,
) -> None:
    """Serve the Conexus tools over MCP for PATH... (default: the current folder).

    Every root is indexed incrementally in the background on start and kept
    fresh by watching its files; tools answer from what is indexed meanwhile.
    With several roots, tools take a `root` argument (default: the first).
    With --role query the server only answers queries (no indexing, no
    watcher): replicas sharing a PostgreSQL index (docs/scale-out.md).
    """
    from conexus.errors import ConexusError
    from conexus.observability.logs import configure_logging

    configure_logging()  # until the settings say otherwise: text on stderr
    host_port = parse_listen(listen) if listen else None
    try:
        server_settings = load_server_settings(server_options, config_file=config_file)
        configure_logging(server_settings.log_format, server_settings.log_level)
        _serve(
            ctx.obj or {},
            paths or (".",),
            host_port,
            server_settings,
            watch=not no_watch,
            index=not no_index,
        )
    except ConexusError as exc:
        click.echo(f"conexus: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)


def _serve(
    options: dict[str, Any],
    paths: tuple[str, ...],
    host_port: tuple[str, int] | None,
    server_settings: ServerSettings,
    *,
    watch: bool,
    index: bool,
) -> None:
    import anyio
    import anyio.to_thread

    from conexus.app.discovery import announce, withdraw
    from conexus.app.service import ConexusService
    from conexus.config import Settings, load_settings
    from conexus.layout import served_root
    from conexus.observability.tracing import configure_tracing, shutdown_tracing
    from conexus.server.mcp import ConexusMCP, serve_stdio

    logger = logging.getLogger("conexus.server")
    overrides = {k: v for k, v in options.items() if v is not None}

    def settings_for(root: Path) -> Settings:
        return load_settings(root, overrides=overrides)

    configure_tracing()  # once per process, from the OTEL_* variables (export off unless asked)
    roots = [served_root(p) for p in paths]
    home = load_settings(None, overrides=overrides).home
    # The server's reach is fixed here: allow_roots, or else just the roots it starts with.
    allow_roots: list[Path | str] = [*server_settings.allow_roots] or [*roots]
    service = ConexusService(
        settings_for,
        home,
        watch=watch,
        auto_index=index,
        allow_roots=allow_roots,
        role=server_settings.role,
    )
    for root in roots:
        service.add_root(root)
    mcp = ConexusMCP(service)
    announced: list[Path] = []

    stopped = False

    async def shutdown() -> None:  # runs once: in the HTTP lifespan, or after stdio ends
        nonlocal stopped
        if stopped:
            return
        stopped = True
        for entry in announced:
            withdraw(entry)
        await anyio.to_thread.run_sync(service.close)
        await anyio.to_thread.run_sync(shutdown_tracing)  # sends the spans still batched
        logger.info("stopped")

    async def run() -> None:
        service.start()
        names = ", ".join(f"{r.name} ({r.path})" for r in service.roots)
        if service.role != "all":
            names += f" as a {service.role} replica"
        try:
            if host_port is None:
                logger.info("serving %s over stdio", names)
                await serve_stdio(mcp)
            else:
                from conexus.server.http import create_app, serve_http

                host, port = host_port
                from conexus.app.workers import Offload

                service.workers = Offload.for_server(
                    search_processes=server_settings.search_processes,
                    heavy_processes=server_settings.heavy_processes,
                    heavy_nice=server_settings.heavy_nice,
                    heavy_idle=server_settings.heavy_idle,
                    log_level=server_settings.log_level,
                    log_format=server_settings.log_format,
                    warm=[(str(r.engine.root), r.engine.settings) for r in service.roots],
                )
                service.workers.start()  # their start-up (model, index) overlaps the server's
                app = create_app(service, mcp, host=host, settings=server_settings, on_shutdown=shutdown)
                if host not in ("127.0.0.1", "localhost", "::1") and not app.state.authenticator.required:
                    logger.warning(
                        "listening on %s without authentication: create a key (`conexus keys create`) "
                        "or configure OAuth (--oauth-issuer)",
                        host,
                    )

                def ready(url: str) -> None:
                    announced.append(announce(home, url, [r.path for r in service.roots]))
                    logger.info(
                        "serving %s over streamable HTTP at %s/mcp (REST at %s/api/v1)", names, url, url
                    )

                await serve_http(app, host, port, on_ready=ready)
        finally:
            with anyio.CancelScope(shield=True):
                await shutdown()

    # The serving process's threads (the event loop, the lanes' threads waiting on worker
    # processes) hand the interpreter lock over every switch_interval_ms, not Python's 5 ms:
    # each answer crosses several threads, and each crossing waits up to one interval.
    sys.setswitchinterval(server_settings.switch_interval_ms / 1000)
    # Over HTTP the event loop is uvloop's where it is installed (Linux, macOS): it cuts the
    # serving process's own cost per exchange. stdio has one client: the standard loop serves it.
    anyio.run(run, backend_options={"use_uvloop": host_port is not None and _has_uvloop()})


def _has_uvloop() -> bool:
    import importlib.util

    return importlib.util.find_spec("uvloop") is not None


if __name__ == "__main__":
    serve()
