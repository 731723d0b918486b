"""Everything a person reads is inert: hostile alert labels in terminals, errors and figures.

Labels, names and annotations of alerts are attacker-influenced. In a human-readable table
every value stays on its one line with control characters, escape sequences and bidi
overrides shown escaped; `--json` keeps the exact data; an error is one line whatever its
input; a figure's text never becomes plotly markup (links, styles, line breaks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rca_kit
from rca_kit.exceptions import AlertFormatError, RcaKitError
from rca_kit.testing import alertmanager_payload, one_line_error, record_investigation

Rca = Callable[..., subprocess.CompletedProcess[str]]
RCA = str(Path(sys.executable).parent / "rca")
BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x61C)}
LINE_BREAKS = {"\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"}
# every character that must never reach a terminal or split a record
UNSAFE = [
    *(chr(c) for c in range(0x20)),
    *(chr(c) for c in range(0x7F, 0xA0)),
    "\u2028",
    "\u2029",
    *sorted(BIDI),
    "\ud800",
]
# a service label that tries to forge a row, clear the screen, retitle the terminal, ring the
# bell, move the cursor (C1 CSI), reverse the text around it and break a line three ways
HOSTILE = (
    "orders\n  2   99.9  task-forged  open\r\x1b[2J\x1b]0;pwned\x07\tx\x7f\x9b31m"
    "\u202eevil\u2066y\u2028z\x85w"
)


def raw_safe(text: str) -> bool:
    """No control, bidi or line-breaking character: the text is one inert line."""
    return not any(
        unicodedata.category(c) in ("Cc", "Cs") or c in BIDI or c in LINE_BREAKS for c in text
    )


def run(workspace_dir: Path, *args: str) -> tuple[int, bytes, bytes]:
    """The real `rca`, its output as bytes (no newline translation hides a CR)."""
    env = {k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")}
    done = subprocess.run(
        [RCA, *args], cwd=workspace_dir, env=env, capture_output=True, timeout=300, check=False
    )
    return done.returncode, done.stdout, done.stderr


def lines(workspace_dir: Path, *args: str) -> list[str]:
    """The lines of a successful command's stdout; each one must be inert."""
    code, out, err = run(workspace_dir, *args)
    assert code == 0, (args, out, err)
    assert err == b"", err
    text = out.decode("utf-8")  # strict: a lone surrogate or a raw byte would fail here
    assert text.endswith("\n")
    found = text[:-1].split("\n")
    for line in found:
        assert raw_safe(line), (args, line)
    return found


# the helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_one_line_shows_every_unsafe_character_escaped(char: str) -> None:
    text = rca_kit.one_line(f"a{char}b")
    assert raw_safe(text)
    assert text.isprintable()
    assert text.startswith("a\\")
    assert text.endswith("b")
    assert rca_kit.one_line(text) == text  # escaping twice changes nothing


def test_one_line_names_the_usual_escapes_and_keeps_ordinary_text() -> None:
    assert rca_kit.one_line("a\nb\rc\td\x1b[2J\u202e") == "a\\nb\\rc\\td\\x1b[2J\\u202e"
    ordinary = "orders-consumer → Zürich 数据 ✓ <b>&amp; 'q' \"dq\" \\n"
    assert rca_kit.one_line(ordinary) == ordinary


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_plain_drops_unsafe_characters(char: str) -> None:
    text = rca_kit.plain(f"a{char}b")
    assert raw_safe(text)
    assert text in ("ab", "a b")


def test_plain_makes_plotly_markup_literal_text() -> None:
    text = rca_kit.plain('<a href="https://evil.example">x</a><br>R&D\n2nd')
    assert text == '&lt;a href="https://evil.example"&gt;x&lt;/a&gt;&lt;br&gt;R&amp;D 2nd'
    assert "<" not in text
    assert ">" not in text


def test_inert_figure_covers_every_text_and_keeps_the_rest() -> None:
    link = '<a href="https://evil.example">x</a>'
    figure: dict[str, Any] = {
        "data": [
            {
                "type": "bar",
                "name": link,
                "x": [link, "b"],
                "y": [1, 2.5],
                "text": [link, None],
                "hovertemplate": f"{link} %{{y}}<extra></extra>",
                "marker": {"color": "rgb(1,2,3)"},
            }
        ],
        "layout": {
            "title": {"text": link},
            "xaxis": {"title": {"text": link}, "type": "category"},
            "annotations": [{"text": link, "x": link, "y": 1, "showarrow": False}],
            "legend": {"title": {"text": f"{link}\n\x1b[2J"}},
        },
    }
    before = json.dumps(figure)
    inert = rca_kit.inert_figure(figure)
    assert json.dumps(figure) == before  # the input is not changed
    text = json.dumps(inert)
    assert "<" not in text
    assert ">" not in text
    assert "\\n" not in text
    assert "\\u001b" not in text
    assert inert["layout"]["title"]["text"] == rca_kit.plain(link)
    assert inert["data"][0]["x"][0] == inert["layout"]["annotations"][0]["x"]  # same category
    assert inert["data"][0]["y"] == [1, 2.5]
    assert inert["data"][0]["text"][1] is None
    assert inert["data"][0]["marker"] == {"color": "rgb(1,2,3)"}
    assert inert["layout"]["xaxis"]["type"] == "category"


