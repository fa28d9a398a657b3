"""Native libraries must load in an order that does not crash the process."""

import subprocess
import sys


def test_opening_a_vector_index_before_embedding_does_not_crash_onnxruntime() -> None:
    code = (
        "from conexus.store.vectors import UsearchIndex\n"
        "UsearchIndex(8)\n"
        "import onnxruntime\n"
        "print('alive')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "alive"
