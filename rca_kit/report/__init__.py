"""HTML reports rendered with jinja2 (autoescaped): the review of an investigation, the
register, the library and the index of investigations, sharing one plotly.js."""

from .index import render_index
from .library import render_library
from .register import render_register
from .render import render_investigation

__all__ = ["render_index", "render_investigation", "render_library", "render_register"]
