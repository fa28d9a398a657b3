"""The ``conexus`` command line: index, search, localize, status, clear, backup, restore.

Every command maps Conexus errors to a one-line message on stderr and a
distinct exit code (see ``conexus --help``). Progress goes to stderr; results
go to stdout (``--json`` for machines).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from conexus import __version__
from conexus.config import Settings, load_settings
from conexus.errors import (
    ConexusError,
    IndexInUseError,
    IndexNotFoundError,
    PathError,
    PathNotFoundError,
    QueryError,
)
from conexus.layout import find_indexed_root, list_indexes, resolve_root

if TYPE_CHECKING:
    from conexus.indexing.indexer import IndexProgress

F = TypeVar("F", bound=Callable[..., Any])

MAX_OFFSET = 10_000  # = conexus.search.hybrid.MAX_OFFSET; not imported, to keep the cold path light
EXIT_CODES_HELP = """
Exit codes: 0 ok; 1 unexpected error; 2 bad option or configuration; 3 missing path;
4 no index for this folder; 5 incompatible or corrupt index; 6 storage failure;
7 embedding model failure; 8 access refused (API key or token).
"""


def _fail(exc: ConexusError) -> None:
    click.echo(f"conexus: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def handle_errors(fn: F) -> F:
    """Turn ConexusError into a one-line message and its exit code."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConexusError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            click.echo("conexus: interrupted", err=True)
            sys.exit(130)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper  # type: ignore[return-value]


def _settings(root: Path | None, ctx: click.Context) -> Settings:
    overrides = {k: v for k, v in (ctx.obj or {}).items() if v is not None}
    return load_settings(root, overrides=overrides)


def _root_for_query(root_opt: str | None, ctx: click.Context) -> Path:
    if root_opt:
        return resolve_root(root_opt)
    base = _settings(None, ctx)
    found = find_indexed_root(Path.cwd(), base.home)
    if found is None:
        raise IndexNotFoundError(
            f"no index covers {Path.cwd()}; run `conexus index` in the project folder or pass --root"
        )
    return found


# Operations without a hand-tuned command get one built from their input model (on first use, so
# that a command answered by a running server does not import the engine).
GENERATED_COMMANDS = {
    "related": "related",
    "explain": "explain",
    "grep": "grep",
    "read": "read",
    "index": "index-control",
    "connectors": "connectors",
}


class _Commands(click.Group):
    """The ``conexus`` group: hand-written commands, plus the generated ones built when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *GENERATED_COMMANDS.values()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            for op_name, cli_name in GENERATED_COMMANDS.items():
                if cli_name == cmd_name:
                    self.add_command(_operation_command(op_name, cli_name))
        return self.commands.get(cmd_name)


@click.group(cls=_Commands, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="conexus")
@click.option(
    "--home", type=click.Path(file_okay=False), help="Data home (default $CONEXUS_HOME or user data dir)."
)
@click.option("--embedder", help="Embedding model: bundled (default), fake, st:NAME, onnx:DIR, openai:MODEL.")
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, home: str | None, embedder: str | None, verbose: int) -> None:
    """Conexus: index a codebase and search it with cited, fresh results."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["embedder"] = embedder


