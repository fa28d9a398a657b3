"""The Prometheus metrics of Conexus: one catalogue, recorded where the work happens.

Every metric the dashboards and alert rules of ``deploy/monitoring`` query is
declared here, once. Event metrics (counters, histograms) are recorded by the
code that does the work: the HTTP middleware, the operation dispatcher, the
search stages, the indexer, the embedder. State metrics (files, chunks, stale
files, store size of each root) are read from the service when Prometheus
scrapes (:data:`STATE_METRICS` names them; the collector that reports them
lives with the service, which is what knows the roots).

Labels stay bounded: ``root`` is a served root's configured name, ``operation``
one of the operation table's names, ``transport`` ``mcp``/``rest``/``cli``,
``lane`` a worker lane (``light``, ``heavy``), ``status`` a coarse outcome
(``ok``, ``client_error``, ``denied``, ``limited``, ``error``). No label ever
holds a query, a key, a path or an address.

All metrics live in the process's default registry (``prometheus_client.REGISTRY``),
which also carries the standard ``process_*`` collector (RSS, CPU, open fds).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

from conexus import __version__

# Latency buckets for requests and search stages: 1 ms .. 30 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Index jobs and the freshness lag run from milliseconds to many minutes.
JOB_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0)

BUILD_INFO = Info("conexus_build", "The running Conexus version.")
BUILD_INFO.info({"version": __version__})

# ------------------------------------------------------------------ requests (server adapters)
REQUESTS = Counter(
    "conexus_requests",
    "Requests answered, by operation, transport and coarse status.",
    ["operation", "transport", "status"],
)
REQUEST_DURATION = Histogram(
    "conexus_request_duration_seconds",
    "Time from receiving a request to its answer, by operation and transport.",
    ["operation", "transport"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge(
    "conexus_requests_in_flight",
    "Requests being served now, by transport.",
    ["transport"],
)
MAX_CONCURRENT = Gauge(
    "conexus_requests_max_concurrent",
    "The bound on requests served at once (max_concurrent): in-flight at this value means shedding.",
)

# ------------------------------------------------------------------ worker lanes (server adapters)
LANE_WAIT = Histogram(
    "conexus_lane_wait_seconds",
    "Time a request waited for a worker of its lane (light or heavy) before it ran.",
    ["lane"],
    buckets=LATENCY_BUCKETS,
)
LANE_BUSY = Gauge("conexus_lane_busy", "Workers of a lane running an operation now.", ["lane"])
LANE_QUEUED = Gauge("conexus_lane_queued", "Requests waiting for a worker of a lane.", ["lane"])
LANE_WORKERS = Gauge(
    "conexus_lane_workers", "Workers of a lane (the workers and heavy_workers settings).", ["lane"]
)

# ------------------------------------------------------------------ access control and limits
AUTH_FAILURES = Counter(
    "conexus_auth_failures",
    "Requests refused by authentication or authorization, by reason "
    "(missing, invalid, expired, scope, root).",
    ["reason"],
)
RATE_LIMITED = Counter(
    "conexus_rate_limited",
    "Requests answered 429 by a rate limit, by the bucket that ran out (key or address).",
    ["bucket"],
)
RATE_LIMIT_BACKEND_ERRORS = Counter(
    "conexus_rate_limit_backend_errors",
    "Rate-limit checks answered from per-process buckets because the shared backend (Redis) "
    "could not be reached.",
)
SHED = Counter(
    "conexus_shed",
    "Requests answered 503 because the server was at capacity: the bound on concurrent requests "
    "(max_concurrent) was reached, or a request waited past queue_timeout_s for a worker.",
)

# ------------------------------------------------------------------ search
SEARCH_STAGE_DURATION = Histogram(
    "conexus_search_stage_duration_seconds",
    "Time spent in each search stage (lexical, vector, exact, fusion, rerank).",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)

# ------------------------------------------------------------------ indexing
INDEX_JOBS = Counter(
    "conexus_index_jobs",
    "Index jobs finished, by root and outcome (ok, failed, cancelled).",
    ["root", "outcome"],
)
INDEX_JOB_DURATION = Histogram(
    "conexus_index_job_duration_seconds",
    "Duration of index jobs, by root and outcome.",
    ["root", "outcome"],
    buckets=JOB_BUCKETS,
)
INDEX_LAST_SUCCESS = Gauge(
    "conexus_index_last_success_timestamp_seconds",
    "Unix time at which the root's last index job succeeded.",
    ["root"],
)
FRESHNESS_LAG = Histogram(
    "conexus_index_freshness_lag_seconds",
    "Time from a file change seen by the watcher to the change being searchable, by root.",
    ["root"],
    buckets=JOB_BUCKETS,
)

# ------------------------------------------------------------------ embedding
EMBEDDED_TEXTS = Counter(
    "conexus_embedded_texts",
    "Texts run through the embedding model (cache misses), by embedder kind.",
    ["embedder"],
)
EMBED_DURATION = Counter(
    "conexus_embed_seconds",
    "Seconds spent in the embedding model, by embedder kind (throughput = texts / seconds).",
    ["embedder"],
)
SEARCH_WITHOUT_VECTORS = Counter(
    "conexus_search_without_vectors",
    "Searches answered from keywords, names and paths only because the embedder failed, timed out "
    "or could not load (each such result carries a notice).",
)
QUERY_CACHE_LOOKUPS = Counter(
    "conexus_query_cache_lookups",
    "Searches looked up in an engine's cache of recent results, by result: hit (answered from it, "
    "freshness checked again), miss (searched).",
    ["result"],
)
EMBED_CACHE_LOOKUPS = Counter(
    "conexus_embedding_cache_lookups",
    "Embedding-cache lookups, by result (hit, miss).",
    ["result"],
)

# ------------------------------------------------------------------ state, read at scrape time
# name -> help; the service's collector reports each as a gauge labelled by root
# (skips also by reason).
STATE_METRICS: dict[str, str] = {
    "conexus_index_files": "Files in the root's index.",
    "conexus_index_chunks": "Chunks in the root's index.",
    "conexus_index_stale_files": "Indexed files whose content on disk differs from the index (last check).",
    "conexus_index_partial": "1 while the root's index is partial (a first build did not finish), else 0.",
    "conexus_index_skipped_files": "Files the last walk skipped, by root and reason.",
    "conexus_index_busy": "1 while an index job of the root runs or is queued, else 0.",
    "conexus_store_bytes": "Bytes on disk of the root's index (database, vectors, side files).",
}
