"""Workspace discovery and rca.toml loading/validation."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from .exceptions import ConfigError

CONFIG_NAME = "rca.toml"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_ALERT_SPAN = timedelta(minutes=15)  # of the alert itself, at least, in an evidence window


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '6h', '2d' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        msg = f"{text!r} is not a duration (expected a number and a unit: 90s, 15m, 6h, 2d)"
        raise ValueError(msg)
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


Duration = Annotated[str, Field(pattern=_DURATION.pattern)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkspaceSection(_Strict):
    library: str = "library"
    templates: str = "notebooks/templates"
    investigations: str = "investigations"
    reports: str = "reports"
    database: str = "sqlite:///rca.db"


class AlertsSection(_Strict):
    # tried in order; job and instance name scrape targets, not services
    service_labels: list[str] = Field(default_factory=lambda: ["service", "app"])
    # alerts one payload may carry; more is refused whole (400 and a dead letter, or exit 2)
    max_per_payload: int = Field(default=100, ge=1, le=1000)


class EvidenceSection(_Strict):
    before: Duration = "60m"
    after: Duration = "15m"
    baseline: Duration = "6h"  # history before the window that tests compare against
    # the longest evidence window: a still-firing (or long-firing) alert's window is cut here,
    # counted from the window's start, and the review says so
    max_window: Duration = "6h"

    @field_validator("max_window")
    @classmethod
    def _covers_the_alert(cls, value: str, info: ValidationInfo) -> str:
        """The window opens `before` ahead of the alert and is cut `max_window` after it opens:
        a shorter `max_window` would end it before the alert started (or just after)."""
        before = info.data.get("before")
        if before is None:  # `before` itself is wrong: that error is reported
            return value
        shortest = parse_duration(before) + MIN_ALERT_SPAN
        if parse_duration(value) < shortest:
            minutes = int(MIN_ALERT_SPAN.total_seconds() // 60)
            msg = (
                f"{value!r} is shorter than 'evidence.before' ({before!r}) plus {minutes}m: the "
                f"window would end before the alert started or within {minutes}m of it; make "
                f"max_window at least before + {minutes}m"
            )
            raise ValueError(msg)
        return value


class FilesSource(_Strict):
    """Evidence from files: metrics .csv/.parquet, logs and changes .jsonl."""

    kind: Literal["files"]
    metrics: str | None = None
    logs: str | None = None
    changes: str | None = None

    def provides(self) -> tuple[str, ...]:
        return tuple(k for k in ("metrics", "logs", "changes") if getattr(self, k))

    def describe(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def label(self) -> str:
        return "files " + ", ".join(str(getattr(self, k)) for k in self.provides())


_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"  # a Prometheus label or an environment variable name


class PrometheusSource(_Strict):
    """Metrics from Prometheus' range-query API, one PromQL expression per vocabulary metric."""

    kind: Literal["prometheus"]
    url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s]*)?$")]
    token_env: Annotated[str, Field(pattern=_NAME)] | None = None  # the variable's name only
    step: Duration = "30s"
    timeout: Duration = "30s"
    service_label: Annotated[str, Field(pattern=_NAME)] = "service"
    method: Literal["GET", "POST"] = "POST"
    queries: dict[str, str]

    @field_validator("step", "timeout")
    @classmethod
    def _positive(cls, value: str) -> str:
        if parse_duration(value) <= timedelta(0):
            raise ValueError(f"{value!r} must be longer than 0s")
        return value

    @field_validator("queries")
    @classmethod
    def _queries(cls, queries: dict[str, str]) -> dict[str, str]:
        from .evidence.promql import SERVICE, SERVICES, placeholders
        from .evidence.vocabulary import METRIC_NAMES

        if not queries:
            raise ValueError("give at least one query: metric = 'PromQL expression'")
        for metric, expr in queries.items():
            if metric not in METRIC_NAMES:
                raise ValueError(
                    f"{metric!r} is not a vocabulary metric (one of {', '.join(METRIC_NAMES)})"
                )
            try:
                used = placeholders(expr)
            except ValueError as exc:
                raise ValueError(f"query {metric}: {exc}") from None
            if used == {SERVICE, SERVICES}:
                raise ValueError(f"query {metric}: use {SERVICE} or {SERVICES}, not both")
        return queries

    def provides(self) -> tuple[str, ...]:
        return ("metrics",)

    def public_url(self) -> str:
        """The URL without credentials or query string (those may hold secrets)."""
        scheme, _, rest = self.url.partition("://")
        host, slash, path = rest.partition("/")
        return f"{scheme}://{host.rpartition('@')[2]}{slash}{path.split('?')[0].split('#')[0]}"

    def describe(self) -> dict[str, Any]:
        return {**self.model_dump(exclude_none=True), "url": self.public_url()}

    def label(self) -> str:
        return f"prometheus {self.public_url()}"


