"""Self-contained HTML reports rendered with jinja2 (autoescaped)."""

from .render import render_investigation

__all__ = ["render_investigation"]
