"""An outcome's figure as an ordinary display output: what JupyterLab and nbconvert show.

`record_outcome(figure=...)` displays the figure, every text in it made inert
(`inert.inert_figure`), as one output with three representations:

- `application/vnd.plotly.v1+json`: the figure; JupyterLab's plotly renderer (jupyterlab-plotly,
  preferred over HTML and allowed in untrusted notebooks) draws it.
- `text/html`: for `jupyter nbconvert --to html` and other HTML views. It holds the figure as
  JSON and a fixed script that loads plotly.js from `plotly-<version>.min.js` *beside the page*
  (relative URL, so it works offline and from file://) and draws it; without that file it
  says what is missing instead. rca-kit links that file into every investigation folder
  (`plotly_beside`: a hard link to the reports folder's one copy), so the HTML nbconvert writes
  next to a notebook draws its figure. Each notebook stays tens of KB: plotly.js (4.8 MB) is
  never embedded in it.
- `text/plain`: one short line.

The output's metadata `{"rca_kit": {"outcome_figure": true}}` tells readers which output is the
figure of the outcome (`outcome.figure_of`). Only the standard library is imported when this
module loads: it runs in every notebook kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from .inert import one_line

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
FIGURE_METADATA = {"rca_kit": {"outcome_figure": True}}
CONFIG = {"displaylogo": False, "responsive": True}
DEFAULT_HEIGHT = 450
_VERSION = re.compile(r"[0-9A-Za-z.+-]{1,40}")

# The fixed script of the text/html representation: it reads the figure from the JSON element
# next to it (never from code), loads plotly.js once per page from the file beside the page, and
# hides an AMD loader meanwhile (nbconvert's page loads require.js when online; plotly.js would
# register with it instead of defining window.Plotly).
_LOADER = """<script>
(function () {
  var node = document.getElementById("__ID__");
  var page = window.rcaKitPlotly = window.rcaKitPlotly || {state: "idle", waiting: []};
  function draw(target) {
    var figure = JSON.parse(document.getElementById(target.id + "-data").textContent);
    window.Plotly.newPlot(target, figure.data, figure.layout, figure.config);
  }
  function missing(target) {
    target.textContent = "This figure needs __SRC__ beside this page (rca-kit writes it into " +
      "each investigation folder); its data is in the notebook.";
  }
  if (window.Plotly) { draw(node); return; }
  if (page.state === "failed") { missing(node); return; }
  page.waiting.push(node);
  if (page.state === "loading") { return; }
  page.state = "loading";
  var amd = window.define;
  window.define = undefined;
  var script = document.createElement("script");
  script.src = "__SRC__";
  script.onload = function () {
    window.define = amd;
    page.state = "loaded";
    page.waiting.splice(0).forEach(draw);
  };
  script.onerror = function () {
    window.define = amd;
    page.state = "failed";
    page.waiting.splice(0).forEach(missing);
  };
  document.head.appendChild(script);
})();
</script>"""


def script_json(value: Any) -> str:
    """JSON that is safe inside a `<script type="application/json">` element."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@cache
def plotly_version() -> str:
    """The version of the plotly.js that plotly.py bundles (what JupyterLab's renderer and the
    file beside the notebooks are)."""
    from plotly.offline import get_plotlyjs_version

    version = str(get_plotlyjs_version())
    if not _VERSION.fullmatch(version):  # it becomes a file name and a URL
        raise ValueError(f"unexpected plotly.js version {version!r}")
    return version


def plotly_file_name() -> str:
    """`plotly-<version>.min.js`: the file the text/html representation loads."""
    return f"plotly-{plotly_version()}.min.js"


def figure_height(layout: Any) -> int:
    """The height a figure's layout asks for (within reason), else plotly's default."""
    height = layout.get("height") if isinstance(layout, dict) else None
    if isinstance(height, int | float) and not isinstance(height, bool) and 50 <= height <= 5000:
        return int(height)
    return DEFAULT_HEIGHT


def _title(layout: Any) -> str:
    title = layout.get("title") if isinstance(layout, dict) else None
    text = title.get("text") if isinstance(title, dict) else title
    return text if isinstance(text, str) else ""


def display_bundle(figure: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, metadata) of the display output of an outcome's figure (already inert)."""
    shown = {**{k: v for k, v in figure.items() if k != "config"}, "config": CONFIG}
    element = f"rca-kit-figure-{uuid.uuid4().hex}"
    src = plotly_file_name()
    height = figure_height(figure.get("layout"))
    html = (
        f'<div id="{element}" class="rca-kit-figure" style="width:100%;height:{height}px">'
        "</div>\n"
        f'<script type="application/json" id="{element}-data">{script_json(shown)}</script>\n'
        + _LOADER.replace("__ID__", element).replace("__SRC__", src)
    )
    title = _title(figure.get("layout"))
    text = one_line(f"<figure{': ' + title if title else ''}>", 120)
    return {PLOTLY_MIMETYPE: shown, "text/html": html, "text/plain": text}, dict(FIGURE_METADATA)


