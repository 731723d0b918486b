"""Alert storms: `rca investigate --batch DIR_OR_GLOB` investigates every alert of many
payload files, a few investigations at a time, their notebooks sharing one bound.

The register is the batch's memory, so a batch killed mid-way and started again finishes
what is left: an alert whose investigation is done (or partial) is reported as it is, one
whose process died (`abandoned`) or that failed before recording its verdicts is resumed in
its folder (`pipeline.resume`), one still running in a live process is waited for, and the
rest are investigated. Verdicts are recorded once per investigation, in one transaction, so
each (investigation, hypothesis) has exactly one run whatever was interrupted.
"""

from __future__ import annotations

import glob
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pipeline, recovery
from .batch_progress import Display
from .completion import finish_recorded
from .config import Workspace, parse_duration
from .exceptions import BusyError, InputError, RcaKitError
from .ingest import ingest_file, shared
from .models import RunResult
from .pool import Pool
from .register import Register
from .runner import Job

WAIT_S = 2.0  # how often an investigation running in another process is looked at again
FINISHED = ("done", "partial")


@dataclass
class Item:
    """One investigation of the batch, and the alerts it answers."""

    alert_id: str
    copies: list[str] = field(default_factory=list)  # alerts sharing its investigation
    investigation_id: str | None = None
    status: str = "pending"  # done, partial or failed once the batch has been through it
    leading: str | None = None
    report: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "investigation_id": self.investigation_id,
            "alert_id": self.alert_id,
            "shared_by": self.copies,
            "status": self.status,
            "leading_hypothesis": self.leading,
            "report": self.report,
            "error": self.error,
        }


@dataclass
class BatchResult:
    """What `rca investigate --batch --json` prints (docs/cli.md)."""

    items: list[Item]
    files: int
    file_errors: list[tuple[str, str]]  # (file, why its alerts could not be stored)
    notebooks: int  # run by this batch (not those of investigations finished before it)
    duration_s: float

    def count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def ok(self) -> bool:
        return not self.file_errors and all(item.status == "done" for item in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "investigations": [item.to_json() for item in self.items],
            "files": [{"file": f, "error": e} for f, e in self.file_errors],
            "counts": {
                "files": self.files,
                "files_failed": len(self.file_errors),
                "alerts": sum(1 + len(item.copies) for item in self.items),
                "investigations": len(self.items),
                "done": self.count("done"),
                "partial": self.count("partial"),
                "failed": self.count("failed"),
                "notebooks": self.notebooks,
            },
            "duration_s": round(self.duration_s, 3),
            "notebooks_per_s": round(self.notebooks / self.duration_s, 3)
            if self.duration_s > 0
            else 0.0,
        }


