"""Side by side with the original Conexus: ``python -m bench.vs_original PATH [--queries FILE]``.

The original is the Go binary of the npm package ``@agentic-conexus/mcp``
(``bin/conexus-linux-amd64``). This command installs that package into a
temporary folder with ``npm install --prefix TMP`` (nothing of it lands in the
repository), copies PATH (without ``.git``) into a temporary tree, and serves
that same copy twice over stdio MCP, both driven by the official ``mcp`` SDK
client, one server after the other:

* the original: the binary started in the copy (it indexes its working
  directory; ``CONEXUS_ROOT_PATH`` is not used by ``index_control``), its
  database under a temporary ``CONEXUS_DB_PATH``; tools ``context.index_control``
  (action ``start``, then ``status`` polled until indexing is done) and
  ``context.search``;
* ours: ``conexus serve --no-index --no-watch COPY`` with a temporary
  ``CONEXUS_HOME`` (the default settings: the bundled model, cold embedding
  cache); tools ``context_index_control`` (action ``start``) and ``context_search``.

Both servers run in a private network namespace (``unshare -rn``) when the
machine allows it, so neither can reach anything beyond stdio. It prints the
tools each server lists, index wall time of each and the ratio, query latency
p50/p95 of each over the same queries (each run ``--repeat`` times, measured at
the client, round trip over stdio) and the ratio, the same over each query's
first run only (the original caches results by query text, so its repeats
answer in about a millisecond), how many queries each answered without error,
the files and chunks each says it indexed, then one JSON line with every figure.

The original 0.1.0-alpha answers ``tools/call`` with bare JSON objects instead
of an MCP ``CallToolResult``; the SDK client rejects those. Such a call counts
as an error of the original; its figures are then taken from the same
connection's raw JSON-RPC channel (the SDK's dispatcher, schema check skipped)
and labelled so, rather than reporting nothing.

The original's file walker aborts the whole index on the first entry it cannot
read as a regular file: a symlink to a directory (``read ...: is a directory``),
a broken symlink, an unreadable file; a FIFO blocks it for ever. Real
repositories have such entries (psf/requests: ``tests/certs/*/ca`` are symlinks
to a directory), so the copy both servers index leaves out every symlink, every
special file and every unreadable entry, and the command prints each one it left
out and why. ``--copy-as-is`` keeps them (the original then fails on such trees).
The load average before and after is printed too: the figures mean little on a
busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
import pydantic
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

NPM_PACKAGE = "@agentic-conexus/mcp@0.1.0-alpha"
BINARY = "conexus-linux-amd64"
START_TIMEOUT_S = 120.0

DEFAULT_QUERIES = [
    "def __init__",
    "parse",
    "config",
    "load_settings",
    "error handling",
    "read file",
    "http request",
    "json",
    "logging",
    "timeout",
    "cache",
    "search results",
    "index",
    "thread lock",
    "command line arguments",
    "database connection",
    "hash",
    "TODO",
    "test",
    "return None",
]


@dataclass(frozen=True)
class LeftOut:
    """An entry of the tree left out of the copy both servers index, and why."""

    path: str  # relative to the tree, with "/"
    kind: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind, "reason": self.reason}


# Each reason names what the original 0.1.0-alpha does with such an entry (reproduced with the binary).
ABORTS = "the original reads it as a file and aborts the whole index"
WHY_LINK_DIR = f"{ABORTS} ('read ...: is a directory')"
WHY_LINK_BROKEN = f"{ABORTS} ('open ...: no such file or directory')"
WHY_LINK_FILE = (
    "left out so both index only regular files: the original follows it and reads the target "
    "a second time (or a file outside the tree)"
)
WHY_SPECIAL = "not a regular file: the original opens it as one (a FIFO blocks its index for ever)"
WHY_UNREADABLE = f"{ABORTS} ('open ...: permission denied')"
WHY_UNREADABLE_DIR = "unreadable directory (left out with its contents): no server can walk it"


def unfit_entries(root: Path) -> list[LeftOut]:
    """Entries under ``root`` (``.git`` aside) the original cannot index, sorted by path.

    Symlinks are never followed: every symlink is reported, with its target in ``kind``.
    Nothing is read or changed.
    """
    out: list[LeftOut] = []

    def visit(folder: Path, rel: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return  # the caller reports this folder as unreadable
        for entry in entries:
            if entry.name == ".git":
                continue
            path = f"{rel}{entry.name}"
            if entry.is_symlink():
                target = os.readlink(entry.path)
                try:
                    st: os.stat_result | None = os.stat(entry.path)
                except (OSError, ValueError):
                    st = None
                if st is None:
                    out.append(LeftOut(path, f"broken symlink -> {target}", WHY_LINK_BROKEN))
                elif stat.S_ISDIR(st.st_mode):
                    out.append(LeftOut(path, f"symlink to a directory -> {target}", WHY_LINK_DIR))
                else:
                    out.append(LeftOut(path, f"symlink -> {target}", WHY_LINK_FILE))
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(mode):
                if not os.access(entry.path, os.R_OK | os.X_OK):
                    out.append(LeftOut(path + "/", "unreadable directory", WHY_UNREADABLE_DIR))
                else:
                    visit(Path(entry.path), path + "/")
            elif not stat.S_ISREG(mode):
                kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
                out.append(LeftOut(path, kind, WHY_SPECIAL))
            elif not os.access(entry.path, os.R_OK):
                out.append(LeftOut(path, "unreadable file", WHY_UNREADABLE))

    visit(root, "")
    return out


def copy_tree(root: Path, dest: Path, leave_out: list[LeftOut]) -> None:
    """Copy ``root`` to ``dest`` without ``.git`` and without the ``leave_out`` entries.

    Symlinks that are not left out are copied as symlinks.
    """
    skip = {item.path.rstrip("/") for item in leave_out}

    def ignore(folder: str, names: list[str]) -> set[str]:
        rel = Path(folder).relative_to(root).as_posix()
        prefix = "" if rel == "." else rel + "/"
        return {n for n in names if n == ".git" or prefix + n in skip}

    shutil.copytree(root, dest, ignore=ignore, symlinks=True)


@dataclass
class ServerRun:
    """What one server did: its tools, index time, per-query latencies and failures."""

    name: str
    tools: dict[str, Any] = field(default_factory=dict)
    index_s: float | None = None
    index_status: Any = None
    latencies_ms: list[float] = field(default_factory=list)
    first_pass_ms: list[float] = field(default_factory=list)  # each query's first run only
    answered: int = 0
    answered_raw: int = 0
    errors: int = 0
    hits: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    sdk_conformant: bool = True
    raw_fallback: bool = False

    def fail(self, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(what[:300])


class Caller:
    """Calls tools through the SDK client; after the SDK rejects a result, through its raw channel."""

    def __init__(self, client: Client, run: ServerRun, timeout_s: float) -> None:
        self.client = client
        self.run = run
        self.timeout_s = timeout_s

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
        """``(ok, payload)``: payload is structured content (or parsed text) for an SDK result,
        the raw result dict after a fallback (``self.run.raw_fallback`` is then set), or the
        error message."""
        if not self.run.raw_fallback:
            try:
                # Past the session default (START_TIMEOUT_S): an index call with wait=True lasts the index.
                limit = self.timeout_s + 60
                result = await self.client.call_tool(tool, arguments, read_timeout_seconds=limit)
            except pydantic.ValidationError as exc:
                self.run.sdk_conformant = False
                self.run.raw_fallback = True
                self.run.fail(
                    f"SDK rejected the {tool} result (not a CallToolResult): {exc.errors()[0]['msg']}"
                )
            except Exception as exc:  # an MCP error or a dead server: count it, keep going
                return False, f"{type(exc).__name__}: {exc}"
            else:
                payload: Any = result.structured_content
                if payload is None:
                    texts = [getattr(c, "text", "") for c in result.content]
                    payload = "\n".join(texts)
                    with contextlib.suppress(ValueError):
                        payload = json.loads(payload)
                return not result.is_error, payload
        # Private SDK attribute: the only way to see what the original sends back over this connection.
        dispatcher = getattr(self.client.session, "_dispatcher", None)
        if dispatcher is None:
            return False, "SDK result rejected and no raw channel available"
        try:
            raw = await dispatcher.send_raw_request(
                "tools/call", {"name": tool, "arguments": arguments}, {"timeout": self.timeout_s}
            )
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return not raw.get("isError", False), raw


def count_hits(payload: Any) -> int:
    if isinstance(payload, dict):
        for key in ("hits", "results"):
            if isinstance(payload.get(key), list):
                return len(payload[key])
    return 0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def drive(
    run: ServerRun,
    params: StdioServerParameters,
    errlog: TextIO,
    index: Callable[[Caller], Awaitable[None]],
    search_tool: str,
    queries: list[str],
    repeat: int,
    timeout_s: float,
) -> None:
    """Connect, list tools, index, then time every query ``repeat`` times. Never raises."""
    try:
        client = Client(
            stdio_client(params, errlog=errlog), mode="legacy", read_timeout_seconds=START_TIMEOUT_S
        )
        async with client:
            tools = await client.list_tools()
            run.tools = {t.name: t.input_schema for t in tools.tools}
            caller = Caller(client, run, timeout_s)
            t0 = time.perf_counter()
            await index(caller)
            run.index_s = time.perf_counter() - t0
            await caller.call(search_tool, {"query": "warm up", "top_k": 10})
            for round_ in range(repeat):
                for q in queries:
                    t = time.perf_counter()
                    ok, payload = await caller.call(search_tool, {"query": q, "top_k": 10})
                    ms = (time.perf_counter() - t) * 1000
                    if ok:
                        run.latencies_ms.append(ms)
                        if round_ == 0:
                            run.first_pass_ms.append(ms)
                        run.hits.append(count_hits(payload))
                        if run.raw_fallback:
                            run.answered_raw += 1
                            run.errors += 1  # answered, but not as MCP: an error for an MCP client
                        else:
                            run.answered += 1
                    else:
                        run.errors += 1
                        run.fail(f"{search_tool} {q!r}: {str(payload)[:200]}")
    except Exception as exc:  # the server died or never spoke MCP: report, do not crash
        run.fail(f"session failed: {type(exc).__name__}: {exc}")
        if run.index_s is None:
            run.errors += len(queries) * repeat


def original_indexer(poll_s: float, max_s: float) -> Callable[[Caller], Awaitable[None]]:
    async def index(caller: Caller) -> None:
        was_raw = caller.run.raw_fallback
        ok, payload = await caller.call("context.index_control", {"action": "start"})
        # A result the SDK rejected was still executed by the server: go on and poll, don't resend.
        if not ok and was_raw == caller.run.raw_fallback:
            caller.run.fail(f"index_control start: {payload}")
            return
        deadline = time.perf_counter() + max_s
        while time.perf_counter() < deadline:
            ok, payload = await caller.call("context.index_control", {"action": "status"})
            st = payload.get("index_status", {}) if isinstance(payload, dict) else {}
            if not ok:
                caller.run.fail(f"index_control status: {payload}")
                return
            if st and not st.get("is_indexing") and st.get("phase") not in ("idle", "indexing", "walking"):
                caller.run.index_status = payload
                return
            await anyio.sleep(poll_s)
        caller.run.fail(f"indexing did not finish within {max_s} s")

    return index


def our_indexer(poll_s: float, max_s: float) -> Callable[[Caller], Awaitable[None]]:
    async def index(caller: Caller) -> None:
        args = {"action": "start", "wait": True, "max_wait_s": min(max_s, 3600)}
        ok, payload = await caller.call("context_index_control", args)
        if not ok or not isinstance(payload, dict):
            caller.run.fail(f"context_index_control start: {payload}")
            return
        job = payload.get("job") or {}
        deadline = time.perf_counter() + max_s
        # Only when the wait ended before the job did: poll until it is no longer the current job.
        while job.get("status") in ("queued", "running") and time.perf_counter() < deadline:
            await anyio.sleep(poll_s)
            ok, payload = await caller.call("context_index_control", {"action": "status"})
            if not ok or not isinstance(payload, dict):
                caller.run.fail(f"context_index_control status: {payload}")
                return
            current = ((payload.get("status") or {}).get("jobs") or {}).get("current") or {}
            job = current if current.get("id") == job.get("id") else {"status": "done"}
        if job.get("status") in ("queued", "running"):
            caller.run.fail(f"indexing did not finish within {max_s} s")
        caller.run.index_status = payload.get("status", payload)

    return index


def install_original(tmp: Path) -> Path:
    """npm-install the original into ``tmp`` and return its linux-amd64 binary.

    Raises:
        RuntimeError: npm is missing or failed, or the package has no such binary.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed; it is needed to fetch the original binary")
    proc = subprocess.run(
        [npm, "install", "--prefix", str(tmp), "--no-audit", "--no-fund", NPM_PACKAGE],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"npm install {NPM_PACKAGE} failed: {proc.stderr.strip()[-500:]}")
    found = sorted(tmp.glob(f"node_modules/**/bin/{BINARY}"))
    if not found:
        raise RuntimeError(f"{NPM_PACKAGE} has no bin/{BINARY}")
    binary = found[0]
    binary.chmod(0o755)
    return binary


