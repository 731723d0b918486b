"""A hostile service label in the HTML review, as a reader sees it in Debian's Chromium.

plotly renders a subset of HTML (links, styles, line breaks) in titles, axis titles, legend
names, annotations and hover text: in a review every such text must read literally.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chromium import ARGS, CHROMIUM
from playwright.sync_api import Dialog, Page, sync_playwright

from rca_kit.figures import PLOTLY_MIMETYPE, is_outcome_figure
from rca_kit.outcome import MIMETYPE

pytestmark = [pytest.mark.slow, pytest.mark.browser]
Rca = Callable[..., subprocess.CompletedProcess[str]]
HOSTILE = '<a href="https://evil.example">x</a><img src=x onerror=alert(1)>'
# what the page holds: links anywhere (an SVG link has xlink:href), images, and the texts
# plotly drew (titles, axis titles, ticks, legend, annotations, hover labels)
INSPECT = """() => {
  const links = [...document.querySelectorAll('*')].filter(e => e.localName === 'a'
      && [...e.attributes].some(a => /href$/.test(a.name) && a.value.includes('evil.example')));
  const texts = sel => [...document.querySelectorAll(sel)].map(e => e.textContent);
  return {
    evil_links: links.length,
    plot_links: document.querySelectorAll('.figure .main-svg a').length,
    images: document.querySelectorAll('img').length,
    titles: texts('.figure .gtitle'),
    axis_titles: texts('.figure .xtitle, .figure .ytitle'),
    ticks: texts('.figure .xtick text'),
    legend: texts('.figure .legendtext'),
    annotations: texts('.figure .annotation-text'),
    hover: texts('.figure .hoverlayer text'),
    body: document.body.innerText,
  };
}"""


def hostile_figure() -> dict[str, Any]:
    """The label in every text plotly renders, with a category axis and a hover template."""
    return {
        "data": [
            {
                "type": "bar",
                "x": [HOSTILE, "other"],
                "y": [3, 1],
                "name": HOSTILE,
                "hovertemplate": f"{HOSTILE} %{{y}}<extra></extra>",
                "showlegend": True,
            }
        ],
        "layout": {
            "title": {"text": HOSTILE},
            "xaxis": {"title": {"text": HOSTILE}, "type": "category"},
            "yaxis": {"title": {"text": HOSTILE}},
            "annotations": [{"text": HOSTILE, "x": "other", "y": 2, "showarrow": False}],
            "legend": {"title": {"text": HOSTILE}},
            "hovermode": "closest",
            "meta": "hostile-figure",
        },
    }


def replace_figure(notebook: Path, figure: dict[str, Any]) -> None:
    """Put `figure` where an evidence notebook keeps its outcome's figure (the figure output,
    and the record of notebooks written before it had one)."""
    document = json.loads(notebook.read_text(encoding="utf-8"))
    replaced = False
    for cell in document["cells"]:
        outputs = cell.get("outputs", [])
        for output in outputs:
            data = output.get("data", {})
            if is_outcome_figure(output):
                data[PLOTLY_MIMETYPE] = figure
                replaced = True
            if "figure" in data.get(MIMETYPE, {}):
                data[MIMETYPE]["figure"] = figure
        if not replaced and any(MIMETYPE in o.get("data", {}) for o in outputs):
            # a test that found no data showed no figure: give it one, as a kernel could
            outputs.insert(0, figure_output(figure))
            replaced = True
    assert replaced, notebook
    notebook.chmod(0o644)  # sealed read-only when it was harvested
    notebook.write_text(json.dumps(document), encoding="utf-8")


def figure_output(figure: dict[str, Any]) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "data": {PLOTLY_MIMETYPE: figure, "text/plain": "<figure>"},
        "metadata": {"rca_kit": {"outcome_figure": True}},
    }


def record_as_harvested(database: Path, notebook: Path) -> None:
    """Make the register vouch for the notebook as it now is: a kernel could have written this
    figure itself, and the review draws only what the register recorded (a changed notebook is
    flagged and not drawn)."""
    with sqlite3.connect(database) as conn:
        digest = hashlib.sha256(notebook.read_bytes()).hexdigest()
        update = "UPDATE runs SET notebook_sha256 = ? WHERE notebook = ?"
        conn.execute(update, (digest, str(notebook)))


def inspect(page: Page, report: Path, *, hover: bool = False) -> dict[str, Any]:
    page.goto(report.as_uri())
    page.wait_for_selector(".figure .plotly .main-svg", timeout=20_000)
    if hover:  # draw the hover label of the hostile figure's first bar
        page.evaluate(
            "() => Plotly.Fx.hover([...document.querySelectorAll('.js-plotly-plot')]"
            ".find(gd => gd.layout.meta === 'hostile-figure'), [{curveNumber: 0, pointNumber: 0}])"
        )
        page.wait_for_selector(".figure .hoverlayer text", timeout=10_000)
    found: dict[str, Any] = page.evaluate(INSPECT)
    return found


def test_a_hostile_service_label_reads_literally_in_the_review(
    rca: Rca, workspace_dir: Path
) -> None:
    payload = json.loads((workspace_dir / "examples/alerts/consumer-lag.json").read_text())
    for labels in (payload["commonLabels"], payload["alerts"][0]["labels"]):
        labels["service"] = HOSTILE
    payload["alerts"][0]["annotations"]["summary"] = f"lag on {HOSTILE}"
    (workspace_dir / "hostile.json").write_text(json.dumps(payload))
    result = json.loads(rca("investigate", "hostile.json", "--json", check=True).stdout)
    report = Path(result["report"])

    dialogs: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()

        def dialog(shown: Dialog) -> None:  # alert(), confirm() … would block: note, dismiss
            dialogs.append(shown.message)
            shown.dismiss()

        page.on("dialog", dialog)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("request", lambda req: requests.append(req.url))
        as_run = inspect(page, report)
        # a figure holding the label in every text plotly renders, re-rendered by the CLI
        judged = next(h for h in result["hypotheses"] if h["verdict"] in ("supported", "refuted"))
        replace_figure(Path(judged["notebook"]), hostile_figure())
        record_as_harvested(workspace_dir / "rca.db", Path(judged["notebook"]))
        rca("report", result["investigation_id"], check=True)
        everywhere = inspect(page, report, hover=True)
        browser.close()

    assert dialogs == []
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests
    for found in (as_run, everywhere):
        assert found["evil_links"] == 0
        assert found["plot_links"] == 0
        assert found["images"] == 0
        assert HOSTILE in found["body"]  # the page's own text: escaped by jinja2
    # no series carries the hostile service, so no test plotted one (the review draws no
    # plot for a test without data); every title drawn reads literally
    assert all("<a" not in title or HOSTILE in title for title in as_run["titles"])
    for part in ("titles", "axis_titles", "ticks", "legend", "annotations", "hover"):
        assert any(HOSTILE in text for text in everywhere[part]), (part, everywhere[part])
