"""`[execution] backend = "dask"`: notebooks run on a real Dask cluster on 127.0.0.1 (a
scheduler and two single-thread workers) with the verdicts of the local backend, exactly one
outcome per (investigation, hypothesis) when a worker or the orchestrator is killed mid-batch."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_batch import RCA, _db, _env, kill_mid_way, write_storm

from rca_kit.dask_backend import publish
from rca_kit.testing import one_line_error

Rca = Callable[..., subprocess.CompletedProcess[str]]
DASK = str(Path(sys.executable).parent / "dask")
ON_LOOPBACK = ("--host", "127.0.0.1", "--no-dashboard")
TWO_SINGLE_THREADED = ("--nworkers", "2", "--nthreads", "1")


def _start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=_env()
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def _workers(worker: subprocess.Popen[bytes]) -> list[int]:
    """The worker processes the `dask worker` process (their nanny) spawned."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == worker.pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Callable[[], None]]]:
    """(scheduler file, kill one worker process) of a cluster of two single-thread workers."""
    folder = tmp_path_factory.mktemp("dask")
    file = folder / "scheduler.json"
    scheduler = _start(
        [DASK, "scheduler", *ON_LOOPBACK, "--port", "0", "--scheduler-file", str(file)],
        folder / "scheduler.log",
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        worker = _start(
            [DASK, "worker", *ON_LOOPBACK, "--scheduler-file", str(file), *TWO_SINGLE_THREADED],
            folder / "worker.log",
        )
        while len(_workers(worker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_workers(worker)) == 2, (folder / "worker.log").read_text()[-2000:]
        spawned = worker

        def kill_one() -> None:
            os.kill(_workers(spawned)[0], signal.SIGKILL)

        yield file, kill_one
    finally:
        if worker is not None:
            _stop(worker)
        _stop(scheduler)


def _use_dask(workspace_dir: Path, line: str) -> None:
    config = workspace_dir / "rca.toml"
    text = config.read_text().replace('backend = "local"', f'backend = "dask"\n{line}')
    config.write_text(text)


def _running(workspace_dir: Path) -> int:
    """Notebooks being executed by a task now (their temporary names)."""
    return len(list((workspace_dir / "investigations").glob("*/.*.running.ipynb")))


def _verdicts(done: subprocess.CompletedProcess[str]) -> dict[str, tuple[str, float]]:
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    return {h["id"]: (h["verdict"], h["confidence"]) for h in result["hypotheses"]}


def _complete(workspace_dir: Path, investigations: int) -> None:
    """Every investigation done, nine runs each, none duplicated, none errored, nothing left
    half-written, and the audit chain vouches for every notebook."""
    assert _db(workspace_dir, "SELECT status, count(*) FROM investigations GROUP BY status") == [
        ("done", investigations)
    ]
    runs = _db(workspace_dir, "SELECT investigation_id, hypothesis_id, verdict FROM runs")
    assert len(runs) == investigations * 9
    assert len({(i, h) for i, h, _ in runs}) == len(runs)
    assert not [r for r in runs if r[2] == "errored"]
    assert not _running(workspace_dir)
    done = subprocess.run(
        [RCA, "audit", "verify"], cwd=workspace_dir, env=_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_verdicts_on_dask_are_the_local_ones(
    cluster: tuple[Path, Callable[[], None]], workspace_dir: Path, rca: Rca, tmp_path: Path
) -> None:
    """The demo alert investigated on the cluster gets the local backend's verdicts, in sealed
    notebooks under their own names."""
    local = _verdicts(rca("investigate", "examples/alerts/consumer-lag.json", "--json"))
    other = tmp_path / "dask-ws"
    subprocess.run(["cp", "-a", str(workspace_dir), str(other)], check=True)
    (other / "rca.db").unlink()
    _use_dask(other, f'scheduler_file = "{cluster[0]}"')
    done = rca("investigate", "examples/alerts/consumer-lag.json", "--json", cwd=other)
    assert _verdicts(done) == local
    assert len(local) == 9
    for hypothesis in json.loads(done.stdout)["hypotheses"]:
        notebook = Path(hypothesis["notebook"])
        assert notebook.stat().st_mode & 0o777 == 0o444
        papermill = json.loads(notebook.read_text())["metadata"]["papermill"]
        assert papermill["output_path"] == str(notebook)
    _complete(other, 1)


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_no_notebook(
    cluster: tuple[Path, Callable[[], None]], workspace_dir: Path
) -> None:
    """A Dask worker SIGKILLed while it runs a notebook: Dask runs that task again elsewhere,
    and every notebook ends with exactly one outcome."""
    file, kill_one = cluster
    _use_dask(workspace_dir, f'scheduler_file = "{file}"')
    batch = subprocess.Popen(
        [RCA, "investigate", "--batch", "examples/alerts", "--json"],
        cwd=workspace_dir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _running(workspace_dir) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert batch.poll() is None
        kill_one()  # both workers run a notebook: this one's task is run again elsewhere
        out, err = batch.communicate(timeout=600)
    finally:
        if batch.poll() is None:
            batch.kill()
    assert batch.returncode == 0, err
    assert json.loads(out)["counts"]["done"] == 1
    _complete(workspace_dir, 1)


@pytest.mark.slow
def test_an_orchestrator_killed_mid_batch_finishes_when_run_again(
    cluster: tuple[Path, Callable[[], None]], workspace_dir: Path, rca: Rca
) -> None:
    """`rca investigate --batch` SIGKILLed mid-way on the Dask backend: the same command
    resumes what was left, with exactly one outcome per (investigation, hypothesis)."""
    _use_dask(workspace_dir, f'scheduler_file = "{cluster[0]}"')
    write_storm(workspace_dir)
    command = [RCA, "investigate", "--batch", "storm/a.json"]
    kill_mid_way(command, workspace_dir)
    assert "running" in [s for (s,) in _db(workspace_dir, "SELECT status FROM investigations")]
    again = rca("investigate", "--batch", "storm/a.json")
    assert again.returncode == 0, again.stderr
    _complete(workspace_dir, 3)


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line_and_writes_nothing(
    rca: Rca, workspace_dir: Path
) -> None:
    """No scheduler at the address (or no scheduler file): one line, exit 1, no alert stored
    and no investigation started; the backend without an address is a config error."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    config = (workspace_dir / "rca.toml").read_text()
    _use_dask(workspace_dir, f'scheduler = "tcp://127.0.0.1:{port}"')
    line = one_line_error(rca("investigate", "--batch", "examples/alerts"), code=1)
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in line
    assert _db(workspace_dir, "SELECT count(*) FROM alerts") in ([], [(0,)])
    (workspace_dir / "rca.toml").write_text(config)
    _use_dask(workspace_dir, 'scheduler_file = "nowhere.json"')
    line = one_line_error(rca("investigate", "examples/alerts/consumer-lag.json"), code=1)
    assert "nowhere.json" in line
    assert _db(workspace_dir, "SELECT count(*) FROM investigations") in ([], [(0,)])
    (workspace_dir / "rca.toml").write_text(config)
    _use_dask(workspace_dir, "")
    assert "needs one of scheduler" in one_line_error(
        rca("investigate", "--batch", "examples/alerts")
    )


def test_a_task_publishes_its_notebook_only_where_no_sealed_one_is(tmp_path: Path) -> None:
    """A second execution of a job never replaces a sealed notebook (the first whole one
    stays); it replaces a partial, unsealed write; the name appears whole, never half."""
    final = tmp_path / "01-x.ipynb"

    def executed(text: str) -> Path:
        temp = tmp_path / f".01-x.{text}.running.ipynb"
        temp.write_text(text)
        temp.chmod(0o444)
        return temp

    publish(executed("first"), final)
    assert final.read_text() == "first"
    publish(executed("second"), final)
    assert final.read_text() == "first"
    final.unlink()
    final.write_text("partial")  # a killed run's in-place write: not sealed
    publish(executed("third"), final)
    assert final.read_text() == "third"
    assert final.stat().st_mode & 0o777 == 0o444