class _ProgressView:
    """A rich progress bar on stderr: files, chunks, embeddings/s, ETA."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None
        self._t0 = time.monotonic()

    def __enter__(self) -> _ProgressView:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]{task.fields[phase]}"),
                BarColumn(),
                TextColumn("{task.fields[files]}"),
                TextColumn("{task.fields[chunks]} chunks"),
                TextColumn("{task.fields[rate]} emb/s"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(
                "index", total=None, phase="walking", files="listing files", chunks=0, rate="0"
            )
        return self

    def update(self, p: IndexProgress) -> None:
        if not self._progress:
            return
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        # The bar counts the files that need reading (new or changed), not every file of the tree:
        # unknown while walking, and an unchanged tree has none at all.
        if p.phase == "walking":
            files = "listing files"
        elif p.files_total:
            files = f"{p.files_done}/{p.files_total} changed files read"
        else:
            files = f"{p.files_seen} files, none changed"
        self._progress.update(
            self._task,
            total=p.files_total or None,
            completed=p.files_done,
            files=files,
            phase=p.phase,
            chunks=p.chunks_done,
            rate=f"{p.embedded / elapsed:.0f}",
        )

    def __exit__(self, *exc: object) -> None:
        if self._progress:
            self._progress.__exit__(None, None, None)


@main.command()
@click.argument("path", required=False, default=".", type=click.Path())
@click.option("--rebuild", is_flag=True, help="Drop the index and build it from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--max-file-bytes", type=int, help="Skip files larger than this (default 1 MiB).")
@click.option("--exclude", multiple=True, help="Extra gitignore-style exclude glob (repeatable).")
@click.option("--include", multiple=True, help="Only index files matching these globs (repeatable).")
@click.pass_context
@handle_errors
def index(
    ctx: click.Context,
    path: str,
    rebuild: bool,
    as_json: bool,
    quiet: bool,
    max_file_bytes: int | None,
    exclude: tuple[str, ...],
    include: tuple[str, ...],
) -> None:
    """Index PATH (default: the current folder), incrementally."""
    root = resolve_root(path)
    overrides = {k: v for k, v in (ctx.obj or {}).items() if v is not None}
    if max_file_bytes is not None:
        overrides["max_file_bytes"] = max_file_bytes
    if exclude:
        overrides["exclude"] = exclude
    if include:
        overrides["include"] = include
    settings = load_settings(root, overrides=overrides)
    from conexus.engine import Engine

    with Engine(root, settings) as engine:
        with _ProgressView(enabled=not quiet and not as_json) as view:
            report = engine.index(rebuild=rebuild, on_progress=view.update)
        status = engine.status(check_stale=False)
    if as_json:
        click.echo(json.dumps({"report": report.to_dict(), "status": _jsonable(status)}, indent=2))
        return
    rate = report.embedded / report.timings["embed_s"] if report.timings.get("embed_s") else 0.0
    click.echo(
        f"indexed {root}: {status.get('files', 0)} files, {status.get('chunks', 0)} chunks "
        f"in {report.seconds:.2f}s"
    )
    click.echo(
        f"  of {report.files_seen} files seen: changed {report.files_changed}, "
        f"unchanged {report.files_unchanged}, "
        f"deleted {report.files_deleted}; "
        f"embedded {report.embedded} ({rate:.0f}/s), cache hits {report.cache_hits}"
    )
    if report.skipped:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(report.skipped.items()))
        click.echo(f"  skipped: {skipped}")
    if report.invalid_utf8:
        click.echo(f"  {report.invalid_utf8} files had invalid UTF-8 (decoded with replacement characters)")
    click.echo(f"  index: {status['index_dir']} ({status.get('index_bytes', 0) / 1e6:.1f} MB)")


def _highlight(snippet: str, words: set[str]) -> str:
    if not words:
        return snippet
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b", re.I
    )
    return pattern.sub(lambda m: click.style(m.group(0), fg="yellow", bold=True), snippet)


def _overrides(ctx: click.Context) -> dict[str, Any]:
    return {k: v for k, v in (ctx.obj or {}).items() if v is not None}


def _run(
    ctx: click.Context,
    name: str,
    arguments: dict[str, Any],
    root_opt: str | None,
    local: bool,
    *,
    takes_root: bool = True,
) -> Any:
    """Run an operation of the table for the root the options name (see :mod:`conexus.cli_ops`)."""
    from conexus.cli_ops import run_operation

    root = _root_for_query(root_opt, ctx)
    return run_operation(name, arguments, root, _overrides(ctx), local=local, takes_root=takes_root)


LOCAL_HELP = "Run in this process even when a running server serves the root."


@main.command()
@click.argument("query")
@click.option(
    "-k", "--top-k", default=10, show_default=True, type=click.IntRange(1, 100), help="Hits to show."
)
@click.option("--offset", default=0, type=click.IntRange(0, MAX_OFFSET), help="Skip this many hits (paging).")
@click.option("--path", "paths", multiple=True, help="Only paths matching this glob; prefix ! to exclude.")
@click.option("--lang", "languages", multiple=True, help="Only this language (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only this symbol kind: function, method, class, ...")
@click.option("--active-file", help="Boost hits in the file you are editing.")
@click.option(
    "--open-file", "open_files", multiple=True, help="Boost hits a little in this open file (repeatable)."
)
@click.option("--lines", "snippet_lines", default=12, show_default=True, type=click.IntRange(0, 500))
@click.option("--max-chars", type=click.IntRange(0, 1_000_000), help="Budget for all snippets together.")
@click.option("--cursor", help="next_cursor of a previous --json search with the same query and filters.")
@click.option(
    "--root", "root_opt", type=click.Path(), help="Indexed root (default: nearest indexed ancestor)."
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--local", is_flag=True, help=LOCAL_HELP)
@click.pass_context
@handle_errors
def search(
    ctx: click.Context,
    query: str,
    top_k: int,
    offset: int,
    paths: tuple[str, ...],
    languages: tuple[str, ...],
    kinds: tuple[str, ...],
    active_file: str | None,
    open_files: tuple[str, ...],
    snippet_lines: int,
    max_chars: int | None,
    cursor: str | None,
    root_opt: str | None,
    as_json: bool,
    local: bool,
) -> None:
    """Hybrid (keyword + semantic) search of the indexed code. Any text is a valid QUERY (- reads stdin).

    Each hit shows its citation, kind and symbol, and which retrievers found it at which rank
    (keywords = BM25, meaning = embeddings, symbol name, file name): the fused score only orders hits.
    """
    if query == "-":
        query = sys.stdin.read()
    arguments: dict[str, Any] = {
        "query": query,
        "top_k": top_k,
        "offset": offset,
        "paths": list(paths),
        "languages": list(languages),
        "kinds": list(kinds),
        "snippet_lines": snippet_lines,
    }
    if max_chars is not None:
        arguments["max_chars"] = max_chars
    if cursor:
        arguments["cursor"] = cursor
        del arguments["offset"]
    if active_file or open_files:
        arguments["work_context"] = {"active_file": active_file, "open_files": list(open_files)}
    data = _run(ctx, "search", arguments, root_opt, local)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from conexus.api.render import confidence_note, explain_signals, state_note

    if state_note(data["index_state"]):
        click.echo(f"note: {state_note(data['index_state'])}", err=True)
    if confidence_note(data.get("confidence")):
        click.echo(f"note: {confidence_note(data.get('confidence'))}", err=True)
    if not data["hits"]:
        click.echo("no results", err=True)
        return
    from conexus.search.query import analyze

    words = {t for t in analyze(query).terms if len(t) > 2}
    color = sys.stdout.isatty()
    for i, hit in enumerate(data["hits"], start=offset + 1):
        name = hit["symbol"] and (f"{hit['parent']}.{hit['symbol']}" if hit["parent"] else hit["symbol"])
        state = hit["freshness"]["state"]
        stale = "" if state == "fresh" else f"  [{state} since indexing]"
        head = f"{i:>2}. {hit['citation']}  {hit['kind']}{' ' + name if name else ''}{stale}"
        click.echo(click.style(head, bold=True) if color else head)
        why = explain_signals(hit.get("signals") or {})
        if why:
            click.echo(f"      {why}")
        if hit["snippet"]:
            snippet = _highlight(hit["snippet"], words) if color else hit["snippet"]
            for line in snippet.split("\n"):
                click.echo(f"      {line}")
    click.echo(
        f"{len(data['hits'])} hits of {data['total_candidates']} candidates in {data['took_ms']:.1f} ms",
        err=True,
    )


def _read_issue(source: str) -> str:
    """The issue text from a file, or from stdin for ``-``; QueryError when it is blank."""
    if source == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError as exc:
            raise PathNotFoundError(f"issue file {source} does not exist") from exc
        except OSError as exc:
            raise PathError(f"cannot read issue file {source}: {exc.strerror or exc}") from exc
    if not text.strip():
        raise QueryError("the issue text is empty: give a file with the bug report, or - for stdin")
    return text


@main.command()
@click.argument("issue_source", metavar="ISSUE_FILE_OR_-")
@click.option("-f", "--files", "max_files", default=5, show_default=True, type=click.IntRange(1, 20))
@click.option("-n", "--locations", "max_locations", default=10, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--root", "root_opt", type=click.Path(), help="Indexed root (default: nearest indexed ancestor)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the localization as JSON.")
@click.option("--local", is_flag=True, help=LOCAL_HELP)
@click.pass_context
@handle_errors
def localize(
    ctx: click.Context,
    issue_source: str,
    max_files: int,
    max_locations: int,
    root_opt: str | None,
    as_json: bool,
    local: bool,
) -> None:
    """Rank the files, then the functions, a bug report is about. Reads the issue from a file or - (stdin)."""
    issue = _read_issue(issue_source)
    arguments = {"issue": issue, "max_files": max_files, "max_locations": max_locations}
    data = _run(ctx, "localize", arguments, root_opt, local)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return

    def mark(freshness: str) -> str:
        return "" if freshness == "fresh" else f"  [{freshness} since indexing]"

    from conexus.api.render import confidence_note

    if confidence_note(data.get("confidence")):
        click.echo(f"note: {confidence_note(data.get('confidence'))}", err=True)

    click.echo("files:")
    for f in data["files"]:
        click.echo(f"  {f['rank']}. {f['path']}{mark(f['freshness'])}")
    click.echo("functions:")
    for loc in data["locations"]:
        symbol = loc["symbol"] or "(module level)"
        click.echo(f"  {loc['rank']:>2}. {loc['citation']}  {symbol}{mark(loc['freshness'])}")


@main.command()
@click.option(
    "--root", "root_opt", type=click.Path(), help="Indexed root (default: nearest indexed ancestor)."
)
@click.option("--json", "as_json", is_flag=True, help="Print status as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every index in the data home.")
@click.option(
    "--check-stale/--no-check-stale", default=True, help="Compare every indexed file with the disk."
)
@click.option("--local", is_flag=True, help=LOCAL_HELP)
@click.pass_context
@handle_errors
def status(
    ctx: click.Context, root_opt: str | None, as_json: bool, show_all: bool, check_stale: bool, local: bool
) -> None:
    """Show the index of the current folder: files, chunks, skips, last run, staleness."""
    if show_all:
        items = list_indexes(_settings(None, ctx).home)
        click.echo(
            json.dumps(items, indent=2) if as_json else "\n".join(i["root"] for i in items) or "no indexes"
        )
        return
    st = _run(ctx, "status", {"check_stale": check_stale}, root_opt, local)["status"]
    if as_json:
        click.echo(json.dumps(_jsonable(st), indent=2))
        return
    click.echo(f"root:      {st['root']}")
    click.echo(f"index:     {st['index_dir']} ({st.get('index_bytes', 0) / 1e6:.1f} MB)")
    click.echo(
        f"files:     {st.get('files', 0)}   chunks: {st.get('chunks', 0)}   vectors: {st.get('vectors', 0)}"
    )
    langs = ", ".join(f"{k} {v}" for k, v in list(st.get("languages", {}).items())[:10])
    click.echo(f"languages: {langs}")
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(st.get("skipped", {}).items())) or "none"
    click.echo(f"skipped:   {skipped}")
    secrets = st.get("secrets") or []
    if secrets:  # what was found, never the value
        click.echo("not indexed because they hold secrets:")
        for secret in secrets[:10]:
            click.echo(f"  {secret['path']} ({secret['detail']})")
    click.echo(
        f"embedder:  {st.get('embedder_id')} ({st.get('dim')} dims); chunker {st.get('chunker_version')}"
    )
    if not st.get("compatible", True):
        click.echo(
            f"warning:   index differs in {', '.join(st['mismatches'])}: run `conexus index` to rebuild"
        )
    if st.get("partial"):
        click.echo("warning:   the index is partial (its first build never finished): run `conexus index`")
    run = st.get("last_run")
    if run:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
        click.echo(f"last run:  {when}, {run['status']}, {run['stats'].get('seconds', 0):.2f}s")
    stale = st.get("stale", {})
    if stale.get("modified") or stale.get("deleted"):
        click.echo(f"stale:     {stale['modified']} modified, {stale['deleted']} deleted since indexing")
    else:
        click.echo("stale:     none")


def _invoke(
    ctx: click.Context, name: str, arguments: dict[str, Any], root_opt: str | None, as_json: bool, local: bool
) -> None:
    from conexus.api.operations import BY_NAME

    op = BY_NAME[name]
    data = _run(ctx, name, arguments, root_opt, local, takes_root="root" in op.input.model_fields)
    click.echo(json.dumps(data, indent=2) if as_json else op.render(data))


def _operation_command(name: str, cli_name: str) -> click.Command:
    from conexus.api.operations import BY_NAME
    from conexus.cli_ops import command_for

    op = BY_NAME[name]
    command = command_for(name, cli_name, op.input, op.description, _invoke)
    assert command.callback is not None
    command.callback = handle_errors(command.callback)
    return command


@main.command()
@click.option(
    "--root", "root_opt", type=click.Path(), help="Indexed root (default: nearest indexed ancestor)."
)
@click.pass_context
@handle_errors
def clear(ctx: click.Context, root_opt: str | None) -> None:
    """Delete the index of the current folder (the shared embedding cache is kept)."""
    root = _root_for_query(root_opt, ctx)
    from conexus.engine import Engine

    with Engine(root, _settings(root, ctx)) as engine:
        engine.clear()
    click.echo(f"cleared the index of {root}")


@main.command()
@click.argument("dest", type=click.Path())
@click.option(
    "--root",
    "roots",
    multiple=True,
    type=click.Path(),
    help="Indexed root to back up (repeatable; default: nearest indexed ancestor).",
)
@click.option("--all", "all_roots", is_flag=True, help="Back up every index in the data home.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
@handle_errors
def backup(ctx: click.Context, dest: str, roots: tuple[str, ...], all_roots: bool, as_json: bool) -> None:
    """Back up indexes into the new folder DEST, online: safe while a server serves and indexes them.

    Each index is copied as one committed state, with a manifest of its identity and checksums.
    """
    from conexus.backup import create_backup
    from conexus.engine import Engine

    if all_roots:
        paths = []
        for item in list_indexes(_settings(None, ctx).home):
            try:
                paths.append(resolve_root(item["root"]))
            except PathError:  # a root deleted since: its index is not worth failing the rest for
                click.echo(f"conexus: skipping the index of {item['root']}: the folder is gone", err=True)
        if not paths:
            raise IndexNotFoundError("the data home holds no index to back up")
    elif roots:
        paths = [resolve_root(r) for r in roots]
    else:
        paths = [_root_for_query(None, ctx)]
    paths = list(dict.fromkeys(paths))
    engines = [Engine(p, _settings(p, ctx)) for p in paths]
    try:
        manifest = create_backup(engines, Path(dest))
    finally:
        for engine in engines:
            engine.close()
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
        return
    for entry in manifest["indexes"]:
        size = sum(entry["sizes"].values()) / 1e6
        note = "" if entry["vectors"] == "included" else " (vector file to be rebuilt on restore)"
        click.echo(f"backed up {entry['root']}: generation {entry['generation']}, {size:.1f} MB{note}")
    click.echo(f"backup written to {Path(dest).expanduser().absolute()}")


@main.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--root",
    "root_opt",
    type=click.Path(),
    help="Restore only this root's index (or a one-index backup for a checkout that moved here).",
)
@click.option(
    "--force", is_flag=True, help="Restore an index built with another embedder, chunker or options."
)
@click.option(
    "--ignore-server",
    is_flag=True,
    help="Skip the check for a running server announced in the data home (when the announcement is "
    "stale, e.g. left by another container); an index open in another process is refused regardless.",
)
@click.pass_context
@handle_errors
def restore(ctx: click.Context, src: str, root_opt: str | None, force: bool, ignore_server: bool) -> None:
    """Restore indexes from the backup folder SRC, after checking its integrity and identity.

    Every index is checked (checksums, SQLite integrity check, embedder and chunker) before any is
    replaced; each is then swapped in by renaming folders. Stop the server first.
    """
    from conexus.app.discovery import server_for
    from conexus.backup import read_manifest, restore_backup, select_entries
    from conexus.engine import Engine

    source = Path(src).expanduser().absolute()
    manifest = read_manifest(source)
    chosen = select_entries(manifest, resolve_root(root_opt) if root_opt else None)
    targets = []
    try:
        for entry, root in chosen:
            path = resolve_root(root)
            settings = _settings(path, ctx)
            server = None if ignore_server else server_for(settings.home, path)
            if server is not None:
                raise IndexInUseError(
                    f"a server (pid {server.pid}, {server.url}) serves {path}; stop it before restoring "
                    "(or pass --ignore-server if that server is gone)"
                )
            targets.append((entry, Engine(path, settings)))
        restored = restore_backup(source, targets, force=force)
    finally:
        for _, engine in targets:
            engine.close()
    for entry, (_, engine) in zip(restored, targets, strict=True):
        click.echo(f"restored {engine.root}: generation {entry['generation']} from {source}")


def _register_server_commands() -> None:
    from conexus.cli_keys import keys
    from conexus.server.serve_cli import serve

    main.add_command(serve)
    main.add_command(keys)


_register_server_commands()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path | os.PathLike):
        return str(value)
    return value


if __name__ == "__main__":
    main()
