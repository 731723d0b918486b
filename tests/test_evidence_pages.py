"""An evidence notebook's page, without a browser (tests/test_evidence_notebooks.py and
tests/test_browser.py open real ones in Chromium): what an invalid notebook is told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rca_kit.exceptions import InputError
from rca_kit.report.evidence_pages import export_evidence_page

PLOTLY = "../assets/plotly.min.js"


def v4(*cells: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {"cells": list(cells), "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def code(**fields: Any) -> dict[str, Any]:
    return {"cell_type": "code", "id": "c1", "source": "x", "metadata": {}, **fields}


INVALID = {
    "a code cell without outputs": (
        v4(code(execution_count=None)),
        "not a valid notebook: 'outputs' is a required property at $.cells[0]",
    ),
    "a stream without a name": (
        v4(code(execution_count=1, outputs=[{"output_type": "stream", "text": "x"}])),
        "not a valid notebook: 'name' is a required property at $.cells[0].outputs[0]",
    ),
    "metadata that is a list": (
        {**v4(), "metadata": []},
        "not a valid notebook: [] is not of type 'object' at $.metadata",
    ),
    "a cell id that is markup": (
        v4({"cell_type": "markdown", "id": 'a"><b', "source": "", "metadata": {}}),
        "does not match '^[a-zA-Z0-9-_]+$' at $.cells[0].id",
    ),
    "an unknown cell type with a long source": (
        v4({"cell_type": "weird", "id": "w", "source": "y" * 5000, "metadata": {}}),
        "is not valid under any of the given schemas",
    ),
    "nbformat 3": ({**v4(), "nbformat": 3}, "not an nbformat 4 notebook (nbformat 3)"),
    "no nbformat": (
        {"cells": [], "metadata": {}},
        "not an nbformat 4 notebook (nbformat None)",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_notebook_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    """nbformat's ValidationError (and a notebook of another version) becomes an InputError:
    one short line with the notebook's path, what is wrong and where; no page is written."""
    document, says = INVALID[case]
    notebook = tmp_path / "01-broken.ipynb"
    notebook.write_text(json.dumps(document), encoding="utf-8")
    out = tmp_path / "reports" / "inv" / "broken.html"
    with pytest.raises(InputError) as raised:
        export_evidence_page(notebook, out, plotly_src=PLOTLY)
    text = str(raised.value)
    assert text.startswith(f"{notebook}: "), text
    assert says in text
    assert "\n" not in text
    assert len(text) < len(str(notebook)) + 260
    assert not out.exists()
