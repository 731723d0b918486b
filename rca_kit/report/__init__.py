"""Self-contained HTML reports rendered with jinja2 (autoescaped)."""

from .library import render_library
from .register import render_register
from .render import render_investigation

__all__ = ["render_investigation", "render_library", "render_register"]
