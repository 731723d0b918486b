"""The documentation stays honest: every rca.toml key, CLI command and option, vocabulary name,
snapshot field and spec field is in docs/, every example config and spec validates, every link
resolves, and every pointer the product makes at documentation names a file in the project.

Cheap on purpose: no kernel, no server, no database.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
import yaml
from pydantic import BaseModel

from rca_kit import config, library, outcome, provenance
from rca_kit.cli import cli
from rca_kit.evidence import vocabulary
from rca_kit.evidence.load import Evidence
from rca_kit.evidence.sources import COLUMNS, Fetched, FetchRange, empty

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def _read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _prose(text: str) -> str:
    """Markdown without its fenced code blocks (a `# comment` in one is not a heading)."""
    return FENCE.sub("", text)


def _sections(text: str) -> dict[str, str]:
    """Each level-2 section's heading → its text (subsections included)."""
    parts = re.split(r"^## ", _prose(text), flags=re.MULTILINE)
    return {part.split("\n", 1)[0].strip(): part for part in parts[1:]}


def _section(sections: dict[str, str], table: str) -> str:
    found = [body for heading, body in sections.items() if f"`{table}`" in heading]
    assert found, f"docs/configuration.md has no section headed `{table}`"
    return found[0]


def _defaults(model: type[BaseModel]) -> dict[str, Any]:
    """Scalar defaults of a model's fields (the ones a reader can check against the docs)."""
    return {
        name: field.default
        for name, field in model.model_fields.items()
        if isinstance(field.default, str | int | float | bool) and field.default is not None
    }


def _shown(value: Any) -> set[str]:
    """How a default may be written in the docs."""
    if isinstance(value, bool):
        return {"true" if value else "false"}
    if isinstance(value, str):
        return {f'"{value}"', f"`{value}`"}
    if isinstance(value, float):
        return {f"{value:g}", f"{value:.2f}"}
    return {str(value)}


# rca.toml ---------------------------------------------------------------------------------------

SECTIONS: dict[str, type[BaseModel]] = {
    "[workspace]": config.WorkspaceSection,
    "[alerts]": config.AlertsSection,
    "[evidence]": config.EvidenceSection,
    "[execution]": config.ExecutionSection,
    "[serve]": config.ServeSection,
    "[scoring]": config.ScoringSection,
    "[register]": config.RegisterSection,
    "[governance]": config.GovernanceSection,
    "[tickets]": config.TicketsSection,
}
SOURCE_KINDS: dict[str, type[BaseModel]] = {
    "files": config.FilesSource,
    "prometheus": config.PrometheusSource,
    "git": config.GitSource,
}


def _table(key: str) -> str:
    return {"sources": "[[sources]]", "hypotheses": "[hypotheses.<id>]"}.get(key, f"[{key}]")


def test_every_rca_toml_section_is_documented() -> None:
    """Each top-level key of RcaToml (by its TOML name) has a section of its own."""
    headings = " ".join(_sections(_read("configuration.md")))
    tables = {_table(f.alias or n) for n, f in config.RcaToml.model_fields.items()}
    for table in sorted(tables):
        assert f"`{table}`" in headings, f"no section for {table} in docs/configuration.md"
    checked = {*SECTIONS, "[[sources]]", "[topology]", "[hypotheses.<id>]"}
    assert tables == checked, "a section was added to RcaToml: add it to SECTIONS here"


@pytest.mark.parametrize("table", sorted(SECTIONS))
def test_every_key_and_default_of_a_section_is_documented(table: str) -> None:
    model = SECTIONS[table]
    body = _section(_sections(_read("configuration.md")), table)
    for name in model.model_fields:
        assert f"`{name}`" in body, f"{table} {name} is not in docs/configuration.md"
    for name, value in _defaults(model).items():
        assert any(text in body for text in _shown(value)), (
            f"{table} {name}: its default {value!r} is not in docs/configuration.md"
        )


def test_every_default_due_day_is_documented() -> None:
    body = _section(_sections(_read("configuration.md")), "[register]")
    for severity, days in config.DEFAULT_DUE_DAYS.items():
        assert f"`{severity}` {days}" in body or f"{severity} = {days}" in body, severity


@pytest.mark.parametrize("kind", sorted(SOURCE_KINDS))
def test_every_key_of_every_source_kind_is_documented(kind: str) -> None:
    model = SOURCE_KINDS[kind]
    sources = _section(_sections(_read("configuration.md")), "[[sources]]")
    parts = re.split(r"^### ", sources, flags=re.MULTILINE)
    body = next((p for p in parts if p.startswith(f'`kind = "{kind}"`')), None)
    assert body is not None, f'no subsection `kind = "{kind}"` under [[sources]]'
    for name in model.model_fields:
        if name != "kind":
            assert f"`{name}`" in body, f"sources kind {kind}: {name} is not documented"
    for name, value in _defaults(model).items():
        if name != "kind":
            assert any(text in body for text in _shown(value)), f"{kind} {name}: {value!r}"


