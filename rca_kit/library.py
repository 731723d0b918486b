"""Hypothesis library: load and validate YAML specs, lint them against their templates."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .exceptions import SpecError
from .models import HypothesisSpec, TaskTemplate, VerificationCheck
from .safeload import load_yaml, one_line, parameters_cell

FIXED_PARAMETERS = (
    "alert_id",
    "investigation_id",
    "service",
    "window_start",
    "window_end",
    "snapshot_path",
)
PLACEHOLDERS = {"service"}
_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Task(_Strict):
    title: str = Field(min_length=1, max_length=200)
    description: str = ""
    impact: int = Field(ge=1, le=5)
    effort: int = Field(ge=1, le=5)
    risk: int = Field(ge=1, le=5)
    due_in_days: int = Field(default=7, ge=0, le=365)

    @field_validator("title", "description")
    @classmethod
    def _placeholders(cls, value: str) -> str:
        for _, name, spec, conv in string.Formatter().parse(value):
            if name is not None and (name not in PLACEHOLDERS or spec or conv):
                msg = f"placeholder {{{name}}} is not allowed (use only {{service}})"
                raise ValueError(msg)
        return value


class _Data(_Strict):
    metrics: list[str] = Field(default_factory=list)
    logs: list[str] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)


class _Verification(_Strict):
    description: str = Field(min_length=10)
    metrics: list[str] = Field(min_length=1)
    stat: Literal["mean", "median", "p95", "p99", "max", "min"] = "p95"
    period: str = Field(default="24h", pattern=r"^\d+(s|m|h|d)$")
    settle: str = Field(default="30m", pattern=r"^\d+(s|m|h|d)$")
    max_ratio_to_baseline: float | None = Field(default=None, gt=0)
    min_ratio_to_baseline: float | None = Field(default=None, gt=0)
    max_value: float | None = None
    tolerance: float = Field(default=0.0, ge=0)
    min_coverage: float = Field(default=0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _one_bound(self) -> _Verification:
        bounds = (self.max_ratio_to_baseline, self.min_ratio_to_baseline, self.max_value)
        if all(b is None for b in bounds):
            msg = "give at least one of max_ratio_to_baseline, min_ratio_to_baseline, max_value"
            raise ValueError(msg)
        return self


class _Spec(_Strict):
    id: str = Field(pattern=_ID)
    version: int = Field(ge=1)
    title: str = Field(min_length=1)
    statement: str = Field(pattern=r"(?is)^\s*if\b.+\bthen\b")
    applies_to: list[dict[str, str]] = Field(default_factory=list)
    template: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.ipynb$")
    parameters: dict[str, Any] = Field(default_factory=dict)
    criterion: str = Field(min_length=10)
    relevance: str | None = Field(default=None, min_length=10)
    data: _Data = Field(default_factory=_Data)
    known_false_positives: list[str] = Field(default_factory=list)
    remediation: list[_Task] = Field(default_factory=list)
    timeout_s: int = Field(default=300, ge=1, le=3600)
    prior: float = Field(default=0.5, ge=0, le=1)
    lookback: str = Field(default="6h", pattern=r"^\d+(s|m|h|d)$")
    explains: list[str] = Field(default_factory=list)
    verification: _Verification | None = None

    @field_validator("applies_to")
    @classmethod
    def _regexes(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for group in value:
            for label, pattern in group.items():
                try:
                    re.compile(pattern)
                except (re.error, RecursionError, OverflowError) as exc:
                    msg = f"label {label!r}: invalid regular expression: {exc}"
                    raise ValueError(msg) from None
        return value

    @field_validator("parameters")
    @classmethod
    def _json_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if name in FIXED_PARAMETERS:
                msg = f"{name!r} is set by the runner and cannot be a spec parameter"
                raise ValueError(msg)
            if not name.isidentifier():
                msg = f"{name!r} is not a valid parameter name"
                raise ValueError(msg)
            try:
                json.dumps(item)
            except (TypeError, ValueError):  # a date, a !!set, a !!binary
                msg = f"{name!r}: values must be strings, numbers, booleans, lists or mappings"
                raise ValueError(msg) from None
        return value


def template_parameters(path: Path) -> list[str]:
    """Names assigned in the notebook's cell tagged `parameters` (SpecError: one line naming
    the template when it is unreadable, not a notebook, or that cell is missing or not Python)."""
    names = []
    for node in parameters_cell(path).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) else [])
        )
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown field"
    if error["type"] == "missing":
        return f"{field}: is required"
    return f"{field}: {str(error['msg']).removeprefix('Value error, ')}"


def parse_spec(path: Path) -> HypothesisSpec:
    """Load one YAML spec (SpecLoader: safe, size-limited, no duplicate keys) and validate it;
    SpecError names the file and the line or field."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError("must be a YAML mapping of fields", where=str(path))
    try:
        spec = _Spec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(one_line(_first_error(exc)), where=one_line(str(path))) from None
    return HypothesisSpec(
        id=spec.id,
        title=spec.title,
        statement=spec.statement.strip(),
        template=spec.template,
        applies_to=tuple(spec.applies_to),
        parameters=spec.parameters,
        criterion=spec.criterion.strip(),
        relevance=spec.relevance.strip() if spec.relevance else "",
        data={
            "metrics": tuple(spec.data.metrics),
            "logs": tuple(spec.data.logs),
            "changes": tuple(spec.data.changes),
        },
        known_false_positives=tuple(spec.known_false_positives),
        remediation=tuple(TaskTemplate(**t.model_dump()) for t in spec.remediation),
        timeout_s=spec.timeout_s,
        version=spec.version,
        prior=spec.prior,
        lookback=spec.lookback,
        explains=tuple(spec.explains),
        path=path,
        verification=(
            VerificationCheck(
                **{**spec.verification.model_dump(), "metrics": tuple(spec.verification.metrics)}
            )
            if spec.verification
            else None
        ),
    )


