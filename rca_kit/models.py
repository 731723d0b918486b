"""Frozen dataclasses passed between the steps of an investigation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

Verdict = Literal["supported", "refuted", "inconclusive", "errored"]


@dataclass(frozen=True)
class Alert:
    """One alert occurrence; keeps the raw payload it came from."""

    name: str
    status: Literal["firing", "resolved"]
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None  # None: still firing
    service: str | None
    severity: str | None
    labels: dict[str, str]
    annotations: dict[str, str]
    source_format: str
    raw: dict[str, Any]
    id: str | None = None  # generated when stored
    links: dict[str, str] = field(default_factory=dict)  # http(s) only: {"runbook": url, …}
    # one-line notes on the payload for the audit and the sender (a fingerprint that is not
    # the one its labels give); never part of the alert's identity or its stored row
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Window:
    """A closed time interval in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            msg = f"window end {self.end.isoformat()} is before its start {self.start.isoformat()}"
            raise ValueError(msg)


@dataclass(frozen=True)
class Snapshot:
    """Evidence frozen on disk: Parquet per kind plus manifest.json."""

    path: Path
    sha256: str
    window: Window
    lookback_start: datetime
    row_counts: dict[str, int]
    manifest_sha256: str | None = None  # the whole manifest's seal (None: frozen before it)


@dataclass(frozen=True)
class TaskTemplate:
    """A remediation task a supported hypothesis proposes."""

    title: str
    description: str
    impact: int
    effort: int
    risk: int
    due_in_days: int = 7


@dataclass(frozen=True)
class VerificationCheck:
    """How a fix is judged after the fact: a statistic of the symptom over a post-fix period.

    Over `period` of fresh evidence (after `settle`, the time a fix takes to act), `stat` of
    each listed metric of the service that is measured must satisfy every bound given: at most
    `max_ratio_to_baseline` times its pre-incident value (plus `tolerance`), at least
    `min_ratio_to_baseline` times it (minus `tolerance`), at most `max_value`.
    """

    description: str
    metrics: tuple[str, ...]
    stat: str = "p95"
    period: str = "24h"
    settle: str = "30m"
    max_ratio_to_baseline: float | None = None
    min_ratio_to_baseline: float | None = None
    max_value: float | None = None
    tolerance: float = 0.0
    min_coverage: float = 0.8


@dataclass(frozen=True)
class HypothesisSpec:
    """A hypothesis definition from the library (its occurrences are Runs)."""

    id: str
    title: str
    statement: str
    template: str
    applies_to: tuple[dict[str, str], ...]
    parameters: dict[str, Any]
    criterion: str
    data: dict[str, tuple[str, ...]]
    known_false_positives: tuple[str, ...]
    remediation: tuple[TaskTemplate, ...]
    timeout_s: int
    version: int
    prior: float = 0.5
    lookback: str = "6h"
    explains: tuple[str, ...] = ()  # hypotheses this one would cause as consequences
    relevance: str = ""  # which symptoms, in which direction, the cause can produce
    path: Path | None = None
    verification: VerificationCheck | None = None


@dataclass(frozen=True)
class RunResult:
    """What the runner observed executing one notebook (trusted over notebook metadata)."""

    hypothesis_id: str
    notebook: Path
    duration_s: float
    error: str | None = None  # None: the notebook ran to the end


class Deferred:
    """An outcome's figure not read yet: `read()` gives it (a dict, or None) when first asked
    for (harvest keeps the figure's JSON text, its readers are few)."""

    __slots__ = ()

    def read(self) -> dict[str, Any] | None:
        raise NotImplementedError


class _Figure:
    """`Outcome.figure`: a dict or None, given as one or as a `Deferred`, read on first use and
    kept (equality, repr, pickling, `dataclasses.replace` and `asdict` see the dict)."""

    name = "figure"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type) -> None: ...
    @overload
    def __get__(self, instance: object, owner: type) -> dict[str, Any] | None: ...
    def __get__(self, instance: object | None, owner: type) -> dict[str, Any] | None:
        if instance is None:
            return None  # the field's default
        value = instance.__dict__.get(self.name)
        if isinstance(value, Deferred):
            value = instance.__dict__[self.name] = value.read()
        return value

    def __set__(self, instance: object, value: dict[str, Any] | Deferred | None) -> None:
        instance.__dict__[self.name] = value  # only __init__ sets it: the dataclass is frozen


@dataclass(frozen=True)
class Outcome:
    """The verdict of one hypothesis test, harvested from its evidence notebook."""

    hypothesis_id: str
    verdict: Verdict
    confidence: float
    summary: str
    criterion: str
    observed: dict[str, Any] = field(default_factory=dict)
    missing_data: tuple[str, ...] = ()
    # as the notebook holds it (make it inert to show it); harvest defers reading it
    figure: _Figure = _Figure()
    notebook: Path | None = None
    duration_s: float = 0.0
    error: str | None = None
    notebook_sha256: str | None = None  # of the notebook's bytes as harvested
    provenance: dict[str, Any] | None = None  # the notebook's metadata.rca_kit


@dataclass(frozen=True)
class ScoredTask:
    """A remediation task with its transparent score."""

    hypothesis_id: str
    title: str
    description: str
    impact: int
    effort: int
    risk: int
    confidence: float
    score: float
    breakdown: dict[str, float]
    explanation: str
    due_in_days: int
    rank: int = 0
    spec_task: str = ""  # the spec's task title before {service} is filled in: its identity
