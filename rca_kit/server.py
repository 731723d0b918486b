"""`rca serve`: the webhook receiver. A thin face over intake, the register and the queue.

    POST /api/v1/alerts            any supported format, auto-detected
    POST /api/v1/alerts/{format}   a forced format
    GET  /api/v1/alerts?status=…   stored alerts
    GET  /api/v1/alerts/{id}       one alert, its queue entry and investigations
    GET  /api/v1/investigations/{id}
    GET  /healthz

Durable before acknowledged: an alert is committed (and its investigation queued) before the
2xx; a transient fault (database locked or down, disk full) answers 503 so the sender retries;
a body that cannot be parsed answers 400 with the reason and is kept as a dead letter.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import intake
from .config import Workspace
from .exceptions import NotFoundError, RcaKitError
from .ingest import DEAD_LETTER_HEAD
from .intake.common import NotAnAlert
from .intake_writer import IntakeWriter, Stored
from .investigator import Investigator
from .models import Alert
from .register import Register
from .register import queue as work
from .register.schema import transient

log = logging.getLogger("rca_kit.serve")
Handler = Callable[[Request], Awaitable[Response]]


class BodyTooLarge(Exception):
    """The body passed the limit; `head` holds what was read of it."""

    def __init__(self, head: bytes = b"") -> None:
        super().__init__("body too large")
        self.head = head


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _unexpected(exc: BaseException) -> str:
    """One line for an error that is not rca-kit's own (its type and first line, bounded)."""
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def authorized(header: str | None, token: str) -> bool:
    """A bearer token, or basic auth whose password is the token (any user name)."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return hmac.compare_digest(decoded.partition(":")[2].encode(), token.encode())
    return False


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(b"".join(chunks)[:DEAD_LETTER_HEAD])
    return b"".join(chunks)


class Receiver:
    """The routes' state: the register, the token and the investigation queue."""

    def __init__(
        self,
        workspace: Workspace,
        register: Register,
        *,
        token: str | None,
        investigator: Investigator | None,
    ) -> None:
        self.workspace = workspace
        self.register = register
        self.token = token
        self.investigator = investigator
        self.limit = workspace.settings.serve.max_body_kb * 1024
        self.writer = IntakeWriter(register)
        self.write_timeout_s = workspace.settings.serve.busy_timeout_s * 3 + 5

    def guard(self, handler: Handler, *, auth: bool = True) -> Handler:
        async def guarded(request: Request) -> Response:
            if (
                auth
                and self.token is not None
                and not authorized(request.headers.get("authorization"), self.token)
            ):
                return JSONResponse(
                    {"error": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="rca-kit"'},
                )
            try:
                return await handler(request)
            except NotFoundError as exc:
                return _error(404, exc.message)
            except RcaKitError as exc:
                return _error(400, str(exc))
            except Exception as exc:
                if not transient(exc):
                    raise
                log.warning("transient failure, asking the sender to retry: %s", exc)
                return _error(503, "temporarily unavailable; retry")

        return guarded

    # POST /api/v1/alerts[/{format}] ------------------------------------------------------------
    async def receive(self, request: Request) -> Response:
        fmt = request.path_params.get("format")
        source = f"http:{request.client.host if request.client else '?'}"
        try:
            raw = await _body(request, self.limit)
        except BodyTooLarge as big:
            message = f"body exceeds {self.limit} bytes ([serve] max_body_kb)"
            await run_in_threadpool(
                self.register.dead_letter,
                big.head,
                source=source,
                error=f"{message}; its first {len(big.head)} bytes kept (declared size: "
                f"{request.headers.get('content-length') or 'none, chunked'})",
            )
            return _error(413, message)
        try:
            settings = self.workspace.settings.alerts
            alerts = intake.parse_alerts(
                raw,
                fmt=fmt,
                service_labels=settings.service_labels,
                max_alerts=settings.max_per_payload,
            )
        except NotAnAlert as exc:  # an acknowledgement, a note: handled, nothing to keep
            return JSONResponse({"alerts": [], "ignored": exc.message}, status_code=202)
        except Exception as exc:  # whatever went wrong, the body is kept and the sender told
            reason = exc.message if isinstance(exc, RcaKitError) else _unexpected(exc)
            return await self._rejected(raw, source, reason)
        try:
            stored = await asyncio.wait_for(
                asyncio.wrap_future(self.writer.submit(alerts)), self.write_timeout_s
            )
        except TimeoutError:
            return _error(503, "the register did not answer in time; retry")
        except Exception as exc:
            if transient(exc):
                raise
            return await self._rejected(raw, source, f"the register refused it: {_unexpected(exc)}")
        return self._stored(alerts, stored)

    async def _rejected(self, raw: bytes, source: str, reason: str) -> Response:
        """A body that can never be stored: 400 with the reason, the bytes kept."""
        letter = await run_in_threadpool(
            self.register.dead_letter, raw, source=source, error=reason
        )
        return _error(400, reason, dead_letter=letter)

    def _stored(self, alerts: list[Alert], results: Stored) -> Response:
        stored = []
        for alert, (receipt, queued) in zip(alerts, results, strict=True):
            alert_id = receipt.id
            item: dict[str, Any] = {
                "id": alert_id,
                "status": alert.status,
                "created": receipt.created,
                "resolved": receipt.resolved,
            }
            if alert.status == "firing" and not alert.service:
                item["warning"] = "no service label: stored, not investigated"
            elif alert.status == "firing":  # queued even when this instance only receives
                item["queued"] = queued
                if receipt.shared_with:  # the same alert of the service is investigated
                    item["shared_with"] = receipt.shared_with
            if alert.warnings:
                item["warnings"] = list(alert.warnings)
            stored.append(item)
        if self.investigator is not None and any(item.get("queued") for item in stored):
            self.investigator.wake()
        return JSONResponse({"alerts": stored}, status_code=202)

    # GET ---------------------------------------------------------------------------------------
    async def alerts(self, request: Request) -> Response:
        status = request.query_params.get("status")
        if status not in (None, "firing", "resolved"):
            return _error(400, "status must be firing or resolved")
        limit_text = request.query_params.get("limit", "100")
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
            return _error(400, "limit must be a whole number from 1 to 1000")
        rows = await run_in_threadpool(self.register.alerts, status=status, limit=int(limit_text))
        return JSONResponse({"alerts": [_alert_json(row) for row in rows]})

    async def alert(self, request: Request) -> Response:
        alert_id = request.path_params["id"]

        def read() -> dict[str, Any]:
            row = self.register.alert_row(alert_id)
            return {
                **_alert_json(row),
                "labels": row["labels"],
                "annotations": row["annotations"],
                "links": row.get("links") or {},
                "queue": [_queue_json(q) for q in work.entries(self.register, alert_id=alert_id)],
                "investigations": [_investigation_json(i) for i in row["investigations"]],
            }

        return JSONResponse(await run_in_threadpool(read))

    async def investigation(self, request: Request) -> Response:
        investigation_id = request.path_params["id"]

        def read() -> dict[str, Any]:
            row = self.register.investigation(investigation_id)
            return {
                **_investigation_json(row),
                "hypotheses": [
                    {
                        "id": run["hypothesis_id"],
                        "verdict": run["verdict"],
                        "confidence": run["confidence"],
                        "summary": run["summary"],
                    }
                    for run in self.register.runs(investigation_id)
                ],
                "tasks": [
                    {"id": t["id"], "title": t["title"], "score": t["score"], "rank": t["rank"]}
                    for t in self.register.tasks(investigation_id=investigation_id)
                ],
            }

        return JSONResponse(await run_in_threadpool(read))

    async def health(self, _request: Request) -> Response:
        counts = await run_in_threadpool(work.counts, self.register)
        done = await run_in_threadpool(work.progress, self.register)
        return JSONResponse({"status": "ok", "queue": counts, "progress": done})


def _alert_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "status", "service", "severity", "starts_at", "ends_at")
    return {
        **{key: row.get(key) for key in keys},
        "received_at": row.get("received_at"),
        "resolved_at": row.get("resolved_at"),
        "time_to_resolve_s": row.get("time_to_resolve_s"),
    }


