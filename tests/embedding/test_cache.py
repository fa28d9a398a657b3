"""The shared embedding cache: storage format, hits and misses, several instances and processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conexus.embedding import EmbeddingCache, FakeEmbedder, embed_with_cache
from conexus.embedding.cache import decode_vector, encode_vector
from conexus.errors import StoreError
from conexus.models import content_hash
from tests.embedding.helpers import CountingEmbedder, PrefixKeyedEmbedder

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


@given(arrays(np.float32, st.integers(1, 512), elements=finite))
@settings(max_examples=200, deadline=None)
def test_unit_vectors_survive_encoding_within_float16_precision(raw: np.ndarray) -> None:
    norm = float(np.linalg.norm(raw))
    vec = (raw / norm).astype(np.float32) if norm > 0 else raw
    blob = encode_vector(vec)
    assert blob[:1] == b"h" and len(blob) == 1 + 2 * vec.size  # compact: half of float32
    back = decode_vector(blob)
    assert back.dtype == np.float32 and back.shape == vec.shape
    np.testing.assert_allclose(back, vec, atol=1e-3, rtol=1e-3)


@given(arrays(np.float32, st.integers(1, 64), elements=finite))
@settings(max_examples=100, deadline=None)
def test_any_finite_vector_round_trips_within_tolerance(vec: np.ndarray) -> None:
    back = decode_vector(encode_vector(vec))
    np.testing.assert_allclose(back, vec, rtol=1e-3, atol=1e-4)


def test_values_beyond_float16_are_kept_as_float32() -> None:
    vec = np.array([1e6, -3.5, 0.25], dtype=np.float32)
    blob = encode_vector(vec)
    assert blob[:1] == b"f"
    np.testing.assert_array_equal(decode_vector(blob), vec)


def test_a_blob_that_is_not_a_vector_is_rejected() -> None:
    with pytest.raises(ValueError):
        decode_vector(b"x1234")
    with pytest.raises(ValueError):
        decode_vector(b"h123")


def _keyed(texts: list[str]) -> list[tuple[str, str]]:
    return [(content_hash(t), t) for t in texts]


def test_a_cache_hit_skips_the_model(tmp_path: Path) -> None:
    texts = [f"def handler_{i}(request):\n    return respond(request, {i})" for i in range(40)]
    model = CountingEmbedder(FakeEmbedder())
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        first = embed_with_cache(model, cache, _keyed(texts))
        assert model.embedded == 40
        second = embed_with_cache(model, cache, _keyed(texts))
        assert model.embedded == 40  # nothing new was embedded
        third = embed_with_cache(model, cache, _keyed([*texts, "def brand_new(): pass"]))
        assert model.embedded == 41
    assert first.shape == second.shape == (40, model.dim)
    np.testing.assert_allclose(second, first, atol=2e-3)
    np.testing.assert_allclose(third[:40], first, atol=2e-3)
    np.testing.assert_allclose(np.linalg.norm(second, axis=1), 1.0, atol=1e-6)


def test_equal_keys_are_embedded_once_and_rows_keep_input_order(tmp_path: Path) -> None:
    model = CountingEmbedder(FakeEmbedder())
    keyed = _keyed(["alpha beta", "gamma delta", "alpha beta", "epsilon", "gamma delta"])
    out = embed_with_cache(model, None, keyed)
    assert model.embedded == 3
    direct = FakeEmbedder().embed_documents([t for _, t in keyed])
    np.testing.assert_allclose(out, direct, atol=1e-6)


def test_progress_reports_the_running_count_of_embedded_texts(tmp_path: Path) -> None:
    texts = [f"chunk number {i}" for i in range(600)]
    seen: list[int] = []
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        cache.put_many(FakeEmbedder().id, {content_hash(texts[0]): FakeEmbedder().embed_query(texts[0])})
        embed_with_cache(FakeEmbedder(), cache, _keyed(texts), on_progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 599
    assert len(seen) > 1  # reported slice by slice, not only at the end


def test_no_texts_give_an_empty_matrix_of_the_right_width(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        out = embed_with_cache(FakeEmbedder(64), cache, [])
    assert out.shape == (0, 64) and out.dtype == np.float32


def test_vectors_are_kept_apart_by_embedder_id(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        cache.put_many("model-a:256", {"k1": np.ones(4, dtype=np.float32) / 2})
        assert set(cache.get_many("model-a:256", ["k1", "k2"])) == {"k1"}
        assert cache.get_many("model-b:256", ["k1"]) == {}
        assert cache.count("model-a:256") == 1 and cache.count() == 1


def test_the_first_vector_stored_for_a_key_wins(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        cache.put_many("m", {"k": np.array([1, 0], dtype=np.float32)})
        cache.put_many("m", {"k": np.array([0, 1], dtype=np.float32)})
        np.testing.assert_array_equal(cache.get_many("m", ["k"])["k"], [1, 0])


def test_two_cache_instances_on_one_file_share_vectors(tmp_path: Path) -> None:
    path = tmp_path / "home" / "embedding-cache.sqlite3"
    model = CountingEmbedder(FakeEmbedder())
    texts = ["shared chunk one", "shared chunk two"]
    with EmbeddingCache(path) as a, EmbeddingCache(path) as b:
        embed_with_cache(model, a, _keyed(texts))
        embed_with_cache(model, b, _keyed(texts))
        assert model.embedded == 2
        assert set(b.get_many(model.id, [content_hash(t) for t in texts])) == {content_hash(t) for t in texts}


_WRITER = """
import sys
from pathlib import Path
from conexus.embedding import EmbeddingCache, FakeEmbedder, embed_with_cache
from conexus.models import content_hash
path, start, stop = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
texts = [f"text {i} of the shared corpus" for i in range(start, stop)]
with EmbeddingCache(path) as cache:
    for i in range(0, len(texts), 10):  # many small transactions, to interleave with the other writer
        part = texts[i:i + 10]
        embed_with_cache(FakeEmbedder(), cache, [(content_hash(t), t) for t in part])
