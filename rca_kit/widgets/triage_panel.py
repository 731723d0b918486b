"""TriagePanel: one investigation in JupyterLab — its alert, verdicts with links to the evidence
notebooks, auto-suspects — and a person's triage: rerun a hypothesis with edited parameters,
override a verdict with a rationale, make a working copy of an evidence notebook.

The work is done by rca_kit.triage (the CLI's `rca rerun` and `rca override` call the same).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]

from .. import triage
from ..config import Workspace
from ..exceptions import RcaKitError
from ..lab.notebooks import working_copy
from ..library import load_library
from ..models import HypothesisSpec
from ..register.reruns import OVERRIDE_VERDICTS
from . import markup
from .base import Displayed, opened, problem, resolve_workspace

MAX_EDIT_CHARS = 64 * 1024
_ORDER = {"supported": 0, "inconclusive": 1, "refuted": 2, "errored": 3}
_WIDE = w.Layout(width="95%")


def _edited(rerun: dict[str, Any], original: dict[str, Any], names: list[str]) -> str:
    before, after = original.get("parameters") or {}, rerun.get("parameters") or {}
    changed = {n: after.get(n) for n in names if after.get(n) != before.get(n)}
    return json.dumps(changed) if changed else "same parameters"


def _choices(dropdown: Any, options: list[tuple[str, str]]) -> None:
    """New options for a dropdown, keeping its choice if still offered (else the first)."""
    chosen = dropdown.value
    dropdown.options = options
    values = [value for _, value in options]
    dropdown.value = chosen if chosen in values else (values[0] if values else None)


class TriagePanel(Displayed):
    """An investigation's triage, for a notebook cell: `TriagePanel("inv-…")`."""

    def __init__(
        self,
        investigation_id: str,
        workspace: Workspace | str | Path | None = None,
        *,
        actor: str | None = None,
    ) -> None:
        self.workspace = resolve_workspace(workspace)
        self.actor = actor or triage.current_actor()
        with opened(self.workspace, self.actor) as register:
            self.investigation_id = str(register.investigation(investigation_id)["id"])
        self.runs: list[dict[str, Any]] = []
        self.specs: dict[str, HypothesisSpec] = {}
        self.summary, self.verdicts, self.suspects = w.Output(), w.Output(), w.Output()
        self.rerun_hypothesis = w.Dropdown(description="Hypothesis", options=[])
        self.rerun_parameters = w.Textarea(
            description="Parameters", layout=w.Layout(width="95%", height="12em")
        )
        self.rerun_button = w.Button(description="Re-run", button_style="primary", icon="play")
        self.rerun_status = w.HTML()
        self.override_run = w.Dropdown(description="Hypothesis", options=[])
        self.override_verdict = w.Dropdown(description="Verdict", options=list(OVERRIDE_VERDICTS))
        self.override_rationale = w.Textarea(
            description="Rationale",
            placeholder="Why (required; kept in the audit log)",
            layout=_WIDE,
        )
        self.override_button = w.Button(description="Override verdict", button_style="warning")
        self.override_status = w.HTML()
        self.copy_run = w.Dropdown(description="Notebook", options=[])
        self.copy_button = w.Button(description="Working copy", icon="copy")
        self.copy_result = w.Output()
        self.rerun_hypothesis.observe(self._fill_parameters, names="value")
        self.rerun_button.on_click(self.rerun)
        self.override_button.on_click(self.override)
        self.copy_button.on_click(self.copy)
        heading = markup.text(f"Triage of {self.investigation_id}")
        self.widget = w.VBox(
            [
                w.HTML(f"<h3>{heading}</h3>"),
                self.summary,
                w.HTML("<h4>Verdicts</h4>"),
                self.verdicts,
                w.HTML("<h4>Auto-suspects</h4>"),
                self.suspects,
                w.HTML("<h4>Re-run a hypothesis with edited parameters</h4>"),
                self.rerun_hypothesis,
                self.rerun_parameters,
                w.HBox([self.rerun_button, self.rerun_status]),
                w.HTML("<h4>Override a verdict</h4>"),
                w.HBox([self.override_run, self.override_verdict]),
                self.override_rationale,
                w.HBox([self.override_button, self.override_status]),
                w.HTML("<h4>Working copy of an evidence notebook</h4>"),
                w.HBox([self.copy_run, self.copy_button]),
                self.copy_result,
            ]
        )
        self.refresh()

    # reading --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the investigation again and redraw everything."""
        with opened(self.workspace, self.actor) as register:
            investigation = register.investigation(self.investigation_id)
            alert = register.alert_row(investigation["alert_id"])
            self.runs = register.runs(self.investigation_id)
        try:
            ws = self.workspace
            library = load_library(ws.library_dir, ws.templates_dir, ws.settings.hypotheses)
            self.specs = {spec.id: spec for spec in library}
        except RcaKitError as exc:  # reading still works; reruns will say what is wrong
            self.specs = {}
            self.rerun_status.value = markup.status(problem(exc), "error")
        self.summary.outputs = (markup.html_output(self._summary(investigation, alert)),)
        self.verdicts.outputs = (markup.html_output(self._verdicts(investigation)),)
        self.suspects.outputs = (markup.html_output(self._suspects(investigation)),)
        originals = triage.originals(self.runs)
        hypotheses = [run["hypothesis_id"] for run in originals]
        _choices(self.rerun_hypothesis, [(h, h) for h in hypotheses])
        self._fill_parameters()
        _choices(self.override_run, [(run["hypothesis_id"], run["id"]) for run in originals])
        _choices(
            self.copy_run,
            [(Path(run["notebook"]).name, run["id"]) for run in self.runs if run.get("notebook")],
        )

    def _summary(self, investigation: dict[str, Any], alert: dict[str, Any]) -> str:
        rows = [
            ("Alert", markup.text(alert.get("name"))),
            ("Service", markup.text(alert.get("service") or "-")),
            ("Severity", markup.text(alert.get("severity") or "-")),
            ("Alert status", markup.text(alert.get("status"))),
            ("Started", markup.text(alert.get("starts_at"))),
            ("Investigation", markup.text(investigation["status"])),
            (
                "Window",
                markup.text(f"{investigation['window_start']} – {investigation['window_end']}"),
            ),
            (
                "Leading hypothesis",
                markup.text(investigation["leading_hypothesis"] or "none supported"),
            ),
        ]
        if investigation.get("report"):
            report = investigation["report"]
            review = markup.served_link(report, self.workspace.reports_dir, Path(report).name)
            rows.append(("Review", review))
        labels = alert.get("labels") or {}
        if labels:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
            rows.append(("Labels", markup.text(shown, 1000)))
        for name, url in sorted((alert.get("links") or {}).items()):
            rows.append((str(name), markup.link(str(url), url)))
        return markup.table(["", ""], [[f"<b>{markup.text(k)}</b>", v] for k, v in rows])

    def _verdicts(self, investigation: dict[str, Any]) -> str:
        originals = sorted(
            triage.originals(self.runs),
            key=lambda r: (_ORDER.get(triage.effective_verdict(r), 9), -r["confidence"]),
        )
        rows = []
        for run in originals:
            rows.append(self._verdict_row(run, investigation["leading_hypothesis"]))
            names = (
                list(self.specs[run["hypothesis_id"]].parameters)
                if run["hypothesis_id"] in self.specs
                else []
            )
            for rerun in (r for r in self.runs if r.get("rerun_of") == run["id"]):
                row = self._verdict_row(rerun, None)
                row[0] = "↳ rerun: " + markup.text(_edited(rerun, run, names), 300)
                rows.append(row)
        headers = ["Hypothesis", "Verdict", "Confidence", "Summary", "Evidence notebook", "Run"]
        return markup.table(headers, rows, css="rca-verdicts")

    def _verdict_row(self, run: dict[str, Any], leading: str | None) -> list[str]:
        name = markup.text(run["hypothesis_id"])
        if leading and run["hypothesis_id"] == leading:
            name = f"<b>{name}</b> (leading)"
        verdict = markup.text(triage.effective_verdict(run))
        override = run.get("override")
        if override:
            verdict += (
                f"<br><small>override by {markup.text(override.get('by'))}: "
                f"{markup.text(override.get('rationale'), 300)} "
                f"(recorded {markup.text(run['verdict'])})</small>"
            )
        notebook = run.get("notebook")
        evidence = (
            markup.link(markup.relative_href(notebook), Path(notebook).name) if notebook else "-"
        )
        return [
            name,
            verdict,
            f"{float(run['confidence']):.2f}",
            markup.text(run.get("error") or run["summary"], 400),
            evidence,
            markup.text(run["id"]),
        ]

    def _suspects(self, investigation: dict[str, Any]) -> str:
        suspects = investigation.get("suspects") or []
        if not suspects:
            return "<i>no series moved enough to suspect</i>"
        rows = [
            [
                markup.text(s.get("service")),
                markup.text(s.get("metric")),
                markup.text(s.get("score")),
                markup.text(s.get("direction")),
                markup.text(f"{s.get('before')} → {s.get('after')}"),
            ]
            for s in suspects
        ]
        return markup.table(["Service", "Metric", "Shift (z)", "Direction", "Median"], rows)

    def _fill_parameters(self, _change: Any = None) -> None:
        hypothesis = self.rerun_hypothesis.value
        run = next(
            (r for r in triage.originals(self.runs) if r["hypothesis_id"] == hypothesis), None
        )
        spec = self.specs.get(hypothesis) if hypothesis else None
        if run is None or spec is None:
            self.rerun_parameters.value = ""
            return
        current = triage.editable_parameters(self.workspace, run, spec)
        self.rerun_parameters.value = json.dumps(current, indent=2)

    # acting ---------------------------------------------------------------------------------
    def rerun(self, _button: Any = None) -> None:
        """Rerun the chosen hypothesis with the parameters in the text box (JSON)."""
        hypothesis, text = self.rerun_hypothesis.value, self.rerun_parameters.value
        status = self.rerun_status
        if not hypothesis:
            status.value = markup.status("choose a hypothesis", "error")
            return
        if len(text) > MAX_EDIT_CHARS:
            status.value = markup.status(f"parameters exceed {MAX_EDIT_CHARS} characters", "error")
            return
        try:
            edits = json.loads(text or "{}")
        except (ValueError, RecursionError) as exc:
            status.value = markup.status(f"parameters are not JSON: {exc}", "error")
            return
        self.rerun_button.disabled = True
        status.value = markup.status(f"re-running {hypothesis}: starting a kernel…", "busy")
        warnings: list[str] = []

        def say(line: str) -> None:
            if line.startswith("warning:"):
                warnings.append(line)
            status.value = markup.status(line, "busy")

        try:
            row = triage.rerun_hypothesis(
                self.workspace, self.investigation_id, hypothesis, edits, self.actor, say=say
            )
        except Exception as exc:  # shown in the widget; nothing was recorded
            status.value = markup.status(problem(exc), "error")
            return
        finally:
            self.rerun_button.disabled = False
        self.refresh()
        status.value = markup.status(
            f"{row['id']}: {row['verdict']} (confidence {row['confidence']:.2f}), kept beside "
            f"{row['rerun_of']}" + "".join(f"; {w}" for w in warnings),
            "error" if row.get("error") or warnings else "ok",
        )

    def override(self, _button: Any = None) -> None:
        """Override the chosen run's verdict with the rationale given."""
        run_id = self.override_run.value
        if not run_id:
            self.override_status.value = markup.status("choose a hypothesis", "error")
            return
        warnings: list[str] = []
        try:
            row = triage.override_verdict(
                self.workspace,
                run_id,
                self.override_verdict.value,
                self.override_rationale.value,
                self.actor,
                say=warnings.append,
            )
        except Exception as exc:  # shown in the widget; nothing was recorded
            self.override_status.value = markup.status(problem(exc), "error")
            return
        self.refresh()
        self.override_rationale.value = ""
        lead = row["leading_hypothesis"] or "none supported"
        self.override_status.value = markup.status(
            f"{row['hypothesis_id']}: {row['override']['verdict']} by {row['override']['by']}; "
            f"leading hypothesis: {lead}" + "".join(f"; {w}" for w in warnings),
            "error" if warnings else "ok",
        )

    def copy(self, _button: Any = None) -> None:
        """Make (or find) the working copy of the chosen evidence notebook and link it."""
        run = next((r for r in self.runs if r["id"] == self.copy_run.value), None)
        try:
            if run is None:
                raise RcaKitError("choose a notebook")
            path = working_copy(self.workspace, run)
        except Exception as exc:
            shown = markup.status(problem(exc), "error")
        else:
            shown = "working copy: " + markup.link(markup.relative_href(path), path.name)
        self.copy_result.outputs = (markup.html_output(shown),)
