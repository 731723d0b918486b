"""What every report page shares: the jinja2 environment (autoescaped, inert text), the value
filters, figure JSON safe inside a page, and the plotly.js a page loads."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..inert import html_text
from ..learning import parse_ts
from .assets import plotly_inline, plotly_src

UNKNOWN = "–"  # shown for an undefined rate, a missing time or a missing duration
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rca_kit.report", "templates"),
        autoescape=True,  # every value is untrusted text unless marked otherwise
        undefined=jinja2.StrictUndefined,
        finalize=html_text,  # and printed without control or bidi characters
        # compiled templates kept between runs (a private per-user folder jinja2 checks):
        # compiling them costs a cold `rca investigate` a few tenths of a second
        bytecode_cache=jinja2.FileSystemBytecodeCache(),
    )
    env.filters.update(
        num=number,
        duration=human_duration,
        ratio=ratio,
        score=score,
        when=when,
        short_hash=short_hash,
        label=lambda value, labels: labels.get(value, value),
    )
    return env


def render(template: str, **context: Any) -> str:
    """A page from `template`; its Content-Security-Policy follows the plotly.js it loads."""
    plotly = context.get("plotly")
    return environment().get_template(template).render(**context, loader=LOADER, csp=policy(plotly))


def generated_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value) if isinstance(value, list | dict) else str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e12):
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.4g}" if abs(value) >= 1e-3 else f"{value:.3g}"


def human_duration(seconds: float | None) -> str:
    """Like "45 s", "4 min", "2.1 h", "3.5 d"; an en dash when unknown."""
    if seconds is None:
        return UNKNOWN
    # thresholds on the rounded value, so 59.7 s reads "1 min", never "60 s"
    if round(seconds) < 60:
        return f"{seconds:.0f} s"
    if round(seconds / 60) < 60:
        return f"{seconds / 60:.0f} min"
    if round(seconds / 3600, 1) < 24:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def ratio(value: float | None) -> str:
    """A rate in [0, 1] as "0.83"; an en dash when undefined (nothing to divide by)."""
    return UNKNOWN if value is None else f"{value:.2f}"


def score(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.1f}"


def when(value: Any) -> str:
    """A timestamp as "2026-11-20 09:31:00 UTC"; an en dash when missing or not a time."""
    parsed = parse_ts(value)
    if parsed is None:
        return UNKNOWN
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_hash(value: Any) -> str:
    return str(value)[:12] if value else UNKNOWN


def safe_name(value: str) -> str | None:
    """`value` if it can name a file in a reports folder as it is (hypothesis ids, ids)."""
    return value if _SAFE_NAME.fullmatch(value) and ".." not in value else None


def script_json(value: Any) -> Markup:
    """JSON safe to place inside a <script type="application/json"> element."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:  # NaN or infinity, which JSON.parse refuses: null, as plotly writes it
        text = json.dumps(_finite(value), separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)  # noqa: S704 - every markup character is escaped above


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


class Figures:
    """The figures of one page, embedded as JSON: plotly.py puts its ~6 KB theme in every
    figure, so the page keeps each distinct theme once and figures refer to it by number."""

    def __init__(self) -> None:
        self.templates: list[Any] = []
        self.count = 0

    def embed(self, figure: dict[str, Any]) -> Markup:
        self.count += 1
        layout = figure.get("layout")
        if isinstance(layout, dict) and isinstance(layout.get("template"), dict):
            template = layout["template"]
            if template not in self.templates:
                self.templates.append(template)
            figure = {**figure, "layout": {**layout, "template": self.templates.index(template)}}
        return script_json(figure)

    def shared(self) -> Markup:
        return script_json(self.templates)


@dataclass(frozen=True)
class Plotly:
    """How a page loads plotly.js: the shared file by a relative `src`, or `inline` code."""

    src: str | None = None
    inline: Markup | None = None


# The one script a page runs besides plotly.js: it draws each figure from its JSON element
# (data, never code), with the page's shared plotly theme, or says what is missing.
LOADER = Markup("""
(function () {
  const templates = JSON.parse(document.getElementById('plot-templates').textContent);
  for (const el of document.querySelectorAll('script[data-target]')) {
    const target = document.getElementById(el.dataset.target);
    if (typeof Plotly === 'undefined') {
      target.classList.add('missing');
      target.textContent = 'This plot needs plotly.js from the assets folder beside this page; '
        + 'to share one file, render it with rca report INVESTIGATION_ID --standalone.';
      continue;
    }
    const figure = JSON.parse(el.textContent);
    const layout = figure.layout || {};
    if (typeof layout.template === 'number') layout.template = templates[layout.template];
    Plotly.newPlot(target, figure.data || [], layout, {responsive: true, displaylogo: false});
  }
})();
""")
# no network, no plugins, no forms, no base: whatever escaping missed could neither run nor
# fetch; scripts only the loader above and plotly.js (the shared file, or inline by its hash)
_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "base-uri 'none'; form-action 'none'"
)


@cache
def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def policy(plotly: Plotly | None) -> str:
    """The page's Content-Security-Policy: no script at all on a page without plots."""
    if plotly is None:
        return _POLICY
    source = _sha256(str(plotly.inline)) if plotly.inline is not None else "'self'"
    return f"{_POLICY}; script-src {source} {_sha256(str(LOADER))}"


def plotly_for(page: Path, reports_dir: Path, *, standalone: bool = False) -> Plotly:
    """The plotly.js a page at `page` loads: inline when it must stand alone."""
    if standalone:
        return Plotly(inline=plotly_inline())
    return Plotly(src=plotly_src(page, reports_dir))
