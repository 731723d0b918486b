"""Widgets for JupyterLab (ipywidgets 8): `TriagePanel("inv-…")` and `RegisterEditor()`.

Thin layers: the triage panel acts through rca_kit.triage, the register editor through the
Register's own methods, exactly as the CLI does. Needs the `lab` extra (ipywidgets).
"""

from __future__ import annotations

from .register_editor import RegisterEditor
from .triage_panel import TriagePanel

__all__ = ["RegisterEditor", "TriagePanel"]
