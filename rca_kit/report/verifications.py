"""The review's verification of fixes: each re-run of the test that found the problem on a
post-fix window, with its numbers, both plots and the link to its evidence page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..figures import plotted
from ..register import Register
from .assets import relative_src
from .evidence_links import evidence_page
from .html import Figures
from .hypotheses import JUDGED
from .notebooks import run_notebook


def verification_views(
    register: Register,
    items: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    tasks: list[dict[str, Any]],
    *,
    page: Path,
    reports_dir: Path,
    figures: Figures,
    links: bool,
) -> list[dict[str, Any]]:
    """Each verification (`items`: register.verifications) of this incident's fixes (`tasks`),
    with plots only of tests that could judge."""
    found = []
    titles = {t["id"]: t["title"] for t in tasks}
    for item in items:
        result = item.get("verification") or {}
        after_runs = register.runs(item["id"])
        after = after_runs[0] if after_runs else None
        before = next(
            (
                r
                for r in runs
                if after and r["hypothesis_id"] == after["hypothesis_id"] and not r["rerun_of"]
            ),
            None,
        )
        checked = run_notebook(after)
        target = (
            evidence_page(
                after["notebook"], reports_dir, item["id"], after["hypothesis_id"], checked
            ).path
            if after and links
            else None
        )
        found.append(
            {
                **item,
                "task_title": titles.get(item["task_id"], item["task_id"]),
                "result": result.get("result", item["status"]),
                "reason": result.get("reason") or item.get("error") or "",
                "description": result.get("description", ""),
                "metrics": (result.get("check") or {}).get("metrics", []),
                "before": before,
                "after": after,
                "before_figure": _plot(before, figures),
                "after_figure": _plot(after, figures),
                "link": relative_src(page, target) if target else None,
                "integrity": checked.problem,
            }
        )
    return found


def _plot(run: dict[str, Any] | None, figures: Figures) -> Any:
    if run is None or run["verdict"] not in JUDGED:
        return None
    figure = run_notebook(run).figure  # none from a notebook changed since its run
    return figures.embed(figure) if figure and plotted(figure) else None
