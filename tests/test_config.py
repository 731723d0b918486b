"""rca.toml loading, validation and workspace discovery."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rca_kit.config import find_workspace, load_settings, parse_duration
from rca_kit.exceptions import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rca.toml"
    path.write_text(text)
    return path


def test_defaults_fill_an_empty_file(tmp_path: Path) -> None:
    """An empty rca.toml is valid and gets the documented defaults."""
    settings = load_settings(write(tmp_path, ""))
    assert settings.evidence.before == "60m"
    assert settings.execution.workers == 3
    assert settings.alerts.service_labels == ["service", "app"]


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    """A misspelled key is one line naming the file and the dotted key."""
    path = write(tmp_path, "[execution]\nworkerz = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert str(path) in message
    assert "execution.workerz" in message
    assert "\n" not in message


def test_wrong_type_says_what_is_expected(tmp_path: Path) -> None:
    """A wrong type names the key, the expectation and the value given."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[execution]\nworkers = "two"\n'))
    assert "execution.workers" in str(info.value)
    assert "integer" in str(info.value)
    assert "'two'" in str(info.value)


def test_bad_duration_and_bad_toml_are_config_errors(tmp_path: Path) -> None:
    """A malformed duration or TOML syntax error is a ConfigError with exit code 2."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '[evidence]\nbefore = "soon"\n'))
    assert info.value.exit_code == 2
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[evidence\n"))


@pytest.mark.parametrize(
    ("evidence", "ok"),
    [
        ('max_window = "30m"', False),  # shorter than the default before (60m)
        ('max_window = "60m"', False),  # would end as the alert starts
        ('max_window = "74m"', False),
        ('max_window = "75m"', True),  # before + 15 minutes of the alert
        ('before = "2h"\nmax_window = "90m"', False),
        ('before = "2h"\nmax_window = "3h"', True),
        ('before = "10m"\nmax_window = "0m"', False),
    ],
)
def test_max_window_must_reach_past_before(tmp_path: Path, evidence: str, ok: bool) -> None:
    """A window is cut `max_window` after it opens, `before` ahead of the alert: a max_window
    under before + 15m is refused in one line naming both keys."""
    path = write(tmp_path, f"[evidence]\n{evidence}\n")
    if ok:
        load_settings(path)
        return
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    assert "'evidence.max_window'" in message
    assert "'evidence.before'" in message
    assert "before the alert started" in message
    assert info.value.exit_code == 2


def test_parse_duration_units() -> None:
    """Durations accept s, m, h and d units and reject anything else."""
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("2d") == timedelta(days=2)
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("6 hours")


def test_discovery_prefers_flag_then_env_then_upward(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--workspace beats RCA_WORKSPACE, which beats the nearest rca.toml upward from the cwd."""
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "rca.toml").write_text("")
    nested = tmp_path / "c" / "deep" / "er"
    nested.mkdir(parents=True)
    monkeypatch.setenv("RCA_WORKSPACE", str(tmp_path / "b"))
    assert find_workspace(tmp_path / "a", cwd=nested).root == tmp_path / "a"
    assert find_workspace(cwd=nested).root == tmp_path / "b"
    monkeypatch.delenv("RCA_WORKSPACE")
    assert find_workspace(cwd=nested).root == tmp_path / "c"


def test_no_workspace_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside any workspace the error says how to create one."""
    monkeypatch.delenv("RCA_WORKSPACE", raising=False)
    with pytest.raises(ConfigError, match="rca init"):
        find_workspace(cwd=tmp_path)


def test_relative_sqlite_url_is_relative_to_the_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///rca.db resolves inside the workspace; RCA_DATABASE_URL overrides it."""
    write(tmp_path, "")
    monkeypatch.delenv("RCA_DATABASE_URL", raising=False)
    ws = find_workspace(tmp_path)
    assert ws.database_url == f"sqlite:///{tmp_path.resolve()}/rca.db"
    monkeypatch.setenv("RCA_DATABASE_URL", "sqlite:////elsewhere/x.db")
    assert ws.database_url == "sqlite:////elsewhere/x.db"
