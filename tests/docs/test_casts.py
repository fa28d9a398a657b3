"""The terminal walkthroughs (docs/casts) are valid asciicast v2 recordings of their tutorials' commands."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RERECORD = "re-record it: python scripts/casts.py {name}"


def _casts_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_casts", ROOT / "scripts" / "casts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASTS = _casts_script()


@pytest.mark.parametrize("name", sorted(CASTS.CASTS))
def test_each_cast_is_a_valid_asciicast_v2_recording(name: str) -> None:
    lines = (ROOT / "docs" / "casts" / f"{name}.cast").read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    assert isinstance(header["width"], int) and isinstance(header["height"], int)
    assert header["title"] == CASTS.CASTS[name][1]
    previous = 0.0
    for line in lines[1:]:
        time, code, data = json.loads(line)
        assert isinstance(time, float) and time >= previous
        assert code in {"o", "i", "m", "r"} and isinstance(data, str)
        previous = time
    assert len(lines) > 10


@pytest.mark.parametrize("name", sorted(CASTS.CASTS))
def test_each_cast_types_exactly_the_commands_of_its_tutorial_in_order(name: str) -> None:
    page, _title = CASTS.CASTS[name]
    cast = ROOT / "docs" / "casts" / f"{name}.cast"
    commands = CASTS.page_commands(page, name)
    assert commands, f"{page.name} has an empty cast block"
    assert CASTS.cast_commands(cast) == commands, RERECORD.format(name=name)


@pytest.mark.parametrize("name", sorted(CASTS.CASTS))
def test_no_command_in_a_cast_failed_and_its_page_links_the_recording(name: str) -> None:
    page, _title = CASTS.CASTS[name]
    text = (ROOT / "docs" / "casts" / f"{name}.cast").read_text(encoding="utf-8")
    assert "conexus: error" not in text and "command not found" not in text
    assert "Traceback" not in text
    assert f"casts/{name}.cast" in page.read_text(encoding="utf-8")


def test_the_command_block_is_found_by_its_marker_and_a_missing_block_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("intro\n\n<!-- cast: demo -->\n```bash\nconexus index .\n\nconexus status\n```\n")
    assert CASTS.page_commands(page, "demo") == ["conexus index .", "conexus status"]
    with pytest.raises(LookupError):
        CASTS.page_commands(page, "other")
