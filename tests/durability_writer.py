"""A register writer for the durability tests: acknowledges each write once it has returned.

    python tests/durability_writer.py URL --prefix P [--iterations N] [--folder DIR] [--wait-go]

Each iteration stores an alert (a unique name per iteration), starts an investigation, records
one outcome, creates one task, and (when the register has them) assigns the task and moves it
to in_progress. After each call returns it prints one line and flushes:

    ok alert <id> | ok investigation <id> | ok run <id> | ok task <id>
    ok assign <task id> <owner> | ok status <task id> <status>

so a line on stdout means the write is committed, even if the process is killed right after.
`--iterations 0` loops until killed; `--wait-go` opens the register, prints "ready" and waits
for one line on stdin before writing (so several writers can start writing together).

`--conflict TASK_ID --prefix OWNER` races instead: it reads the task's version, prints
"version N", waits for a line on stdin, then assigns the task to OWNER expecting version N and
prints "ok assign <task id> <owner>" or "conflict <json: message, task_id, version>".

Imports stay light (no pandas): the Alertmanager payload is built here, in the shape of
rca_kit.testing.alertmanager_payload, because rca_kit.testing imports the evidence stack.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rca_kit.exceptions import ConflictError
from rca_kit.intake import parse_alerts
from rca_kit.models import Outcome, ScoredTask
from rca_kit.register import Register

ACTOR = "durability-writer"


def payload(name: str) -> dict[str, Any]:
    labels = {"alertname": name, "service": "svc", "severity": "warning"}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": f"{name} on svc"},
        "startsAt": "2026-11-20T12:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": "",
    }
    return {
        "version": "4",
        "status": "firing",
        "receiver": "rca-kit",
        "groupKey": "{}",
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": name},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": [alert],
    }


def ack(*fields: object) -> None:
    print("ok", *fields, flush=True)


def iteration(register: Register, prefix: str, i: int, folder: Path) -> None:
    [alert] = parse_alerts(json.dumps(payload(f"{prefix}-{i}")))
    alert_id, created = register.store_alert(alert)
    if not created:
        raise SystemExit(f"alert {prefix}-{i} was not new: {alert_id}")
    ack("alert", alert_id)
    investigation_id, _ = register.create_investigation(alert_id, folder)
    ack("investigation", investigation_id)
    outcome = Outcome("h", "supported", 0.9, "latency doubled", "p95 > 2x baseline")
    run_ids = register.record_outcomes(investigation_id, [outcome], {"h": 1})
    ack("run", run_ids["h"])
    title = f"Fix {prefix}-{i}"  # a new task identity each time, not a recurrence
    task = ScoredTask("h", title, "", 4, 2, 2, 0.9, 80.0, {"impact": 30.0}, "e", 3, spec_task=title)
    [task_id] = register.create_tasks(investigation_id, [task], run_ids)
    ack("task", task_id)
    if hasattr(register, "assign"):
        owner = f"owner-{prefix}"
        register.assign(task_id, owner)
        ack("assign", task_id, owner)
    if hasattr(register, "set_status"):
        register.set_status(task_id, "in_progress")
        ack("status", task_id, "in_progress")


def race(register: Register, task_id: str, owner: str) -> None:
    """Read the task's version, wait for "go", assign it expecting that version; report."""
    version = int(register.task(task_id)["version"])
    print("version", version, flush=True)
    sys.stdin.readline()
    try:
        register.assign(task_id, owner, expected_version=version)
    except ConflictError as err:
        found = {"message": str(err), "task_id": err.task_id, "version": err.version}
        print("conflict", json.dumps(found), flush=True)
    else:
        ack("assign", task_id, owner)
    register.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--iterations", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=Path("investigations"))
    parser.add_argument("--wait-go", action="store_true")
    parser.add_argument("--conflict", metavar="TASK_ID")
    args = parser.parse_args()
    register = Register(args.url, actor=ACTOR)
    if args.conflict:
        race(register, args.conflict, args.prefix)
        return
    if args.wait_go:
        print("ready", flush=True)
        sys.stdin.readline()
    i = 0
    while args.iterations == 0 or i < args.iterations:
        iteration(register, args.prefix, i, args.folder)
        i += 1
    register.close()


if __name__ == "__main__":
    main()
