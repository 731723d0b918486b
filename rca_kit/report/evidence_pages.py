"""An evidence notebook as an HTML page for the review: reports/<investigation>/<hypothesis>.html.

The notebook is untrusted (a kernel wrote its outputs, alert labels flow into them), so the
page is nbconvert's lab template with `sanitize_html=True` and then some:

- outputs keep only representations that render as inert markup (plain text, images, LaTeX as
  text, and HTML and Markdown cleaned to text structure: `clean_html`, no ids, styles, images
  or scripts); scripts, widgets, mermaid and every other type are dropped, as are output file
  references (`metadata.filenames`);
- a figure without a single data point, and the figure of an inconclusive outcome, is left out
  (no empty chart on a made-up axis: the outcome's line names the missing data);
- every other plotly figure output is drawn by rca-kit's own markup: the figure, every text in
  it made inert (`inert.inert_figure`) and external image sources removed, as escaped JSON,
  drawn by one fixed script with plotly.js loaded from `plotly_src` (a relative URL: the
  reports folder's shared copy), never by the notebook's own HTML;
- the page loads nothing from the network (no require.js, MathJax or widget scripts) and a
  Content-Security-Policy allows only that fixed script (and what it loads), stylesheets from
  the page's own folders, inline styles and data: images, so nothing the sanitizer missed could
  run or fetch;
- the ~260 KB of CSS nbconvert's lab template puts in every page (JupyterLab's, its light
  theme's, code highlighting) is one shared file, `reports/assets/nbconvert-lab-<version>-
  <sha12>.css` (`stylesheet_asset`), linked by `stylesheet_src`; without it, the page carries
  the CSS itself.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import threading
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from ..exceptions import InputError
from ..figures import PLOTLY_MIMETYPE, figure_height, is_outcome_figure, plotted, script_json
from ..fsutil import atomic_write
from ..inert import inert_figure, one_line, shown
from ..outcome import recorded_inconclusive
from .assets import content_name, shared_asset
from .evidence_markup import HEADING_CSS, clean_code, clean_html, heading_anchors
from .page_exporter import page_exporter_class

PAGE_FIGURE = "application/vnd.rca-kit.page-figure+json"  # rca-kit's own, never the notebook's
# representations that nbconvert's lab template renders inert (HTML and Markdown cleaned)
KEPT = ("text/html", "text/markdown", "text/plain", "text/latex", "image/png", "image/jpeg")
CONFIG = {"displaylogo": False, "responsive": True}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_STYLE_BLOCK = re.compile(r'<style type="text/css">(.*?)</style>', re.DOTALL)

# reads its data from the element right before it, never by id (ids are stripped from the
# notebook's HTML, but the script does not depend on that)
_DRAW = """
(function () {
  var data = document.currentScript.previousElementSibling;
  var page = JSON.parse(data.textContent);
  var nodes = page.figures.map(function (_, index) {
    return document.getElementById("rca-kit-figure-" + index);
  });
  var script = document.createElement("script");
  script.src = page.plotly;
  script.onload = function () {
    page.figures.forEach(function (figure, index) {
      if (nodes[index]) {
        window.Plotly.newPlot(nodes[index], figure.data, figure.layout, page.config);
      }
    });
  };
  script.onerror = function () {
    nodes.forEach(function (node) {
      if (node) { node.textContent = "plotly.js was not found at " + page.plotly; }
    });
  };
  document.head.appendChild(script);
})();
"""

_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- from 'celltags.j2' import celltags -%}
{%- from 'cell_id_anchor.j2' import cell_id_anchor -%}
{%- block html_head -%}
<meta http-equiv="Content-Security-Policy" content="{{ resources.rca_kit.policy }}">
{{ super() }}
{%- endblock html_head -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block notebook_css -%}
{%- if resources.rca_kit.stylesheet -%}
<link href="{{ resources.rca_kit.stylesheet | e }}" rel="stylesheet">
{%- else -%}
{{ super() }}
<style type="text/css">{{ resources.rca_kit.css }}</style>
{%- endif -%}
{%- endblock notebook_css -%}
{%- block input -%}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
<div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) | clean_code }}
</div>
</div>
{%- endblock input -%}
{%- block markdowncell scoped -%}
<div {{ cell_id_anchor(cell) }} class="jp-Cell jp-MarkdownCell jp-Notebook-cell">
<div class="jp-Cell-inputWrapper">
<div class="jp-Collapser jp-InputCollapser jp-Cell-inputCollapser">
</div>
<div class="jp-InputArea jp-Cell-inputArea">
{%- if resources.global_content_filter.include_input_prompt -%}
{{ self.empty_in_prompt() }}
{%- endif -%}
<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput {{ celltags(cell) }}"
 data-mime-type="text/markdown">
{{ cell.source | markdown2html | strip_files_prefix | clean_html | heading_anchors(resources) }}
</div>
</div>
</div>
</div>
{%- endblock markdowncell -%}
{%- block data_other -%}
{%- set figure = output.data.get('application/vnd.rca-kit.page-figure+json') -%}
{%- if figure -%}
<div class="jp-OutputArea-output rca-kit-figure" id="rca-kit-figure-{{ figure['index'] | int }}"
 style="width:100%;height:{{ figure['height'] | int }}px"></div>
{%- endif -%}
{%- endblock data_other -%}
{%- block body_footer -%}
<script type="application/json">{{ resources.rca_kit.figures }}</script>
<script>{{ resources.rca_kit.draw }}</script>
</main>
</body>
{%- endblock body_footer -%}
"""
_lock = threading.Lock()