def isolation_prefix() -> list[str]:
    """``unshare -rn`` (a private network namespace: no network at all) when it works here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    ok = subprocess.run([unshare, "-rn", "true"], capture_output=True, check=False).returncode == 0
    return [unshare, "-rn"] if ok else []


def params_for(prefix: list[str], argv: list[str], env: dict[str, str], cwd: Path) -> StdioServerParameters:
    cmd = [*prefix, *argv]
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env=env, cwd=str(cwd))


def summary(run: ServerRun, total: int) -> dict[str, Any]:
    p50 = statistics.median(run.latencies_ms) if run.latencies_ms else None
    p95 = percentile(run.latencies_ms, 0.95)
    first_p50 = statistics.median(run.first_pass_ms) if run.first_pass_ms else None
    first_p95 = percentile(run.first_pass_ms, 0.95)
    return {
        "index_s": round(run.index_s, 2) if run.index_s is not None else None,
        "query_p50_ms": round(p50, 2) if p50 is not None else None,
        "query_p95_ms": round(p95, 2) if p95 is not None else None,
        "first_pass_p50_ms": round(first_p50, 2) if first_p50 is not None else None,
        "first_pass_p95_ms": round(first_p95, 2) if first_p95 is not None else None,
        "answered": run.answered,
        "answered_raw_jsonrpc_only": run.answered_raw,
        "errors": run.errors,
        "calls": total,
        "indexed_chunks": indexed_chunks(run),
        "indexed_files": indexed_files(run),
        "mean_hits": round(statistics.mean(run.hits), 1) if run.hits else None,
        "sdk_conformant": run.sdk_conformant,
        "raw_jsonrpc_fallback": run.raw_fallback,
        "failures": run.failures[:5],
    }


def indexed_chunks(run: ServerRun) -> int | None:
    """Chunks the server says it indexed (ours: ``chunks``; the original: ``chunks_created``)."""
    return _status_count(run, "chunks", "chunks_created")


def indexed_files(run: ServerRun) -> int | None:
    """Files the server says it indexed (ours: ``files``; the original: ``files_processed``)."""
    return _status_count(run, "files", "files_processed")


def original_phase(run: ServerRun) -> tuple[str | None, str | None]:
    """The original's final index ``(phase, last_error)``, ``(None, None)`` when unknown."""
    st = run.index_status.get("index_status") if isinstance(run.index_status, dict) else None
    if not isinstance(st, dict):
        return None, None
    return st.get("phase"), st.get("last_error")


