"""``python -m fuzz TARGET [--seconds N] [--runs N]``: fuzz one target with atheris (libFuzzer).

New inputs that reach new code are added to ``fuzz/corpus/TARGET/`` (commit the
ones worth keeping: the test suite replays them); a crashing input is written to
``fuzz/crashes/`` and the run stops with libFuzzer's report. ``--seconds`` bounds
the run's time (libFuzzer's ``-max_total_time``), ``--runs`` its count of inputs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=["chunker", "ignore", "query"])
    parser.add_argument("--seconds", type=int, default=60, help="time budget (default 60)")
    parser.add_argument("--runs", type=int, default=0, help="stop after this many inputs (0: no bound)")
    parser.add_argument("--max-len", type=int, default=4096, help="longest input in bytes")
    args = parser.parse_args(argv)

    with atheris.instrument_imports(include=["conexus"]):
        from fuzz.targets import TARGETS
    corpus = HERE / "corpus" / args.target
    crashes = HERE / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(exist_ok=True)
    libfuzzer = [
        sys.argv[0],
        str(corpus),
        f"-max_total_time={args.seconds}",
        f"-max_len={args.max_len}",
        f"-artifact_prefix={crashes}/",
        "-timeout=30",
        "-rss_limit_mb=4096",
    ]
    if args.runs:
        libfuzzer.append(f"-runs={args.runs}")
    atheris.Setup(libfuzzer, TARGETS[args.target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