@cache
def _policy() -> str:
    digest = base64.b64encode(hashlib.sha256(_DRAW.encode()).digest()).decode()
    return (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}' 'strict-dynamic'; "
        "style-src 'self' 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
        "form-action 'none'"
    )


@cache
def _exporter() -> Any:
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    defaults = HTMLExporter().default_config  # type: ignore[no-untyped-call]
    priority = defaults.NbConvertBase.display_data_priority
    config = Config(
        {
            "NbConvertBase": {"display_data_priority": [PAGE_FIGURE, *priority]},
            # code highlighting rules come from `_resources` (the user's custom.css, which this
            # preprocessor would add too, never: a page looks the same whoever exported it)
            "CSSHTMLHeaderPreprocessor": {"enabled": False},
        }
    )
    return page_exporter_class()(
        config=config,
        template_name="lab",
        sanitize_html=True,
        exclude_anchor_links=True,  # `heading_anchors` adds rca-kit's own
        optimistic_validation=True,  # once, after the preprocessors (`_read` checked the input)
        extra_loaders=[jinja2.DictLoader({"rca_kit_evidence.html.j2": _TEMPLATE})],
        template_file="rca_kit_evidence.html.j2",
        filters={
            "clean_html": clean_html,
            "clean_code": clean_code,
            "heading_anchors": heading_anchors,
        },
    )


def _local_images(figure: dict[str, Any]) -> dict[str, Any]:
    """`figure` without layout images fetched from elsewhere (only data: sources stay)."""
    layout = figure.get("layout")
    images = layout.get("images") if isinstance(layout, dict) else None
    if not isinstance(images, list):
        return figure
    kept = [
        image
        for image in images
        if isinstance(image, dict) and str(image.get("source", "")).startswith("data:image/")
    ]
    return {**figure, "layout": {**layout, "images": kept}} if isinstance(layout, dict) else figure


