"""Scaffold workspaces: `rca init` and the demo's workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from .config import CONFIG_NAME, Workspace, find_workspace
from .exceptions import ConfigError, InputError
from .fsutil import atomic_write
from .scenarios import DEMO_ALERT, demo, write_scenario

_PACKAGE = Path(__file__).resolve().parent

CONFIG_TEMPLATE = """\
# rca-kit workspace (every key: docs/configuration.md in the rca-kit repository)
[workspace]
library = "library"
templates = "notebooks/templates"
investigations = "investigations"
reports = "reports"
database = "sqlite:///rca.db"  # or postgresql+psycopg://user@host/rca; RCA_DATABASE_URL wins

[alerts]
service_labels = ["service", "app"]  # tried in order; the first present names the service

[evidence]
before = "60m"
after = "15m"
baseline = "6h"

[[sources]]
kind = "files"
metrics = "examples/data/metrics.csv"
logs = "examples/data/logs.jsonl"
changes = "examples/data/changes.jsonl"

[topology]
"orders-consumer" = ["orders-api"]
"orders-warehouse" = ["orders-consumer"]

[execution]
backend = "local"
workers = 3
timeout_s = 300

[scoring]
impact = 0.40
confidence = 0.30
effort = 0.15
risk = 0.15
recurrence = 0.25  # each repeat of a remediation closes this share of its gap to 100

[register]
team_label = "team"  # due days by severity: [register] due_days (defaults: docs/configuration.md)

[governance]  # who may reprioritize tasks; `authorities` also record register reviews
authorities = ["head-of-data"]
teams = { "data-platform" = ["data-platform-lead"] }
"""

GITIGNORE = "investigations/\nreports/*.html\nrca.db*\n.rca/\n"  # .rca: Lab checkpoints, kernelspec


def bundled(kind: str) -> Path:
    """The bundled library or templates: package data in a wheel, the repo in a checkout."""
    inside = _PACKAGE / "_bundled" / kind
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / ("library" if kind == "library" else "notebooks/templates")


def init_workspace(directory: Path) -> Path:
    """Create a workspace with the bundled library, templates and the demo evidence."""
    root = directory.resolve()
    if (root / CONFIG_NAME).exists():
        raise InputError(f"{root / CONFIG_NAME} already exists", hint="choose an empty folder")
    (root / "library").mkdir(parents=True, exist_ok=True)
    for spec in sorted(bundled("library").glob("*.yaml")):
        shutil.copyfile(spec, root / "library" / spec.name)
    (root / "notebooks" / "templates").mkdir(parents=True, exist_ok=True)
    for template in sorted(bundled("templates").glob("*.ipynb")):
        shutil.copyfile(template, root / "notebooks" / "templates" / template.name)
    (root / "reports").mkdir(exist_ok=True)
    write_scenario(demo(), root / "examples")
    atomic_write(root / ".gitignore", GITIGNORE)
    atomic_write(root / CONFIG_NAME, CONFIG_TEMPLATE)  # last: its presence marks a whole workspace
    return root


def demo_workspace(explicit: Path | None, directory: Path | None) -> tuple[Workspace, Path]:
    """The current workspace if it carries the demo scenario, else a scaffolded one."""
    if directory is None:
        try:
            workspace = find_workspace(explicit)
            if (workspace.root / "examples" / DEMO_ALERT).is_file():
                return workspace, workspace.root / "examples" / DEMO_ALERT
        except ConfigError:
            pass
        directory = Path("rca-demo")
    if not (directory / CONFIG_NAME).is_file():
        init_workspace(directory)
    workspace = find_workspace(directory)
    alert = workspace.root / "examples" / DEMO_ALERT
    if not alert.is_file():
        write_scenario(demo(), workspace.root / "examples")
    return workspace, alert


def freeze_example(workspace: Workspace) -> Path:
    """examples/snapshot: the demo alert's evidence frozen, so templates run with defaults."""
    from dataclasses import replace

    from .evidence.window import freeze_evidence
    from .intake import parse_alerts
    from .library import load_library
    from .scenarios import export_end

    alert = parse_alerts((workspace.root / "examples" / DEMO_ALERT).read_bytes())[0]
    specs = load_library(workspace.library_dir, workspace.templates_dir)
    dest = workspace.root / "examples" / "snapshot"
    freeze_evidence(
        workspace, replace(alert, id="example"), specs, "example", dest, export_end(demo())
    )
    return dest


if __name__ == "__main__":  # python -m rca_kit.scaffold: regenerate examples/ of this workspace
    ws = find_workspace()
    for name, path in write_scenario(demo(), ws.root / "examples").items():
        print(f"{name}: {path}")
    print(f"snapshot: {freeze_example(ws)}")
