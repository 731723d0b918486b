"""The register: one object over the store, the backlog, governance and reviews."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import InputError
from ..models import Outcome, ScoredTask
from . import audit, backlog, governance, reruns, reviews, tasks, verifications
from .store import Store


class Register(Store):
    """The register behind one database URL: storage plus the backlog's operations.

    Each method is one transaction (writes) or one consistent read; the work is done by the
    functions of `tasks`, `backlog`, `governance` and `reviews`, which take a connection.
    """

    def create_tasks(
        self, investigation_id: str, scored: Sequence[ScoredTask], run_ids: dict[str, str]
    ) -> list[str]:
        """Create the planned tasks, or link each to the task it repeats (see tasks.propose)."""
        with self.transaction() as conn:
            return tasks.propose(conn, investigation_id, scored, run_ids, self.context)

    def tasks(self, *, investigation_id: str | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Tasks in rank order, numbered from 1 (filters: see backlog.ranked)."""
        with self.engine.connect() as conn:
            return backlog.ranked(conn, investigation_id=investigation_id, **filters)

    def task(self, task_id: str) -> dict[str, Any]:
        """One task with its rank and why, evidence and audit trail."""
        with self.engine.connect() as conn:
            return backlog.detail(conn, task_id)

    def task_row(self, task_id: str) -> dict[str, Any]:
        """One task as stored (no rank, evidence or trail: see `task` for those)."""
        with self.engine.connect() as conn:
            return tasks.get(conn, task_id)

    def story(self, task_id: str, *, audit: bool = False) -> dict[str, Any]:
        """A task's evidence (every investigation behind it) and, with audit, its trail."""
        with self.engine.connect() as conn:
            found = {"evidence": tasks.evidence(conn, task_id)}
            if audit:
                found["audit"] = backlog.trail(conn, task_id)
            return found

    def assign(
        self,
        task_id: str,
        owner: str,
        team: str | None = None,
        *,
        expected_version: int | None = None,
        authority: str | None = None,
    ) -> dict[str, Any]:
        """Set the owner (and team). Moving a task away from its team is a decision: it needs
        an authority who may decide for the team it leaves (governance follows the team)."""
        with self.transaction() as conn:
            before = tasks.get(conn, task_id)
            if team is not None and before["team"] and team.strip() != before["team"]:
                if not authority:
                    raise InputError(
                        f"moving {task_id} from team {before['team']!r} is a decision",
                        hint="add --authority NAME ([governance] in rca.toml)",
                    )
                authority = governance.authorize(
                    self.settings.governance,
                    authority,
                    team=before["team"],
                    severity=before["severity"],
                )
            return backlog.assign(
                conn,
                task_id,
                owner=owner,
                team=team,
                actor=self.actor,
                expected_version=expected_version,
                authority=authority,
            )

    def set_status(
        self,
        task_id: str,
        status: str,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
        verify_after: str | None = None,
    ) -> dict[str, Any]:
        """Move a task along its lifecycle (`verify_after`: when its fix can be verified)."""
        with self.transaction() as conn:
            return tasks.set_status(
                conn,
                task_id,
                status,
                reason=reason,
                actor=self.actor,
                expected_version=expected_version,
                extra={"verify_after": verify_after} if verify_after else None,
            )

    def reprioritize(
        self,
        task_id: str,
        *,
        override: dict[str, Any] | None,
        rationale: str,
        authority: str,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Set a decision authority's override (score or factors); None clears it."""
        with self.transaction() as conn:
            return governance.reprioritize(
                conn,
                task_id,
                override=override,
                rationale=rationale,
                authority=authority,
                governance=self.settings.governance,
                weights=self.settings.scoring.model_dump(),
                actor=self.actor,
                expected_version=expected_version,
            )

    def link(
        self, task_id: str, system: str, key: str, *, expected_version: int | None = None
    ) -> dict[str, Any]:
        with self.transaction() as conn:
            return backlog.link(
                conn,
                task_id,
                system=system,
                key=key,
                actor=self.actor,
                expected_version=expected_version,
            )

    def agenda(self, today: str | None = None) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return governance.agenda(conn, today)

    def reviewed(self, authority: str, notes: str | None = None) -> dict[str, Any]:
        with self.transaction() as conn:
            return governance.reviewed(
                conn,
                authority=authority,
                notes=notes,
                governance=self.settings.governance,
                actor=self.actor,
            )

    def record_review(
        self,
        investigation_id: str,
        *,
        root_cause: str,
        explains: dict[str, tuple[str, ...]] | None = None,
        notes: str | None = None,
        worked: str | None = None,
        did_not_work: str | None = None,
        reviewer: str | None = None,
    ) -> dict[str, Any]:
        """Record an incident's confirmed cause and lessons (see reviews.record)."""
        with self.transaction() as conn:
            return reviews.record(
                conn,
                investigation_id,
                root_cause=root_cause,
                explains=explains or {},
                notes=notes,
                worked=worked,
                did_not_work=did_not_work,
                reviewer=reviewer or self.actor,
                actor=self.actor,
            )

    def review(self, investigation_id: str) -> dict[str, Any] | None:
        """The latest review of an investigation, if any."""
        with self.engine.connect() as conn:
            return reviews.latest(conn, investigation_id)

    def apply_verification(self, task_id: str, **result: Any) -> dict[str, Any]:
        """Record a verification and move the task (see verifications.apply)."""
        with self.transaction() as conn:
            return verifications.apply(conn, task_id, context=self.context, **result)

    def last_verification(self, task_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return verifications.latest_of_task(conn, task_id)

    def verifications(self, investigation_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return verifications.of_investigation(conn, investigation_id)

    def note(self, task_id: str, action: str, reason: str, **details: Any) -> None:
        """An audit event about a task that changes nothing in it (a pending verification)."""
        with self.transaction() as conn:
            tasks.get(conn, task_id)
            audit.append(
                conn,
                action=action,
                entity="task",
                entity_id=task_id,
                actor=self.actor,
                rationale=reason,
                details=details,
            )

    def record_rerun(
        self,
        rerun_of: str,
        outcome: Outcome,
        *,
        spec_version: int,
        parameters: dict[str, Any],
        edited: dict[str, Any],
        notebook_sha256: str | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> str:
        """Store an analyst's rerun beside the run it repeats (see reruns.record_rerun)."""
        with self.transaction() as conn:
            return reruns.record_rerun(
                conn,
                rerun_of=rerun_of,
                outcome=outcome,
                spec_version=spec_version,
                parameters=parameters,
                edited=edited,
                notebook_sha256=notebook_sha256,
                provenance=provenance,
                actor=self.actor,
            )

    def override_verdict(self, run_id: str, verdict: str, rationale: str) -> dict[str, Any]:
        """A person's verdict on a run, beside the recorded one (see reruns.override)."""
        with self.transaction() as conn:
            return reruns.override(
                conn, run_id, verdict=verdict, rationale=rationale, actor=self.actor
            )