def test_every_toml_example_in_the_docs_is_a_valid_rca_toml() -> None:
    """What a reader copies from README.md or docs/ loads (each block on its own)."""
    blocks = 0
    for page in PAGES:
        for block in re.findall(r"```toml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            try:
                config.RcaToml.model_validate(tomllib.loads(block))
            except Exception as exc:
                pytest.fail(f"{page.name}: a toml example does not load: {exc}\n{block}")
            blocks += 1
    assert blocks >= 10


# the command line -------------------------------------------------------------------------------


def _commands(group: click.Group, path: str = "rca") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    ctx = click.Context(group)
    for name in sorted(group.list_commands(ctx)):  # `rca` loads its commands on first use
        command = group.get_command(ctx, name)
        assert command is not None
        if command.hidden:
            continue
        here = f"{path} {name}"
        found.append((here, command))
        if isinstance(command, click.Group):
            found += _commands(command, here)
    return found


COMMANDS = _commands(cli)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_is_in_docs_cli(path: str, command: click.Command) -> None:
    text = _read("cli.md")
    assert f"`{path}" in text or f"\n{path}" in text, f"{path} is not in docs/cli.md"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            longest = max(param.opts, key=len)
            if longest not in ("--help", "-h"):
                assert re.search(rf"(?<![\w-]){re.escape(longest)}(?![\w-])", text), (
                    f"{path} {longest} is not in docs/cli.md"
                )


def test_the_global_options_are_in_docs_cli() -> None:
    text = _read("cli.md")
    for param in cli.params:
        if isinstance(param, click.Option):
            assert max(param.opts, key=len) in text


# evidence ---------------------------------------------------------------------------------------


def test_the_vocabulary_is_in_docs_evidence() -> None:
    text = _read("evidence.md")
    for name in (*vocabulary.METRIC_NAMES, *vocabulary.LEVELS, *vocabulary.CHANGE_KINDS):
        assert f"`{name}`" in text, f"vocabulary name {name} is not in docs/evidence.md"
    for kind, columns in COLUMNS.items():
        for column in columns:
            assert f"`{column}`" in text or f" {column}" in text, f"{kind} column {column}"


def test_the_manifest_fields_are_in_docs_evidence(tmp_path: Path) -> None:
    """The fields of a real manifest and of a real source record, as the code writes them."""
    from rca_kit.evidence.coverage import source_record
    from rca_kit.testing import make_snapshot

    start, end = datetime(2026, 11, 20, 9, tzinfo=UTC), datetime(2026, 11, 20, 10, tzinfo=UTC)
    snapshot = make_snapshot(tmp_path / "snapshot", window=(start, end), service="svc")
    manifest = json.loads((snapshot / "manifest.json").read_text(encoding="utf-8"))
    section = config.FilesSource(kind="files", metrics="m.csv")
    record = source_record(
        1, section, Fetched({"metrics": empty("metrics")}), None, FetchRange(start, end)
    )
    text = _read("evidence.md")
    own = set(section.describe())
    for name in [*manifest, *manifest["context"], *(k for k in record if k not in own)]:
        assert f"`{name}`" in text, f"manifest field {name} is not in docs/evidence.md"


def test_the_evidence_api_is_in_docs_evidence() -> None:
    text = _read("evidence.md")
    public = [
        *Evidence.__dataclass_fields__,
        *(name for name in vars(Evidence) if not name.startswith("_")),
    ]
    for name in public:
        assert f"`{name}" in text or f", `{name}`" in text, f"Evidence.{name} is not documented"


def test_the_provenance_fields_are_in_docs_evidence(tmp_path: Path) -> None:
    """Every field of an evidence notebook's metadata.rca_kit, as `describe` and `seal` write it."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.ipynb").write_text("{}", encoding="utf-8")
    (tmp_path / "s.yaml").write_text("id: s", encoding="utf-8")
    workspace = SimpleNamespace(
        root=tmp_path, templates_dir=tmp_path / "templates", library_dir=tmp_path
    )
    spec = SimpleNamespace(id="s", version=1, template="t.ipynb", path=tmp_path / "s.yaml")
    snapshot = SimpleNamespace(sha256="a", manifest_sha256="b")
    described = provenance.describe(workspace, spec, snapshot, "c")  # type: ignore[arg-type]
    nested = [k for v in described.values() if isinstance(v, dict) for k in v]
    text = _read("evidence.md")
    names = [*described, *nested, "kernel", "name", "python", "packages", *provenance.PACKAGES]
    for name in names:
        assert f"`{name}`" in text, f"provenance field {name} is not in docs/evidence.md"
    assert provenance.SCHEMA in text


# hypotheses -------------------------------------------------------------------------------------


def test_the_spec_fields_and_the_outcome_contract_are_in_docs_hypotheses() -> None:
    text = _read("hypotheses.md")
    for model in (library._Spec, library._Task, library._Verification):
        for name in model.model_fields:
            assert f"`{name}`" in text, f"spec field {name} is not in docs/hypotheses.md"
    for name in library.FIXED_PARAMETERS:
        assert f"`{name}`" in text, f"fixed parameter {name} is not in docs/hypotheses.md"
    for name in (outcome.MIMETYPE, outcome.SCHEMA, *outcome.RECORDED_VERDICTS, "errored"):
        assert f"`{name}`" in text or f'"{name}"' in text, name


def test_the_spec_example_in_docs_hypotheses_is_a_valid_spec() -> None:
    blocks = re.findall(r"```yaml\n(id: .*?)```", _read("hypotheses.md"), re.S)
    assert blocks, "docs/hypotheses.md shows no complete spec"
    for block in blocks:
        library._Spec.model_validate(yaml.safe_load(block))


# the workbench ----------------------------------------------------------------------------------


def _widget_signatures() -> dict[str, list[str]]:
    """Each widget rca_kit.widgets exports → its constructor's parameter names (read from the
    source: ipywidgets is an optional extra)."""
    package = ROOT / "rca_kit" / "widgets"
    init = ast.parse((package / "__init__.py").read_text(encoding="utf-8"))
    exported = next(
        ast.literal_eval(node.value)
        for node in init.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
    )
    found: dict[str, list[str]] = {}
    for path in sorted(package.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and node.name in exported:
                method = next(
                    n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"
                )
                args = method.args
                names = [a.arg for a in [*args.args, *args.kwonlyargs] if a.arg != "self"]
                found[node.name] = names + ([args.kwarg.arg] if args.kwarg else [])
    assert set(found) == set(exported), "a widget in rca_kit.widgets.__all__ has no class"
    return found


def test_the_widgets_and_their_parameters_are_in_docs_lab() -> None:
    text = _read("lab.md")
    for widget, parameters in _widget_signatures().items():
        assert f"`{widget}(" in text, f"{widget} is not in docs/lab.md"
        for name in parameters:
            assert re.search(rf"\b{name}\b", text), f"{widget}({name}=…) is not in docs/lab.md"


def test_the_triage_audit_events_are_in_docs_lab() -> None:
    text = _read("lab.md")
    sources = [ROOT / "rca_kit" / "register" / "reruns.py", ROOT / "rca_kit" / "triage.py"]
    actions = {a for s in sources for a in re.findall(r'action="([\w.]+)"', s.read_text())}
    assert actions, "no audit actions found in the triage code"
    for action in sorted(actions):
        assert f"`{action}`" in text, f"audit event {action} is not in docs/lab.md"


# links and pointers -----------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    kept = "".join(
        c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN"
    )  # letters and numbers of any script
    return kept.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} (.+)$", _prose(text), flags=re.MULTILINE):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if not count else f"{slug}-{count}")
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)\s]+)\)", _prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.is_file(), f"{page.name}: link {target} names no file"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest.read_text(encoding="utf-8")), (
                f"{page.name}: link {target}: no heading with that anchor"
            )


def test_every_docs_page_is_listed_in_the_readme() -> None:
    """README.md's Documentation section links every page of docs/."""
    section = _sections((ROOT / "README.md").read_text(encoding="utf-8"))["Documentation"]
    for page in sorted(DOCS.glob("*.md")):
        assert f"](docs/{page.name})" in section, f"docs/{page.name} is not listed in README.md"


PRODUCT = [
    *sorted((ROOT / "rca_kit").rglob("*.py")),
    *sorted((ROOT / "rca_kit").rglob("*.j2")),
    *sorted((ROOT / "library").glob("*.yaml")),
    *sorted((ROOT / "notebooks" / "templates").glob("*.ipynb")),
    *sorted((ROOT / "examples").glob("alerts/*")),
    ROOT / "rca.toml",
]


def test_every_documentation_pointer_in_the_product_names_a_file_in_the_project() -> None:
    """No pointer outside the project, and every docs/… file the product names exists."""
    for path in [*PRODUCT, *PAGES]:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        for outside in ("ARCHITECTURE", "RECIPES", "../shared"):
            assert outside not in text, f"{where} points at {outside}, outside the project"
        for name in re.findall(r"\bdocs/([\w.-]+\.md)", text):
            assert (DOCS / name).is_file(), f"{where} points at docs/{name}, which does not exist"
