"""The operation table: every thing Conexus does for a client, defined once.

An :class:`Operation` is a typed function (``run(call, args) -> output``) with
an input model, an output model, the description an assistant reads, a text
renderer, the scope it needs and its MCP annotations. The MCP server
(:mod:`conexus.server.mcp`), the REST API (:mod:`conexus.server.http`) and the
CLI are thin adapters over :data:`OPERATIONS`: nothing a transport needs
(argument checks, paging cursors, the index-state notice, progress of index
jobs, error mapping in :mod:`conexus.api.errors`) is written twice.

Operations are synchronous and run on a worker thread of the adapter; they
report progress through :meth:`Call.report_progress` and watch
:attr:`Call.cancelled`, which the adapter sets when the client gives up.

Access control is enforced here, once for every transport
(:mod:`conexus.api.access`): :meth:`Operation.invoke` refuses a caller
without the operation's scope, and every operation picks its root through
:meth:`Call.root`, which applies the caller's allow-list of roots.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ValidationError

from conexus.api import render
from conexus.api.access import Principal, Scope
from conexus.api.errors import InvalidArgumentsError, describe, validation_failure
from conexus.api.limits import (
    DEADLINE_MARGIN_S,
    GREP_TIMEOUT_S,
    MAX_ARGUMENT_BYTES,
    MAX_OFFSET,
    PROGRESS_POLL_S,
)
from conexus.api.models import (
    ConnectorArgs,
    ConnectorOut,
    ExplainArgs,
    ExplainOut,
    GrepArgs,
    GrepOut,
    IndexControlArgs,
    IndexControlOut,
    LocalizeArgs,
    LocalizeOut,
    ReadArgs,
    ReadOut,
    RelatedArgs,
    RelatedOut,
    SearchArgs,
    SearchOut,
    StatusArgs,
    StatusOut,
)
from conexus.api.paging import decode_cursor, encode_cursor, request_key
from conexus.app.connectors import KINDS as CONNECTOR_KINDS
from conexus.app.connectors import Connector, mask_secrets, validate_options
from conexus.app.service import ConexusService, IndexJob, ServedRoot, select_root
from conexus.errors import (
    ConexusError,
    ForbiddenError,
    IndexNotFoundError,
    PathError,
    PathNotFoundError,
    QueryError,
    TooLargeError,
)
from conexus.observability.instrument import observe_request
from conexus.observability.metrics import AUTH_FAILURES
from conexus.paths import confine
from conexus.search.hybrid import SearchRequest, WorkContext
from conexus.sources.filesystem import files_under, walk_options

logger = logging.getLogger(__name__)

InT = TypeVar("InT", bound=BaseModel)
OutT = TypeVar("OutT", bound=BaseModel)
#: The worker lane of an operation in a server (see :class:`Operation`).
Cost = Literal["light", "heavy"]

ProgressFn = Callable[[float, float | None, str], None]


class Call:
    """One request being served: the service it runs against, who asks, and the transport's hooks.

    ``principal`` is the authenticated caller (None: a trusted local caller,
    which may do everything). ``report_progress`` forwards progress to the
    client (an MCP progress notification; nothing over plain REST);
    ``cancelled`` is set by the adapter when the client cancels or
    disconnects, or the server's time limit passes, and long operations stop
    the work they started. ``deadline`` (a ``time.monotonic()`` value) is when
    the server's time limit passes: waits end before it with what they have,
    rather than being cut off.
    """

    def __init__(
        self,
        service: ConexusService,
        *,
        transport: str,
        progress: ProgressFn | None = None,
        principal: Principal | None = None,
        deadline: float | None = None,
    ) -> None:
        self.service = service
        self.transport = transport
        self.principal = principal
        self._progress = progress
        self.cancelled = threading.Event()
        self.deadline = deadline

    @property
    def roots(self) -> list[ServedRoot]:
        """The served roots this caller may use, in order (all of them for a local caller)."""
        roots = self.service.roots
        return roots if self.principal is None else self.principal.visible(roots)

    def root(self, ref: str | None = None) -> ServedRoot:
        """The root named ``ref`` among those the caller may use; the first of them when ``ref`` is empty.

        The allow-list is applied here, when the root is chosen and before any
        index is read: each root has its own store, so what the caller then
        searches holds only allowed content, and counts, paging and ``top_k``
        are exact. A root outside the allow-list is reported exactly as one
        that is not served (the message lists only the allowed roots).

        Raises:
            PathError: no allowed root matches ``ref``.
        """
        if self.principal is None:
            return self.service.root(ref)
        try:
            return select_root(self.roots, ref)
        except PathError:
            try:
                self.service.root(ref)
            except PathError:
                pass
            else:  # it exists, but not for this caller: answered as not found, counted as refused
                AUTH_FAILURES.labels(reason="root").inc()
            raise

    def report_progress(self, done: float, total: float | None, message: str) -> None:
        if self._progress is not None:
            self._progress(done, total, message)


@dataclass(frozen=True)
class Operation(Generic[InT, OutT]):
    """One operation, as every transport exposes it.

    ``name`` is the REST route (``/api/v1/<name>``) and the CLI command;
    ``tool`` the MCP tool name. ``scope`` is the permission a caller needs
    (``read`` < ``index`` < ``admin``). ``cost`` is the worker lane a server runs
    it in: ``heavy`` operations (whole-tree scans, graph walks: hundreds of ms)
    get workers of their own, so they never hold up the ``light`` ones.
    ``indexes``: the operation starts index jobs or serves folders, so a query replica
    (``ConexusService.runs_index_jobs`` false) leaves it out of MCP's tool list and
    refuses its actions that write.
    """

    name: str
    tool: str
    title: str
    description: str
    input: type[InT]
    output: type[OutT]
    run: Callable[[Call, InT], OutT]
    render: Callable[[Mapping[str, Any]], str]
    scope: Scope
    read_only: bool
    destructive: bool = False
    idempotent: bool = True
    cost: Cost = "light"
    indexes: bool = False

    def parse(self, arguments: Mapping[str, Any] | None) -> InT:
        """Check raw JSON arguments against the input model.

        Raises:
            TooLargeError: the arguments exceed ``MAX_ARGUMENT_BYTES`` serialised.
            InvalidArgumentsError: they do not fit the model (one line per bad argument).
        """
        arguments = arguments or {}
        try:
            size = len(json.dumps(arguments))
        except (TypeError, ValueError):
            size = MAX_ARGUMENT_BYTES + 1
        if size > MAX_ARGUMENT_BYTES:
            raise TooLargeError(
                f"arguments for {self.tool} are too large ({size} bytes; the limit is {MAX_ARGUMENT_BYTES})"
            )
        try:
            return self.input.model_validate(arguments)
        except ValidationError as exc:
            logger.info("%s: rejected arguments %s", self.tool, sorted({str(e["loc"]) for e in exc.errors()}))
            raise InvalidArgumentsError(validation_failure(exc, self.tool, self.input)) from exc

    def authorize(self, call: Call) -> None:
        """Refuse a caller that lacks this operation's scope.

        Raises:
            ForbiddenError: the caller's key or token does not hold ``scope``.
        """
        principal = call.principal
        if principal is not None and not principal.allows(self.scope):
            AUTH_FAILURES.labels(reason="scope").inc()
            held = principal.scope or "no Conexus scope"
            raise ForbiddenError(
                f"{self.tool} needs the {self.scope!r} scope; this {principal.kind} has {held}"
            )

    def execute(self, call: Call, arguments: Mapping[str, Any] | BaseModel | None) -> OutT:
        """Check the scope, parse ``arguments`` (unless the adapter already did) and run the operation.

        The one dispatch of every adapter, on the caller's thread. The scope is
        checked before the arguments, so a caller without it learns nothing
        about them. The request is counted, timed and traced here
        (:func:`conexus.observability.instrument.observe_request`), refusals
        included (status ``denied``).

        Raises:
            ForbiddenError: the caller lacks the operation's scope.
        """
        with observe_request(self.name, call.transport, request_status) as observed:
            self.authorize(call)
            args = arguments if isinstance(arguments, self.input) else self.parse(_mapping(arguments))
            observed.set_root(_root_name(call, args))
            return self.run(call, args)

    def text(self, result: BaseModel) -> str:
        """The readable rendering of a result of this operation."""
        return self.render(result.model_dump(mode="json"))


# ================================================================================== shared helpers


def request_status(exc: BaseException) -> str:
    """The coarse status of a failed request for metrics and traces: client_error, denied, limited, error."""
    status = describe(exc, "").status
    if status in (401, 403):
        return "denied"
    if status == 429:
        return "limited"
    return "client_error" if 400 <= status < 500 else "error"


def _mapping(arguments: Mapping[str, Any] | BaseModel | None) -> Mapping[str, Any] | None:
    if isinstance(arguments, BaseModel):  # another operation's model: check it as plain arguments
        return arguments.model_dump()
    return arguments


def _root_name(call: Call, args: BaseModel) -> str | None:
    """The configured name of the root a request addresses (None when it names no served root)."""
    ref = getattr(args, "root", None)
    try:
        return call.service.root(ref if isinstance(ref, str) else None).name
    except ConexusError:
        return None


def index_state(root: ServedRoot, reported: str | None = None) -> str:
    """The state a result of ``root`` carries: ``indexing`` only while work is known to be pending.

    ``reported`` is what the engine said (``ready``, ``indexing``, ``partial``
    or ``empty``; None when the operation's engine call does not say). The
    engine says ``indexing`` whenever an index job holds its lock, even a
    start-up sync that turns out to change nothing; the service knows better
    (:attr:`ServedRoot.updating`). Without pending work, an index
    whose first build never finished (a killed run) is ``partial``.
    """
    if root.updating:
        return "indexing"
    if not root.engine.has_index():
        return "indexing" if root.busy else "empty"
    if reported in (None, "indexing"):  # the engine did not say, or said only that a job holds its lock
        try:
            return "ready" if root.engine.is_complete() else "partial"
        except ConexusError:  # the operation itself reports what is wrong with the index
            return reported or "ready"
    return reported


def _rel(root: ServedRoot, user_path: str) -> str:
    """Root-relative POSIX path for a client path, or PathError."""
    _abs, rel = confine(root.path, user_path)
    return rel


def _check_globs(globs: Sequence[str]) -> None:
    for glob in globs:
        if "\x00" in glob:
            raise QueryError("paths: a glob contains a NUL byte")


def status_dict(root: ServedRoot, *, check_stale: bool) -> dict[str, Any]:
    """The engine's status of ``root`` with the service's view (watcher, jobs, index state)."""
    status = root.engine.status(check_stale=check_stale)
    status = {k: (str(v) if isinstance(v, Path) else v) for k, v in status.items()}
    status.update(root.describe())
    status["jobs"] = root.jobs()
    status["index_state"] = index_state(root)
    status["watch_updates"] = root.watch_updates
    return status


def job_summary(root: ServedRoot, job: IndexJob) -> str:
    """One line about a finished (or failed) job."""
    if job.status == "failed":
        return f"{job.kind} job {job.id} on {root.name} failed: {job.error}"
    r = job.report
    if r is None:
        return f"{job.kind} job {job.id} on {root.name}: {job.status}."
    return (
        f"{job.kind} job {job.id} on {root.name} {job.status} in {r.seconds:.2f}s: "
        f"{r.files_changed} changed, {r.files_unchanged} unchanged, {r.files_deleted} deleted, "
        f"{r.chunks_written} chunks written" + (f", skipped {r.skipped}" if r.skipped else "") + "."
    )


# ====================================================================================== operations


def search(call: Call, args: SearchArgs) -> SearchOut:
    root = call.root(args.root)
    key = request_key([root.name, args.query, args.paths, args.languages, args.kinds, args.top_k])
    offset = args.offset
    if args.cursor is not None:
        if args.offset:
            raise QueryError("pass either cursor or offset, not both")
        try:
            data = decode_cursor(args.cursor)
            offset = int(data["o"])
            same = data.get("k") == key
        except (ValueError, KeyError, TypeError) as exc:
            raise QueryError(
                "invalid cursor: pass next_cursor from a previous context_search result unchanged"
            ) from exc
        if not same:
            raise QueryError(
                "this cursor belongs to a different query, filters or top_k; repeat the same "
                "arguments with the cursor, or start again without it"
            )
        if not 0 <= offset <= MAX_OFFSET:
            raise QueryError("invalid cursor: offset out of range")
    work = WorkContext()
    if args.work_context is not None:
        work = WorkContext(
            active_file=_rel(root, args.work_context.active_file) if args.work_context.active_file else None,
            open_files=tuple(_rel(root, p) for p in args.work_context.open_files),
        )
    _check_globs(args.paths)
    request = SearchRequest(
        query=args.query,
        top_k=args.top_k,
        offset=offset,
        paths=tuple(args.paths),
        languages=tuple(args.languages),
        kinds=tuple(args.kinds),
        work_context=work,
        snippet_lines=args.snippet_lines,
        max_chars=args.max_chars,
    )
    busy = root.busy
    try:
        data = call.service.workers.run(root.engine, "search", {"request": request})
    except IndexNotFoundError:
        if not busy:
            raise
        return SearchOut(
            root=root.name,
            query=args.query,
            hits=[],
            total_candidates=0,
            took_ms=0.0,
            index_state="indexing",
            offset=offset,
            next_cursor=None,
        )
    hits, candidates = len(data["hits"]), int(data["total_candidates"])
    next_offset = offset + hits
    more = hits == args.top_k and next_offset < candidates and next_offset <= MAX_OFFSET
    data.update(
        root=root.name,
        index_state=index_state(root, str(data["index_state"])),
        offset=offset,
        next_cursor=encode_cursor({"o": next_offset, "k": key}) if more else None,
    )
    return SearchOut.model_validate(data)


def localize(call: Call, args: LocalizeArgs) -> LocalizeOut:
    if not args.issue.strip():
        raise QueryError("issue is blank: paste the bug report, issue or failing test output to localize")
    root = call.root(args.root)
    engine = root.engine
    busy = root.busy
    started = time.perf_counter()
    git = root.git  # as for related: history is on for a git repository unless a connector turns it off
    try:
        data = call.service.workers.run(
            engine,
            "localize",
            {
                "issue": args.issue,
                "history": git is None or git.enabled,
                "max_files": args.max_files,
                "max_locations": args.max_locations,
            },
        )
    except IndexNotFoundError:
        if not busy:
            raise
        return LocalizeOut(
            root=root.name,
            issue_chars=len(args.issue),
            files=[],
            locations=[],
            files_considered=0,
            took_ms=0.0,
            index_state="indexing",
        )
    data.update(
        root=root.name,
        issue_chars=len(args.issue),
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        index_state=index_state(root),
    )
    return LocalizeOut.model_validate(data)


def related(call: Call, args: RelatedArgs) -> RelatedOut:
    root = call.root(args.root)
    git = root.git
    # Git history is on by default for a git repository; a git connector can turn it off
    # (enabled=false) or bound it (max_commits).
    history = git is None or git.enabled
    max_commits = git.max_commits if git is not None else 500
    data = call.service.workers.run(
        root.engine,
        "related",
        {"target": args.target, "limit": args.limit, "history": history, "max_commits": max_commits},
    )
    data.update(root=root.name, index_state=index_state(root), git_history=history)
    return RelatedOut.model_validate(data)


def explain(call: Call, args: ExplainArgs) -> ExplainOut:
    root = call.root(args.root)
    data = call.service.workers.run(root.engine, "explain", {"target": args.target, "limit": args.limit})
    data.update(root=root.name, index_state=index_state(root))
    return ExplainOut.model_validate(data)


def grep(call: Call, args: GrepArgs) -> GrepOut:
    root = call.root(args.root)
    _check_globs(args.paths)
    data = call.service.workers.run(
        root.engine,
        "grep",
        {
            "pattern": args.pattern,
            "literal": args.literal,
            "case_sensitive": args.case_sensitive,
            "include": [g for g in args.paths if not g.startswith("!")],
            "exclude": [g[1:] for g in args.paths if g.startswith("!")],
            "context_lines": args.context_lines,
            "max_results": args.max_results,
            "timeout_s": GREP_TIMEOUT_S,
        },
    )
    data.update(root=root.name, index_state=index_state(root))
    return GrepOut.model_validate(data)


def read(call: Call, args: ReadArgs) -> ReadOut:
    root = call.root(args.root)
    result = root.engine.read(args.path, args.start_line, args.end_line, args.max_lines)
    data = dict(result.to_dict())
    data.update(root=root.name)
    return ReadOut.model_validate(data)


def status(call: Call, args: StatusArgs) -> StatusOut:
    root = call.root(args.root)
    st = status_dict(root, check_stale=args.check_stale)
    return StatusOut(
        root=root.name,
        index_state=st["index_state"],
        message=render.render_status(st),
        status=st,
        roots=[r.describe() for r in call.roots],
    )


def _control_out(root: ServedRoot, action: str, message: str, **extra: Any) -> IndexControlOut:
    return IndexControlOut(
        root=root.name, action=action, index_state=index_state(root), message=message, **extra
    )


def _expand_paths(root: ServedRoot, paths: Sequence[str]) -> list[str]:
    rels: set[str] = set()
    indexed: list[str] | None = None
    for p in paths:
        absolute, rel = confine(root.path, p)
        if rel == ".":
            raise QueryError("reindex_paths: to re-index the whole root, use action=reindex")
        if absolute.is_dir():
            if indexed is None:
                indexed = root.indexed_paths()
            rels.update(f for f in indexed if f.startswith(rel + "/"))
            rels.update(files_under(root.path, rel, walk_options(root.engine.settings)))
        else:
            rels.add(rel)
    return sorted(rels)


def await_job(call: Call, job: IndexJob, *, owned: bool, max_wait: float) -> bool:
    """Wait for ``job`` up to ``max_wait`` seconds, reporting progress; True when it finished.

    When the client cancels (``call.cancelled``), a job this call started is
    stopped; one it joined keeps running for whoever else waits on it. The
    wait also ends shortly before the server's time limit (``call.deadline``):
    the job keeps running and the answer says so.
    """
    deadline = time.monotonic() + max_wait
    if call.deadline is not None:
        deadline = min(deadline, call.deadline - DEADLINE_MARGIN_S)
    last_sent = -1.0
    while True:
        done = job.done.wait(max(0.0, min(PROGRESS_POLL_S, deadline - time.monotonic())))
        p = job.progress
        if p is not None and p.files_done > last_sent:
            last_sent = float(p.files_done)
            call.report_progress(
                last_sent,
                float(p.files_total) if p.files_total else None,
                f"{job.kind}: {p.phase}, {p.files_done}/{p.files_total} files, {p.chunks_done} chunks",
            )
        if done:
            return True
        if call.cancelled.is_set():
            if owned:
                logger.info("request cancelled: stopping %s job %d", job.kind, job.id)
                job.request_stop()
            return False
        if time.monotonic() >= deadline:
            return False


def index_control(call: Call, args: IndexControlArgs) -> IndexControlOut:
    root = call.root(args.root)
    action = args.action
    if args.paths and action != "reindex_paths":
        raise QueryError("paths is only used with action=reindex_paths")
    if action == "status":
        st = status_dict(root, check_stale=True)
        return _control_out(
            root,
            action,
            render.render_status(st),
            status=st,
            roots=[r.describe() for r in call.roots],
        )
    if action == "stop":
        call.service.require_indexer(f"stop index jobs of {root.name}")
        stopped = root.stop()
        for j in stopped:
            j.done.wait(10)
        msg = (
            f"Stopped {len(stopped)} job(s) on {root.name}; the index keeps every batch written so far."
            if stopped
            else f"No index job was running on {root.name}."
        )
        return _control_out(root, action, msg, jobs=[j.to_dict() for j in stopped])
    call.service.require_indexer(f"{action} the index of {root.name}")
    if action == "clear":
        root.stop()
        root.pause()
        job, _ = root.submit("clear")
        job.done.wait(60)
        if job.status == "failed":
            raise ConexusError(f"clearing the index of {root.name} failed: {job.error}")
        root.pause()
        msg = (
            f"Cleared the index of {root.name}. Automatic indexing is paused until "
            "action=start, reindex or rebuild."
        )
        return _control_out(root, action, msg, job=job.to_dict())
    if action == "reindex_paths":
        if not args.paths:
            raise QueryError("reindex_paths needs paths: root-relative files or folders")
        job, owned = root.submit("paths", paths=_expand_paths(root, args.paths))
    elif action == "rebuild":
        root.stop()  # a rebuild supersedes whatever is running
        job, owned = root.submit("rebuild")
    elif action == "reindex":
        job, owned = root.submit("incremental", join=False)
    else:  # start
        job, owned = root.submit("incremental")
    finished = await_job(call, job, owned=owned, max_wait=args.max_wait_s) if args.wait else False
    if job.status == "failed":
        raise ConexusError(f"the {job.kind} job on {root.name} failed: {job.error}")
    if finished:
        msg = job_summary(root, job)
    else:
        msg = f"{action}: job {job.id} on {root.name} is {job.status}; follow it with context_status."
    extra: dict[str, Any] = {"job": job.to_dict()}
    if finished:
        extra["status"] = status_dict(root, check_stale=False)
    return _control_out(root, action, msg, **extra)


def _connector_target(call: Call, kind: str, path: str | None) -> str:
    if kind == "git":
        return str(call.root(path).path)
    if not path:
        raise QueryError("add kind=filesystem needs path: the absolute path of a folder to serve")
    if "\x00" in path:
        raise PathError("path contains a NUL byte")
    candidate = Path(path).expanduser()
    if not candidate.is_absolute():
        raise PathError(f"give an absolute folder path, not {path!r}")
    call.service.check_reach(candidate)  # before the disk is looked at: a refusal reveals nothing
    if not candidate.is_dir():
        raise PathNotFoundError(f"not an existing folder: {candidate}")
    return str(candidate.resolve())


def connectors(call: Call, args: ConnectorArgs) -> ConnectorOut:
    service = call.service
    registry = service.connectors
    connector: Connector | None = None
    if args.action != "list":
        service.require_indexer(f"{args.action} connectors (they serve and index folders)")
    if args.action == "list":
        msg = f"{len(registry.all())} connector(s); {len(call.roots)} served root(s)."
    elif args.action == "add":
        if args.kind is None:
            raise QueryError(f"add needs kind: one of {', '.join(CONNECTOR_KINDS)}")
        if args.id is not None:
            raise QueryError("add assigns the id itself; do not pass id")
        options = validate_options(args.kind, args.options or {})
        target = _connector_target(call, args.kind, args.path)
        added = registry.add(
            args.kind, target, options, enabled=True if args.enabled is None else args.enabled
        )
        try:
            service.apply_connector(added)
        except ConexusError:
            registry.remove(added.id)
            raise
        connector = added
        msg = f"Added {added.kind} connector {added.id} for {added.target}."
        if added.kind == "filesystem" and added.enabled:
            served = next((r for r in call.roots if r.connector_id == added.id), None)
            if served is not None:
                msg += f" Served as root {served.name!r}; indexing has started."
    elif args.action == "update":
        if args.id is None:
            raise QueryError("update needs id (see action=list)")
        if args.kind is not None or args.path is not None:
            raise QueryError("kind and path cannot change; remove the connector and add a new one")
        connector = registry.update(args.id, args.options, args.enabled)
        service.apply_connector(connector)
        msg = f"Updated connector {connector.id}."
    else:
        if args.id is None:
            raise QueryError("remove needs id (see action=list)")
        connector = registry.remove(args.id)
        deleted = service.drop_connector(connector, keep_index=args.keep_index)
        msg = f"Removed connector {connector.id} ({connector.kind} {connector.target})"
        if connector.kind == "filesystem":
            msg += "; its index was deleted." if deleted else "; its index is kept."
        else:
            msg += "."
    out = {
        "action": args.action,
        "message": msg,
        "connector": connector.to_dict() if connector is not None else None,
        "connectors": [c.to_dict() for c in registry.all()],
        "roots": [r.describe() for r in call.roots],
    }
    return ConnectorOut.model_validate(cast(dict[str, Any], mask_secrets(out)))


# =========================================================================================== table


def _render_control(data: Mapping[str, Any]) -> str:
    return str(data["message"])


OPERATIONS: tuple[Operation[Any, Any], ...] = (
    Operation(
        "search",
        "context_search",
        "Search the codebase",
        "Search the indexed code by meaning and by keywords at once (BM25 + embeddings + exact symbol "
        "and file-name matches), ranked. Use it first to find where something is implemented, defined, "
        "configured or tested. Any text works: a question, identifiers, a file name. Each hit cites "
        "path:start-end with a snippet and a freshness state: 'fresh' means the file is unchanged since "
        "indexing; 'modified' or 'deleted' means re-read it with context_read before quoting. Narrow with "
        "paths/languages/kinds, boost the user's files with work_context, page with next_cursor, cap "
        "output size with max_chars. index_state 'indexing' or 'partial' means results may be incomplete.",
        SearchArgs,
        SearchOut,
        search,
        render.render_search,
        scope="read",
        read_only=True,
    ),
    Operation(
        "localize",
        "context_localize",
        "Localize an issue",
        "Find where to fix a bug report. Paste the whole issue, bug report, feature request or failing "
        "test output (stack traces and error messages included) as `issue`; get back the files most "
        "likely to need changing, best first, then the functions and methods inside them (symbol '' "
        "is module-level code), each citing path:start-end with a freshness state. Use it at the "
        "start of a fix to know where to look; use context_search for questions and for finding "
        "something specific. The ranking is a retrieval guess, not a diagnosis: read the cited lines "
        "with context_read, and check callers and tests with context_get_related_info, before "
        "editing.",
        LocalizeArgs,
        LocalizeOut,
        localize,
        render.render_localize,
        scope="read",
        read_only=True,
        cost="heavy",
    ),
    Operation(
        "related",
        "context_get_related_info",
        "Related code",
        "What is connected to a file or a symbol: where it is defined, what it imports, who imports it, "
        "where it is referenced or called, the tests that cover it and, unless git history is turned off, "
        "files that usually change with it and its recent commits. Every item cites path:start-end. "
        "Use it to find the blast radius of a change or the tests to run.",
        RelatedArgs,
        RelatedOut,
        related,
        render.render_related,
        scope="read",
        read_only=True,
        cost="heavy",
    ),
    Operation(
        "explain",
        "context_explain",
        "Evidence to explain code",
        "Gather checked evidence to explain a symbol, a file or a question about the code: the "
        "definition (signature, docstring), callers, callees, tests and usage examples. Nothing is "
        "generated: each claim is a citation verified against the file on disk (status verified, stale "
        "or unverified). Read the claims, then answer with their citations.",
        ExplainArgs,
        ExplainOut,
        explain,
        render.render_explain,
        scope="read",
        read_only=True,
        cost="heavy",
    ),
    Operation(
        "grep",
        "context_grep",
        "Grep the codebase",
        "Exact text or regular-expression search over the indexed files (ignore rules applied), one "
        "result per matching line with path:line citations, like ripgrep. Use it for exact strings, "
        "every use of an identifier, error messages, TODOs; use context_search for concepts. Slow "
        "patterns stop at a deadline and return what was found (timed_out).",
        GrepArgs,
        GrepOut,
        grep,
        render.render_grep,
        scope="read",
        read_only=True,
        cost="heavy",
    ),
    Operation(
        "read",
        "context_read",
        "Read file lines",
        "Read lines of a file as they are on disk now, with line numbers. Use it to verify or widen a "
        "citation from another tool (path:start-end) before quoting or editing. Says whether the file "
        "changed since it was indexed; long files are returned in pages (next_start).",
        ReadArgs,
        ReadOut,
        read,
        render.render_read,
        scope="read",
        read_only=True,
    ),
    Operation(
        "status",
        "context_status",
        "Index status",
        "The state of a served root's index: phase and progress of a running job, files and chunks, "
        "languages, skipped files by reason, the last run (interrupted when its process died), whether "
        "the index is partial, stale files, the watcher, and every served root. Use it when results say "
        "index_state 'indexing' or 'partial', or to find the names of the served roots.",
        StatusArgs,
        StatusOut,
        status,
        lambda data: str(data["message"]),
        scope="read",
        read_only=True,
    ),
    Operation(
        "index",
        "context_index_control",
        "Index control",
        "Control the index of a served root. The server already indexes on start and follows file "
        "edits by itself, so this is rarely needed: rebuild when context_status says the index is "
        "incompatible; reindex_paths to force specific files; stop to interrupt a long job; clear to "
        "delete the index (status also works here). Jobs started here report progress and can be "
        "cancelled.",
        IndexControlArgs,
        IndexControlOut,
        index_control,
        _render_control,
        scope="index",
        read_only=False,
        destructive=True,
        idempotent=False,
        indexes=True,
    ),
    Operation(
        "connectors",
        "context_connector_management",
        "Context sources",
        "List, add, update or remove context sources. kind=filesystem serves another folder as an "
        "additional root (with its own index and watcher; pass its name as `root` to the other tools). "
        "kind=git turns on git history for a served root (co-changed files and recent commits in "
        "context_get_related_info; option max_commits). Settings persist across restarts; secret "
        "options (tokens, keys, passwords) are stored but never shown. Folders must lie inside the "
        "server's allowed roots (fixed at start-up); removing a folder deletes its index unless "
        "keep_index is true.",
        ConnectorArgs,
        ConnectorOut,
        connectors,
        render.render_connectors,
        scope="admin",
        read_only=False,
        destructive=True,
        idempotent=False,
        indexes=True,
    ),
)

BY_NAME: dict[str, Operation[Any, Any]] = {op.name: op for op in OPERATIONS}
BY_TOOL: dict[str, Operation[Any, Any]] = {op.tool: op for op in OPERATIONS}