def _queue_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("state", "attempts", "enqueued_at", "started_at", "finished_at", "error")
    return {key: row.get(key) for key in keys} | {
        "investigation_id": row["investigation_id"],
        "shared_with": row.get("shared_with"),  # state merged: whose investigation it shares
    }


def _investigation_json(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "alert_id", "kind", "status", "leading_hypothesis", "created_at", "finished_at")
    return {key: row.get(key) for key in keys} | {
        "report": row.get("report"),
        "error": row.get("error"),
    }


def create_app(
    workspace: Workspace, *, token: str | None, investigations: int | None = None
) -> Starlette:
    """The receiver as an ASGI app; `token` None disables authentication (say so explicitly).

    With `investigations` > 0 (default: [serve] investigations) queued investigations run in
    the background while the app serves.
    """
    settings = workspace.settings.serve
    count = settings.investigations if investigations is None else investigations
    register = Register(
        workspace.database_url,
        workspace.settings,
        actor="rca-serve",
        busy_timeout_s=settings.busy_timeout_s,
    )
    investigator = (
        Investigator(workspace, register, count=count, timeout_s=settings.timeout_s)
        if count > 0
        else None
    )
    receiver = Receiver(workspace, register, token=token, investigator=investigator)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if investigator is not None:
            investigator.start()
        try:
            yield
        finally:
            if investigator is not None:
                await run_in_threadpool(investigator.stop)
            await run_in_threadpool(receiver.writer.close)
            register.close()

    guard = receiver.guard
    routes = [
        Route("/api/v1/alerts", guard(receiver.receive), methods=["POST"]),
        Route("/api/v1/alerts/{format}", guard(receiver.receive), methods=["POST"]),
        Route("/api/v1/alerts", guard(receiver.alerts), methods=["GET"]),
        Route("/api/v1/alerts/{id}", guard(receiver.alert), methods=["GET"]),
        Route("/api/v1/investigations/{id}", guard(receiver.investigation), methods=["GET"]),
        Route("/healthz", guard(receiver.health, auth=False), methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
