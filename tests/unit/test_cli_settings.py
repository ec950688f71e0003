from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from domain.logging_setup import JsonFormatter
from domain.settings import Settings
from headrace.cli import build_parser, main, settings_from
from migrations import head_revision


def test_flags_override_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HEADRACE_PORT", "9999")
    monkeypatch.setenv("HEADRACE_HOST", "0.0.0.0")
    args = build_parser().parse_args(
        ["serve", "--port", "7000", "--data-dir", str(tmp_path), "--no-migrate"]
    )
    settings = settings_from(args)
    assert settings.port == 7000
    assert settings.host == "0.0.0.0"
    assert settings.migrate_on_start is False
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'headrace.db').resolve()}"


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HEADRACE_PORT", "HEADRACE_HOST", "HEADRACE_DATA_DIR", "HEADRACE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.host, settings.port, settings.data_dir) == (
        "127.0.0.1",
        8888,
        Path(".headrace"),
    )


def test_invalid_setting_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEADRACE_PORT", "not-a-port")
    assert main(["migrate", "current"]) == 2
    assert "port" in capsys.readouterr().err


def test_migrate_upgrades_and_downgrades_a_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--data-dir", str(tmp_path), "upgrade"]) == 0
    assert f"current revision: {head_revision()}" in capsys.readouterr().out
    assert main(["migrate", "--data-dir", str(tmp_path), "downgrade", "base"]) == 0
    assert "base (empty)" in capsys.readouterr().out


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "run created",
            "levelname": "INFO",
            "name": "x",
            "run_id": "r1",
            "color_message": "\x1b[36mrun created\x1b[0m",
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "run created"
    assert entry["run_id"] == "r1"
    assert "color_message" not in entry


@pytest.mark.parametrize("command", ["serve", "api-server"])
def test_grpc_port_flag_and_environment(monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.delenv("HEADRACE_GRPC_PORT", raising=False)
    assert settings_from(build_parser().parse_args([command])).grpc_port == 8887
    monkeypatch.setenv("HEADRACE_GRPC_PORT", "9001")
    assert settings_from(build_parser().parse_args([command])).grpc_port == 9001
    args = build_parser().parse_args([command, "--grpc-port", "0"])
    assert settings_from(args).grpc_port == 0


def test_grpc_port_out_of_range_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEADRACE_GRPC_PORT", "70000")
    assert main(["migrate", "current"]) == 2
    assert "grpc_port" in capsys.readouterr().err


def test_metadata_store_flags_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HEADRACE_METADATA_GRPC_PORT", "HEADRACE_METADATA_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    defaults = settings_from(build_parser().parse_args(["serve", "--data-dir", str(tmp_path)]))
    assert defaults.metadata_grpc_port == 8080
    assert defaults.effective_metadata_database_url == defaults.effective_database_url
    args = build_parser().parse_args(
        [
            "metadata-store",
            "--metadata-grpc-port",
            "0",
            "--metadata-database-url",
            "sqlite:////tmp/lineage.db",
        ]
    )
    chosen = settings_from(args)
    assert chosen.metadata_grpc_port == 0
    assert chosen.effective_metadata_database_url == "sqlite:////tmp/lineage.db"


def test_schedule_timezone_from_flag_and_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HEADRACE_SCHEDULE_TIMEZONE", raising=False)
    assert Settings().schedule_timezone == "UTC"
    monkeypatch.setenv("HEADRACE_SCHEDULE_TIMEZONE", "Europe/Berlin")
    assert Settings().schedule_timezone == "Europe/Berlin"
    args = build_parser().parse_args(["serve", "--schedule-timezone", "America/New_York"])
    assert settings_from(args).schedule_timezone == "America/New_York"

    assert main(["serve", "--schedule-timezone", "Mars/Olympus_Mons"]) == 2
    error = capsys.readouterr().err
    assert "schedule_timezone" in error
    assert "unknown time zone 'Mars/Olympus_Mons'" in error
