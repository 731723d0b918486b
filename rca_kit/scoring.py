"""Pure scoring of remediation tasks, with a breakdown and a one-line explanation.

score = 100 * (w_i * (impact-1)/4 + w_c * confidence + w_e * (5-effort)/4 + w_r * (5-risk)/4)
              / (w_i + w_c + w_e + w_r)

impact, effort and risk are 1..5 (5 = most impact, most effort, most risk); confidence is the
outcome's, 0..1. High impact and confidence raise a task; high effort and risk lower it.

Recurrence: when the same remediation (same spec task, hypothesis and service) arises from
`n` distinct alerts, each repeat closes a share `r` (`[scoring] recurrence`, default 0.25) of
the remaining gap to 100:  score = base + (100 - base) * (1 - (1 - r)^(n - 1)).
A first occurrence scores exactly its base; the score never exceeds 100.

Each term's contribution in points is stored, so the score always adds up to its breakdown.
A decision authority may override the factors (impact, effort, risk: the score is recomputed
from them and keeps moving with the evidence) or the score itself (it stays fixed until the
override is cleared); the computed score is always kept beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rank_key alone (rca register list) needs none of them
    from .models import HypothesisSpec, Outcome, ScoredTask, TaskTemplate

FACTORS = ("impact", "confidence", "effort", "risk")
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "impact": 0.40,
    "confidence": 0.30,
    "effort": 0.15,
    "risk": 0.15,
    "recurrence": 0.25,
}


def normalized(impact: int, confidence: float, effort: int, risk: int) -> dict[str, float]:
    """Each factor on 0..1, oriented so that higher is better."""
    return {
        "impact": (impact - 1) / 4,
        "confidence": min(max(confidence, 0.0), 1.0),
        "effort": (5 - effort) / 4,
        "risk": (5 - risk) / 4,
    }


def score(
    impact: int,
    confidence: float,
    effort: int,
    risk: int,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
    occurrences: int = 1,
) -> tuple[float, dict[str, float], str]:
    """(score 0..100, points per factor and for recurrence, explanation)."""
    total = sum(weights[k] for k in FACTORS)
    if total <= 0:
        msg = "scoring weights must not all be zero"
        raise ValueError(msg)
    factors = normalized(impact, confidence, effort, risk)
    points = {k: round(100 * weights[k] * factors[k] / total, 2) for k in FACTORS}
    base = sum(points.values())
    share = min(max(weights.get("recurrence", DEFAULT_WEIGHTS["recurrence"]), 0.0), 1.0)
    repeats = max(occurrences - 1, 0)
    points["recurrence"] = round((100 - base) * (1 - (1 - share) ** repeats), 2)
    value = round(sum(points.values()), 2)
    recurred = f" + seen {occurrences}× → {points['recurrence']:.1f}" if repeats else ""
    explanation = (
        f"impact {impact}/5 → {points['impact']:.1f} + confidence {confidence:.2f} → "
        f"{points['confidence']:.1f} + effort {effort}/5 → {points['effort']:.1f} + "
        f"risk {risk}/5 → {points['risk']:.1f}{recurred} = {value:.1f}"
    )
    return value, points, explanation


def with_override(
    computed: tuple[float, dict[str, float], str],
    override: Mapping[str, object] | None,
    *,
    impact: int,
    confidence: float,
    effort: int,
    risk: int,
    occurrences: int,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
) -> tuple[float, dict[str, float], str]:
    """The effective score: the computed one, or what a decision authority set instead."""
    if not override:
        return computed
    who = f"{override.get('authority')}"
    if override.get("score") is not None:
        value = round(float(str(override["score"])), 2)
        note = f"set to {value:.1f} by {who} (computed {computed[0]:.1f}: {computed[2]})"
        return value, computed[1], note

    def factor(name: str, default: int) -> int:
        given = override.get(name)
        return int(str(given)) if given is not None else default

    value, points, explanation = score(
        factor("impact", impact),
        confidence,
        factor("effort", effort),
        factor("risk", risk),
        weights,
        occurrences,
    )
    return value, points, f"{explanation} (factors set by {who}; computed {computed[0]:.1f})"


def _render(text: str, service: str | None) -> str:
    # templates are trusted (linted to contain only {service}); the service value is data
    return text.format_map({"service": service or "the service"})


def task_from(
    template: TaskTemplate,
    outcome: Outcome,
    service: str | None,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
) -> ScoredTask:
    from .models import ScoredTask

    value, points, explanation = score(
        template.impact, outcome.confidence, template.effort, template.risk, weights
    )
    return ScoredTask(
        hypothesis_id=outcome.hypothesis_id,
        spec_task=template.title,
        title=_render(template.title, service),
        description=_render(template.description, service),
        impact=template.impact,
        effort=template.effort,
        risk=template.risk,
        confidence=outcome.confidence,
        score=value,
        breakdown=points,
        explanation=explanation,
        due_in_days=template.due_in_days,
    )


def rank_key(
    score: float, impact: int, effort: int, risk: int, hypothesis_id: str, title: str
) -> tuple[float, int, int, int, str, str]:
    """The one ranking rule: score, then impact, then least effort and risk, then names."""
    return (-score, -impact, effort, risk, hypothesis_id, title)


def rank(tasks: Sequence[ScoredTask]) -> list[ScoredTask]:
    """Tasks in rank order, numbered from 1."""
    ordered = sorted(
        tasks, key=lambda t: rank_key(t.score, t.impact, t.effort, t.risk, t.hypothesis_id, t.title)
    )
    return [replace(task, rank=i) for i, task in enumerate(ordered, start=1)]


def plan(
    outcomes: Sequence[Outcome],
    specs: Mapping[str, HypothesisSpec],
    service: str | None,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
) -> list[ScoredTask]:
    """Tasks proposed by every supported outcome, scored and ranked."""
    tasks = [
        task_from(template, outcome, service, weights)
        for outcome in outcomes
        if outcome.verdict == "supported" and outcome.hypothesis_id in specs
        for template in specs[outcome.hypothesis_id].remediation
    ]
    return rank(tasks)
