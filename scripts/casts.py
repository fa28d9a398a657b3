"""Record the terminal walkthroughs of the documentation (docs/casts/*.cast) with asciinema.

    python scripts/casts.py                  # every cast
    python scripts/casts.py team-server      # one

Each cast plays the commands of one tutorial: the ```bash block that follows a
``<!-- cast: NAME -->`` line in its page (``CASTS`` maps names to pages). The commands run
for real, in a bash under ``asciinema rec``, on a copy of the fixture repository
``tests/fixtures/golden_repo`` with a fresh data home and the bundled embedding model, so
a cast shows what the commands print today. ``tests/docs/test_casts.py`` checks that each
committed cast is a valid asciicast v2 whose commands are its page's, in order.

Needs ``asciinema`` (``pip install -e '.[docs]'``), ``curl`` and ``jq`` (the team-server
tutorial uses them), and the ``conexus`` command of this checkout (run it with the venv's
Python: its ``bin`` folder is put first on ``PATH``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
OUT = DOCS / "casts"
FIXTURE = ROOT / "tests" / "fixtures" / "golden_repo"
#: Where the demo project and its data home live while recording: a fixed path, so the casts
#: show the same paths every time they are made.
DEMO = Path(tempfile.gettempdir()) / "conexus-demo"
PROJECT = "myproject"
PROMPT = f"~/{PROJECT}$ "
COLUMNS, ROWS = 110, 32

#: Cast name -> the page whose marked block it plays, and its title.
CASTS: dict[str, tuple[Path, str]] = {
    "getting-started": (DOCS / "getting-started.md", "Conexus: install, index, search, localize"),
    "team-server": (DOCS / "tutorials" / "team-server.md", "Conexus: a team server with keys and metrics"),
}

#: The bug report the getting-started tutorial localizes (saved as issue.md in the demo project).
ISSUE = """\
Retries ignore the backoff factor

With Retry(total=5, backoff_factor=2.0) the session retries a 503 at once, five times in a
row: backoff_time() seems to return 0 and sleep() never waits. Expected waits of 2, 4, 8 s.
"""

_MARK = re.compile(r"<!-- cast: ([a-z0-9-]+) -->\s*```bash\n(.*?)```", re.DOTALL)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def page_commands(page: Path, name: str) -> list[str]:
    """The commands of the block marked ``<!-- cast: name -->`` in ``page``, one per line.

    Raises:
        LookupError: the page has no such block.
    """
    for match in _MARK.finditer(page.read_text(encoding="utf-8")):
        if match.group(1) == name:
            return [line for line in match.group(2).splitlines() if line.strip()]
    raise LookupError(f"{page} has no <!-- cast: {name} --> block")


def cast_commands(cast: Path) -> list[str]:
    """The commands typed in a recorded cast: the lines of its output that follow the prompt."""
    lines = cast.read_text(encoding="utf-8").splitlines()
    text = "".join(json.loads(line)[2] for line in lines[1:] if json.loads(line)[1] == "o")
    plain = _ANSI.sub("", text)
    return [line[len(PROMPT) :] for line in plain.split("\n") if line.startswith(PROMPT)]


def _script(commands: list[str]) -> str:
    """The bash script a cast records: the prompt, the command as if typed, then the command."""
    lines = ["set -u", f"cd {shlex.quote(str(DEMO / PROJECT))}"]
    for command in commands:
        # The pauses are for the person watching (asciinema keeps real time), not synchronisation.
        lines += [
            f"printf '\\033[1;32m%s\\033[0m' {shlex.quote(PROMPT[:-2])}; printf '$ '; sleep 0.6",
            f"printf '%s\\n' {shlex.quote(command)}; sleep 0.3",
            command,
            "sleep 1.2",
        ]
    lines.append("wait")
    return "\n".join(lines) + "\n"


def _prepare() -> dict[str, str]:
    """A fresh demo project and data home; the environment the commands run in."""
    shutil.rmtree(DEMO, ignore_errors=True)
    shutil.copytree(FIXTURE, DEMO / PROJECT)
    (DEMO / PROJECT / "issue.md").write_text(ISSUE, encoding="utf-8")
    (DEMO / "home").mkdir()
    keep = {"LANG": "C.UTF-8", "TERM": "xterm-256color", "SHELL": "/bin/bash"}
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])
    return {**keep, "PATH": path, "HOME": str(DEMO), "CONEXUS_HOME": str(DEMO / "home"),
            "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}  # fmt: skip


def record(name: str) -> Path:
    """Record the cast ``name`` into docs/casts/NAME.cast and return its path.

    Raises:
        RuntimeError: a command of the tutorial failed while recording, or the cast's commands
            are not the page's.
    """
    page, title = CASTS[name]
    commands = page_commands(page, name)
    env = _prepare()
    script = DEMO / f"{name}.sh"
    script.write_text(_script(commands), encoding="utf-8")
    OUT.mkdir(parents=True, exist_ok=True)
    cast = OUT / f"{name}.cast"
    asciinema = shutil.which("asciinema", path=env["PATH"]) or "asciinema"
    subprocess.run(
        [asciinema, "rec", "--overwrite", "--quiet", "--idle-time-limit", "2", "--cols", str(COLUMNS),
         "--rows", str(ROWS), "--title", title, "--command", f"bash --noprofile --norc {script}", str(cast)],
        env=env, check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    text = cast.read_text(encoding="utf-8")
    if "conexus: error" in text or "command not found" in text:
        raise RuntimeError(f"a command of {page.name} failed while recording {cast}")
    if cast_commands(cast) != commands:
        raise RuntimeError(f"{cast} does not hold the commands of {page.name}")
    return cast


def main(argv: list[str]) -> None:
    """Record the casts named in ``argv`` (all when none)."""
    for name in argv or list(CASTS):
        print(f"recorded {record(name).relative_to(ROOT)}")
    shutil.rmtree(DEMO, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