ChangeKind = Literal["deploy", "config", "schema", "infra", "flag"]


class GitSource(_Strict):
    """Changes from a local git repository's history: one change per commit and service."""

    kind: Literal["git"]
    repo: str
    paths: dict[str, ChangeKind] = Field(default_factory=dict)  # glob -> kind, first match wins
    default_kind: ChangeKind = "config"
    branch: Annotated[str, Field(pattern=r"^[^-\s][^\s]*$")] | None = None
    service: str | None = None  # every commit's service (a Service: trailer still wins)
    time: Literal["committer", "author"] = "committer"

    def provides(self) -> tuple[str, ...]:
        return ("changes",)

    def describe(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)

    def label(self) -> str:
        return f"git {self.repo}" + (f"@{self.branch}" if self.branch else "")


# One [[sources]] entry; `kind` picks the model, so a misspelled key names its source kind.
SourceSection = Annotated[FilesSource | PrometheusSource | GitSource, Field(discriminator="kind")]


class ExecutionSection(_Strict):
    backend: Literal["local", "dask"] = "local"
    scheduler: str | None = None  # "dask": tcp://host:port of the scheduler, or its file:
    scheduler_file: str | None = None  # a path relative to the workspace, or absolute
    workers: int = Field(default=3, ge=1, le=64)
    timeout_s: int = Field(default=300, ge=1)
    # "warm": each notebook's kernel is forked from a process with its imports loaded
    kernels: Literal["warm", "fresh"] = "warm"