def _status_count(run: ServerRun, ours: str, theirs: str) -> int | None:
    st = run.index_status
    if not isinstance(st, dict):
        return None
    inner = st.get("index_status")
    value = st.get(ours, inner.get(theirs) if isinstance(inner, dict) else None)
    return int(value) if isinstance(value, int) else None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages, or None where the platform has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def ratio(ours: float | None, theirs: float | None) -> float | None:
    """``theirs / ours``: two decimals, or two significant digits below 0.1 (never a bare 0.0)."""
    if not ours or not theirs:
        return None
    r = theirs / ours
    return float(f"{r:.2g}") if r < 0.1 else round(r, 2)


def fmt(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value}{unit}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path, help="the tree both servers index (copied to a temporary folder)")
    ap.add_argument("--queries", type=Path, help="one query per line (default: a fixed built-in list of 20)")
    ap.add_argument("--repeat", type=int, default=5, help="times each query runs for the latency figures")
    ap.add_argument("--index-timeout", type=float, default=1800.0, help="seconds to wait for each index")
    ap.add_argument("--no-isolation", action="store_true", help="do not run the servers under unshare -rn")
    ap.add_argument(
        "--copy-as-is",
        action="store_true",
        help="keep symlinks, special and unreadable files in the copy (the original aborts on them)",
    )
    ap.add_argument(
        "--our-embedder",
        default=None,
        help="embedder for our server (default: the bundled model); 'fake' does no model work, "
        "like the original's mock embedder, for an index-time comparison of the same work",
    )
    args = ap.parse_args(argv)

    root = args.path.expanduser()
    if not root.is_dir():
        ap.error(f"not a directory: {root}")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    queries = args.queries.read_text().splitlines() if args.queries else DEFAULT_QUERIES
    queries = [q.strip() for q in queries if q.strip()]
    if not queries:
        ap.error("no queries")
    total = len(queries) * args.repeat
    load_before = load_average()
    left_out = [] if args.copy_as_is else unfit_entries(root)

    with tempfile.TemporaryDirectory(prefix="conexus-vs-original-") as tmp_name:
        tmp = Path(tmp_name)
        tree = tmp / "tree"
        copy_tree(root, tree, left_out)
        prefix = [] if args.no_isolation else isolation_prefix()
        theirs = ServerRun("original")
        try:
            binary: Path | None = install_original(tmp / "npm")
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            binary = None
            theirs.fail(f"install failed: {exc}")
            theirs.errors = total
        ours = ServerRun("conexus")
        log_path = tmp / "servers-stderr.log"

        async def both() -> None:
            with open(log_path, "w", encoding="utf-8") as errlog:
                if binary is not None:
                    (tmp / "original-home").mkdir()
                    env = {
                        "HOME": str(tmp / "original-home"),
                        "CONEXUS_DB_PATH": str(tmp / "original-home" / "conexus.db"),
                        "CONEXUS_ROOT_PATH": str(tree),
                        "CONEXUS_LOG_LEVEL": "warn",
                        "CONEXUS_METRICS_ENABLED": "false",
                        "CONEXUS_TRACING_ENABLED": "false",
                        "CONEXUS_SENTRY_ENABLED": "false",
                    }
                    await drive(
                        theirs,
                        params_for(prefix, [str(binary)], env, tree),
                        errlog,
                        original_indexer(0.02, args.index_timeout),
                        "context.search",
                        queries,
                        args.repeat,
                        args.index_timeout,
                    )
                env = {"CONEXUS_HOME": str(tmp / "conexus-home")}
                if args.our_embedder:
                    env["CONEXUS_EMBEDDER"] = args.our_embedder
                argv_ours = [sys.executable, "-m", "conexus", "serve", "--no-index", "--no-watch", str(tree)]
                await drive(
                    ours,
                    params_for(prefix, argv_ours, env, tmp),
                    errlog,
                    our_indexer(0.2, args.index_timeout),
                    "context_search",
                    queries,
                    args.repeat,
                    args.index_timeout,
                )

        anyio.run(both)
        stderr_tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-5:]

    load_after = load_average()
    a, b = summary(ours, total), summary(theirs, total)
    phase, last_error = original_phase(theirs)
    out = {
        "path": str(root.resolve()),
        "machine": f"{platform.machine()} cores={os.cpu_count()} mem_gib={memory_gib()}",
        "load_average_before": load_before,
        "load_average_after": load_after,
        "queries": len(queries),
        "repeat": args.repeat,
        "network_isolated": bool(prefix),
        "copy_as_is": args.copy_as_is,
        "left_out": [item.to_dict() for item in left_out],
        "original_index_phase": phase,
        "original_index_error": last_error,
        "conexus": a,
        "original": b,
        "original_package": NPM_PACKAGE,
        "index_ratio_original_over_conexus": ratio(a["index_s"], b["index_s"]),
        "p50_ratio_original_over_conexus": ratio(a["query_p50_ms"], b["query_p50_ms"]),
        "p95_ratio_original_over_conexus": ratio(a["query_p95_ms"], b["query_p95_ms"]),
        "first_pass_p50_ratio_original_over_conexus": ratio(a["first_pass_p50_ms"], b["first_pass_p50_ms"]),
        "first_pass_p95_ratio_original_over_conexus": ratio(a["first_pass_p95_ms"], b["first_pass_p95_ms"]),
    }
    for run in (theirs, ours):
        print(f"[{run.name}] tools: " + (", ".join(sorted(run.tools)) or "none listed"))
        for name, schema in sorted(run.tools.items()):
            if name.replace(".", "_") in ("context_index_control", "context_search"):
                print(f"    {name} {json.dumps(schema.get('properties', {}), separators=(',', ':'))[:400]}")
    status = theirs.index_status
    if isinstance(status, dict):
        print(f"[original] after indexing: {json.dumps(status.get('index_status', status))[:300]}")
    print(
        f"tree             {out['path']} (copied without .git; network isolated: {out['network_isolated']})"
    )
    if args.copy_as_is:
        print(f"{'left out':17}nothing but .git (--copy-as-is)")
    else:
        print(f"left out         {len(left_out)} entries of the copy both servers index", end="")
        print(":" if left_out else " (none found)")
        for item in left_out[:30]:
            print(f"    {item.path}  [{item.kind}]  {item.reason}")
        if len(left_out) > 30:
            print(f"    ... and {len(left_out) - 30} more (all in the JSON line)")
    print(
        f"machine          {out['machine']}; load average (1/5/15 min) before {load_before}, "
        f"after {load_after}"
    )
    if binary is not None and phase != "completed":
        print(
            f"WARNING          the original's index ended in phase {phase!r} ({last_error}); "
            "its query figures are those of an incomplete index"
        )
    print(f"{'':17}{'conexus':>14}{'original':>14}{'original/conexus':>18}")
    print(
        f"{'index wall time':17}{fmt(a['index_s'], ' s'):>14}{fmt(b['index_s'], ' s'):>14}"
        f"{fmt(out['index_ratio_original_over_conexus'], 'x'):>18}"
    )
    print(
        f"{'query p50':17}{fmt(a['query_p50_ms'], ' ms'):>14}{fmt(b['query_p50_ms'], ' ms'):>14}"
        f"{fmt(out['p50_ratio_original_over_conexus'], 'x'):>18}"
    )
    print(
        f"{'query p95':17}{fmt(a['query_p95_ms'], ' ms'):>14}{fmt(b['query_p95_ms'], ' ms'):>14}"
        f"{fmt(out['p95_ratio_original_over_conexus'], 'x'):>18}"
    )
    # The original caches results by query text (a repeat answers in ~1 ms): the first pass is uncached.
    for label, key in (("1st pass p50", "first_pass_p50"), ("1st pass p95", "first_pass_p95")):
        print(
            f"{label:17}{fmt(a[key + '_ms'], ' ms'):>14}{fmt(b[key + '_ms'], ' ms'):>14}"
            f"{fmt(out[key + '_ratio_original_over_conexus'], 'x'):>18}"
        )
    print(f"{'answered (MCP)':17}{a['answered']:>10}/{total:<3}{b['answered']:>10}/{total:<3}")
    if a["answered_raw_jsonrpc_only"] or b["answered_raw_jsonrpc_only"]:
        print(
            f"{'raw JSON-RPC only':17}{a['answered_raw_jsonrpc_only']:>10}/{total:<3}"
            f"{b['answered_raw_jsonrpc_only']:>10}/{total:<3}"
        )
    print(f"{'indexed files':17}{fmt(a['indexed_files'], ''):>14}{fmt(b['indexed_files'], ''):>14}")
    print(f"{'indexed chunks':17}{fmt(a['indexed_chunks'], ''):>14}{fmt(b['indexed_chunks'], ''):>14}")
    print(f"{'mean hits':17}{fmt(a['mean_hits'], ''):>14}{fmt(b['mean_hits'], ''):>14}")
    for run in (theirs, ours):
        if not run.sdk_conformant:
            print(
                f"[{run.name}] NOT MCP-conformant: the SDK client rejected its tools/call results; "
                "those calls count as errors, and its figures come from the raw JSON-RPC channel"
            )
        for failure in run.failures[:5]:
            print(f"[{run.name}] {failure}")
    if theirs.failures or ours.failures:
        print("servers' stderr (last lines): " + " | ".join(line[:200] for line in stderr_tail))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
