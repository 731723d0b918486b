"""Evidence notebooks people can open, on the session's real investigation of the demo alert:
each shows its figure as an ordinary output (plain `jupyter nbconvert --to html` draws it
offline in Chromium), records one silent outcome, says where it came from (metadata.rca_kit,
in the register too), is read-only, and `rca audit verify` notices when its bytes change.
Its HTML page for the review keeps hostile outputs and labels inert.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import pytest
from investigated import Investigated, investigated
from playwright.sync_api import Browser

import rca_kit
from rca_kit.figures import (
    PLOTLY_MIMETYPE,
    display_bundle,
    is_outcome_figure,
    plotly_file_name,
    plotted,
)
from rca_kit.library import library_digest
from rca_kit.models import RunResult
from rca_kit.outcome import MIMETYPE, harvest
from rca_kit.register import Register
from rca_kit.report.assets import plotly_asset, relative_src
from rca_kit.report.evidence_pages import export_evidence_page

pytestmark = pytest.mark.slow
JUPYTER = str(Path(sys.executable).parent / "jupyter")
LINK = '<a href="https://evil.example/x">click</a><b>bold</b>'


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Investigated:
    return investigated(tmp_path_factory)


def notebooks(demo: Investigated) -> dict[str, Path]:
    return {h["id"]: Path(h["notebook"]) for h in demo.result["hypotheses"]}


def outputs(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for c in document["cells"] if c["cell_type"] == "code" for o in c["outputs"]]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_page(
    browser: Browser, page: Path, *, amd: bool = False, ready: str = ".plotly .main-svg"
) -> dict[str, Any]:
    """Open a page offline (anything but file:// is refused), wait for `ready`; what it drew
    and did."""
    seen: dict[str, Any] = {"errors": [], "console": [], "requests": []}
    context = browser.new_context()
    context.route(
        "**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort()
    )
    tab = context.new_page()
    if amd:  # an AMD loader on the page, as nbconvert's require.js is when online
        tab.add_init_script("window.define = function () {}; window.define.amd = {};")
    tab.on("pageerror", lambda exc: seen["errors"].append(str(exc)))
    tab.on("console", lambda m: seen["console"].append(m.text) if m.type == "error" else None)
    tab.on("request", lambda r: seen["requests"].append(r.url))
    tab.goto(page.as_uri())
    tab.wait_for_load_state("load")
    tab.wait_for_selector(ready, timeout=15_000)
    seen["plots"] = tab.locator(".js-plotly-plot").count()
    seen["pwned"] = tab.evaluate("() => [window.pwned, document.title]")
    seen["links_in_plots"] = tab.locator(".js-plotly-plot a").count()
    seen["titles"] = tab.locator(".js-plotly-plot .gtitle").all_text_contents()
    seen["legend"] = tab.locator(".js-plotly-plot .legendtext").all_text_contents()
    seen["text"] = tab.locator("body").inner_text()
    seen["headings"] = tab.locator("main h1").all_text_contents()
    seen["ids"] = tab.evaluate("() => [...document.querySelectorAll('[id]')].map(e => e.id)")
    context.close()
    return seen


def test_each_notebook_shows_its_figure_and_one_silent_outcome(demo: Investigated) -> None:
    """One figure output (plotly JSON for JupyterLab, HTML that loads plotly.js from beside the
    page, a one-line text), then the record: one line of text, no figure, no Out[] echo; the
    harvester reads exactly that record. An inconclusive test shows no figure (no empty chart):
    its line names what is missing. Each notebook stays well under 150 KB."""
    verdicts = {h["id"]: h["verdict"] for h in demo.result["hypotheses"]}
    assert "inconclusive" in verdicts.values()  # the demo has one of each kind
    shown: list[str] = []
    for hypothesis_id, path in notebooks(demo).items():
        document = json.loads(path.read_text(encoding="utf-8"))
        found = outputs(document)
        figures = [o for o in found if is_outcome_figure(o)]
        records = [o for o in found if MIMETYPE in o.get("data", {})]
        assert len(records) == 1, hypothesis_id
        assert "figure" not in records[0]["data"][MIMETYPE]
        line = "".join(records[0]["data"]["text/plain"])
        assert "\n" not in line
        assert line.startswith(verdicts[hypothesis_id])
        for output in found:
            text = "".join(output.get("data", {}).get("text/plain", ""))
            assert len(text) < 2000, (hypothesis_id, text[:200])  # nothing echoes the record
        outcome = harvest(RunResult(hypothesis_id, path, 0.0))
        assert outcome.verdict == verdicts[hypothesis_id]
        assert path.stat().st_size < 150_000, (hypothesis_id, path.stat().st_size)
        if verdicts[hypothesis_id] == "inconclusive":
            assert "missing" in line.lower(), line
        else:
            assert len(line) <= 160
        if not figures:  # inconclusive, or nothing to plot (a refuted upstream-degradation)
            assert not any(PLOTLY_MIMETYPE in o.get("data", {}) for o in found)
            assert outcome.figure is None
            continue
        shown.append(hypothesis_id)
        assert verdicts[hypothesis_id] != "inconclusive"
        assert len(figures) == 1, hypothesis_id
        data = figures[0]["data"]
        assert plotted(data[PLOTLY_MIMETYPE]), hypothesis_id
        assert set(data) == {PLOTLY_MIMETYPE, "text/html", "text/plain"}
        assert {"data", "layout"} <= set(data[PLOTLY_MIMETYPE])
        html = "".join(data["text/html"])
        assert f'script.src = "{plotly_file_name()}"' in html
        assert "cdn" not in html.lower()
        assert outcome.figure == {k: v for k, v in data[PLOTLY_MIMETYPE].items() if k != "config"}
    assert len(shown) >= 3, shown


def test_provenance_is_in_the_notebook_and_the_register(demo: Investigated) -> None:
    """metadata.papermill.input_path is the template's path; metadata.rca_kit says which
    template, spec, library, rca-kit, snapshot, kernel and packages made the notebook; the
    register's runs keep that provenance and the notebook's sha256."""
    register = Register(f"sqlite:///{demo.root}/rca.db")
    try:
        runs = {r["hypothesis_id"]: r for r in register.runs(demo.id)}
        investigation = register.investigation(demo.id)
    finally:
        register.close()
    packages = {
        name: metadata.version(name)
        for name in ("pandas", "numpy", "plotly", "papermill", "nbclient", "ipykernel", "pyarrow")
    }
    for hypothesis_id, path in notebooks(demo).items():
        document = json.loads(path.read_text(encoding="utf-8"))
        spec_file = demo.root / "library" / f"{hypothesis_id}.yaml"
        template = demo.root / "notebooks" / "templates" / f"{hypothesis_id}.ipynb"
        assert document["metadata"]["papermill"]["input_path"] == str(template)
        provenance = document["metadata"]["rca_kit"]
        assert provenance["template"] == f"notebooks/templates/{hypothesis_id}.ipynb"
        assert provenance["template_sha256"] == sha256(template)
        assert provenance["spec"]["id"] == hypothesis_id
        assert provenance["spec"]["sha256"] == sha256(spec_file)
        assert provenance["library"] == {
            "path": "library",
            "sha256": library_digest(demo.root / "library"),
        }
        assert provenance["rca_kit"] == rca_kit.__version__
        assert provenance["snapshot_sha256"] == investigation["snapshot_sha256"]
        assert provenance["kernel"] == {"name": "python3", "python": platform.python_version()}
        assert provenance["packages"] == packages
        run = runs[hypothesis_id]
        assert run["spec_version"] == provenance["spec"]["version"]
        assert run["notebook_sha256"] == sha256(path)
        assert run["provenance"] == provenance


def test_evidence_is_read_only_and_plotly_js_lies_beside_it(demo: Investigated) -> None:
    """Notebooks and snapshot files are 0444; the folder holds plotly.js for exported pages
    as a hard link to the reports' one copy (no extra bytes)."""
    folder = demo.root / "investigations" / demo.id
    evidence = [*notebooks(demo).values(), *(folder / "snapshot").iterdir()]
    assert len(evidence) > 9
    assert {oct(p.stat().st_mode & 0o777) for p in evidence} == {"0o444"}
    beside = folder / plotly_file_name()
    assert beside.stat().st_ino == plotly_asset(demo.reports).stat().st_ino


@pytest.mark.browser
def test_plain_nbconvert_html_draws_the_figure_offline(
    demo: Investigated, browser: Browser, tmp_path: Path
) -> None:
    """`jupyter nbconvert --to html` of an evidence notebook, beside it: Chromium draws the
    plot with nothing but local files and no page error, an AMD loader on the page or not.
    Moved away from the plotly.js file, the page says what it misses instead."""
    notebook = notebooks(demo)["backpressure"]
    out = tmp_path / "beside"
    out.mkdir()
    os.link(notebook.parent / plotly_file_name(), out / plotly_file_name())
    subprocess.run(
        [JUPYTER, "nbconvert", "--to", "html", str(notebook), "--output-dir", str(out)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    page = out / f"{notebook.stem}.html"
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / page.name).write_bytes(page.read_bytes())
    for amd in (False, True):
        seen = open_page(browser, page, amd=amd)
        assert seen["errors"] == []
        assert seen["plots"] == 1
        local = [u for u in seen["requests"] if u.startswith("file:")]
        assert any(u.endswith(plotly_file_name()) for u in local)
    alone = open_page(browser, tmp_path / "alone" / page.name, ready="text=This figure needs")
    assert alone["errors"] == []
    assert alone["plots"] == 0
    assert f"This figure needs {plotly_file_name()} beside this page" in alone["text"]


def hostile_notebook(real: Path, dest: Path) -> Path:
    """A real evidence notebook plus outputs and labels written to attack whoever opens it."""
    document = nbformat.read(real, as_version=4)
    figure = {
        "data": [
            {"type": "scatter", "x": [1, 2], "y": [3, 4], "name": LINK},
            {"type": "scatter", "x": [1, 2], "y": [4, 3], "name": "other"},
        ],
        "layout": {
            "title": {"text": LINK},
            "images": [{"source": "https://evil.example/track.png", "x": 0, "y": 0}],
        },
    }
    shown, marker = display_bundle(rca_kit.inert_figure(figure))
    shown["text/html"] += "<script>window.pwned = 'html'</script>"
    attack = nbformat.v4.new_code_cell("hostile")
    attack.outputs = [
        nbformat.v4.new_output("display_data", shown, metadata=marker),
        nbformat.v4.new_output("display_data", {PLOTLY_MIMETYPE: figure}),  # not made inert
        nbformat.v4.new_output(
            "display_data",
            {
                "text/html": "<script>window.pwned = 1</script><img src=x onerror=window.pwned=2>"
                '<img src="https://evil.example/a.png">',
                "text/plain": "html",
            },
        ),
        nbformat.v4.new_output(  # posing as the page's own figure data
            "display_data",
            {
                "text/html": '<div id="rca-kit-figures" class="rca-kit-figure">'
                '{"figures": [], "plotly": "https://evil.example/x.js", "config": {}}</div>'
            },
        ),
        nbformat.v4.new_output("display_data", {"application/javascript": "window.pwned = 3"}),
        nbformat.v4.new_output(
            "display_data", {"text/vnd.mermaid": "<img src=x onerror=window.pwned=4>"}
        ),
        nbformat.v4.new_output(
            "display_data",
            {"image/png": "iVBORw0KGgo=", "text/plain": "png"},
            metadata={"filenames": {"image/png": "https://evil.example/b.png"}},
        ),
        nbformat.v4.new_output(
            "display_data",
            {"application/vnd.rca-kit.page-figure+json": {"index": "0 onmouseover=x"}},
        ),
        nbformat.v4.new_output("stream", name="stdout", text="<script>window.pwned=5</script>"),
    ]
    markdown = nbformat.v4.new_markdown_cell(
        "# <img src=x onerror=window.pwned=6>\n<script>window.pwned=7</script>\n"
        "# rca-kit-figure-0\n<p id='rca-kit-figure-1' style='position:fixed'>x</p>"
    )
    document.cells.extend([markdown, attack])
    document.metadata["title"] = "</title><script>window.pwned=8</script>"
    nbformat.write(document, dest)
    return dest


@pytest.mark.browser
def test_the_evidence_page_draws_figures_and_keeps_hostile_outputs_inert(
    demo: Investigated, browser: Browser
) -> None:
    """reports/<id>/<hypothesis>.html: the outcome's figure and every other plotly output are
    drawn by rca-kit's markup with labels as literal text (no link, no bold); scripts, handlers,
    mermaid and remote images in outputs do nothing; nothing is fetched from the network."""
    real = notebooks(demo)["backpressure"]
    hostile = hostile_notebook(real, demo.root / "hostile-notebook.ipynb")
    out = demo.reports / "hostile-notebook" / "hostile.html"  # beside, not among, the real pages
    src = relative_src(out, plotly_asset(demo.reports))
    assert export_evidence_page(hostile, out, plotly_src=src) == out
    html = out.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html
    seen = open_page(browser, out)
    assert seen["errors"] == []
    assert seen["console"] == []  # not even a blocked request or script
    assert all(u.startswith("file:") for u in seen["requests"]), seen["requests"]
    assert seen["pwned"][0] is None
    assert "</title>" in seen["pwned"][1]  # the title is text
    assert seen["plots"] == 3  # the notebook's own figure, the hostile one, the raw one
    assert seen["links_in_plots"] == 0
    literal = '<a href="https://evil.example/x">click</a><b>bold</b>'
    assert seen["titles"].count(literal) == 2
    assert literal in seen["legend"]
    assert "<script>window.pwned=5</script>" in seen["text"]  # a stream is shown as text
    assert any(h.startswith("Backpressure") for h in seen["headings"])  # Markdown is formatted
    assert "<p>" not in seen["text"]
    assert "rca-kit-figures" not in seen["ids"]  # the notebook's HTML names no element
    assert [i for i in seen["ids"] if i.startswith("rca-kit-figure-")] == [
        f"rca-kit-figure-{n}" for n in range(3)
    ]


def test_the_evidence_page_wants_a_relative_plotly_src(demo: Investigated, tmp_path: Path) -> None:
    """plotly.js comes from the reports folder, never from a URL elsewhere."""
    notebook = notebooks(demo)["backpressure"]
    for src in ("https://cdn.plot.ly/plotly.min.js", "//cdn/x.js", "/abs/x.js", "", "file:x"):
        with pytest.raises(rca_kit.InputError, match="relative URL"):
            export_evidence_page(notebook, tmp_path / "x.html", plotly_src=src)
    assert not (tmp_path / "x.html").exists()


def test_audit_verify_names_a_changed_or_missing_notebook(demo: Investigated) -> None:
    """`rca audit verify` exits 1 naming the run, its investigation and the path of an evidence
    notebook whose bytes changed, or that is gone; restored, it passes again."""
    register = Register(f"sqlite:///{demo.root}/rca.db")
    try:
        runs = {r["hypothesis_id"]: r for r in register.runs(demo.id)}
    finally:
        register.close()
    assert "audit chain intact" in demo.rca("audit", "verify").stdout
    changed, gone = notebooks(demo)["backpressure"], notebooks(demo)["memory-leak"]
    original = changed.read_bytes()
    moved = gone.with_suffix(".moved")
    try:
        changed.chmod(0o644)
        changed.write_bytes(original + b"\n")  # still the same notebook to Jupyter
        done = demo.rca("audit", "verify", check=False)
        assert done.returncode == 1
        run = runs["backpressure"]
        assert f"run {run['id']} of investigation {demo.id}" in done.stderr
        assert f"evidence notebook {changed} changed since it was recorded" in done.stderr
        gone.rename(moved)
        done = demo.rca("audit", "verify", check=False)
        assert done.returncode == 1
        assert f"evidence notebook {gone} is missing" in done.stderr
        assert f"run {runs['memory-leak']['id']}" in done.stderr
        assert "2 evidence notebooks do not match the register" in done.stderr
    finally:
        changed.write_bytes(original)
        changed.chmod(0o444)
        if moved.exists():
            moved.rename(gone)
    assert demo.rca("audit", "verify").returncode == 0