def test_the_report_embeds_figures_inert(tmp_path: Path) -> None:
    """The report's one entry point for figures applies the sanitizer."""
    from rca_kit.outcome import MIMETYPE
    from rca_kit.report.html import script_json
    from rca_kit.report.notebooks import notebook_figure

    link = '<a href="https://evil.example">x</a>'
    notebook = tmp_path / "nb.ipynb"
    figure = {"data": [{"name": link, "x": [1], "y": [2]}], "layout": {"title": {"text": link}}}
    payload = {"figure": figure}
    cell = {"cell_type": "code", "outputs": [{"data": {MIMETYPE: payload}}]}
    notebook.write_text(json.dumps({"cells": [cell]}))
    figure = notebook_figure(str(notebook))
    assert figure == rca_kit.inert_figure(payload["figure"])
    embedded = str(script_json(figure))
    assert "<" not in embedded
    assert json.loads(embedded)["layout"]["title"]["text"].startswith("&lt;a href=")


# errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["message", "where", "hint"])
def test_an_error_is_one_line_whatever_its_parts_hold(field: str) -> None:
    hostile = "bad\nrca: error: forged\r\x1b[2J\u2028\u202e"
    parts = {"message": "m", "where": "w", "hint": "h", field: hostile}
    message = parts.pop("message")
    err = RcaKitError(message, **parts)
    text = str(err)
    assert raw_safe(text)
    assert "bad\\nrca: error: forged\\r\\x1b[2J\\u2028\\u202e" in text
    assert getattr(err, field) == hostile  # the data itself stays exact


def test_a_label_name_with_a_newline_is_a_one_line_error(workspace_dir: Path) -> None:
    payload = alertmanager_payload("ConsumerLagHigh", service="orders")
    payload["alerts"][0]["labels"]["bad\nrca: error: forged\x1b[2J"] = {"nested": True}
    (workspace_dir / "bad.json").write_text(json.dumps(payload))
    code, out, err = run(workspace_dir, "alert", "ingest", "bad.json")
    assert code == AlertFormatError.exit_code
    assert out == b""
    line = err.decode()
    assert line.endswith("\n"), line
    assert line.count("\n") == 1, line
    assert raw_safe(line[:-1])
    assert line.startswith("rca: error: bad.json: ")
    assert "bad\\nrca: error: forged\\x1b[2J" in line


def test_a_file_name_with_a_newline_is_a_one_line_error(rca: Rca, workspace_dir: Path) -> None:
    name = "alert\nrca: error: forged\x1b[2J.json"
    (workspace_dir / name).write_text("{not json")
    line = one_line_error(rca("alert", "ingest", name))
    assert line.startswith("rca: error: alert\\nrca: error: forged\\x1b[2J.json: not valid JSON")
    rows = lines(workspace_dir, "alert", "dead-letters")
    assert len(rows) == 1
    assert "file:alert\\nrca: error: forged\\x1b[2J.json" in rows[0]


# tables ---------------------------------------------------------------------------------------


@pytest.fixture
def hostile_workspace(workspace_dir: Path) -> tuple[Path, str, str, str]:
    """A workspace with one investigated alert whose name, service and labels are hostile."""
    from rca_kit.config import find_workspace
    from rca_kit.register import Register

    ws = find_workspace(workspace_dir)
    reg = Register(ws.database_url, ws.settings)
    try:
        alert_id, investigation_id, [task_id] = record_investigation(
            reg,
            name=f"Lag{HOSTILE}",
            service=HOSTILE,
            folder=workspace_dir / "investigations",
            team=HOSTILE,
        )
    finally:
        reg.close()
    return workspace_dir, alert_id, investigation_id, task_id


def test_alert_tables_print_one_line_per_record(
    hostile_workspace: tuple[Path, str, str, str],
) -> None:
    root, alert_id, _, _ = hostile_workspace
    [row] = lines(root, "alert", "list")
    assert row.startswith(alert_id)
    assert "orders\\n  2   99.9  task-forged" in row
    shown = lines(root, "alert", "show", alert_id)
    assert shown[0].startswith(f"{alert_id}  Lagorders\\n")
    service = next(line for line in shown if line.startswith("  service "))
    escaped = "\\r\\x1b[2J\\x1b]0;pwned\\x07\\tx\\x7f\\x9b31m\\u202eevil\\u2066y\\u2028z\\x85w"
    assert escaped in service
    labels = shown[shown.index("  labels") + 1 : shown.index("  annotations")]
    assert [label.split()[0] for label in labels] == ["alertname", "service", "team"]


def test_register_tables_print_one_line_per_record(
    hostile_workspace: tuple[Path, str, str, str],
) -> None:
    root, _, _investigation_id, task_id = hostile_workspace
    [row] = lines(root, "register", "list")
    assert task_id in row
    assert "\\x1b[2J" in row
    shown = lines(root, "register", "show", task_id)
    assert not any(line.lstrip().startswith(("2   99.9", "rca")) for line in shown)
    service = next(line for line in shown if line.startswith("  service "))
    assert "orders\\n  2   99.9  task-forged" in service
    agenda = lines(root, "register", "agenda")
    assert len(agenda) == 3  # since when; the task; why it is on the agenda
    assert task_id in agenda[1]


def test_json_output_keeps_the_exact_data(
    hostile_workspace: tuple[Path, str, str, str],
) -> None:
    root, alert_id, _, task_id = hostile_workspace
    for args in (("alert", "list"), ("alert", "show", alert_id), ("register", "list")):
        code, out, err = run(root, *args, "--json")
        assert code == 0, err
        assert out.count(b"\n") == 1
        assert out.isascii()
        data = json.loads(out)
        row = data[0] if isinstance(data, list) else data
        assert row["service"] == HOSTILE
    code, out, err = run(root, "register", "show", task_id, "--json")
    assert code == 0, err
    assert json.loads(out)["service"] == HOSTILE