def _page_notebook(document: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The notebook as the page shows it (outputs reduced to inert representations, figures
    replaced by references), and the figures, inert, in page order."""
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines

    node = nbformat.from_dict(copy.deepcopy(document))  # type: ignore[no-untyped-call]
    notebook = rejoin_lines(node)  # type: ignore[no-untyped-call]
    figures: list[dict[str, Any]] = []
    inconclusive = recorded_inconclusive(notebook)
    for cell in notebook.get("cells", []):
        outputs = cell.get("outputs") if cell.get("cell_type") == "code" else None
        if isinstance(outputs, list):  # no plot without data: not an empty year-2000 chart
            outputs[:] = [o for o in outputs if not _unplotted(o, inconclusive)]
        for output in outputs if isinstance(outputs, list) else []:
            if not isinstance(output, dict):
                continue
            for key in ("svg_filename", "filenames"):
                output.pop(key, None)
            metadata = output.get("metadata")
            if isinstance(metadata, dict):
                metadata.pop("filenames", None)
            data = output.get("data")
            if not isinstance(data, dict):
                continue
            figure = data.get(PLOTLY_MIMETYPE)
            kept: dict[str, Any] = {
                k: v for k, v in data.items() if k in KEPT and isinstance(v, str | list)
            }
            if isinstance(figure, dict):
                shown = _local_images(inert_figure(figure))
                figures.append({"data": shown.get("data"), "layout": shown.get("layout")})
                kept = {
                    PAGE_FIGURE: {
                        "index": len(figures) - 1,
                        "height": figure_height(shown.get("layout")),
                    }
                }
            elif not kept:  # something only a browser running its code would show
                dropped = ", ".join(sorted(str(k) for k in data))
                kept = {"text/plain": one_line(f"[not shown on this page: {dropped}]", 200)}
            data.clear()
            data.update(kept)
    return notebook, figures


def _unplotted(output: Any, inconclusive: bool) -> bool:
    """Whether an output is a figure the page leaves out: one without a data point, or the
    figure of an inconclusive outcome."""
    data = output.get("data") if isinstance(output, dict) else None
    figure = data.get(PLOTLY_MIMETYPE) if isinstance(data, dict) else None
    if not isinstance(figure, dict):
        return False
    return not plotted(figure) or (inconclusive and is_outcome_figure(output))


def _relative(url: str, name: str, what: str) -> str:
    if not url or _SCHEME.match(url) or url.startswith(("/", "\\")):
        raise InputError(f"{name} must be a relative URL (the reports' shared {what}), got {url!r}")
    return url


@cache
def _pygments_css() -> str:
    """The code highlighting rules nbconvert's lab template puts in every page."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from pygments.formatters import HtmlFormatter  # type: ignore[import-untyped]

    configured = CSSHTMLHeaderPreprocessor(parent=_exporter())  # type: ignore[no-untyped-call]
    return str(HtmlFormatter(style=configured.style).get_style_defs(configured.highlight_class))


def _resources(
    name: str, figures: list[dict[str, Any]], plotly_src: str, stylesheet_src: str | None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "inlining": {"css": [] if stylesheet_src else [_pygments_css()]},
        "rca_kit": {
            "policy": _policy(),
            "draw": _DRAW,
            "figures": script_json({"figures": figures, "plotly": plotly_src, "config": CONFIG}),
            "stylesheet": stylesheet_src,
            "css": HEADING_CSS,
            "headings": [],
        },
    }


def _render(page: Any, resources: dict[str, Any]) -> str:
    with _lock:  # one exporter per process; its jinja environment is not shared across threads
        html, _ = _exporter().from_notebook_node(page, resources=resources)
    return str(html)


@cache
def _stylesheet() -> tuple[str, bytes]:
    """(file name, CSS) of the stylesheet evidence pages share: every style nbconvert's lab
    template puts in a page, as it puts them in the page of an empty notebook."""
    import nbconvert
    from nbformat import v4

    blank = v4.new_notebook()  # type: ignore[no-untyped-call]
    html = _render(blank, _resources("stylesheet", [], "plotly.js", None))
    css = "\n".join(_STYLE_BLOCK.findall(html.split("</head>", 1)[0])).encode()
    return content_name(f"nbconvert-lab-{nbconvert.__version__}", css, ".css"), css


def warm_up() -> threading.Thread:
    """Get pages ready to export on a background thread: nbconvert's imports, its templates
    compiled, the stylesheet (~2 s of CPU, once per process). An investigation calls it as its
    notebooks start running in their own processes, so that wait hides the cost."""
    thread = threading.Thread(target=_warm, name="rca-kit-evidence-pages", daemon=True)
    thread.start()
    return thread


def _warm() -> None:
    with contextlib.suppress(Exception):  # if it fails, the export says why
        _stylesheet()


def stylesheet_asset(reports_dir: Path) -> Path:
    """The stylesheet evidence pages link, under `reports_dir/assets/` (written if missing or
    not what its name says)."""
    return shared_asset(reports_dir, *_stylesheet())


def export_evidence_page(
    notebook: Path, out: Path, *, plotly_src: str, stylesheet_src: str | None = None
) -> Path:
    """Write the HTML page of an evidence notebook to `out` (atomically) and return it; the
    page loads plotly.js from `plotly_src`, relative to `out` (e.g. "../assets/plotly-….js"),
    and links `stylesheet_src` (`stylesheet_asset`, relative to `out`), else carries its CSS."""
    src = _relative(plotly_src, "plotly_src", "plotly.js")
    css = _relative(stylesheet_src, "stylesheet_src", "stylesheet") if stylesheet_src else None
    document = _read(notebook)
    try:
        page, figures = _page_notebook(document)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a shape nbformat rejects
        raise InputError(f"not a notebook nbconvert can show: {exc}", where=str(notebook)) from None
    from nbformat import ValidationError

    shapes = (AttributeError, KeyError, TypeError, ValueError, ValidationError)
    try:
        html = _render(page, _resources(notebook.stem, figures, src, css))
    except (*shapes, jinja2.TemplateError) as exc:  # valid, yet nbconvert cannot show it
        problem = one_line(f"{type(exc).__name__}: {exc}", 200)
        raise InputError(f"nbconvert cannot show it: {problem}", where=str(notebook)) from exc
    return atomic_write(out, html)


def _read(notebook: Path) -> dict[str, Any]:
    """The notebook's JSON, checked against the nbformat 4 schema (as nbconvert reads it):
    anything else is an InputError naming the notebook and, in one line, what is wrong."""
    try:
        document = json.loads(notebook.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"cannot read the evidence notebook: {exc}", where=str(notebook)) from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise InputError("not a notebook (no list of cells)", where=str(notebook))
    if document.get("nbformat") != 4:
        raise InputError(
            f"not an nbformat 4 notebook (nbformat {shown(document.get('nbformat'))})",
            where=str(notebook),
        )
    from nbformat import ValidationError, validator

    try:
        validator.validate(document, relax_add_props=True)
    except ValidationError as exc:
        message, instance = str(exc.message), repr(getattr(exc, "instance", None))
        if message.startswith(instance):  # "{…the whole cell…} is not valid under …"
            message = shown(exc.instance) + message[len(instance) :]
        where = one_line(getattr(exc, "json_path", "$"), 80)
        raise InputError(
            f"not a valid notebook: {one_line(message, 160)} at {where}", where=str(notebook)
        ) from None
    return document
