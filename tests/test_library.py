"""The hypothesis library: schema, lint against templates, selection."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from rca_kit.config import Workspace
from rca_kit.exceptions import SpecError
from rca_kit.intake import parse_alerts
from rca_kit.library import lint, load_library, parse_spec
from rca_kit.selection import applies, select
from rca_kit.testing import alertmanager_payload

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_library_lints_clean() -> None:
    """Every bundled spec is valid and matches its template's parameters cell."""
    specs, problems = lint(ROOT / "library", ROOT / "notebooks" / "templates")
    assert problems == []
    assert {s.id for s in specs} == {
        "backpressure",
        "recent-change",
        "resource-saturation",
        "disk-pressure",
        "memory-leak",
        "error-log-spike",
        "upstream-degradation",
        "schema-drift",
        "volume-anomaly",
    }


def test_every_bundled_spec_states_its_relevance() -> None:
    """Optional in a spec of yours, `relevance` is stated by every bundled hypothesis."""
    specs, _ = lint(ROOT / "library", ROOT / "notebooks" / "templates")
    assert [s.id for s in specs if not s.relevance] == []


def test_a_spec_states_its_relevance_or_none(tmp_path: Path) -> None:
    """`relevance` is optional text read stripped; a spec without it reads as empty text."""
    text = spec_text(**{"timeout_s: 120": "timeout_s: 120"})
    without = tmp_path / "without.yaml"
    without.write_text(re.sub(r"(?ms)^relevance:.*?(?=^\S)", "", text))
    assert parse_spec(without).relevance == ""
    stated = tmp_path / "stated.yaml"
    stated.write_text(
        re.sub(r"(?ms)^relevance:.*?(?=^\S)", "", text)
        + "relevance: >-\n  Only more ingest than processing can build a backlog.\n"
    )
    assert parse_spec(stated).relevance == "Only more ingest than processing can build a backlog."


def broken_library(tmp_path: Path, name: str, text: str) -> tuple[Path, Path]:
    library = tmp_path / "library"
    shutil.copytree(ROOT / "library", library)
    (library / name).write_text(text)
    return library, ROOT / "notebooks" / "templates"


def spec_text(**replace: str) -> str:
    text = (ROOT / "library" / "backpressure.yaml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def with_relevance(value: str) -> str:
    """The backpressure spec with its relevance (if any) replaced by `value`."""
    text = re.sub(r"(?ms)^relevance:.*?(?=^\S)", "", spec_text())
    return text.replace("timeout_s: 120", f"timeout_s: 120\nrelevance: {value}")


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        (
            "backpressure.yaml",
            spec_text(**{"  min_minutes: 15": "  min_minutez: 15"}),
            "parameters.min_minutez is not in the template's parameters cell",
        ),
        ("backpressure.yaml", spec_text(criterion="criterium"), "criterion: is required"),
        ("backpressure.yaml", "id: [unclosed\n", "not valid YAML"),
        ("backpressure.yaml", "!!python/object/apply:os.system ['echo pwned']\n", "not valid YAML"),
        (
            "backpressure.yaml",
            spec_text(**{"timeout_s: 120": "timeout_s: 120\ncolour: red"}),
            "colour: unknown field",
        ),
        ("backpressure.yaml", spec_text(**{'"(?i).*(lag|': '"(?i).*((lag|'}), "applies_to"),
        (
            "backpressure.yaml",
            spec_text(**{"Scale out {service}": "Scale out {service.__class__}"}),
            "placeholder",
        ),
        (
            "backpressure.yaml",
            spec_text(**{"template: backpressure.ipynb": "template: nope.ipynb"}),
            "nope.ipynb not found",
        ),
        ("extra.yaml", spec_text(), "id: 'backpressure' is already used"),
        (
            "backpressure.yaml",
            with_relevance("short"),
            "relevance: String should have at least 10 characters",
        ),
        (
            "backpressure.yaml",
            with_relevance("[a, b]"),
            "relevance: Input should be a valid string",
        ),
    ],
)
def test_lint_reports_file_and_field(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    """A broken spec is reported with its file and the field at fault."""
    library, templates = broken_library(tmp_path, name, text)
    _, problems = lint(library, templates)
    assert any(fragment in p and str(library / name) in p for p in problems), problems
    with pytest.raises(SpecError):
        load_library(library, templates)


def test_python_tags_are_never_constructed(tmp_path: Path) -> None:
    """safe_load refuses !!python tags, so nothing in a spec can run code."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"!!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(SpecError):
        parse_spec(path)
    assert not marker.exists()


def test_workspace_overrides_must_name_template_parameters(tmp_path: Path) -> None:
    """[hypotheses.<id>] overrides are linted against the template like spec parameters."""
    _, problems = lint(
        ROOT / "library",
        ROOT / "notebooks" / "templates",
        {"backpressure": {"min_minutes": 5, "bogus": 1}},
    )
    assert len(problems) == 1
    assert "parameters.bogus" in problems[0]


def test_selection_matches_labels_and_orders_by_prior(workspace: Workspace) -> None:
    """Lag alerts get backpressure; unrelated alerts do not; order is prior, cost, id."""
    specs = load_library(workspace.library_dir, workspace.templates_dir)
    lag = parse_alerts(json.dumps(alertmanager_payload("ConsumerLagHigh")))[0]
    cpu = parse_alerts(json.dumps(alertmanager_payload("HighCPU")))[0]
    chosen = [s.id for s in select(specs, lag)]
    assert chosen[:2] == ["recent-change", "backpressure"]  # highest priors first
    assert len(chosen) == 9
    priors = [next(s.prior for s in specs if s.id == c) for c in chosen]
    assert priors == sorted(priors, reverse=True)
    assert "backpressure" not in [s.id for s in select(specs, cpu)]
    boosted = select(specs, lag, priors={"resource-saturation": 0.99})
    assert boosted[0].id == "resource-saturation"
    assert all(applies(s, lag) for s in specs if not s.applies_to)