def _spec_files(library_dir: Path) -> list[Path]:
    if not library_dir.is_dir():
        raise SpecError("library folder not found", where=str(library_dir))
    return sorted([*library_dir.glob("*.yaml"), *library_dir.glob("*.yml")])


def library_digest(library_dir: Path) -> str:
    """The sha256 of the library as a whole: each spec file's name and the sha256 of its bytes,
    in name order (what an evidence notebook's provenance records)."""
    digest = hashlib.sha256()
    for path in _spec_files(library_dir):
        digest.update(f"{path.name}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()


def lint(
    library_dir: Path, templates_dir: Path, overrides: dict[str, dict[str, Any]] | None = None
) -> tuple[list[HypothesisSpec], list[str]]:
    """Every spec that is valid, and one problem line per invalid field or file."""
    specs: list[HypothesisSpec] = []
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path in _spec_files(library_dir):
        try:
            spec = _unchanged(parse_spec, path)
        except SpecError as exc:
            problems.append(str(exc))
            continue
        where = str(path)
        if spec.id in seen:
            problems.append(f"{where}: id: {spec.id!r} is already used by {seen[spec.id]}")
            continue
        if spec.id != path.stem:
            problems.append(f"{where}: id: {spec.id!r} must match the file name {path.stem!r}")
        template = templates_dir / spec.template
        if not template.is_file():
            problems.append(f"{where}: template: {spec.template} not found in {templates_dir}")
            continue
        try:
            have = _unchanged(template_parameters, template)
        except SpecError as exc:
            problems.append(f"{where}: template: {exc}")
            continue
        wanted = [*FIXED_PARAMETERS, *spec.parameters, *(overrides or {}).get(spec.id, {})]
        for name in dict.fromkeys(wanted):
            if name not in have:
                problems.append(
                    f"{where}: parameters.{name} is not in the template's parameters cell "
                    f"(have: {', '.join(have)})"
                )
        seen[spec.id] = path
        specs.append(spec)
    known = {spec.id for spec in specs}
    for spec in specs:
        for other in spec.explains:
            if other not in known or other == spec.id:
                problems.append(
                    f"{spec.path}: explains: {other!r} is not another hypothesis in the library"
                )
    return specs, [one_line(problem) for problem in problems]


def load_library(
    library_dir: Path, templates_dir: Path, overrides: dict[str, dict[str, Any]] | None = None
) -> list[HypothesisSpec]:
    """The valid library, or SpecError listing the first problem and how many there are."""
    specs, problems = lint(library_dir, templates_dir, overrides)
    if problems:
        more = (
            f" (and {len(problems) - 1} more; run `rca library lint`)" if len(problems) > 1 else ""
        )
        raise SpecError(problems[0] + more)
    return specs


_read: dict[tuple[Any, ...], Any] = {}  # (reader, file identity) -> what it read


def _unchanged(reader: Any, path: Path) -> Any:
    """`reader(path)`, read again only when the file changed (inode, size, mtime): a process
    that investigates alert after alert (`rca serve`) parses its library once. Errors are
    not kept: a broken file is read, and reported, every time."""
    try:
        info = path.stat()
    except OSError:
        return reader(path)
    key = (reader.__name__, str(path), info.st_ino, info.st_size, info.st_mtime_ns)
    if key not in _read:
        _read[key] = reader(path)
    return _read[key]