def plotted(figure: Any) -> bool:
    """Whether a figure (plotly JSON, any shape) draws any data point: a test that found nothing
    to plot leaves empty traces (or none, only lines and shapes), which plotly would draw as an
    empty chart on a made-up year-2000 axis. Such a figure is not shown anywhere."""
    data = figure.get("data") if isinstance(figure, dict) else None
    return isinstance(data, list) and any(_has_points(trace) for trace in data)


def _has_points(trace: Any) -> bool:
    if not isinstance(trace, dict):
        return False
    for key in ("x", "y", "z", "values", "lat", "lon", "r", "a", "b"):
        value = trace.get(key)
        if isinstance(value, list) and any(v is not None for v in value):  # null: a gap
            return True
        if isinstance(value, dict) and value.get("bdata"):  # a typed array, base64-encoded
            return True
    return False


def is_outcome_figure(output: Any) -> bool:
    """Whether a notebook output (any shape: a kernel wrote it) says it is an outcome's figure."""
    metadata = output.get("metadata") if isinstance(output, dict) else None
    marker = metadata.get("rca_kit") if isinstance(metadata, dict) else None
    return isinstance(marker, dict) and marker.get("outcome_figure") is True


def plotly_beside(folder: Path, source: Path) -> Path:
    """Put plotly.js (`source`, e.g. the reports folder's shared copy) into `folder` as
    `plotly-<version>.min.js`, kept if present: a hard link (no extra bytes; it survives the
    folder being copied or moved), else (another file system) a relative symlink, else a copy."""
    target = folder / plotly_file_name()
    try:
        if target.stat().st_size == source.stat().st_size:
            return target
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        try:
            os.link(source, temporary)
        except OSError:
            try:
                temporary.symlink_to(os.path.relpath(source.resolve(), folder.resolve()))
            except OSError:
                shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def link_plotly(folder: Path, reports_dir: Path) -> None:
    """Give an investigation folder the plotly.js its notebooks' figures load when exported
    with `jupyter nbconvert --to html`: a link to the reports folder's one copy. Not evidence:
    without it (a full or read-only disk) the notebooks still run, and an exported page says
    which file its figure misses."""
    from .report.assets import plotly_asset

    with contextlib.suppress(OSError):
        plotly_beside(folder, plotly_asset(reports_dir))


# Bounded figures for templates: a notebook's figure is kept in it and drawn in the report, so
# a week of 15 s samples or a restart counter read as thousands of events must not become
# thousands of points or shapes (pandas and numpy are imported on use: see the module's doc).
MAX_POINTS = 2000
MAX_MARKERS = 30


def downsample(series: Any, max_points: int = MAX_POINTS) -> Any:
    """A pandas Series of at most `max_points` points that draws like the whole: in each of
    max_points / 2 buckets of consecutive samples, its lowest and highest sample, in time order
    (spikes and dips stay visible). Shorter series are returned as they are."""
    import numpy as np

    if len(series) <= max_points:
        return series
    values = series.to_numpy(dtype="float64")
    buckets = np.array_split(np.arange(len(values)), max(1, max_points // 2))
    keep: set[int] = set()
    for bucket in buckets:
        part = values[bucket]
        if not len(part) or np.isnan(part).all():
            continue
        keep.update((int(bucket[np.nanargmin(part)]), int(bucket[np.nanargmax(part)])))
    return series.iloc[sorted(keep)]


def add_markers(
    figure: Any,
    times: Any,
    *,
    name: str = "events",
    color: str = "red",
    max_markers: int = MAX_MARKERS,
) -> Any:
    """Mark moments on a plotly figure with a time axis, at most `max_markers` shapes: one
    dotted vertical line per moment while they are few; beyond that, moments are grouped at
    the largest gaps between them into `max_markers` groups, each one shaded band (a line when
    it holds one moment). A legend entry says how many: `restarts (412)`. Times in any offset
    are drawn in UTC. Returns the figure."""
    import numpy as np
    import pandas as pd

    stamps = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True)).dropna().unique().sort_values()
    if not len(stamps):
        return figure
    if len(stamps) > max_markers:
        gaps = np.diff(stamps.asi8)
        cuts = np.sort(np.argsort(gaps, kind="stable")[len(gaps) - (max_markers - 1) :]) + 1
        groups = [stamps[a:b] for a, b in zip([0, *cuts], [*cuts, len(stamps)], strict=True)]
    else:
        groups = [stamps[i : i + 1] for i in range(len(stamps))]
    for group in groups:
        first, last = group[0].to_pydatetime(), group[-1].to_pydatetime()
        if len(group) == 1:
            figure.add_vline(x=first, line_color=color, line_dash="dot", line_width=1)
        else:
            figure.add_vrect(x0=first, x1=last, fillcolor=color, opacity=0.15, line_width=0)
    figure.add_scatter(
        x=[None],
        y=[None],
        mode="lines",
        name=f"{name} ({len(stamps)})",
        line={"color": color, "dash": "dot"},
    )
    return figure
