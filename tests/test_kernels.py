"""Warm kernels (forked from a preloaded zygote) against fresh ones: isolation, failures,
start-up retries, and identical verdicts. Real kernels throughout."""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from rca_kit import kernels
from rca_kit.models import Outcome
from rca_kit.outcome import harvest
from rca_kit.pool import Pool
from rca_kit.runner import Job, execute, run_all
from rca_kit.scaffold import bundled

OUTCOME = "application/vnd.rca-kit.outcome.v1+json"
# every hypothesis of the bundled library
BUNDLED = {path.stem for path in bundled("library").glob("*.yaml")}


def notebook(path: Path, *cells: str) -> Path:
    def cell(source: str, tags: list[str] | None = None) -> dict[str, object]:
        metadata = {"tags": tags} if tags else {}
        return {
            "cell_type": "code",
            "execution_count": None,
            "metadata": metadata,
            "outputs": [],
            "source": source,
        }

    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    sources = [cell("marker = ''", ["parameters"]), *(cell(textwrap.dedent(c)) for c in cells)]
    nb = {
        "cells": [{"id": f"cell-{i}", **c} for i, c in enumerate(sources)],
        "metadata": {"kernelspec": kernelspec},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


def job(template: Path, name: str, *, timeout_s: int = 60, **fields: object) -> Job:
    return Job(
        hypothesis_id=name,
        template=template,
        output=template.parent / f"{name}.ipynb",
        parameters={"marker": name},
        timeout_s=timeout_s,
        cwd=template.parent,
        **fields,  # type: ignore[arg-type]
    )


def stdout_of(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(
        "".join(o.get("text", "")) for c in cells for o in c.get("outputs", []) if o.get("name")
    )


MESS = """
    import os, sys, warnings, random
    import numpy as np, pandas as pd
    import plotly.io as pio
    pd.set_option("display.max_rows", 3)
    pio.templates.default = "plotly_dark"
    pio.renderers.default = "json"
    np.random.seed(0)
    random.seed(0)
    warnings.simplefilter("error")
    os.environ["RCA_LEAK"] = "1"
    sys.path.append("/leak")
    leaked_file = open("leak.txt", "w")
    pd.DataFrame.leak = lambda self: 1
    leaked = 42
    os.chdir("/")
    print("pid", os.getpid())
"""

CHECK = """
    import os, sys, warnings, random
    preloaded = "pandas" in sys.modules  # before this notebook imported it
    import numpy as np, pandas as pd
    import plotly.io as pio
    problems = []
    if pd.get_option("display.max_rows") == 3: problems.append("pandas option")
    if pio.templates.default == "plotly_dark": problems.append("plotly template")
    if pio.renderers.default == "json": problems.append("plotly renderer")
    np.random.seed(0); seeded = np.random.random(); np.random.seed()
    if any(f[0] == "error" and f[2] is Warning for f in warnings.filters):
        problems.append("warnings filter")
    if "RCA_LEAK" in os.environ: problems.append("environment")
    if "/leak" in sys.path: problems.append("sys.path")
    if hasattr(pd.DataFrame, "leak"): problems.append("monkeypatch")
    if "leaked" in globals(): problems.append("variable")
    if os.getcwd() == "/": problems.append("cwd")
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").endswith("leak.txt"): problems.append("open file")
        except OSError:
            pass  # the listing's own descriptor
    assert not problems, problems
    draws = np.random.random(), random.random()
    print("pid", os.getpid(), "preloaded", preloaded, "draw", draws[0], "py", draws[1])
"""


def test_warm_kernels_share_nothing_between_notebooks(tmp_path: Path) -> None:
    """What one notebook changes in its kernel (variables, pandas options, plotly renderer
    and template, random state, warnings filters, environment, cwd, sys.path, open files,
    monkeypatches) is not there for the next, on the same worker."""
    mess = notebook(tmp_path / "mess.ipynb", MESS)
    check = notebook(tmp_path / "check.ipynb", CHECK)
    jobs = [job(mess, "a-mess"), job(check, "b-check"), job(mess, "c-mess"), job(check, "d-check")]
    results = run_all(jobs, workers=1, kernels="warm")
    assert [r.error for r in results] == [None] * 4, [r.error for r in results]
    outputs = [stdout_of(r.notebook) for r in results]
    pids = [out.split()[1] for out in outputs]
    assert len(set(pids)) == 4  # a kernel per notebook
    checks = [dict(zip(*[iter(outputs[i].split())] * 2, strict=False)) for i in (1, 3)]
    assert all(c["preloaded"] == "True" for c in checks)  # warm: forked with pandas loaded
    assert checks[0]["draw"] != checks[1]["draw"]  # each fork reseeded numpy
    assert checks[0]["py"] != checks[1]["py"]


def test_fresh_kernels_are_new_interpreters(tmp_path: Path) -> None:
    check = notebook(tmp_path / "check.ipynb", CHECK)
    [result] = run_all([job(check, "fresh", kernels="fresh")], workers=1, kernels="fresh")
    assert result.error is None
    assert "preloaded False" in stdout_of(result.notebook)


def test_a_warm_notebook_is_an_ordinary_papermill_notebook(tmp_path: Path) -> None:
    template = notebook(tmp_path / "t.ipynb", "print('ran', marker)")
    result = execute(job(template, "papermill"))
    assert result.error is None
    nb = json.loads(result.notebook.read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1
    assert 'marker = "papermill"' in "".join(injected[0]["source"])
    assert nb["metadata"]["papermill"]["parameters"] == {"marker": "papermill"}
    assert nb["metadata"]["papermill"]["input_path"] == str(template)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "ran papermill" in stdout_of(result.notebook)


def test_a_kernel_that_dies_or_overruns_is_errored_and_the_next_notebook_runs(
    tmp_path: Path,
) -> None:
    dies = notebook(tmp_path / "dies.ipynb", "import os, signal; os.kill(os.getpid(), 9)")
    sleeps = notebook(tmp_path / "sleeps.ipynb", "import time; time.sleep(120)")
    fine = notebook(tmp_path / "fine.ipynb", "print('fine')")
    jobs = [job(dies, "dies"), job(sleeps, "sleeps", timeout_s=4), job(fine, "fine")]
    results = run_all(jobs, workers=1, kernels="warm")
    assert results[0].error is not None
    assert "kernel died" in results[0].error
    assert results[1].error is not None
    assert "timed out" in results[1].error
    assert results[2].error is None
    assert "fine" in stdout_of(results[2].notebook)


def test_a_dead_zygote_is_replaced(tmp_path: Path) -> None:
    template = notebook(
        tmp_path / "t.ipynb", "import sys; print('preloaded', 'pandas' in sys.modules)"
    )
    assert execute(job(template, "one")).error is None
    zygote = kernels.start_zygote()
    assert zygote.ready()
    assert zygote.owned is not None
    os.kill(zygote.pid, signal.SIGKILL)
    zygote.owned.process.wait()
    again = execute(job(template, "two"))
    assert again.error is None
    assert "preloaded True" in stdout_of(again.notebook)
    assert kernels.start_zygote() is not zygote


def test_a_kernel_started_ahead_that_died_is_not_handed_over(tmp_path: Path) -> None:
    """The zygote starts the next kernel while a notebook runs; if that one is gone when the
    next notebook comes, the notebook gets a kernel forked for it instead."""
    template = notebook(tmp_path / "t.ipynb", "import os; print('pid', os.getpid())")
    assert execute(job(template, "first")).error is None
    zygote = kernels.start_zygote()
    ahead = [int(p) for p in _children(zygote.pid)]
    assert ahead, "a kernel waits for the next notebook"
    for pid in ahead:
        os.kill(pid, signal.SIGKILL)
    second = execute(job(template, "second"))
    assert second.error is None
    assert f"pid {ahead[0]}" not in stdout_of(second.notebook)


def test_a_forked_kernel_binds_ports_of_its_own(tmp_path: Path) -> None:
    """Ports picked before a kernel starts can be taken by any process before it binds them
    (CI once lost a kernel that way): the zygote's kernels bind their own and report them."""
    import socket

    zygote = kernels.start_zygote()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        picked = {f"{n}_port": port for n in ("shell", "iopub", "stdin", "control", "hb")}
        connection_file = tmp_path / "kernel.json"
        connection_file.write_text(
            json.dumps({**picked, "ip": "127.0.0.1", "key": "k", "transport": "tcp"})
        )
        forked = zygote.fork(["-f", str(connection_file)], str(tmp_path), dict(os.environ))
        assert forked is not None, "the zygote lost its kernel"
        pid, connection = forked
        try:
            assert port not in {connection[name] for name in picked}
            assert _alive(pid)
        finally:
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0


def test_one_zygote_serves_every_worker_of_a_pool(tmp_path: Path) -> None:
    """A pool preloads once: every kernel of its workers is a child of the pool's zygote,
    each notebook gets a kernel of its own, and when that zygote is killed the notebooks still
    run (the next on a fresh kernel, then on a zygote of the worker's own)."""
    template = notebook(
        tmp_path / "t.ipynb",
        "import os, sys",
        "print('parent', os.getppid(), 'pid', os.getpid(), 'pandas' in sys.modules)",
    )
    with Pool(2, kernels="warm") as pool:
        assert pool.zygote is not None
        shared = pool.zygote.process.pid
        first = pool.run([job(template, f"a{i}") for i in range(6)])
        os.kill(shared, signal.SIGKILL)  # the workers fall back to zygotes of their own
        second = pool.run([job(template, f"b{i}") for i in range(4)])
    outputs = [stdout_of(r.notebook).split() for r in [*first, *second]]
    assert all(r.error is None for r in [*first, *second])
    assert [o[1] for o in outputs[:6]] == [str(shared)] * 6
    assert all(o[1] != str(shared) for o in outputs[6:])
    assert len({o[3] for o in outputs}) == len(outputs), "a kernel was used twice"
    assert all(o[4] == "True" for o in outputs[:6]), "every kernel starts preloaded"
    assert any(o[4] == "True" for o in outputs[6:]), "a worker's own zygote took over"


def _children(pid: int) -> list[str]:
    import subprocess

    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return out.split()


@pytest.fixture
def flaky_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kernelspec whose kernel exits before it replies, as many times as `deaths` says."""
    folder = tmp_path / "jupyter"
    spec = folder / "kernels" / "flaky"
    spec.mkdir(parents=True)
    launcher = tmp_path / "flaky.py"
    launcher.write_text(
        textwrap.dedent(
            f"""
            import os, sys, runpy
            count = {str(tmp_path / "starts")!r}
            with open(count, "a") as f:
                f.write("x")
            deaths = int(open({str(tmp_path / "deaths")!r}).read())
            if len(open(count).read()) <= deaths:
                os._exit(1)
            sys.argv = ["ipykernel_launcher", *sys.argv[1:]]
            runpy.run_module("ipykernel_launcher", run_name="__main__")
            """
        )
    )
    argv = [sys.executable, str(launcher), "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "flaky"}))
    monkeypatch.setenv("JUPYTER_PATH", str(folder))
    return tmp_path


@pytest.mark.parametrize(("deaths", "starts", "ok"), [(1, 2, True), (5, 2, False)])
def test_a_kernel_that_dies_before_kernel_info_is_retried_once(
    flaky_kernel: Path, deaths: int, starts: int, ok: bool
) -> None:
    (flaky_kernel / "deaths").write_text(str(deaths))
    template = notebook(flaky_kernel / "t.ipynb", "print('up')")
    result = execute(job(template, "flaky", kernel_name="flaky"))
    assert len((flaky_kernel / "starts").read_text()) == starts
    if ok:
        assert result.error is None
    else:
        assert result.error is not None
        assert "kernel_info" in result.error


@pytest.mark.slow
def test_verdicts_are_identical_with_warm_and_fresh_kernels(tmp_path: Path) -> None:
    """Every bundled hypothesis on every fault type of the generator: the same verdict,
    confidence, summary and observations from a forked (warm) kernel as from the template's
    code run in this process; and where every hypothesis runs, from a new interpreter (fresh)
    as from a warm kernel."""
    from dataclasses import replace

    from rca_kit.intake import parse_alerts
    from rca_kit.library import load_library
    from rca_kit.pipeline import freeze_evidence, job_parameters
    from rca_kit.scenarios import FAULTS, export_end, generate
    from rca_kit.selection import select
    from rca_kit.testing import run_inline, scenario_workspace

    inline: dict[tuple[str, str], object] = {}
    jobs: list[tuple[str, Job]] = []
    for index, fault in enumerate(sorted(FAULTS)):
        scenario = generate(fault, seed=100 + index)
        workspace = scenario_workspace(scenario, tmp_path / fault)
        payload = (workspace.root / "examples" / "alerts" / "consumer-lag.json").read_bytes()
        alert = replace(parse_alerts(payload)[0], id="al-test")
        chosen = select(load_library(workspace.library_dir, workspace.templates_dir), alert)
        snapshot = freeze_evidence(
            workspace, alert, chosen, "inv-test", tmp_path / fault / "snap", export_end(scenario)
        )
        for spec in chosen:
            parameters = job_parameters(spec, workspace, alert, "inv-test", snapshot)
            template = workspace.templates_dir / spec.template
            found = run_inline(template, snapshot.path, **parameters)
            inline[fault, spec.id] = _facts(found)
            for mode in ("warm", "fresh"):
                folder = tmp_path / mode / fault
                folder.mkdir(parents=True, exist_ok=True)
                job = Job(spec.id, template, folder / f"{spec.id}.ipynb", parameters, 120, folder)
                jobs.append((fault, replace(job, kernels=mode)))
    assert {hypothesis for _, hypothesis in inline} == BUNDLED  # each ran somewhere
    every = next(f for f in sorted(FAULTS) if {h for g, h in inline if g == f} == BUNDLED)
    warm_jobs = [(f, j) for f, j in jobs if j.kernels == "warm"]
    fresh_jobs = [(f, j) for f, j in jobs if j.kernels == "fresh" and f == every]
    with Pool(2, kernels="warm") as pool:
        warm_results = pool.run([j for _, j in warm_jobs])
    with Pool(2, kernels="fresh") as pool:
        fresh_results = pool.run([j for _, j in fresh_jobs])
    warm = {
        (f, r.hypothesis_id): _facts(harvest(r))
        for (f, _), r in zip(warm_jobs, warm_results, strict=True)
    }
    fresh = {
        (f, r.hypothesis_id): _facts(harvest(r))
        for (f, _), r in zip(fresh_jobs, fresh_results, strict=True)
    }
    assert warm == inline
    assert fresh == {key: warm[key] for key in fresh}
    assert len(fresh) == len(BUNDLED)


def _facts(outcome: Outcome) -> tuple[object, ...]:
    observed = json.dumps(outcome.observed, sort_keys=True)
    return (outcome.verdict, outcome.confidence, outcome.summary, observed)
