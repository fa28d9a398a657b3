"""The server's settings: option > CONEXUS_* > the [serve] table of the config file > default."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from conexus.errors import ConfigError
from conexus.server.settings import ServerSettings, click_options, load_server_settings


def test_an_option_beats_the_environment_which_beats_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\nrate-per-key = 1.5\nmax_concurrent = 3\nlog_format = "json"\n')
    settings = load_server_settings(
        {"rate_per_key": 9.0, "allow_roots": ()},
        environ={"CONEXUS_MAX_CONCURRENT": "7", "CONEXUS_ALLOW_ROOTS": "/srv/a, /srv/b"},
        config_file=config,
    )
    assert settings.rate_per_key == 9.0
    assert settings.max_concurrent == 7
    assert settings.log_format == "json"
    assert settings.allow_roots == ("/srv/a", "/srv/b")
    assert settings.burst_per_key == ServerSettings().burst_per_key


def test_the_config_file_is_found_through_conexus_config(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("[serve]\npublic_metrics = false\n")
    settings = load_server_settings(environ={"CONEXUS_CONFIG": str(config)})
    assert settings.public_metrics is False


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("nonsense = 1", "unknown setting 'nonsense'"),
        ('log_format = "xml"', "log_format must be text or json"),
        ('tls_cert = "c.pem"', "tls_cert and tls_key go together"),
        ("max_concurrent = 0", "max_concurrent must be at least 1"),
        ("rate_per_address = -1.0", "rate_per_address must be >= 0"),
        ('burst_per_key = "many"', "invalid value for burst_per_key"),
        ("switch_interval_ms = 0", "switch_interval_ms must be between 0.1 and 100"),
        ('heavy_idle = "sometimes"', "invalid value for heavy_idle"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_it(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(f"[serve]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_server_settings(environ={}, config_file=config)


def test_an_unreadable_config_file_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text("[serve\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_server_settings(environ={}, config_file=config)


def test_secrets_are_masked_when_the_settings_are_shown() -> None:
    settings = load_server_settings({"redis_url": "redis://:pw@host/0", "log_level": "debug"}, environ={})
    shown = settings.redacted()
    assert shown["redis_url"] == "***"
    assert shown["log_level"] == "debug"
    assert shown["allow_roots"] == []


def test_every_setting_is_a_command_line_option_left_unset_when_not_given() -> None:
    seen: dict[str, object] = {}

    @click.command()
    @click_options
    def command(**options: object) -> None:
        seen.update(options)

    result = CliRunner().invoke(
        command, ["--allow-root", "/a", "--allow-root", "/b", "--no-public-metrics", "--rate-per-key", "2.5"]
    )
    assert result.exit_code == 0, result.output
    assert seen["allow_roots"] == ("/a", "/b")
    assert seen["public_metrics"] is False
    assert seen["rate_per_key"] == 2.5
    assert seen["max_concurrent"] is None
    settings = load_server_settings(seen, environ={})
    assert settings.allow_roots == ("/a", "/b") and settings.max_concurrent == ServerSettings().max_concurrent
