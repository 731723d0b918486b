"""The command line: user mistakes are one line and exit 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from rca_kit.cli.base import SIGPIPE_EXIT, closed
from rca_kit.testing import one_line_error

Rca = Callable[..., subprocess.CompletedProcess[str]]


def test_bad_alert_file_is_dead_lettered(rca: Rca, workspace_dir: Path) -> None:
    """A payload that fails to parse exits 2 with the reason and is kept as a dead letter."""
    bad = workspace_dir / "bad.json"
    bad.write_bytes(
        b'{"version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "X"}}]}'
    )
    line = one_line_error(rca("alert", "ingest", "bad.json"))
    assert "bad.json" in line
    assert "startsAt is required" in line
    engine = sa.create_engine(f"sqlite:///{workspace_dir}/rca.db")
    with engine.connect() as conn:
        payload = conn.execute(sa.text("SELECT payload FROM dead_letters")).scalar()
        alerts = conn.execute(sa.text("SELECT count(*) FROM alerts")).scalar()
    engine.dispose()
    assert payload == bad.read_bytes()
    assert alerts == 0  # nothing written half-way


def test_ingest_prints_generated_ids(rca: Rca) -> None:
    """Stored alerts get generated ids, never names taken from labels."""
    done = rca("alert", "ingest", "examples/alerts/consumer-lag.json")
    assert done.returncode == 0, done.stderr
    [alert_id] = done.stdout.split()
    assert alert_id.startswith("al-")
    assert "consumer" not in alert_id


def test_usage_errors_exit_2(rca: Rca, tmp_path: Path) -> None:
    """Unknown targets, missing workspaces and bad config are one-line errors with exit 2."""
    assert "neither an alert file" in one_line_error(rca("investigate", "nope"))
    assert "no rca.toml" in one_line_error(rca("--workspace", str(tmp_path), "library", "list"))
    (tmp_path / "rca.toml").write_text("[execution]\nworkers = 0\n")
    assert "execution.workers" in one_line_error(
        rca("--workspace", str(tmp_path), "library", "list")
    )
    assert rca("investigate").returncode == 2  # click usage error


def test_library_lint_and_list(rca: Rca, workspace_dir: Path) -> None:
    """lint passes on the bundled library and fails with file and field on a broken spec."""
    assert rca("library", "lint").returncode == 0
    listed = json.loads(rca("library", "list", "--json", check=True).stdout)
    assert {"backpressure", "recent-change", "resource-saturation"} <= {s["id"] for s in listed}
    (workspace_dir / "library" / "broken.yaml").write_text("id: broken\nversion: 1\n")
    done = rca("library", "lint")
    assert done.returncode == 2
    assert "broken.yaml: title: is required" in done.stderr


def test_init_scaffolds_a_working_workspace(rca: Rca, tmp_path: Path) -> None:
    """`rca init` creates a workspace whose library lints clean; it refuses to overwrite."""
    assert rca("init", str(tmp_path / "new"), cwd=tmp_path).returncode == 0
    assert rca("library", "lint", cwd=tmp_path / "new").returncode == 0
    assert "already exists" in one_line_error(rca("init", str(tmp_path / "new"), cwd=tmp_path))


def test_output_whose_reader_went_away_ends_quietly(workspace_dir: Path) -> None:
    """`rca … | head -1` with head gone before rca writes a byte: exit 141, as SIGPIPE ends
    other Unix tools, and nothing on stderr (no error line, no "Exception ignored" from
    Python's final flush), for commands, their --json and click's own help text."""
    env = {k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")}
    rca = str(Path(sys.executable).parent / "rca")
    for args in (
        ("register", "list"),
        ("register", "list", "--json"),
        ("library", "list"),
        ("--help",),
    ):
        read, write = os.pipe()
        os.close(read)
        try:
            done = subprocess.run(
                [rca, *args],
                cwd=workspace_dir,
                env=env,
                stdout=write,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
        finally:
            os.close(write)
        assert (done.returncode, done.stderr) == (SIGPIPE_EXIT, ""), args


def test_only_a_pipe_whose_reader_went_away_counts_as_closed(tmp_path: Path) -> None:
    """A broken pipe of some other kind (a worker's) is still an error with a message."""
    read, write = os.pipe()
    with open(write, "wb") as stream:
        assert not closed(stream)
        os.close(read)
        assert closed(stream)
    with (tmp_path / "out.txt").open("w") as regular:
        assert not closed(regular)
    assert not closed(object())
