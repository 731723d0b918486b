"""Working notebooks a person edits in Lab, all under <workspace>/lab/ (never inside the
evidence): one triage notebook per investigation, the register notebook, working copies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import Workspace
from ..exceptions import InputError
from ..fsutil import atomic_write

LAB_FOLDER = "lab"
_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def lab_dir(workspace: Workspace) -> Path:
    """<workspace>/lab: refused if the workspace keeps its investigations there."""
    folder = workspace.root / LAB_FOLDER
    evidence = workspace.investigations_dir.resolve()
    if folder.resolve() == evidence or folder.resolve().is_relative_to(evidence):
        raise InputError(
            f"{folder} is inside the investigations folder; working notebooks stay outside it",
            hint="set [workspace] investigations to another folder",
        )
    return folder


def _notebook(cells: list[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": kind,
                    "id": f"cell-{index:02d}",
                    "metadata": {},
                    "source": source,
                    **({"execution_count": None, "outputs": []} if kind == "code" else {}),
                }
                for index, (kind, source) in enumerate(cells)
            ],
            "metadata": {"kernelspec": _KERNELSPEC, "language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
        indent=1,
    )


def _write_once(path: Path, cells: list[tuple[str, str]]) -> Path:
    """Write a generated notebook unless it exists (a person's edits to it are kept)."""
    if not path.exists():
        atomic_write(path, _notebook(cells))
    return path


def triage_notebook(workspace: Workspace, investigation_id: str) -> Path:
    """<workspace>/lab/<investigation_id>-triage.ipynb, which displays its TriagePanel."""
    quoted = json.dumps(investigation_id)  # an id the register knows; quoted all the same
    return _write_once(
        lab_dir(workspace) / f"{investigation_id}-triage.ipynb",
        [
            (
                "markdown",
                f"# Triage of `{investigation_id}`\n\n"
                "Run the cell below. Evidence notebooks open read-only; make a working copy "
                "to change one. Reruns and overrides are kept beside the original verdicts "
                "and audited.",
            ),
            ("code", f"from rca_kit.widgets import TriagePanel\n\nTriagePanel({quoted})"),
        ],
    )


def register_notebook(workspace: Workspace) -> Path:
    """<workspace>/lab/register.ipynb, which displays the RegisterEditor."""
    return _write_once(
        lab_dir(workspace) / "register.ipynb",
        [
            ("markdown", "# The remediation register\n\nRun the cell below."),
            ("code", "from rca_kit.widgets import RegisterEditor\n\nRegisterEditor()"),
        ],
    )


def working_copy(workspace: Workspace, run: dict[str, Any]) -> Path:
    """A writable copy of a run's evidence notebook under <workspace>/lab/<investigation>/
    (made once: a person's edits to it are kept)."""
    if not run.get("notebook"):
        raise InputError(f"run {run['id']} has no notebook")
    source = Path(run["notebook"])
    dest = lab_dir(workspace) / str(run["investigation_id"]) / source.name
    if not dest.exists():
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read the evidence notebook: {exc.strerror}", where=str(source)
            ) from None
        atomic_write(dest, data)
    return dest
