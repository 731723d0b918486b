"""The review's hypotheses: the run the investigation recorded for each (an analyst's reruns
listed beside it, never in its place), a person's verdict override, the provenance line, the
plot (only when the test could judge) and the link to the notebook's exported evidence page.
Each notebook is checked against the sha256 its run recorded: one missing or changed since is
named as such, and neither its figure nor its page comes from the file as it now is."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ..figures import plotted
from ..learning import duration_s
from ..models import HypothesisSpec, Outcome, Verdict
from ..selection import consequences
from .assets import relative_src
from .evidence_links import evidence_page
from .html import Figures
from .notebooks import NotebookFacts, run_notebook

VERDICT_ORDER = {"supported": 0, "inconclusive": 1, "errored": 2, "refuted": 3}
JUDGED = ("supported", "refuted")  # verdicts whose notebook plotted the data it judged
# provenance (runs.provenance, else the notebook's metadata.rca_kit) as the review shows it:
# (label, key path) in reading order; what else it holds stays in the notebook
PROVENANCE = (
    ("template", ("template",)),
    ("template sha256", ("template_sha256",)),
    ("spec", ("spec", "id")),
    ("spec version", ("spec", "version")),
    ("spec sha256", ("spec", "sha256")),
    ("library sha256", ("library", "sha256")),
    ("rca-kit", ("rca_kit",)),
    ("snapshot sha256", ("snapshot_sha256",)),
    ("kernel", ("kernel", "name")),
    ("Python", ("kernel", "python")),
)


def standing_runs(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs the investigation recorded (an analyst's reruns stay beside them, never in
    their place), each with `reruns`: the reruns of it (and of its reruns), oldest first."""
    by_id = {run["id"]: run for run in runs}

    def root(run: dict[str, Any]) -> str | None:
        seen, step = {run["id"]}, run.get("rerun_of")
        while step in by_id and by_id[step].get("rerun_of") and step not in seen:
            seen.add(step)
            step = by_id[step]["rerun_of"]
        return step if step in by_id else None

    reruns: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        origin = root(run) if run.get("rerun_of") else None
        if origin:
            reruns.setdefault(origin, []).append(run)
    return [
        {**run, "reruns": sorted(reruns.get(run["id"], []), key=lambda r: r["created_at"])}
        for run in runs
        if not run.get("rerun_of") or root(run) is None  # a rerun of a run gone stands alone
    ]


def verdict_of(run: Mapping[str, Any]) -> Verdict:
    """The verdict the review stands by: a person's override, else the test's."""
    override = run.get("override")
    if isinstance(override, dict) and override.get("verdict") in VERDICT_ORDER:
        return cast(Verdict, override["verdict"])
    return cast(Verdict, run["verdict"])


def provenance(run: Mapping[str, Any], recorded: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, value) pairs of how the notebook was made: the run's record, else the
    notebook's own metadata; nothing when neither has one."""
    source = run.get("provenance")
    found: Mapping[str, Any] = source if isinstance(source, dict) and source else recorded
    pairs = []
    for label, path in PROVENANCE:
        value: Any = found
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            pairs.append((label, str(value)[:200]))
    return pairs


def hypothesis_views(
    runs: list[dict[str, Any]],
    specs: Mapping[str, HypothesisSpec],
    *,
    page: Path,
    reports_dir: Path,
    investigation_id: str,
    links: bool,
    figures: Figures,
    edits: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One view per standing run, in reading order (supported first, most confident first).

    With `links`, each notebook is exported to its evidence page beside the review and the
    view links it; without (a page that travels alone), the view names the notebook only.
    `edits`: what each rerun changed (run id → the parameters its analyst edited).
    """

    def page_of(run: dict[str, Any], facts: NotebookFacts, name: str) -> dict[str, Any]:
        """The relative link to the run's evidence page, or why there is none, and what is
        wrong with the notebook, if anything."""
        found = (
            evidence_page(run["notebook"], reports_dir, investigation_id, name, facts)
            if links
            else None
        )
        return {
            "link": relative_src(page, found.path) if found and found.path else None,
            "page_problem": found.problem if found and not facts.tampered else None,
            "notebook_state": facts.state,
            "integrity": facts.problem,
        }

    standing = standing_runs(runs)
    explained = consequences(
        [Outcome(r["hypothesis_id"], verdict_of(r), r["confidence"], "", "") for r in standing],
        specs,
    )
    views = []
    for run in standing:
        spec = specs.get(run["hypothesis_id"])
        facts = run_notebook(run)
        judged = run["verdict"] in JUDGED
        views.append(
            {
                **run,
                "verdict": verdict_of(run),
                "test_verdict": run["verdict"],
                "override": run["override"] if isinstance(run.get("override"), dict) else None,
                "title": spec.title if spec else run["hypothesis_id"],
                "statement": spec.statement if spec else "",
                "false_positives": spec.known_false_positives if spec else (),
                "figure": (
                    figures.embed(facts.figure)
                    if facts.figure and judged and plotted(facts.figure)
                    else None
                ),
                "judged": judged,
                **page_of(run, facts, run["hypothesis_id"]),
                "notebook_name": Path(run["notebook"]).name if run["notebook"] else None,
                "consequence_of": explained.get(run["hypothesis_id"]),
                "provenance": provenance(run, facts.provenance),
                "started_at": facts.started_at,
                "ended_at": facts.ended_at or run["created_at"],
                "ran_s": duration_s(facts.started_at, facts.ended_at) or run["duration_s"],
                "reruns": [
                    {
                        **rerun,
                        "edited": (edits or {}).get(rerun["id"]) or {},
                        **page_of(
                            rerun, run_notebook(rerun), f"{run['hypothesis_id']}.{rerun['id']}"
                        ),
                    }
                    for rerun in run["reruns"]
                ],
            }
        )
    views.sort(
        key=lambda h: (VERDICT_ORDER.get(h["verdict"], 9), -h["confidence"], h["hypothesis_id"])
    )
    return views
