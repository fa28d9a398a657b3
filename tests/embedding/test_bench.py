"""The embedding speed bench still runs (it is how the figures in the issues are produced)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import embed_speed


def test_the_speed_bench_prints_throughput_tokens_and_query_latency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--texts", "12", "--max-tokens", "32", "--batch", "4", "--threads", "1", "--quality", "10"]
    assert embed_speed.main([*argv, "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["embedder"] == "minilm-l6-v2-int8-dq2:32" and figures["texts"] == 12
    assert figures["chunks_per_s"] > 0 and figures["query_ms_p50"] > 0
    assert figures["mean_tokens"] <= 32 < figures["mean_tokens_untruncated"]
    assert 0 <= figures["quality"]["mrr10"] <= 1
    assert "chunks/s" in out


def test_the_stdlib_corpus_is_deterministic_windows_of_code() -> None:
    first = embed_speed.code_chunks(50)
    assert first == embed_speed.code_chunks(50) and len(first) == 50
    assert all(0 < len(c.splitlines()) <= 30 for c in first)
