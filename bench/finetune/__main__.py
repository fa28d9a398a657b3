"""``python -m bench.finetune pairs|train|export --out DIR``: the recipe, one step at a time.

``pairs`` runs in the project's environment (it uses Conexus's chunker); ``train`` and ``export``
in an environment with the ``train`` extra (torch, sentence-transformers, onnx). ``all`` runs the
three in one environment that has both.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path


def _git_dirs(instances: Path, mirrors: Path) -> dict[str, Path]:
    from bench.localization import load_materializer

    mat = load_materializer(instances)
    repos = {json.loads(line)["repo"] for line in instances.read_text().splitlines() if line.strip()}
    out = {}
    for repo in sorted(repos):
        found = mat.find_git_dir(mirrors, repo)
        if found is not None:
            out[repo] = Path(found)
    return out


def make_pairs(out: Path, instances: Path, mirrors: Path, seed: int, max_docstring_pairs: int) -> None:
    from bench.finetune.pairs import docstring_pairs, issue_pairs, permissive_packages, write_sources

    out.mkdir(parents=True, exist_ok=True)
    issues = list(issue_pairs(instances, _git_dirs(instances, mirrors)))
    packages = permissive_packages()
    docs = list(docstring_pairs(packages))
    random.Random(seed).shuffle(docs)
    docs = docs[:max_docstring_pairs]
    used = sorted({p.source for p in docs})
    write_sources([p for p in packages if f"{p.name}=={p.version}" in used], len(issues), out / "SOURCES.md")
    with (out / "pairs.jsonl").open("w", encoding="utf-8") as fh:
        for pair in [*issues, *docs]:
            fh.write(
                json.dumps({"query": pair.query, "positive": pair.positive, "source": pair.source}) + "\n"
            )
    print(f"{len(issues)} issue pairs, {len(docs)} docstring pairs from {len(used)} packages -> {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("pairs", "train", "export"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--instances", type=Path, default=Path("../shared/eval/swebench-train.jsonl"))
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--minutes", type=float, default=15.0, help="training time budget")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument(
        "--max-docstring-pairs", type=int, default=3000, help="so the issue pairs are a third of the whole"
    )
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args(argv)
    if args.step == "pairs":
        make_pairs(args.out, args.instances, args.mirrors, args.seed, args.max_docstring_pairs)
    elif args.step == "train":
        from bench.finetune.train import train

        info = train(
            args.out / "pairs.jsonl",
            args.out,
            minutes=args.minutes,
            batch_size=args.batch_size,
            seed=args.seed,
            max_tokens=128,
        )
        print(json.dumps(info))
    else:
        from bench.finetune.export import benchmark_dir, export

        shipped = export(args.out / "model", args.out / "onnx")
        bench_dir = benchmark_dir(shipped, args.out / "onnx-dq2")
        print(f"{shipped}/model.onnx: the shipped form; --set embedder=onnx:{bench_dir} runs its rewrite")
    return 0


if __name__ == "__main__":
    sys.exit(main())
