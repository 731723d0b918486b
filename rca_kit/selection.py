"""Pure selection: which hypotheses apply to an alert, in what order; which one leads."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from .models import Alert, HypothesisSpec, Outcome

MAX_MATCH_CHARS = 1024  # bounds regex work on untrusted label values


def _group_matches(group: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(
        re.fullmatch(pattern, labels.get(label, "")[:MAX_MATCH_CHARS]) is not None
        for label, pattern in group.items()
    )


def applies(spec: HypothesisSpec, alert: Alert) -> bool:
    """A spec applies when any of its matcher groups matches every label it names."""
    if not spec.applies_to:
        return True
    labels = {**alert.labels, "alertname": alert.name}
    return any(_group_matches(group, labels) for group in spec.applies_to)


def select(
    specs: Iterable[HypothesisSpec], alert: Alert, priors: Mapping[str, float] | None = None
) -> list[HypothesisSpec]:
    """Applicable specs, most probable first, cheaper first among equals, then by id."""
    chosen = [spec for spec in specs if applies(spec, alert)]
    prior = priors or {}
    return sorted(chosen, key=lambda s: (-prior.get(s.id, s.prior), s.timeout_s, s.id))


def consequences(
    outcomes: Sequence[Outcome], specs: Mapping[str, HypothesisSpec]
) -> dict[str, str]:
    """Supported hypotheses explained by another supported one: {consequence: its cause}.

    A spec's `explains` lists what it would cause (a bad deploy explains an error spike). When
    both are supported the explained one is a consequence, unless they explain each other.
    """
    supported = {o.hypothesis_id for o in outcomes if o.verdict == "supported"}
    found: dict[str, str] = {}
    for cause in sorted(supported):
        spec = specs.get(cause)
        for effect in spec.explains if spec else ():
            reverse = specs.get(effect)
            if effect in supported and not (reverse and cause in reverse.explains):
                found.setdefault(effect, cause)
    return found


def leading(
    outcomes: Sequence[Outcome],
    specs: Mapping[str, HypothesisSpec] | None = None,
    priors: Mapping[str, float] | None = None,
) -> Outcome | None:
    """The cause, not a consequence: the most confident supported outcome not explained by
    another supported one; all supported ones if every one is explained.

    Among equally confident causes the history's prior (the smoothed rate at which each was
    the confirmed cause of this alert) breaks the tie, then the id: the prior never outranks
    a difference in evidence.
    """
    supported = [o for o in outcomes if o.verdict == "supported"]
    if not supported:
        return None
    explained = consequences(outcomes, specs or {})
    causes = [o for o in supported if o.hypothesis_id not in explained] or supported
    prior = priors or {}
    return min(
        causes, key=lambda o: (-o.confidence, -prior.get(o.hypothesis_id, 0.0), o.hypothesis_id)
    )