class ServeSection(_Strict):
    """`rca serve`: the webhook receiver and its investigation queue."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    investigations: int = Field(default=1, ge=0, le=16)  # run at once (0: only receive)
    max_body_kb: int = Field(default=1024, ge=1, le=65536)
    token_env: str = "RCA_TOKEN"  # noqa: S105 (the name of the variable, not a secret)
    auth: bool = True  # false only behind something that authenticates for you
    timeout_s: int = Field(default=1800, ge=10)  # one investigation, whole
    busy_timeout_s: float = Field(default=5, gt=0, le=60)  # then 503: the sender retries


class ScoringSection(_Strict):
    impact: float = Field(default=0.40, ge=0)
    confidence: float = Field(default=0.30, ge=0)
    effort: float = Field(default=0.15, ge=0)
    risk: float = Field(default=0.15, ge=0)
    recurrence: float = Field(default=0.25, ge=0, le=1)  # share of the gap to 100 per repeat


# Days to fix, by the alert's severity label (lower-cased); "default" for anything else.
DEFAULT_DUE_DAYS = {
    "critical": 3,
    "page": 3,
    "high": 7,
    "error": 7,
    "warning": 14,
    "medium": 14,
    "low": 30,
    "info": 30,
    "default": 14,
}


class RegisterSection(_Strict):
    due_days: dict[str, Annotated[int, Field(ge=0, le=3650)]] = Field(
        default_factory=lambda: dict(DEFAULT_DUE_DAYS)
    )
    team_label: str = "team"  # the alert label that names the owning team

    def due_in_days(self, severity: str | None) -> int:
        days = {**DEFAULT_DUE_DAYS, **self.due_days}
        return days.get((severity or "").strip().lower(), days["default"])


class GovernanceSection(_Strict):
    """Who may reprioritize a task and record register reviews."""

    authorities: list[str] = Field(default_factory=list)  # may decide on any task
    teams: dict[str, list[str]] = Field(default_factory=dict)  # team -> who decides for it
    severities: dict[str, list[str]] = Field(default_factory=dict)  # severity -> who decides

    def may_decide(self, authority: str, *, team: str | None, severity: str | None) -> bool:
        allowed = {
            *self.authorities,
            *self.teams.get(team or "", []),
            *self.severities.get((severity or "").lower(), []),
        }
        return authority.strip() in {name.strip() for name in allowed}

    def configured(self) -> bool:
        return bool(self.authorities or self.teams or self.severities)


class TicketsSection(_Strict):
    """Where `rca register export --post` sends tickets; tokens come from the environment."""

    github_url: str = "https://api.github.com"
    github_repo: str | None = None  # owner/name
    github_token_env: str = "GITHUB_TOKEN"  # noqa: S105 - the variable's name, not a secret
    jira_url: str | None = None
    jira_project: str | None = None
    jira_issue_type: str = "Task"
    jira_token_env: str = "JIRA_TOKEN"  # noqa: S105 - the variable's name, not a secret


class RcaToml(_Strict):
    workspace: WorkspaceSection = Field(default_factory=WorkspaceSection)
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    evidence: EvidenceSection = Field(default_factory=EvidenceSection)
    sources: list[SourceSection] = Field(default_factory=list)
    topology: dict[str, list[str]] = Field(default_factory=dict)
    execution: ExecutionSection = Field(default_factory=ExecutionSection)
    serve: ServeSection = Field(default_factory=ServeSection)
    scoring: ScoringSection = Field(default_factory=ScoringSection)
    # "register" would shadow BaseModel.register: the attribute is register_, the key register
    register_: RegisterSection = Field(default_factory=RegisterSection, alias="register")
    governance: GovernanceSection = Field(default_factory=GovernanceSection)
    tickets: TicketsSection = Field(default_factory=TicketsSection)
    hypotheses: dict[str, dict[str, Any]] = Field(
        default_factory=dict
    )  # per-id parameter overrides


@dataclass(frozen=True)
class Workspace:
    """A folder with rca.toml, its settings resolved to absolute paths."""

    root: Path
    settings: RcaToml

    def _path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.root / path

    @property
    def library_dir(self) -> Path:
        return self._path(self.settings.workspace.library)

    @property
    def templates_dir(self) -> Path:
        return self._path(self.settings.workspace.templates)

    @property
    def investigations_dir(self) -> Path:
        return self._path(self.settings.workspace.investigations)

    @property
    def reports_dir(self) -> Path:
        return self._path(self.settings.workspace.reports)

    def source_path(self, value: str) -> Path:
        return self._path(value)

    @property
    def database_url(self) -> str:
        url = os.environ.get("RCA_DATABASE_URL") or self.settings.workspace.database
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
            # a relative SQLite path is relative to the workspace, not the cwd
            url = prefix + str(self.root / url[len(prefix) :])
        return url

    def upstreams(self, service: str | None) -> list[str]:
        return list(self.settings.topology.get(service or "", []))


_SOURCE_KINDS = ("files", "prometheus", "git")


def _describe(error: dict[str, Any]) -> str:
    parts = list(error["loc"])
    if len(parts) > 2 and parts[0] == "sources" and parts[2] in _SOURCE_KINDS:
        del parts[2]  # the union's tag: sources.0.url, not sources.0.prometheus.url
    loc = ".".join(str(part) for part in parts)
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = (error.get("ctx") or {}).get("tag")
        given = f"{tag!r} is not a source kind" if tag is not None else "'kind' is required"
        return f"'{loc}.kind': {given} (one of {', '.join(_SOURCE_KINDS)})"
    if error["type"] == "value_error":
        return f"'{loc}': {str(error['msg']).removeprefix('Value error, ')}"
    if error["type"] == "extra_forbidden":
        return f"unknown key '{loc}' (check its spelling: every key is in docs/configuration.md)"
    if error["type"] == "missing":
        return f"'{loc}' is required"
    got = error.get("input")
    return f"'{loc}': {error['msg'].lower()} (got {got!r})"


def load_settings(path: Path) -> RcaToml:
    """Read and validate one rca.toml; any problem is a one-line ConfigError."""
    from .inert import one_line
    from .safeload import load_toml

    data = load_toml(path, ConfigError)  # at most 1 MiB of UTF-8; a key given twice is named
    try:
        return RcaToml.model_validate(data)
    except ValidationError as exc:
        # a misspelled key first: the "required" error it causes names the right spelling only
        errors = sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden")
        first = errors[0]
        more = len(errors) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        message = one_line(_describe(dict(first)), 500) + suffix
        raise ConfigError(message, where=str(path)) from None


def find_workspace(explicit: Path | str | None = None, *, cwd: Path | None = None) -> Workspace:
    """--workspace DIR, else RCA_WORKSPACE, else the nearest rca.toml upward from the cwd."""
    chosen = explicit or os.environ.get("RCA_WORKSPACE")
    if chosen:
        root = Path(chosen).resolve()
        if not (root / CONFIG_NAME).is_file():
            raise ConfigError(f"no {CONFIG_NAME} in {root}", hint="create one with `rca init DIR`")
        return Workspace(root=root, settings=load_settings(root / CONFIG_NAME))
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return Workspace(root=folder, settings=load_settings(folder / CONFIG_NAME))
    raise ConfigError(
        f"no {CONFIG_NAME} found in {here} or any parent folder",
        hint="run inside a workspace, pass --workspace DIR, or create one with `rca init DIR`",
    )
