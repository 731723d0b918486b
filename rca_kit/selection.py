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


def leading(outcomes: Sequence[Outcome]) -> Outcome | None:
    """The supported outcome with the highest confidence (ties broken by id)."""
    supported = [o for o in outcomes if o.verdict == "supported"]
    if not supported:
        return None
    return min(supported, key=lambda o: (-o.confidence, o.hypothesis_id))
