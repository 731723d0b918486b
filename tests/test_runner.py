"""The runner with real kernels: failures of every kind become errored outcomes, kept on disk."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from rca_kit.outcome import harvest
from rca_kit.runner import Job, run_all
from rca_kit.testing import make_snapshot, run_template

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def notebook(tmp_path: Path, name: str, body: str) -> Path:
    params = new_code_cell("snapshot_path = ''\nservice = ''")
    params.metadata["tags"] = ["parameters"]
    doc = new_notebook(
        cells=[params, new_code_cell(body)],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(doc, path)
    return path


def job(tmp_path: Path, template: Path, timeout_s: int = 60) -> Job:
    out = tmp_path / "out"
    return Job(
        hypothesis_id=template.stem,
        template=template,
        output=out / template.name,
        parameters={"service": "svc"},
        timeout_s=timeout_s,
        cwd=tmp_path,
    )


def test_failures_become_errored_with_partial_notebooks(tmp_path: Path) -> None:
    """Raise, timeout and kernel death each give errored with the reason; the notebook is kept."""
    templates = [
        notebook(
            tmp_path,
            "ok",
            "import rca_kit\n"
            "rca_kit.record_outcome('refuted', 0.7, {'n': 1}, 'n > 2', f'n=1 on {service}')",
        ),
        notebook(
            tmp_path, "raises", "print('partial work')\nraise RuntimeError('the data was odd')"
        ),
        notebook(tmp_path, "hangs", "import time\ntime.sleep(60)"),
        notebook(tmp_path, "dies", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
    ]
    jobs = [job(tmp_path, t, timeout_s=4 if t.stem == "hangs" else 60) for t in templates]
    seen: list[str] = []
    results = run_all(jobs, workers=2, progress=lambda r: seen.append(r.hypothesis_id))
    outcomes = {r.hypothesis_id: harvest(r) for r in results}
    assert [r.hypothesis_id for r in results] == ["ok", "raises", "hangs", "dies"]
    assert sorted(seen) == sorted(outcomes)
    assert outcomes["ok"].verdict == "refuted"
    assert outcomes["ok"].summary == "n=1 on svc"
    assert outcomes["raises"].verdict == "errored"
    assert "RuntimeError: the data was odd" in (outcomes["raises"].error or "")
    assert "partial work" in (tmp_path / "out" / "raises.ipynb").read_text()
    assert outcomes["hangs"].verdict == "errored"
    assert "timed out" in (outcomes["hangs"].error or "")
    assert outcomes["dies"].verdict == "errored"
    assert "kernel died" in (outcomes["dies"].error or "")
    for result in results:
        assert result.notebook.is_file()


def test_labels_never_reach_paths_or_code(tmp_path: Path) -> None:
    """Parameter values with braces and quotes stay strings; output paths are not formatted."""
    template = notebook(
        tmp_path,
        "echo",
        "import rca_kit\nrca_kit.record_outcome('refuted', 0.5, {'service': service}, 'c', 's')",
    )
    hostile = "x'; import os; os.system('touch pwned') #{snapshot_path}"
    weird = tmp_path / "{service}"
    weird.mkdir()
    result = run_all(
        [Job("echo", template, weird / "echo.ipynb", {"service": hostile}, 60, tmp_path)]
    )[0]
    outcome = harvest(result)
    assert outcome.observed == {"service": hostile}
    assert result.notebook == weird / "echo.ipynb"
    assert result.notebook.is_file()
    assert not (tmp_path / "pwned").exists()


def test_backpressure_template_is_inconclusive_without_its_data(tmp_path: Path) -> None:
    """With no processing or lag metrics the template says inconclusive and names them."""
    import pandas as pd

    t0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
    times = pd.date_range(t0 - timedelta(hours=7), t0 + timedelta(hours=1), freq="min", tz=UTC)
    metrics = pd.DataFrame(
        {"timestamp": times, "service": "svc", "metric": "ingest_rate", "value": 100.0}
    )
    snap = make_snapshot(
        tmp_path / "snap",
        window=(t0 - timedelta(hours=1), t0 + timedelta(hours=1)),
        service="svc",
        onset=t0,
        metrics=metrics,
    )
    outcome = run_template(
        ROOT / "notebooks" / "templates" / "backpressure.ipynb", snap, workdir=tmp_path
    )
    assert outcome.verdict == "inconclusive", outcome.error
    assert any("processing_rate" in m for m in outcome.missing_data)
    assert any("consumer_lag_seconds" in m for m in outcome.missing_data)
    assert not any("ingest_rate" in m for m in outcome.missing_data)


def test_run_all_works_from_an_unguarded_script(tmp_path: Path) -> None:
    """A plain script without a __main__ guard can run notebooks (workers never re-import it)."""
    import subprocess
    import sys

    template = notebook(
        tmp_path, "ok", "import rca_kit\nrca_kit.record_outcome('refuted', 0.5, {}, 'c', 's')"
    )
    script = tmp_path / "script.py"
    script.write_text(
        "from pathlib import Path\n"
        "from rca_kit.runner import Job, run_all\n"
        f"t = Path({str(template)!r})\n"
        "jobs = [Job(f'j{i}', t, t.parent / f'out{i}.ipynb', {}, 60, t.parent) for i in range(2)]\n"
        "print([r.error for r in run_all(jobs, workers=2)])\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[None, None]"


def test_kernels_run_this_interpreter_whatever_kernelspecs_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A foreign `python3` kernelspec on JUPYTER_PATH cannot hijack the notebooks' kernel."""
    import json

    broken = tmp_path / "jupyter" / "kernels" / "python3"
    broken.mkdir(parents=True)
    (broken / "kernel.json").write_text(
        json.dumps(
            {"argv": ["/bin/false", "{connection_file}"], "display_name": "x", "language": "python"}
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    template = notebook(
        tmp_path, "ok", "import rca_kit\nrca_kit.record_outcome('refuted', 0.5, {}, 'c', 's')"
    )
    [result] = run_all([job(tmp_path, template)])
    assert result.error is None
    assert harvest(result).verdict == "refuted"


def test_a_notebook_is_saved_at_its_start_its_end_and_every_few_seconds_between(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill would save before and after every cell; the runner saves when the notebook
    starts, then at most every SAVE_EVERY_S while cells run, and always when it ends."""
    import papermill.engines

    from rca_kit import notebook_engine
    from rca_kit.runner import execute

    saves: list[int] = []
    write = papermill.engines.write_ipynb

    def counted(nb: object, path: str) -> None:
        saves.append(sum(1 for c in nb.cells if c.get("outputs")))  # type: ignore[attr-defined]
        write(nb, path)

    monkeypatch.setattr(papermill.engines, "write_ipynb", counted)
    quick = "\n".join(f"print({i})" for i in range(8))
    doc = nbformat.read(notebook(tmp_path, "quick", quick), as_version=4)
    doc.cells += [new_code_cell(f"print('cell', {i})") for i in range(6)]
    doc.cells.append(new_code_cell(f"import time; time.sleep({notebook_engine.SAVE_EVERY_S})"))
    doc.cells += [new_code_cell("print('after the pause')")]
    nbformat.write(doc, tmp_path / "quick.ipynb")
    result = execute(job(tmp_path, tmp_path / "quick.ipynb"))
    assert result.error is None
    cells = len(doc.cells) + 1  # and papermill's injected parameters
    assert 3 <= len(saves) <= 4, saves  # start, after the pause, end (papermill: 2 + 2 x cells)
    assert len(saves) < 2 + 2 * cells
    executed = nbformat.read(result.notebook, as_version=4)
    assert saves[0] == 0
    assert saves[-1] == 8 == sum(1 for c in executed.cells if c.get("outputs"))
    assert "after the pause" in "".join(o.get("text", "") for o in executed.cells[-1].outputs)


def test_an_outcome_refused_in_a_notebook_names_its_template(tmp_path: Path) -> None:
    """The runner tells the kernel which template it runs: a NaN that reaches record_outcome
    is refused with that template's name."""
    from rca_kit.runner import execute

    body = "import rca_kit\nrca_kit.record_outcome('supported', float('nan'), {}, 'c', 's')"
    result = execute(job(tmp_path, notebook(tmp_path, "nan-confidence", body)))
    outcome = harvest(result)
    assert outcome.verdict == "errored"
    assert "nan-confidence.ipynb" in (outcome.error or "")
    assert "RCA_KIT_TEMPLATE" not in os.environ  # the caller's environment is left as it was
