"""Pure scoring of remediation tasks, with a breakdown and a one-line explanation.

score = 100 * (w_i * (impact-1)/4 + w_c * confidence + w_e * (5-effort)/4 + w_r * (5-risk)/4)
              / (w_i + w_c + w_e + w_r)

impact, effort and risk are 1..5 (5 = most impact, most effort, most risk); confidence is the
outcome's, 0..1. High impact and confidence raise a task; high effort and risk lower it. Each
term's contribution in points is stored, so the score always adds up to its breakdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from .models import HypothesisSpec, Outcome, ScoredTask, TaskTemplate

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "impact": 0.40,
    "confidence": 0.30,
    "effort": 0.15,
    "risk": 0.15,
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
) -> tuple[float, dict[str, float], str]:
    """(score 0..100, points per factor, explanation)."""
    total = sum(weights[k] for k in DEFAULT_WEIGHTS)
    if total <= 0:
        msg = "scoring weights must not all be zero"
        raise ValueError(msg)
    factors = normalized(impact, confidence, effort, risk)
    points = {k: round(100 * weights[k] * factors[k] / total, 2) for k in DEFAULT_WEIGHTS}
    value = round(sum(points.values()), 2)
    explanation = (
        f"impact {impact}/5 → {points['impact']:.1f} + confidence {confidence:.2f} → "
        f"{points['confidence']:.1f} + effort {effort}/5 → {points['effort']:.1f} + "
        f"risk {risk}/5 → {points['risk']:.1f} = {value:.1f}"
    )
    return value, points, explanation


def _render(text: str, service: str | None) -> str:
    # templates are trusted (linted to contain only {service}); the service value is data
    return text.format_map({"service": service or "the service"})


def task_from(
    template: TaskTemplate, outcome: Outcome, service: str | None, weights: Mapping[str, float]
) -> ScoredTask:
    value, points, explanation = score(
        template.impact, outcome.confidence, template.effort, template.risk, weights
    )
    return ScoredTask(
        hypothesis_id=outcome.hypothesis_id,
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