"""


def _spawn_writer(path: Path, start: int, stop: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(start), str(stop)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_processes_writing_the_cache_at_once_all_succeed_and_see_each_others_vectors(tmp_path: Path) -> None:
    path = tmp_path / "embedding-cache.sqlite3"
    writers = [_spawn_writer(path, 0, 300), _spawn_writer(path, 200, 500)]  # 100 keys overlap
    for proc in writers:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    with EmbeddingCache(path) as cache:
        assert cache.count(FakeEmbedder().id) == 500


def test_a_file_that_is_not_a_database_raises_a_store_error_that_says_deleting_is_safe(
    tmp_path: Path,
) -> None:
    path = tmp_path / "embedding-cache.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="deleting it is safe"):
        EmbeddingCache(path)


def test_a_closed_cache_raises_and_embedding_goes_on_without_it(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite3")
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(StoreError):
        cache.get_many("m", ["k"])
    out = embed_with_cache(FakeEmbedder(), cache, _keyed(["still embedded"]))
    assert out.shape == (1, 256)


def test_an_edit_past_what_the_model_sees_reuses_the_vector_and_is_then_found_by_content(
    tmp_path: Path,
) -> None:
    head = "def handler(request):"  # 21 characters: the model sees the first 20
    model = PrefixKeyedEmbedder(FakeEmbedder(), width=20)
    with EmbeddingCache(tmp_path / "cache.sqlite3") as cache:
        first = embed_with_cache(model, cache, _keyed([head + "\n    return 1"]))
        assert model.embedded == 1
        edited = embed_with_cache(model, cache, _keyed([head + "\n    return 2"]))
        assert model.embedded == 1  # same model input: no model call
        np.testing.assert_allclose(edited, first, atol=2e-3)
        # The reused vector is now stored under the edited text's content key as well.
        assert cache.get_many(model.id, [content_hash(head + "\n    return 2")])
        changed = embed_with_cache(model, cache, _keyed(["class Other:\n    pass"]))
        assert model.embedded == 2
    assert not np.allclose(changed, first, atol=1e-3)


def test_texts_with_one_model_input_are_embedded_once_even_without_a_cache() -> None:
    model = PrefixKeyedEmbedder(FakeEmbedder(), width=8)
    texts = ["abcdefgh-1", "abcdefgh-2", "zzzzzzzz", "abcdefgh-3"]
    out = embed_with_cache(model, None, _keyed(texts))
    assert model.embedded == 2
    np.testing.assert_allclose(out[0], out[3], atol=1e-6)
    assert out.shape == (4, model.dim)
