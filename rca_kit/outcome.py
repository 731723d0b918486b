"""The outcome contract: record_outcome() in the kernel, harvest() from executed notebooks.

`record_outcome` displays two outputs: the figure, if any, as an ordinary display output that
JupyterLab and nbconvert show (`figures.display_bundle`, every text inert), then the record
itself: mimetype `application/vnd.rca-kit.outcome.v1+json` (the schema below, without the
figure) and a one-line `text/plain`. The record it returns is silent when echoed (no `Out[]`).
An inconclusive outcome, or a figure without a single data point, shows no figure at all (not
an empty chart): the record keeps none, and its line names the missing data.

`harvest` reads the notebook's bytes once (a regular file, at most MAX_NOTEBOOK_BYTES, no
symlink followed), takes exactly one record from them, and keeps their sha256 and the
notebook's provenance (`metadata.rca_kit`, see rca_kit.provenance) with the outcome.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import notebook_scan
from .exceptions import OutcomeError
from .figures import display_bundle, plotted
from .inert import inert_figure, one_line
from .models import Outcome, RunResult

MIMETYPE = notebook_scan.MIMETYPE  # "application/vnd.rca-kit.outcome.v1+json"
SCHEMA = "rca-kit.outcome/1"
RECORDED_VERDICTS = ("supported", "refuted", "inconclusive")
MAX_SUMMARY = 2000
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # a larger notebook is not harvested (errored)
MAX_PROVENANCE_BYTES = 64 * 1024
_captured: list[dict[str, Any]] | None = None


def _plain(value: Any, where: str) -> Any:
    """Turn numpy/pandas scalars into JSON types; refuse NaN, infinity and what JSON cannot
    hold, naming where."""
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy scalars and arrays, pandas
        value = value.tolist()
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = (
                f"{where} is {value}: a NaN or an infinity cannot be recorded (guard it before: "
                "`rca_kit.stats.finite(x)` gives None, recorded as null, where there is no value)"
            )
            raise OutcomeError(msg)
        return value
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


def _number(value: Any) -> Any:
    """A confidence as a float (numpy's too), or as given when it is not a number: validate
    then names it (a NaN is a float and fails its range check)."""
    if isinstance(value, bool) or not hasattr(value, "__float__"):
        return value
    return float(value)


def template_name() -> str:
    """The template whose notebook is recording, as far as the kernel can tell: the variable
    RCA_KIT_TEMPLATE (for a runner to set), the notebook JupyterLab runs (`__session__`), the
    notebook file the calling code was compiled from (`rca_kit.testing.run_inline`), else
    "the evidence notebook"."""
    named = os.environ.get("RCA_KIT_TEMPLATE")
    if named:
        return Path(named).name
    frame = inspect.currentframe()
    while frame is not None:
        session = frame.f_globals.get("__session__")
        if isinstance(session, str) and session:
            return Path(session).name
        if frame.f_code.co_filename.endswith(".ipynb"):
            return Path(frame.f_code.co_filename).name
        frame = frame.f_back
    return "the evidence notebook"


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
    template: str | None = None,
) -> dict[str, Any]:
    """Record this notebook's verdict as a display output the harvester reads.

    A violation raises OutcomeError naming the template (`template`, else `template_name()`):
    a confidence that is not a finite number in [0, 1], a NaN or an infinity anywhere in
    `observed` (None is how a template records "no value"), a type JSON cannot hold.
    """
    try:
        payload = validate(
            {
                "schema": SCHEMA,
                "verdict": verdict,
                "confidence": _number(confidence),
                "observed": _plain(dict(observed), "observed"),
                "criterion": criterion,
                "summary": summary[:MAX_SUMMARY] if isinstance(summary, str) else summary,
                "missing_data": list(missing_data or []),
                "figure": _shown_figure(verdict, _figure_json(figure)),
            }
        )
    except OutcomeError as exc:
        raise OutcomeError(exc.message, where=template or template_name()) from None
    if _captured is not None:  # testing.run_inline: no kernel, the caller collects outcomes
        _captured.append(payload)
        return Record(payload)
    try:
        from IPython import display as ipython_display
    except ImportError:  # outside a kernel the return value is the record
        return Record(payload)
    display: Callable[..., None] = ipython_display.display
    record = Record({k: v for k, v in payload.items() if k != "figure"})  # shown on its own
    if payload["figure"] is not None:
        data, metadata = display_bundle(inert_figure(payload["figure"]))
        display(data, raw=True, metadata=metadata)
    display({MIMETYPE: dict(record), "text/plain": _verdict_line(payload)}, raw=True)
    return record


def _shown_figure(verdict: str, figure: dict[str, Any] | None) -> dict[str, Any] | None:
    """The figure an outcome shows: none for an inconclusive one (its data is missing: the
    record says which) nor one without a single data point (plotly would draw an empty chart
    on a made-up year-2000 axis)."""
    return figure if verdict != "inconclusive" and plotted(figure) else None


def _verdict_line(payload: dict[str, Any]) -> str:
    """The record's one line: verdict, confidence and summary, and the missing data if the
    summary does not name it."""
    line = f"{payload['verdict']} (confidence {payload['confidence']:.2f}): {payload['summary']}"
    missing = [m for m in payload["missing_data"] if m not in payload["summary"]]
    shown_missing = f" Missing: {one_line('; '.join(missing), 300)}" if missing else ""
    return one_line(line, 160) + shown_missing


class Record(dict[str, Any]):
    """An outcome record: a plain dict that shows nothing when a notebook echoes it (the
    notebook displayed it once already; its figure alone would be tens of KB of text)."""

    def _ipython_display_(self) -> None:
        return None


def _recorded(notebook: Any) -> list[Any]:
    """Every outcome payload in a notebook's outputs, whatever shape the file has (a kernel
    wrote it: any code could have); OutcomeError if it is not a notebook at all."""
    try:
        return notebook_scan.walk(notebook)[0]
    except notebook_scan.NotANotebook as exc:
        raise OutcomeError(str(exc)) from None


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


def read_notebook_bytes(path: Path | str) -> bytes:
    """The bytes of a notebook a kernel wrote: a regular file (no symlink followed, no FIFO
    waited on) of at most MAX_NOTEBOOK_BYTES; OSError or OutcomeError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OutcomeError("the evidence notebook is not a regular file")
        cap = MAX_NOTEBOOK_BYTES + 1  # one byte more tells a file too large
        chunks = [os.read(fd, min(info.st_size + 1, cap))]  # its size, one call: no 64 MiB buffer
        got = len(chunks[0])
        while got < cap and (more := os.read(fd, min(1 << 20, cap - got))):  # it grew since
            chunks.append(more)
            got += len(more)
    finally:
        os.close(fd)
    data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise OutcomeError(f"the evidence notebook is larger than {MAX_NOTEBOOK_BYTES} bytes")
    return data