def expand(pattern: str) -> list[Path]:
    """The payload files a batch reads: a folder's files (not its hidden ones, not its
    subfolders), or the files a glob matches (`**` recurses), in name order."""
    path = Path(pattern).expanduser()
    if path.is_dir():
        found = [p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")]
    else:
        found = [Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()]
    return sorted(found)


def gather(
    workspace: Workspace, register: Register, files: list[Path], fmt: str | None
) -> tuple[list[Item], list[tuple[str, str]]]:
    """Store every alert of the files (as `rca alert ingest` does; a repeat is the stored
    alert) and group them: one item per alert that needs its own investigation, its copies
    (same name and service, starting within `[evidence] before`) sharing it."""
    alert_ids: list[str] = []
    problems: list[tuple[str, str]] = []
    for path in files:
        try:
            stored = ingest_file(workspace, register, path, fmt)
        except RcaKitError as exc:  # dead-lettered with the reason: the others still run
            problems.append((str(path), exc.message))
            continue
        alert_ids += [a for a in stored if a not in alert_ids]
    twins = shared(register, alert_ids, parse_duration(workspace.settings.evidence.before))
    items = {a: Item(a) for a in alert_ids if a not in twins}
    for copy, original in twins.items():
        items[original].copies.append(copy)
    return list(items.values()), problems


class LocalSlots:
    """Notebooks of concurrent investigations on this machine, `workers` at most in all: a
    few pools of `per_run` workers each, started once for the whole batch (their warm kernels
    load while the first evidence is frozen); an investigation runs its notebooks on one."""

    def __init__(self, workers: int, per_run: int, kernels: str) -> None:
        self.per_run = max(1, min(per_run, workers))
        self.slots = max(1, workers // self.per_run)
        self._idle: queue.Queue[Pool] = queue.Queue()
        for _ in range(self.slots):
            self._idle.put(Pool(self.per_run, kernels=kernels))

    def __call__(
        self, jobs: list[Job], progress: Callable[[RunResult], None] | None
    ) -> list[RunResult]:
        pool = self._idle.get()  # one investigation at a time on each pool
        try:
            return pool.run(jobs, progress)
        finally:
            self._idle.put(pool)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


Plan = Callable[[int], tuple[pipeline.RunJobs, int]]


@contextmanager
def backend(workspace: Workspace) -> Iterator[Plan]:
    """Where the batch's notebooks run: a function of the number of investigations that
    gives (how to run an investigation's notebooks, how many investigations run at once)."""
    if workspace.settings.execution.backend == "dask":
        from . import dask_backend

        client = dask_backend.connect(workspace)  # unreachable: one line, nothing written
        try:
            runner = dask_backend.DaskRunner(client)
            # enough investigations to keep the cluster's threads busy, and one more
            at_once = -(-dask_backend.threads(client) // 9) + 1
            yield lambda _count: (runner, at_once)
        finally:
            dask_backend.close(client)
        return
    execution = workspace.settings.execution
    started: list[LocalSlots] = []

    def local(count: int) -> tuple[pipeline.RunJobs, int]:
        per_run = execution.workers // max(1, min(execution.workers, count))
        started.append(LocalSlots(execution.workers, per_run, execution.kernels))
        # one more investigation than slots: its snapshot is frozen, or its report rendered,
        # while the others' notebooks run
        return started[-1], started[-1].slots + 1

    try:
        yield local
    finally:
        for slots in started:
            slots.close()


def run_batch(
    workspace: Workspace,
    pattern: str,
    fmt: str | None = None,
    *,
    display: Display | None = None,
) -> BatchResult:
    """Investigate every alert of the payload files `pattern` names (see the module doc)."""
    started = time.monotonic()
    files = expand(pattern)
    if not files:
        raise InputError(f"no alert files match {pattern}")
    with backend(workspace) as plan:
        register = pipeline.open_register(workspace)
        try:
            items, problems = gather(workspace, register, files, fmt)
            if not items:
                why = f": {problems[0][0]}: {problems[0][1]}" if problems else ""
                raise InputError(f"no alerts in the {len(files)} files matching {pattern}{why}")
            recovery.mark_abandoned(register)
            run_jobs, at_once = plan(len(items))
            display = display or Display(quiet=True)
            display.start(len(items))
            try:
                Batch(workspace, register, run_jobs, display).run(items, at_once)
            finally:
                display.close()
        finally:
            register.close()
    return BatchResult(items, len(files), problems, display.notebooks, time.monotonic() - started)


@dataclass
class Batch:
    """The items of one batch, carried out by a few threads in this process."""

    workspace: Workspace
    register: Register
    run_jobs: pipeline.RunJobs
    display: Display

    def run(self, items: list[Item], threads: int) -> None:
        todo = iter(list(items))
        lock = threading.Lock()
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set():
                with lock:
                    item = next(todo, None)
                if item is None:
                    return
                self.carry_out(item)
                self.display.finished(item.status)

        pool = [
            threading.Thread(target=drain, name=f"rca-batch-{n + 1}", daemon=True)
            for n in range(max(1, min(threads, len(items))))
        ]
        for thread in pool:
            thread.start()
        try:
            for thread in pool:
                thread.join()
        except BaseException:  # Ctrl-C, SIGTERM: start nothing more; what runs is abandoned
            stop.set()  # with this process, and the same command resumes it
            raise

    def carry_out(self, item: Item) -> None:
        """Bring one item to an end: investigate, resume, wait, or report what is on record."""
        while True:
            action, row = self.decide(item.alert_id)
            if action == "wait":  # another live process runs it; a dead one's is abandoned
                time.sleep(WAIT_S)
                recovery.mark_abandoned(self.register)
                continue
            if row is not None:
                item.investigation_id = str(row["id"])
            if action == "finished":
                assert row is not None
                item.status, item.leading = str(row["status"]), row["leading_hypothesis"]
                item.report, item.error = row["report"], row["error"]
                return
            if action == "finish":  # its verdicts are on record: end it from them
                assert row is not None
                try:
                    row = finish_recorded(self.workspace, str(row["id"]))
                except BusyError:
                    continue
                except Exception as exc:
                    self._failed(item, exc)
                    return
                item.status, item.leading = str(row["status"]), row["leading_hypothesis"]
                item.report, item.error = row["report"], row["error"]
                return
            try:
                if action == "resume":
                    assert row is not None
                    result = pipeline.resume(
                        self.workspace,
                        str(row["id"]),
                        progress=self.display.notebook,
                        run_jobs=self.run_jobs,
                    )
                else:
                    result = pipeline.investigate(
                        self.workspace,
                        item.alert_id,
                        progress=self.display.notebook,
                        run_jobs=self.run_jobs,
                    )
            except BusyError:  # taken by another process meanwhile: look again
                continue
            except Exception as exc:  # one investigation's failure is the batch's data
                self._failed(item, exc)
                return
            item.investigation_id, item.status = result.investigation_id, result.status
            item.leading = result.leading.hypothesis_id if result.leading else None
            item.report, item.error = str(result.report), result.problem
            item.warnings = [
                s["warning"] for s in result.evidence.get("sources", []) if s.get("warning")
            ]
            return

    def decide(self, alert_id: str) -> tuple[str, dict[str, Any] | None]:
        """What the register says is left to do for an alert, from its latest investigation."""
        rows = [r for r in self.register.investigations_of(alert_id) if r["kind"] == "incident"]
        if not rows:
            return "investigate", None
        row = rows[-1]
        if row["status"] in FINISHED:
            return "finished", row
        if row["status"] == "running":
            return "wait", row
        if self.register.runs(str(row["id"])):  # stopped after recording its verdicts
            return "finish", row
        return "resume", row

    def _failed(self, item: Item, exc: Exception) -> None:
        item.status = "failed"
        text = str(exc) if isinstance(exc, RcaKitError) else f"{type(exc).__name__}: {exc}"
        item.error = (text.strip().splitlines() or [type(exc).__name__])[0][:500]
        try:  # the investigation it started, if it got that far
            rows = self.register.investigations_of(item.alert_id)
        except Exception:  # the database itself failed: the error says so already
            return
        if rows and rows[-1]["kind"] == "incident":
            item.investigation_id = str(rows[-1]["id"])
