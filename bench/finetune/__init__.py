"""Contrastive fine-tuning of the bundled MiniLM on issue → function and docstring → body pairs.

    python -m bench.finetune --out DIR [--minutes 15] [--mirrors /work/.mirror]

Steps (each in its own module): :mod:`bench.finetune.pairs` builds the training pairs (the
training set's issues with the chunks their fixes change, and docstring → body pairs from
permissively licensed packages installed beside it); :mod:`bench.finetune.train` fine-tunes the
sentence-transformers model with in-batch negatives; :mod:`bench.finetune.export` writes an int8
ONNX model and its tokenizer that ``embedder = "onnx:DIR"`` loads. Needs the optional extra
``train`` (torch, sentence-transformers, onnx) in its own environment.
"""
