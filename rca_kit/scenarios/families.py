"""Scenario families: named sets of realism traits, each measured on its own by the bench.

A family is a name from FAMILIES or traits joined by "+" ("steps+late", "realistic+late").
World traits change what happens (the truth); export traits only change how the evidence files
are written, so the same seed gives the same truth with and without them.
"""

from __future__ import annotations

WORLD_TRAITS = {
    "late": "the alert fires 1-4 h after the fault's onset (the baseline holds its beginning)",
    "concurrent": "one or two unrelated anomalies start around the fault's onset",
    "fan-in": "the consumer has 2-4 upstreams, under other service names",
    "subtle": "magnitudes just beyond the thresholds of the spec's criterion",
    "no-fault": "no fault: the alert fires on seasonal traffic (fault 'none' only)",
}
EXPORT_TRAITS = {
    "steps": "scrape steps of 15 s-5 min per series, per-exporter phase, jitter of seconds",
    "mess": "mixed UTC offsets, gaps, NaN and non-numeric values, duplicate, unordered rows",
    "counters": "restarts (and an errors_total) written as cumulative counters with resets",
}
TRAITS = {**WORLD_TRAITS, **EXPORT_TRAITS}
FAMILIES: dict[str, tuple[str, ...]] = {
    "clean": (),
    "steps": ("steps",),
    "messy": ("mess",),
    "counters": ("counters",),
    "late": ("late",),
    "no-fault": ("no-fault",),
    "concurrent": ("concurrent",),
    "fan-in": ("fan-in",),
    "subtle": ("subtle",),
    "realistic": ("steps", "mess", "counters", "concurrent", "fan-in", "subtle"),
}
NO_FAULT = "none"


def traits(family: str) -> frozenset[str]:
    """The traits of a family name or of a "+"-joined combination; ValueError if unknown."""
    found: set[str] = set()
    for part in family.split("+"):
        name = part.strip()
        if name in FAMILIES:
            found.update(FAMILIES[name])
        elif name in TRAITS:
            found.add(name)
        else:
            known = ", ".join([*FAMILIES, *(t for t in TRAITS if t not in FAMILIES)])
            msg = f"unknown scenario family {name!r} (known: {known}; combine them with '+')"
            raise ValueError(msg)
    return frozenset(found)


def exported_traits(family: str) -> frozenset[str]:
    """The traits that change how files are written (none: the clean writer)."""
    return traits(family) & EXPORT_TRAITS.keys()
