"""The harvester's fast reading (rca_kit.notebook_scan) reads what `json.loads` reads: the same
records, figures and provenance from any bytes, and the same failures."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca_kit.figures import PLOTLY_MIMETYPE
from rca_kit.models import RunResult
from rca_kit.notebook_scan import MIMETYPE, _utf8, first_figure, json_within, scan, walk
from rca_kit.outcome import harvest

RECORD = {
    "schema": "rca-kit.outcome/1",
    "verdict": "supported",
    "confidence": 0.8,
    "observed": {"x": 1.5},
    "criterion": "c",
    "summary": "s",
    "missing_data": [],
}
FIGURE = {"data": [{"x": [1, 2], "y": [3, 4]}], "layout": {}, "config": {"responsive": True}}
MARK = {"rca_kit": {"outcome_figure": True}}


def _slow(data: bytes) -> tuple[list[Any], Any, Any] | str:
    """What the harvester read before: json.loads and a walk over any shape."""
    try:
        records, figures, provenance = walk(json.loads(data))
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__
    return records, first_figure(figures), provenance


def _fast(data: bytes) -> tuple[list[Any], Any, Any] | str:
    try:
        records, figures, provenance = scan(data)
    except (ValueError, RecursionError) as exc:
        return type(exc).__name__
    return records, first_figure(figures), provenance


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN, an int never equal to a float."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def notebook(*outputs: dict[str, Any], cell_type: str = "code", **top: Any) -> dict[str, Any]:
    return {"cells": [{"cell_type": cell_type, "outputs": list(outputs)}], **top}


CASES = {
    "plain": json.dumps(
        notebook(
            {"data": {PLOTLY_MIMETYPE: FIGURE, "text/html": "<div>"}, "metadata": MARK},
            {"data": {MIMETYPE: RECORD}},
            metadata={"rca_kit": {"template": "t"}},
        )
    ).encode(),
    "NaN elsewhere": json.dumps(
        notebook({"data": {MIMETYPE: RECORD, "text/plain": math.nan}}), allow_nan=True
    ).encode(),
    "bad UTF-8 in a source": b'{"cells": [{"source": "\xff", "outputs": []}]}',
    "an encoded surrogate": b'{"cells": [], "x": "\xed\xa0\x80"}',
    "a lone surrogate": b'{"cells": [], "x": "\\ud800"}',
    "a byte order mark": b'\xef\xbb\xbf{"cells": []}',
    "escaped key after": b'{"cells": [], "c\\u0065lls": "no"}',
    "duplicate data": json.dumps(notebook({"data": {MIMETYPE: 1}})).encode()[:-4]
    + b', "data": {"text/plain": "x"}}]}]}',
    "not a list of cells": b'{"cells": {"0": {}}}',
    "cells not objects": b'{"cells": [1, {"cell_type": "code", "outputs": ["x", {"data": 2}]}]}',
    "markdown outputs": json.dumps(
        notebook({"data": {MIMETYPE: RECORD}}, cell_type="markdown")
    ).encode(),
    "figure not an object first": json.dumps(
        notebook(
            {"data": {PLOTLY_MIMETYPE: [1]}, "metadata": MARK},
            {"data": {PLOTLY_MIMETYPE: FIGURE}, "metadata": MARK},
        )
    ).encode(),
    "big integer": json.dumps(
        notebook({"data": {MIMETYPE: {**RECORD, "observed": {"n": 10**30}}}})
    ).encode(),
    "infinity as 1e400": b'{"cells": [], "metadata": {"rca_kit": {"x": 1e400}}}',
    "deep": b'{"cells": [], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "truncated": b'{"cells": [',
    "not JSON": b"\x00\x01",
}


def test_scan_reads_what_json_reads() -> None:
    for name, data in CASES.items():
        assert _same(_fast(data), _slow(data)), name


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
outputs = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "data": st.one_of(
                json_values,
                st.dictionaries(
                    st.sampled_from([MIMETYPE, PLOTLY_MIMETYPE, "text/plain"]), json_values
                ),
            ),
            "metadata": st.sampled_from([MARK, {}, None, {"rca_kit": {"outcome_figure": 1}}]),
        },
    ),
)
cells = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "cell_type": st.sampled_from(["code", "markdown", 3]),
            "outputs": st.lists(outputs, max_size=3) | json_values,
            "source": st.text(max_size=10),
        },
    ),
)
notebooks = st.fixed_dictionaries(
    {},
    optional={
        "cells": st.lists(cells, max_size=3) | json_values,
        "metadata": st.one_of(json_values, st.fixed_dictionaries({"rca_kit": json_values})),
    },
)


@settings(max_examples=300, deadline=None)
@given(document=notebooks)
def test_any_notebook_is_read_as_json_reads_it(document: dict[str, Any]) -> None:
    data = json.dumps(document, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert _same(_fast(data), _slow(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, limit=st.integers(0, 400))
def test_json_within_agrees_with_json_dumps(value: Any, limit: int) -> None:
    assert json_within(value, limit) == (len(json.dumps(value)) <= limit)


def test_harvest_keeps_what_json_reads(tmp_path: Path) -> None:
    """A NaN outside the record still harvests, a big integer stays an integer, and bytes that
    are not UTF-8 are errored as before, with json's reason."""
    path = tmp_path / "nb.ipynb"
    path.write_bytes(CASES["NaN elsewhere"])
    assert harvest(RunResult("h", path, 1.0)).verdict == "supported"
    path.write_bytes(CASES["big integer"])
    assert harvest(RunResult("h", path, 1.0)).observed == {"n": 10**30}
    path.write_bytes(CASES["bad UTF-8 in a source"])
    outcome = harvest(RunResult("h", path, 1.0))
    assert outcome.verdict == "errored"
    assert "can't decode byte 0xff" in (outcome.error or "")
    path.write_bytes(CASES["plain"])
    outcome = harvest(RunResult("h", path, 1.0))
    assert outcome.figure == {k: v for k, v in FIGURE.items() if k != "config"}
    assert outcome.provenance == {"template": "t"}
    assert isinstance(scan(CASES["plain"])[1][0], msgspec.Raw)  # read only when needed


pieces = st.one_of(
    st.text(max_size=4).map(lambda t: t.encode("utf-8", "surrogatepass")),  # lone surrogates
    st.binary(max_size=3),
    st.sampled_from([b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80", b"\xff"]),
)


@settings(max_examples=500, deadline=None)
@given(parts=st.lists(pieces, max_size=12), step=st.integers(1, 9))
def test_utf8_is_what_decode_says(parts: list[bytes], step: int) -> None:
    """_utf8 decodes only stretches that are not ASCII, each ending where a character does."""
    data = b"".join(parts)
    try:
        data.decode()
    except UnicodeDecodeError:
        assert _utf8(data, step) is False
    else:
        assert _utf8(data, step) is True
