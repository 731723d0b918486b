"""Property-based intake: no payload, however broken, makes an adapter crash.

For every format, arbitrary JSON and mutations of its real fixture (keys deleted, values of
the wrong type, huge strings, hostile text) either parse into well-formed alerts or fail with
rca-kit's own one-line error, never anything else.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca_kit.exceptions import RcaKitError
from rca_kit.intake import formats, parse_alerts
from rca_kit.intake.common import MAX_KEY_CHARS, MAX_LABELS, MAX_VALUE_CHARS
from rca_kit.models import Alert

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"
FORMATS = formats.names()
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE = [
    "{snapshot_path}",
    "{0.__globals__}",
    '"; rm -rf / #',
    "$(reboot)",
    "</script><script>alert(1)</script>",
    "../../etc/passwd",
    "javascript:alert(1)",
    "data:text/html,<b>x</b>",
    "\x1b[31mred\x1b[0m",
    "line\nbreak",
    "\u2028",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "x" * 20_000,
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(HOSTILE)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=12) | st.sampled_from(HOSTILE), children, max_size=4)
    ),
    max_leaves=20,
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document."""
    found = [prefix] if prefix else []
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        found += paths(child, (*prefix, key))
    return found


@st.composite
def mutated(draw: st.DrawFn, name: str) -> Any:
    """The fixture of `name` with one to three of its values deleted or replaced."""
    document = fixture(name)
    for _ in range(draw(st.integers(1, 3))):
        every = paths(document)
        if not every:
            break
        path = draw(st.sampled_from(every))
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return document


def check(raw: str | bytes, fmt: str | None) -> None:
    """Either well-formed alerts or RcaKitError with a one-line message; nothing else."""
    try:
        alerts = parse_alerts(raw, fmt=fmt, service_labels=("service", "app"))
    except RcaKitError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message
        assert len(message) < 2000
        return
    assert alerts
    for alert in alerts:
        well_formed(alert)


def well_formed(alert: Alert) -> None:
    assert alert.status in ("firing", "resolved")
    for moment in (alert.starts_at, alert.ends_at):
        if moment is not None:
            assert moment.utcoffset() == timedelta(0)
    if alert.ends_at is not None:
        assert alert.ends_at >= alert.starts_at
    assert isinstance(alert.name, str)
    assert alert.name
    assert len(alert.name) <= 256
    assert 0 < len(alert.fingerprint) <= 64
    assert len(alert.labels) <= MAX_LABELS
    for mapping in (alert.labels, alert.annotations):
        for key, value in mapping.items():
            assert isinstance(key, str)
            assert isinstance(value, str)
            assert len(key) <= MAX_KEY_CHARS
            assert len(value) <= MAX_VALUE_CHARS
    for url in alert.links.values():
        assert url.lower().startswith(("http://", "https://"))
    json.dumps(alert.raw)  # storable


@pytest.mark.parametrize("fmt", [None, *FORMATS])
@SETTINGS
@given(payload=json_values)
def test_arbitrary_json_never_crashes(fmt: str | None, payload: Any) -> None:
    check(json.dumps(payload), fmt)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_mutated_fixtures_never_crash(fmt: str, data: st.DataObject) -> None:
    document = data.draw(mutated(fmt))
    check(json.dumps(document), data.draw(st.sampled_from([None, fmt])))


@SETTINGS
@given(raw=st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_never_crash(raw: bytes | str) -> None:
    check(raw, None)


@pytest.mark.parametrize("fmt", FORMATS)
def test_fixtures_are_well_formed(fmt: str) -> None:
    for alert in parse_alerts(json.dumps(fixture(fmt)), fmt=fmt):
        well_formed(alert)
