"""kind = "prometheus": metrics from Prometheus' HTTP API (`/api/v1/query_range`).

Each `[sources.queries]` entry maps a vocabulary metric to a PromQL expression. An expression
with `{service}` runs once per service (the alert's service and every service upstream of it
in [topology]); one with `{services}` runs once, matching them all by regex; one without a
placeholder runs once as written. A result series' `service_label` names its service (a
`{service}` query falls back to the service it ran for). Counters are never guessed: the
expression says rate() or increase(). "NaN" and "±Inf" values stay NaN and ±inf; a value that
is not a number is stored as NaN and counted (`row_issues`).

The range is fetched in chunks of at most 11,000 evaluation points (Prometheus' limit) on
multiples of the step, so chunks never share a sample. A query Prometheus refuses is recorded
and the other queries still count; an unreachable server (refused, timed out) fails the source
(SourceError): the investigation records it and goes on. Every series a query was written for
but did not deliver (refused, not run once the server became unreachable, unwritable, or
possibly among series without a service label) is named in `missing_series`, so that its
absence reads as unknown, never as "the metric stayed normal".
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd

from ..config import PrometheusSource, Workspace, parse_duration
from ..exceptions import SourceError
from . import promql
from .rows import Tally
from .sources import Fetched, FetchRange, empty, normalize


class _Unreachable(Exception):
    """The server did not answer: no further query would fare better."""


class _Refused(Exception):
    """The server answered this query with an error."""


class Unfetched(SourceError):
    """The source failed: `missing_series` names every series it was to deliver."""

    def __init__(self, message: str, missing_series: list[dict[str, str | None]]) -> None:
        super().__init__(message)
        self.missing_series = missing_series


@dataclass(frozen=True)
class Query:
    metric: str
    service: str | None  # the service a {service} query ran for
    expr: str

    def name(self) -> str:
        return f"{self.metric} of {self.service}" if self.service else self.metric


def _lost(
    metric: str, service: str | None, services: tuple[str, ...], error: str
) -> list[dict[str, str | None]]:
    """The series a query for `service` (None: not per service) was to deliver: its service,
    else every service asked about, else every service (None)."""
    names: list[str | None] = [service] if service else [s for s in services if s]
    return [{"metric": metric, "service": name, "error": error} for name in names or [None]]


def plan(
    section: PrometheusSource, services: tuple[str, ...]
) -> tuple[list[Query], list[str], list[dict[str, str | None]]]:
    """Every query to run for these services, the ones that cannot be written, and the series
    those were to deliver."""
    queries: list[Query] = []
    problems: list[str] = []
    lost: list[dict[str, str | None]] = []
    names = [s for s in services if s]
    for metric, template in section.queries.items():
        used = promql.placeholders(template)
        targets: list[tuple[str | None, dict[str, Any]]]
        if promql.SERVICES in used:
            targets = [(None, {"services": names})] if names else []
        elif promql.SERVICE in used:
            targets = [(name, {"service": name}) for name in names]
        else:
            targets = [(None, {})]
        for service, fill in targets:
            try:
                queries.append(Query(metric, service, promql.render(template, **fill)))
            except ValueError as exc:
                problems.append(f"{metric}: {exc}")
                lost += _lost(metric, service, services, str(exc))
    return queries, problems, lost


def _connect_message(exc: httpx.TransportError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == (
            errno.ECONNREFUSED
        ):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc).strip() or type(exc).__name__
    return "connection refused" if "refused" in text.lower() else f"cannot connect: {text[:200]}"


class Client:
    """One Prometheus server's range queries (the bearer token only in the request header)."""

    def __init__(self, section: PrometheusSource, token: str | None) -> None:
        self.section = section
        self.endpoint = section.url.rstrip("/") + "/api/v1/query_range"
        self.step = parse_duration(section.step)
        self.timeout = parse_duration(section.timeout).total_seconds()
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(headers=headers, timeout=self.timeout, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def range(self, expr: str, first_ms: int, last_ms: int) -> list[dict[str, Any]]:
        """One range query's result series (its points ≤ 11,000 per series)."""
        params = {
            "query": expr,
            "start": promql.seconds(first_ms),
            "end": promql.seconds(last_ms),
            "step": f"{self.step.total_seconds():g}",
            "timeout": f"{self.timeout:g}s",
        }
        try:
            if self.section.method == "POST":
                response = self.http.post(self.endpoint, data=params)
            else:
                response = self.http.get(self.endpoint, params=params)
        except httpx.TimeoutException:
            raise _Unreachable(f"timed out after {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise _Unreachable(_connect_message(exc)) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("status") == "error":
            detail = f"{body.get('errorType') or 'error'}: {body.get('error') or ''}"
            raise _Refused(detail.strip()[:300])
        if response.status_code >= 400:
            raise _Refused(f"HTTP {response.status_code} {response.reason_phrase}".strip())
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise _Refused("the answer is not a Prometheus range-query result")
        result = data.get("result")
        return result if isinstance(result, list) else []

    def series(
        self, query: Query, span: FetchRange
    ) -> Iterator[tuple[dict[str, str], dict[float, Any]]]:
        """Each result series' labels and samples over the whole span, chunks merged."""
        merged: dict[tuple[tuple[str, str], ...], dict[float, Any]] = {}
        for first_ms, last_ms in promql.chunks(span.start, span.end, self.step):
            for item in self.range(query.expr, first_ms, last_ms):
                labels = item.get("metric") or {}
                points = merged.setdefault(tuple(sorted(labels.items())), {})
                for stamp, value in item.get("values") or []:
                    points[float(stamp)] = value  # read by `normalize`, which counts non-numbers
        for key, points in merged.items():
            yield dict(key), points


def _token(section: PrometheusSource) -> str | None:
    if not section.token_env:
        return None
    token = os.environ.get(section.token_env, "")
    if not token:
        raise SourceError(f"environment variable {section.token_env} (the bearer token) is not set")
    return token


def fetch(section: PrometheusSource, span: FetchRange) -> Fetched:
    """Run every query over the span; what fails is named in Fetched.errors, and the series it
    cost in Fetched.missing_series (or, when the source fails, in Unfetched.missing_series)."""
    queries, errors, lost = plan(section, span.services)
    if not queries:
        if errors:
            raise Unfetched(errors[0], lost)
        raise SourceError(
            "nothing to query: every query needs {service} and the alert names no service"
        )

    def not_run(rest: list[Query], why: str) -> list[dict[str, str | None]]:
        return [item for q in rest for item in _lost(q.metric, q.service, span.services, why)]

    try:
        client = Client(section, _token(section))
    except SourceError as exc:
        raise Unfetched(str(exc), lost + not_run(queries, str(exc))) from None
    rows: list[tuple[float, str, str, Any]] = []
    try:
        for done, query in enumerate(queries):
            try:
                found = list(client.series(query, span))
            except _Refused as exc:
                errors.append(f"{query.name()}: {exc}")
                lost += _lost(query.metric, query.service, span.services, str(exc))
                continue
            except _Unreachable as exc:
                if not rows:
                    raise Unfetched(str(exc), lost + not_run(queries[done:], str(exc))) from None
                missing = not_run(queries[done:], f"{exc}; not run")
                errors.append(f"{exc}; {len(queries) - done} queries not run")
                lost += missing
                break
            named: set[str] = set()
            unnamed = 0
            for labels, points in found:
                service = labels.get(section.service_label) or query.service
                if not service:
                    unnamed += 1
                    continue
                named.add(service)
                rows.extend((stamp, service, query.metric, v) for stamp, v in points.items())
            if unnamed:
                why = f"{unnamed} series without a {section.service_label!r} label skipped"
                errors.append(f"{query.name()}: {why}")
                lost += [  # an asked service with no named series may be among the skipped
                    item
                    for item in _lost(query.metric, query.service, span.services, why)
                    if item["service"] not in named
                ]
    finally:
        client.close()
    if not rows:
        return Fetched({"metrics": empty("metrics")}, errors, lost)
    frame = pd.DataFrame(rows, columns=["timestamp", "service", "metric", "value"])
    frame["value"] = frame["value"].astype(object)  # strings as sent: "NaN", "+Inf", "1.5"
    tally = Tally(section.label(), "metrics", numbered=None)
    metrics = normalize(frame, "metrics", section.label(), tally)
    issue = tally.record(metrics)
    return Fetched({"metrics": metrics}, errors, lost, row_issues=[issue] if issue else [])


def prometheus_source(workspace: Workspace, section: PrometheusSource, span: FetchRange) -> Fetched:
    """The registered source function (the workspace is not needed: everything is remote)."""
    del workspace
    return fetch(section, span)
