"""RegisterEditor: the ranked remediation tasks with owner and status controls.

Every change goes through the same Register methods as `rca register assign|status`: the
register decides what is legal (lifecycle moves, reasons, a team move's authority) and refuses
a task changed since it was shown (optimistic version). Refusals are shown in the editor, never
raised into the notebook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]

from .. import triage
from ..config import Workspace
from ..lifecycle import BY_VERIFICATION, STATUSES
from . import markup
from .base import Displayed, opened, problem, resolve_workspace

# `verified` is set by verification (`rca verify`) only
_MOVES = [status for status in STATUSES if status not in BY_VERIFICATION]


@dataclass
class TaskRow:
    """One task's controls, and the version of the task they were filled from."""

    task: dict[str, Any]
    owner: Any
    team: Any
    assign: Any
    status: Any
    reason: Any
    move: Any
    box: Any

    @property
    def id(self) -> str:
        return str(self.task["id"])

    @property
    def version(self) -> int:
        return int(self.task["version"])


class RegisterEditor(Displayed):
    """The register's tasks in rank order, for a notebook cell: `RegisterEditor()`.

    `filters` are those of `Register.tasks` (investigation_id, owner, team, statuses, service,
    overdue); at most `limit` tasks are shown.
    """

    def __init__(
        self,
        workspace: Workspace | str | Path | None = None,
        *,
        actor: str | None = None,
        limit: int = 50,
        **filters: Any,
    ) -> None:
        self.workspace = resolve_workspace(workspace)
        self.actor = actor or triage.current_actor()
        self.limit, self.filters = limit, filters
        self.rows: dict[str, TaskRow] = {}
        self.message = w.HTML()
        self.authority = w.Text(
            description="Authority", placeholder="who decides a move to another team"
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self.table = w.VBox()
        self.widget = w.VBox(
            [
                w.HTML("<h3>Remediation register</h3>"),
                w.HBox([self.refresh_button, self.authority]),
                self.message,
                self.table,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        """Read the ranked tasks again (every row's version with them)."""
        try:
            with opened(self.workspace, self.actor) as register:
                tasks = register.tasks(**self.filters)
        except Exception as exc:  # a bad filter or an unreachable database: say so
            self.message.value = markup.status(problem(exc), "error")
            return
        self.rows = {str(task["id"]): self._row(task) for task in tasks[: self.limit]}
        more = len(tasks) - len(self.rows)
        note = [w.HTML(markup.text(f"{more} more tasks not shown (limit {self.limit})"))]
        self.table.children = [row.box for row in self.rows.values()] + (note if more > 0 else [])
        if not tasks:
            self.message.value = markup.status("no tasks")

    def _row(self, task: dict[str, Any]) -> TaskRow:
        due = f"due {task['due_date']}{' OVERDUE' if task.get('overdue') else ''}"
        summary = (
            f"<b>#{task['rank']}</b> {float(task['score']):.1f} · {markup.text(task['id'])}"
            f" · {markup.text(task['status'])} · {markup.text(due)}<br>"
            f"{markup.text(task['title'], 300)}"
        )
        narrow = w.Layout(width="11em")
        row = TaskRow(
            task=task,
            owner=w.Text(value=task["owner"] or "", placeholder="owner", layout=narrow),
            team=w.Text(value=task["team"] or "", placeholder="team", layout=narrow),
            assign=w.Button(description="Assign", layout=w.Layout(width="6em")),
            status=w.Dropdown(options=_MOVES, value=task["status"], layout=narrow)
            if task["status"] in _MOVES
            else w.Dropdown(options=[task["status"], *_MOVES], value=task["status"], layout=narrow),
            reason=w.Text(placeholder="reason (wont_do, reopened)", layout=w.Layout(width="14em")),
            move=w.Button(description="Move", layout=w.Layout(width="6em")),
            box=None,
        )
        row.box = w.HBox(
            [
                w.HTML(summary, layout=w.Layout(width="32em")),
                row.owner,
                row.team,
                row.assign,
                row.status,
                row.reason,
                row.move,
            ]
        )
        row.assign.on_click(lambda _button, task_id=row.id: self.assign(task_id))
        row.move.on_click(lambda _button, task_id=row.id: self.move(task_id))
        return row

    def assign(self, task_id: str) -> None:
        """Give the task the owner (and team) typed in its row."""
        row = self.rows[task_id]
        owner, team = row.owner.value.strip(), row.team.value.strip()
        if not owner:
            self.message.value = markup.status(f"{task_id}: type an owner first", "error")
            return
        try:
            with opened(self.workspace, self.actor) as register:
                changed = register.assign(
                    task_id,
                    owner,
                    team if team and team != (row.task["team"] or "") else None,
                    expected_version=row.version,
                    authority=self.authority.value.strip() or None,
                )
        except Exception as exc:  # illegal, unauthorized or conflicting: shown, not raised
            self.message.value = markup.status(problem(exc), "error")
            return
        self.refresh()
        self.message.value = markup.status(
            f"{task_id}: owner {changed['owner']}, team {changed['team'] or '-'} "
            f"(version {changed['version']})",
            "ok",
        )

    def move(self, task_id: str) -> None:
        """Move the task to the status chosen in its row (with its reason)."""
        row = self.rows[task_id]
        status, reason = row.status.value, row.reason.value.strip() or None
        try:
            with opened(self.workspace, self.actor) as register:
                after = None
                if status == "done":
                    from ..loop import verify_after

                    after = verify_after(
                        self.workspace, row.task["hypothesis_id"], datetime.now(UTC)
                    )
                changed = register.set_status(
                    task_id,
                    status,
                    reason=reason,
                    expected_version=row.version,
                    verify_after=after,
                )
        except Exception as exc:  # illegal move, missing reason, conflict: shown, not raised
            self.message.value = markup.status(problem(exc), "error")
            return
        self.refresh()
        self.message.value = markup.status(
            f"{task_id}: {changed['status']} (version {changed['version']})", "ok"
        )
