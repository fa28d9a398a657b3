"""The configuration reference in docs/operations.md is what the settings models generate."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from conexus.config import Settings
from conexus.server.config_reference import BEGIN, END, ROOT_SETTING_HELP, reference, render
from conexus.server.settings import env_name, flag_name, settings_fields

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
REGENERATE = "regenerate it: python -m conexus.server.config_reference docs/operations.md"


def test_the_committed_configuration_reference_matches_the_settings_models() -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert render(page) == page, REGENERATE


def test_every_server_setting_appears_with_its_flag_environment_variable_and_help() -> None:
    block = reference()
    for f in settings_fields():
        row = next(line for line in block.splitlines() if line.startswith(f"| `{f.name}` |"))
        assert f"`{flag_name(f)}" in row
        assert env_name(f.name) in row
        assert " ".join(f.metadata["help"].split())[:40] in row


def test_every_per_root_setting_has_a_description_and_its_environment_variable() -> None:
    block = reference()
    for f in dataclasses.fields(Settings):
        assert ROOT_SETTING_HELP.get(f.name), f"describe {f.name} in ROOT_SETTING_HELP"
        assert f"`{env_name(f.name)}`" in block


def test_the_generated_block_is_replaced_in_place_and_the_rest_of_the_page_is_kept() -> None:
    page = f"intro\n{BEGIN}\nstale\n{END}\noutro\n"
    out = render(page)
    assert out.startswith("intro\n" + BEGIN) and out.endswith(END + "\noutro\n")
    assert "stale" not in out
