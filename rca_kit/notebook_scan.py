"""Read an executed notebook for the harvester, fast, and exactly as `json` reads it.

A kernel wrote the file, so it may hold anything; `scan` returns what `json.loads` would give for
the parts the harvester reads: each outcome record (`MIMETYPE` in a code cell's output data), the
figure outputs record_outcome marked (`{"rca_kit": {"outcome_figure": true}}`) and the notebook's
`metadata.rca_kit`. Everything else (cell sources, HTML, other outputs: most of the bytes) is
checked as JSON but never turned into Python objects: msgspec decodes the notebook into the few
fields read, keeping each output's data undecoded (`msgspec.Raw`) until it is needed.

That fast reading is used only when it must agree with `json.loads`: the bytes are UTF-8 and
strict JSON (no NaN or infinity, no lone surrogate, no byte order mark) and every field read has
the shape a notebook gives it (cells a list of objects, outputs a list of objects, data an
object). Anything else is parsed whole, msgspec first, then `json` (NaN, surrogates, …), and
walked as any shape: whatever the fast way would misread is read the slow way.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgspec

from .figures import PLOTLY_MIMETYPE, is_outcome_figure, plotted
from .models import Deferred

MIMETYPE = "application/vnd.rca-kit.outcome.v1+json"


class _Output(msgspec.Struct):
    data: dict[str, msgspec.Raw] | None = None
    metadata: Any = None


class _Cell(msgspec.Struct):
    cell_type: Any = None
    outputs: list[_Output] | None = None


class _Notebook(msgspec.Struct):
    cells: list[_Cell]
    metadata: dict[str, msgspec.Raw] | None = None


_decoder = msgspec.json.Decoder(_Notebook)


class NotANotebook(ValueError):
    """The file is JSON, but not a notebook (no list of cells)."""


def parse(data: bytes | msgspec.Raw) -> Any:
    """JSON as `json.loads` reads it (msgspec first: faster, and it reads the same values
    wherever it reads at all). ValueError or RecursionError if `json` cannot read it either."""
    try:
        return msgspec.json.decode(data)
    except (ValueError, RecursionError):  # msgspec's DecodeError, UnicodeDecodeError, …
        return json.loads(bytes(data))


def _utf8(data: bytes, step: int = 4096) -> bool:
    """Whether `data.decode()` succeeds, decoding only the stretches of `step` bytes that are
    not ASCII (each one ends where a character does: after at most 3 continuation bytes). If
    not, json reads some such files (surrogatepass): the slow way."""
    if data.isascii():
        return True
    start, size = 0, len(data)
    while start < size:
        end = start + step
        if not data[start:end].isascii():
            while end < size and end - start < step + 3 and 0x80 <= data[end] < 0xC0:
                end += 1
            try:
                data[start:end].decode()
            except UnicodeDecodeError:
                return False
        start = end
    return True


def scan(data: bytes) -> tuple[list[Any], list[Any], Any]:
    """(records, figures, provenance): every outcome record, in order; the `PLOTLY_MIMETYPE`
    value of every output marked as the outcome's figure, in order (each maybe still a
    `msgspec.Raw`: `first_figure` reads them); `metadata.rca_kit` (None if absent).
    NotANotebook, ValueError (not JSON) or RecursionError otherwise."""
    notebook = None
    if _utf8(data):
        with contextlib.suppress(ValueError, RecursionError):
            notebook = _decoder.decode(data)
    if notebook is None:
        return walk(parse(data))
    records, figures = [], []
    for cell in notebook.cells:
        code = cell.cell_type == "code"
        for output in cell.outputs or ():
            found = output.data
            if found is None:
                continue
            if code and MIMETYPE in found:
                records.append(parse(found[MIMETYPE]))
            if PLOTLY_MIMETYPE in found and is_outcome_figure({"metadata": output.metadata}):
                figures.append(found[PLOTLY_MIMETYPE])
    metadata = notebook.metadata
    provenance = parse(metadata["rca_kit"]) if metadata and "rca_kit" in metadata else None
    return records, figures, provenance


def walk(notebook: Any) -> tuple[list[Any], list[Any], Any]:
    """scan's answer from a notebook parsed whole: any shape, each unexpected part skipped."""
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise NotANotebook("the evidence notebook is not a notebook (no list of cells)")
    records, figures = [], []
    for cell in cells:
        outputs = cell.get("outputs") if isinstance(cell, dict) else None
        if not isinstance(outputs, list):
            continue
        code = cell.get("cell_type") == "code"
        for output in outputs:
            found = output.get("data") if isinstance(output, dict) else None
            if not isinstance(found, dict):
                continue
            if code and MIMETYPE in found:
                records.append(found[MIMETYPE])
            if PLOTLY_MIMETYPE in found and is_outcome_figure(output):
                figures.append(found[PLOTLY_MIMETYPE])
    metadata = notebook.get("metadata")
    return records, figures, metadata.get("rca_kit") if isinstance(metadata, dict) else None


def first_figure(figures: list[Any]) -> dict[str, Any] | None:
    """The first of scan's figures that is an object, without its `config`, if any."""
    for figure in figures:
        value = parse(figure) if isinstance(figure, msgspec.Raw) else figure
        if isinstance(value, dict):
            return _without_config(value)
    return None


def _without_config(figure: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figure.items() if k != "config"}


class FigureText(Deferred):
    """An outcome's figure `scan` found, still JSON text (an object, checked JSON): `read()`
    gives it as `shown_figure` would have, once someone asks for it (few do)."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text

    def read(self) -> dict[str, Any] | None:
        figure = first_figure([msgspec.Raw(self.text)])
        return figure if plotted(figure) else None

    def __reduce__(self) -> tuple[type[FigureText], tuple[bytes]]:
        return FigureText, (self.text,)


def shown_figure(figures: list[Any]) -> dict[str, Any] | FigureText | None:
    """`first_figure(figures)` if it is `figures.plotted` (draws a data point), else None; the
    first object that is still JSON text stays text, read when asked for (a `FigureText`)."""
    for figure in figures:
        if isinstance(figure, msgspec.Raw):
            if bytes(memoryview(figure)[:1]) == b"{":  # an object (a Raw starts with its value)
                return FigureText(bytes(figure))
        elif isinstance(figure, dict):
            value = _without_config(figure)
            return value if plotted(value) else None
    return None


def json_within(value: Any, limit: int) -> bool:
    """Whether len(json.dumps(value)) <= limit, without writing it when it is surely short:
    json.dumps writes at most 3 characters per byte msgspec writes (`\\u00e9` for `é`, `, `
    for `,`, `Infinity` for `null`)."""
    try:
        if 3 * len(msgspec.json.encode(value)) <= limit:
            return True
    except (msgspec.EncodeError, UnicodeEncodeError, ValueError, TypeError, RecursionError):
        pass  # a lone surrogate, …: json.dumps says
    return len(json.dumps(value)) <= limit
