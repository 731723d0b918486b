"""rca-kit: turn operational alerts into testable hypotheses, evidence and ranked fixes.

`import rca_kit` stays light (every notebook kernel imports it): names are imported on first
use, so a kernel that only records an outcome never loads papermill, SQLAlchemy or jupyter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .exceptions import InputError, RcaKitError

__version__ = "0.1.0"

_LAZY = {
    "record_outcome": "rca_kit.outcome",
    "harvest": "rca_kit.outcome",
    "load_evidence": "rca_kit.evidence.load",
    "Evidence": "rca_kit.evidence.load",
    "investigate": "rca_kit.pipeline",
    "ingest_file": "rca_kit.ingest",
    "find_workspace": "rca_kit.config",
    "parse_alerts": "rca_kit.intake",
    "load_library": "rca_kit.library",
    "Register": "rca_kit.register",
    "stats": "rca_kit.stats",
    "downsample": "rca_kit.figures",
    "add_markers": "rca_kit.figures",
    "verify_task": "rca_kit.loop",
    "verify_due": "rca_kit.loop",
    "review_incident": "rca_kit.loop",
    "plain": "rca_kit.inert",
    "one_line": "rca_kit.inert",
    "inert_figure": "rca_kit.inert",
    "TriagePanel": "rca_kit.widgets",
    "RegisterEditor": "rca_kit.widgets",
}

__all__ = [
    "Evidence",
    "InputError",
    "RcaKitError",
    "Register",
    "RegisterEditor",
    "TriagePanel",
    "__version__",
    "add_markers",
    "downsample",
    "find_workspace",
    "harvest",
    "inert_figure",
    "ingest_file",
    "investigate",
    "load_evidence",
    "load_library",
    "one_line",
    "parse_alerts",
    "plain",
    "record_outcome",
    "review_incident",
    "stats",
    "verify_due",
    "verify_task",
]

if TYPE_CHECKING:
    from . import stats
    from .config import find_workspace
    from .evidence.load import Evidence, load_evidence
    from .figures import add_markers, downsample
    from .inert import inert_figure, one_line, plain
    from .ingest import ingest_file
    from .intake import parse_alerts
    from .library import load_library
    from .loop import review_incident, verify_due, verify_task
    from .outcome import harvest, record_outcome
    from .pipeline import investigate
    from .register import Register
    from .widgets import RegisterEditor, TriagePanel


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'rca_kit' has no attribute {name!r}"
        raise AttributeError(msg)
    loaded = importlib.import_module(module)
    value = loaded if module.endswith("." + name) else getattr(loaded, name)
    globals()[name] = value
    return value