def _provenance(found: Any) -> dict[str, Any] | None:
    """A notebook's `metadata.rca_kit`, if it is an object of a sensible size."""
    if not isinstance(found, dict) or not notebook_scan.json_within(found, MAX_PROVENANCE_BYTES):
        return None
    return found


def _figure_output(notebook: Any) -> dict[str, Any] | None:
    """The figure output record_outcome displayed (as the notebook holds it), if any."""
    try:
        return notebook_scan.first_figure(notebook_scan.walk(notebook)[1])
    except notebook_scan.NotANotebook:
        return None


def recorded_inconclusive(notebook: Any) -> bool:
    """Whether a notebook (parsed JSON, any shape) recorded an inconclusive outcome."""
    try:
        records = _recorded(notebook)
    except OutcomeError:
        return False
    return any(isinstance(r, dict) and r.get("verdict") == "inconclusive" for r in records)


def figure_of(notebook: Any) -> dict[str, Any] | None:
    """The figure of a notebook's outcome, every text in it inert, ready to draw: the figure
    output record_outcome displayed, else (notebooks recorded before it had one) the figure
    inside the record. `notebook` is the parsed JSON of any file: untrusted, any shape."""
    try:
        records = _recorded(notebook)
    except OutcomeError:
        return None
    record = records[0] if records and isinstance(records[0], dict) else {}
    figure = _figure_output(notebook)
    if figure is None:
        legacy = record.get("figure")
        figure = legacy if isinstance(legacy, dict) else None
    figure = _shown_figure(str(record.get("verdict")), figure)
    return inert_figure(figure) if figure is not None else None


def harvest(run: RunResult) -> Outcome:
    """The outcome of one run: errored if the runner saw a failure, else the recorded one;
    either way with the notebook's sha256 and provenance when it could be read."""
    try:
        data = read_notebook_bytes(run.notebook)
    except (OSError, OutcomeError) as exc:
        return _errored(run, run.error or str(exc) or type(exc).__name__)
    digest = hashlib.sha256(data).hexdigest()
    try:
        records, figures, provenance = notebook_scan.scan(data)
    except (ValueError, RecursionError) as exc:
        failed = _errored(run, run.error or str(exc) or type(exc).__name__)
        return replace(failed, notebook_sha256=digest)
    return _outcome(run, records, figures, digest, _provenance(provenance))


def from_records(run: RunResult, records: list[Any]) -> Outcome:
    """The outcome a run recorded: exactly one valid payload, else errored with the reason."""
    return _outcome(run, records, None, None, None)


def _outcome(
    run: RunResult,
    records: list[Any],
    figures: list[Any] | None,
    digest: str | None,
    provenance: dict[str, Any] | None,
) -> Outcome:
    """The outcome of `records` (see from_records), with the notebook's sha256 and provenance
    and, when `figures` are given (notebook_scan.scan's) and the record holds no figure, the
    figure output's."""
    if run.error is not None:
        return replace(_errored(run, run.error), notebook_sha256=digest, provenance=provenance)
    try:
        if not records:
            raise OutcomeError("the notebook finished without calling record_outcome()")
        if len(records) > 1:
            raise OutcomeError(f"the notebook recorded {len(records)} outcomes; expected one")
        payload = validate(records[0])
    except OutcomeError as exc:
        return replace(_errored(run, str(exc)), notebook_sha256=digest, provenance=provenance)
    figure = payload.get("figure")
    if figures is not None:
        if figure is None and payload["verdict"] != "inconclusive":
            figure = notebook_scan.shown_figure(figures)  # read when Outcome.figure is
        else:
            figure = _shown_figure(payload["verdict"], figure)
    return Outcome(
        hypothesis_id=run.hypothesis_id,
        verdict=payload["verdict"],
        confidence=float(payload["confidence"]),
        summary=payload["summary"],
        criterion=payload["criterion"],
        observed=payload["observed"],
        missing_data=tuple(payload.get("missing_data", [])),
        figure=figure,
        notebook=run.notebook,
        duration_s=run.duration_s,
        notebook_sha256=digest,
        provenance=provenance,
    )
