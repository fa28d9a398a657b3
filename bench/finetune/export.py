"""Export the fine-tuned transformer to ONNX (last_hidden_state; Conexus mean-pools) and quantise it
to int8 weights (dynamic quantisation), beside its ``tokenizer.json``: a folder ``onnx:DIR`` loads."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def export(model_dir: Path, out: Path) -> Path:
    """Write ``out/model.onnx`` (int8) and ``out/tokenizer.json``; returns ``out``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    out.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Encoder(torch.nn.Module):
        """The transformer's last hidden state from the three BERT inputs, by name."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((1, 16), dtype=torch.long)
    float_path = out / "model.float.onnx"
    torch.onnx.export(
        Encoder().eval(),
        (ids, ids, torch.zeros_like(ids)),
        str(float_path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")
        }
        | {"last_hidden_state": {0: "batch", 1: "tokens"}},
        opset_version=17,
        dynamo=False,
    )
    quantize_dynamic(str(float_path), str(out / "model.onnx"), weight_type=QuantType.QInt8)
    float_path.unlink()
    shutil.copy(model_dir / "tokenizer.json", out / "tokenizer.json")
    return out
