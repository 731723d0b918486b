"""The outcome contract: record_outcome() in the kernel, harvest() from executed notebooks."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exceptions import OutcomeError
from .models import Outcome, RunResult

MIMETYPE = "application/vnd.rca-kit.outcome.v1+json"
SCHEMA = "rca-kit.outcome/1"
RECORDED_VERDICTS = ("supported", "refuted", "inconclusive")
MAX_SUMMARY = 2000
_captured: list[dict[str, Any]] | None = None


def _plain(value: Any, where: str) -> Any:
    """Turn numpy/pandas scalars into JSON types; reject what JSON cannot hold."""
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays, pandas
        value = value.tolist()
    if isinstance(value, float):
        return None if math.isnan(value) else (value if math.isfinite(value) else str(value))
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    msg = f"{where}: {type(value).__name__} is not JSON (use numbers, strings, lists, dicts)"
    raise OutcomeError(msg)


def _figure_json(figure: Any) -> dict[str, Any] | None:
    """A plotly figure as plain JSON (plotly's own encoder handles arrays and dates)."""
    if figure is None:
        return None
    if hasattr(figure, "to_json"):
        return dict(json.loads(figure.to_json()))
    if isinstance(figure, dict):
        return dict(json.loads(json.dumps(figure, default=str)))
    msg = f"figure must be a plotly figure or dict, got {type(figure).__name__}"
    raise OutcomeError(msg)


def validate(payload: Any) -> dict[str, Any]:
    """Check a payload against schema v1; return it or raise OutcomeError."""
    if not isinstance(payload, dict):
        raise OutcomeError("outcome payload must be an object")
    if payload.get("schema") != SCHEMA:
        raise OutcomeError(f"outcome schema is {payload.get('schema')!r}; expected {SCHEMA!r}")
    if payload.get("verdict") not in RECORDED_VERDICTS:
        raise OutcomeError(
            f"verdict {payload.get('verdict')!r} is not one of {', '.join(RECORDED_VERDICTS)}"
        )
    confidence = payload.get("confidence")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not (0.0 <= confidence <= 1.0)
    ):
        raise OutcomeError(f"confidence must be a number in [0, 1], got {confidence!r}")
    for key in ("criterion", "summary"):
        if not isinstance(payload.get(key), str) or not payload[key].strip():
            raise OutcomeError(f"{key} must be a non-empty string")
    if not isinstance(payload.get("observed"), dict):
        raise OutcomeError("observed must be an object of the numbers behind the verdict")
    missing = payload.get("missing_data", [])
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise OutcomeError("missing_data must be a list of strings")
    if payload["verdict"] == "inconclusive" and not missing:
        raise OutcomeError("an inconclusive outcome must name the missing data (missing_data)")
    figure = payload.get("figure")
    if figure is not None and not isinstance(figure, dict):
        raise OutcomeError("figure must be a plotly figure dict or null")
    return payload


def record_outcome(
    verdict: str,
    confidence: float,
    observed: dict[str, Any],
    criterion: str,
    summary: str,
    *,
    missing_data: list[str] | None = None,
    figure: Any = None,
) -> dict[str, Any]:
    """Record this notebook's verdict as a display output the harvester reads."""
    payload = validate(
        {
            "schema": SCHEMA,
            "verdict": verdict,
            "confidence": float(confidence),
            "observed": _plain(dict(observed), "observed"),
            "criterion": criterion,
            "summary": summary[:MAX_SUMMARY],
            "missing_data": list(missing_data or []),
            "figure": _figure_json(figure),
        }
    )
    if _captured is not None:  # testing.run_inline: no kernel, the caller collects outcomes
        _captured.append(payload)
        return payload
    try:
        from IPython import display as ipython_display
    except ImportError:  # outside a kernel the return value is the record
        return payload
    display: Callable[..., None] = ipython_display.display
    text = f"{verdict} (confidence {float(confidence):.2f}): {summary}"
    bundle: dict[str, Any] = {MIMETYPE: payload, "text/plain": text}
    display(bundle, raw=True)
    return payload


def _recorded(notebook: Any) -> list[Any]:
    """Every outcome payload in a notebook's outputs, whatever shape the file has (a kernel
    wrote it: any code could have); OutcomeError if it is not a notebook at all."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise OutcomeError("the evidence notebook is not a notebook (no list of cells)")
    found = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs")
        for output in outputs if isinstance(outputs, list) else []:
            data = output.get("data") if isinstance(output, dict) else None
            if isinstance(data, dict) and MIMETYPE in data:
                found.append(data[MIMETYPE])
    return found


def _errored(run: RunResult, reason: str) -> Outcome:
    return Outcome(
        hypothesis_id=run.hypothesis_id,
        verdict="errored",
        confidence=0.0,
        summary=reason,
        criterion="",
        notebook=run.notebook,
        duration_s=run.duration_s,
        error=reason,
    )


def harvest(run: RunResult) -> Outcome:
    """The outcome of one run: errored if the runner saw a failure, else the recorded one."""
    if run.error is not None:
        return _errored(run, run.error)
    try:
        records = _recorded(json.loads(Path(run.notebook).read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError, OutcomeError) as exc:
        return _errored(run, str(exc) or type(exc).__name__)
    return from_records(run, records)


def from_records(run: RunResult, records: list[Any]) -> Outcome:
    """The outcome a run recorded: exactly one valid payload, else errored with the reason."""
    if run.error is not None:
        return _errored(run, run.error)
    try:
        if not records:
            raise OutcomeError("the notebook finished without calling record_outcome()")
        if len(records) > 1:
            raise OutcomeError(f"the notebook recorded {len(records)} outcomes; expected one")
        payload = validate(records[0])
    except OutcomeError as exc:
        return _errored(run, str(exc))
    return Outcome(
        hypothesis_id=run.hypothesis_id,
        verdict=payload["verdict"],
        confidence=float(payload["confidence"]),
        summary=payload["summary"],
        criterion=payload["criterion"],
        observed=payload["observed"],
        missing_data=tuple(payload.get("missing_data", [])),
        figure=payload.get("figure"),
        notebook=run.notebook,
        duration_s=run.duration_s,
    )
