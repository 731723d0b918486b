"""Hostile library specs, templates and rca.toml: limits and one-line errors, never a traceback.

Every case goes through the real `rca` CLI in a scaffolded workspace and must fail the way a
user mistake does (exit 2, one stderr line naming the file and, where there is one, the line),
within a bounded time and memory. Property-based tests feed arbitrary bytes and YAML-, TOML- and
notebook-shaped text to the loaders: only rca-kit's own errors may come out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rca_kit.config import load_settings
from rca_kit.exceptions import ConfigError, InputError, SpecError
from rca_kit.library import lint, parse_spec, template_parameters
from rca_kit.safeload import CONFIG_LIMIT, MAX_VALUES, SPEC_LIMIT
from rca_kit.testing import one_line_error

ROOT = Path(__file__).resolve().parents[2]
RCA = str(Path(sys.executable).parent / "rca")
SPEC = (ROOT / "library" / "backpressure.yaml").read_text()
NOTEBOOK = (ROOT / "notebooks" / "templates" / "backpressure.ipynb").read_text()
Run = Callable[..., subprocess.CompletedProcess[str]]


def billion_laughs() -> str:
    """The bundled spec with nine levels of nine aliases each (9**9 strings) in `parameters`."""
    levels = ["  l0: &l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    levels += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return SPEC.replace("parameters:\n", "parameters:\n" + "\n".join(levels) + "\n", 1)


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


def _cell(metadata: Any, source: Any) -> str:
    cell = {"cell_type": "code", "metadata": metadata, "source": source}
    return json.dumps({"cells": [cell], "nbformat": 4})


def measured(workspace: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """Run `rca` like the `rca` fixture; also return its wall time and peak RSS in KiB."""
    env = {k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")}
    start = time.monotonic()
    proc = subprocess.Popen(
        [RCA, *args], cwd=workspace, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    with proc.stdout, proc.stderr:
        stdout, stderr = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    done = subprocess.CompletedProcess(
        proc.args, proc.returncode, stdout.decode(errors="replace"), stderr.decode()
    )
    return done, elapsed, usage.ru_maxrss


# Specs -----------------------------------------------------------------------------------------


def test_alias_bomb_fails_at_once_through_the_cli(workspace_dir: Path) -> None:
    """A billion-laughs spec is refused in a fraction of a second with little memory (before:
    still running after 40 s, heading for gigabytes), naming the file and the alias's line."""
    clean, _, clean_rss = measured(workspace_dir, "library", "lint")
    assert clean.returncode == 0, clean.stderr
    spec = workspace_dir / "library" / "backpressure.yaml"
    spec.write_text(billion_laughs())
    done, elapsed, rss = measured(workspace_dir, "library", "lint")
    line = one_line_error(done)
    assert line.startswith(f"{spec.resolve()}: line ")
    assert f"YAML aliases expand to more than {MAX_VALUES} values" in line
    assert elapsed < 3.0  # the whole command, interpreter start included (about 0.3 s)
    assert rss < clean_rss + 32 * 1024  # KiB: what a clean lint takes, not gigabytes


def test_alias_bomb_costs_milliseconds_and_kilobytes(tmp_path: Path) -> None:
    """The loader itself: well under a second and under 2 MB allocated at the peak."""
    spec = tmp_path / "backpressure.yaml"
    spec.write_text(billion_laughs())
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(SpecError, match="YAML aliases expand"):
            parse_spec(spec)
        elapsed = time.monotonic() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 2_000_000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [1, *a]\n", "line 1: alias *a is recursive"),
        ("a: " + "[" * 40 + "]" * 40 + "\n", "line 1: nested more than 32 levels deep"),
        ("a:\n" + "- 0\n" * (MAX_VALUES + 5), f"line 9999: more than {MAX_VALUES} values"),
        (
            "x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(101)),
            "line 102: more than 100 YAML aliases",
        ),
        ("a: 1\nb: 2\n1: 3\ntrue: 4\n", "line 4: duplicate key True"),
        ("a: b\x00c\n", "line 1: not valid YAML: character #x0000 is not allowed"),
        ("a:\n\tb: 1\n", "line 2: not valid YAML: found character '\\t' that cannot start"),
        ("a: 2024-13-45\n", "line 1: invalid value: month must be in 1..12"),
        ("a: " + "9" * 5000 + "\n", "line 1: invalid value: Exceeds the limit (4300 digits)"),
        ("a: 1\n---\nb: 2\n", "line 2: not valid YAML: but found another document"),
        ("a: *nope\n", "line 1: not valid YAML: found undefined alias 'nope'"),
        ('"a\\nb": 1\n"a\\nb": 2\n', "line 2: duplicate key 'a\\nb'"),
        (
            "!!python/object/apply:os.system ['echo pwned']\n",
            "line 1: not valid YAML: could not determine a constructor for the tag",
        ),
    ],
    ids=[
        *("recursive", "deep", "many-values", "many-aliases", "equal-keys", "nul", "tab"),
        *("bad-date", "huge-int", "two-documents", "undefined-alias", "newline-key", "python"),
    ],
)
def test_hostile_yaml_is_one_line_naming_the_line(tmp_path: Path, text: str, expected: str) -> None:
    """Recursion, depth, value and alias counts have limits; keys equal as Python values are
    duplicates; bytes YAML refuses and values that cannot be built: one line, with the line."""
    spec = tmp_path / "x.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    assert str(info.value).startswith(f"{spec}: {expected}"), str(info.value)
    assert "\n" not in str(info.value)


def test_benign_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    """Reusing a value with an anchor stays allowed: the limits only stop expensive use."""
    spec = tmp_path / "backpressure.yaml"
    spec.write_text(
        SPEC.replace("  min_minutes: 15\n", "  min_minutes: &m 15\n").replace(
            "  context_minutes: 30\n", "  context_minutes: *m\n"
        )
    )
    assert parse_spec(spec).parameters["context_minutes"] == 15
    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 3\n")
    with pytest.raises(SpecError, match="id: is required"):  # parsed: only the schema objects
        parse_spec(merged)


def test_huge_spec_is_refused_without_reading_it(workspace_dir: Path, rca: Run) -> None:
    """A 50 MB spec is refused from its size alone (a sparse file: nothing is read)."""
    spec = workspace_dir / "library" / "backpressure.yaml"
    with spec.open("r+b") as handle:
        handle.truncate(50 * 1024 * 1024)
    start = time.monotonic()
    line = one_line_error(rca("library", "lint"))
    assert time.monotonic() - start < 3.0
    assert line == (
        f"{spec.resolve()}: is 52,428,800 bytes, over the 256 KiB limit for a hypothesis spec"
    )


def test_spec_just_over_the_limit_and_special_files(tmp_path: Path) -> None:
    """One byte over the limit is refused; a FIFO named *.yaml is refused, not waited on."""
    library = tmp_path / "library"
    library.mkdir()
    (library / "backpressure.yaml").write_text(SPEC + "#" * (SPEC_LIMIT - len(SPEC) + 1))
    os.mkfifo(library / "fifo.yaml")
    _, problems = lint(library, ROOT / "notebooks" / "templates")
    assert problems == [
        f"{library / 'backpressure.yaml'}: is {SPEC_LIMIT + 1:,} bytes, over the 256 KiB limit "
        "for a hypothesis spec",
        f"{library / 'fifo.yaml'}: cannot read: not a regular file",
    ]


def test_duplicate_key_names_key_and_line(workspace_dir: Path, rca: Run) -> None:
    """A key given twice no longer passes with the last value winning."""
    spec = workspace_dir.resolve() / "library" / "backpressure.yaml"
    text = SPEC.replace("  min_minutes: 15\n", "  min_minutes: 15\n  min_excess: 0.5\n")
    spec.write_text(text)
    line = one_line_error(rca("library", "lint"))
    number = line_of(text, "  min_excess: 0.5")
    assert line == f"{spec}: line {number}: duplicate key 'min_excess'"


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (
            lambda b: b.replace(b"title:", b"title: caf\xe9", 1),
            "line 3: not UTF-8 text (byte 0xe9 at column 11) (save it as UTF-8)",
        ),
        (
            lambda b: b.replace(b"lookback: 6h", b"lookback: [6h", 1),
            f"line {line_of(SPEC, 'explains:')}: not valid YAML: expected ',' or ']', but got",
        ),
    ],
    ids=["latin-1", "syntax"],
)
def test_encoding_and_syntax_errors_are_one_line(
    workspace_dir: Path, rca: Run, mangle: Callable[[bytes], bytes], expected: str
) -> None:
    """Bytes that are not UTF-8 and YAML that does not parse: one line naming the file and
    the line, exit 2 (the other YAML errors: test_hostile_yaml_is_one_line_naming_the_line)."""
    spec = workspace_dir.resolve() / "library" / "backpressure.yaml"
    spec.write_bytes(mangle(SPEC.encode()))
    line = one_line_error(rca("library", "lint"))
    assert line.startswith(f"{spec}: {expected}"), line


# Templates -------------------------------------------------------------------------------------


def _notebook(path: Path) -> dict[str, Any]:
    notebook: dict[str, Any] = json.loads(path.read_text())
    return notebook


def _untagged(path: Path) -> None:
    notebook = _notebook(path)
    for cell in notebook["cells"]:
        cell["metadata"].pop("tags", None)
    path.write_text(json.dumps(notebook))


def _bad_parameters(path: Path) -> None:
    notebook = _notebook(path)
    notebook["cells"][1]["source"][2] = "service = (\n"
    path.write_text(json.dumps(notebook))


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (
            lambda p: p.write_bytes(p.read_bytes().replace(b"Backpressure", b"Back\xff", 1)),
            f"line {line_of(NOTEBOOK, 'Backpressure')}: not UTF-8 text (byte 0xff at column 12)",
        ),
        (lambda p: p.write_text(p.read_text()[:500]), "not a notebook: line "),
        (lambda p: p.write_text("[1, 2]"), "not a notebook: no list of cells"),
        (_untagged, "has no code cell tagged 'parameters'"),
        (_bad_parameters, "parameters cell (cell 2) line 3: not valid Python: "),
    ],
    ids=["not-utf8", "truncated-json", "json-list", "no-parameters", "bad-python"],
)
def test_broken_templates_are_one_line(
    workspace_dir: Path, rca: Run, mangle: Callable[[Path], None], expected: str
) -> None:
    """`rca library lint` names the spec, the template and what is wrong with it."""
    root = workspace_dir.resolve()
    template = root / "notebooks" / "templates" / "backpressure.ipynb"
    mangle(template)
    line = one_line_error(rca("library", "lint"))
    spec = root / "library" / "backpressure.yaml"
    assert line.startswith(f"{spec}: template: {template}: {expected}"), line


def test_loading_the_library_checks_templates(workspace_dir: Path, rca: Run) -> None:
    """Every command that loads the library (here `rca library list`) refuses a broken
    template the same way: one line, exit 2."""
    template = workspace_dir.resolve() / "notebooks" / "templates" / "backpressure.ipynb"
    _bad_parameters(template)
    line = one_line_error(rca("library", "list"))
    assert line.startswith("rca: error: "), line
    assert f"template: {template}: parameters cell (cell 2) line 3: not valid Python" in line


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('{"cells": [7]}', "not a notebook: cell 1 is not an object"),
        ('{"cells": {}}', "not a notebook: no list of cells"),
        ("[" * 100_000, "not a notebook: not valid JSON: nested too deeply"),
        (_cell({"tags": ["parameters"]}, 7), "parameters cell (cell 1): source is not text"),
        (_cell({"tags": ["parameters"]}, "x = 1\x00"), "parameters cell (cell 1): not valid Py"),
        (_cell({"tags": "parameters"}, "x = 1"), "has no code cell tagged 'parameters'"),
        (_cell({"tags": ["parameters"]}, "(" * 300), "parameters cell (cell 1) line 1: not val"),
    ],
    ids=["cell-not-object", "cells-not-list", "deep-json", "source", "nul", "tags", "nesting"],
)
def test_odd_notebooks_are_one_line(tmp_path: Path, source: str, expected: str) -> None:
    """JSON that is not a notebook, or a parameters cell Python cannot parse: one line."""
    template = tmp_path / "t.ipynb"
    template.write_text(source)
    with pytest.raises(SpecError) as info:
        template_parameters(template)
    assert str(info.value).startswith(f"{template}: {expected}"), str(info.value)


# rca.toml --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda b: b + b"#" * CONFIG_LIMIT, "bytes, over the 1 MiB limit for rca.toml"),
        (lambda b: b + b"\n# r\xe9sum\xe9\n", "not UTF-8 text (byte 0xe9 at column 4)"),
        (
            lambda b: b.replace(b"workers = 3\n", b"workers = 3\nworkers = 4\n"),
            "line 30: not valid TOML: duplicate key 'execution.workers'",
        ),
    ],
    ids=["too-big", "latin-1", "duplicate-key"],
)
def test_broken_rca_toml_is_one_line(
    workspace_dir: Path, rca: Run, mangle: Callable[[bytes], bytes], expected: str
) -> None:
    """rca.toml: size limit, UTF-8, a key given twice named with its table; no traceback."""
    config = workspace_dir.resolve() / "rca.toml"
    config.write_bytes(mangle(config.read_bytes()))
    line = one_line_error(rca("library", "lint"))
    assert line.startswith(f"rca: error: {config}: "), line
    assert expected in line, line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[serve]\nport = 1\nport = 2\n", "line 3: not valid TOML: duplicate key 'serve.port'"),
        ("[scoring]\n[scoring]\n", "line 2: not valid TOML: duplicate key 'scoring'"),
        ("a = 1\n[x]\nb = {c = 1, c = 2}\n", "line 3: not valid TOML: duplicate key 'x.c'"),
        ("x = " + "{a = " * 2000, "not valid TOML: nested too deeply"),
        ("x = " + "9" * 5000, "not valid TOML: Exceeds the limit (4300 digits)"),
        ('"k\\n" = 1\n', "unknown key 'k\\n'"),
    ],
    ids=["key", "table", "inline", "deep", "huge-int", "newline-key"],
)
def test_toml_problems_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    """A key given twice is named with its table and line; deep nesting and huge integers
    are errors, not tracebacks; a key holding a newline cannot break the line."""
    path = tmp_path / "rca.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: {expected}"), str(info.value)
    assert "\n" not in str(info.value)


# Properties ------------------------------------------------------------------------------------

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAML_TOKENS = [
    *("id: ", "parameters:", "template: backpressure.ipynb", "explains: [", "remediation:"),
    *("\n", "  ", "- ", ": ", "? ", "{", "}", "[", "]", ", ", "'", '"', "#", "|\n", ">-\n"),
    *("&a ", "*a", "&b [*a, *a]", "<<: *a", "!!set ", "!!binary ", "!!omap ", "!!str ", "!x "),
    *("!!python/object/apply:os.system ", "2001-13-45", "2024-01-01T00:00:00Z", "1e999"),
    *(".nan", "0x1F", "9" * 4400, "\t", "\x00", "\ufeff", "\u2028", "---\n", "...\n"),
    *("%YAML 1.1\n", "%TAG ! tag:x,2002:\n", "\\x", "\\u12", "{service}", "{0.__class__}"),
]
yaml_text = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=8)), max_size=40).map(
        "".join
    ),
    st.tuples(st.integers(0, len(SPEC)), st.lists(st.sampled_from(YAML_TOKENS), max_size=4)).map(
        lambda cut: SPEC[: cut[0]] + "".join(cut[1]) + SPEC[cut[0] :]
    ),
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def outcome(call: Callable[[Path], Any], path: Path, error: type[InputError]) -> Any:
    """What call(path) returned; or, when it raised `error`, check it is one line naming the
    file and return None. Any other exception fails the test."""
    try:
        return call(path)
    except error as exc:
        message = str(exc)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return None


@SETTINGS
@given(data=st.one_of(st.binary(max_size=600), yaml_text.map(str.encode)))
def test_spec_loader_raises_only_spec_errors(scratch: Path, data: bytes) -> None:
    """Whatever the bytes, parse_spec returns a spec or raises SpecError (one line)."""
    path = scratch / "spec.yaml"
    path.write_bytes(data)
    outcome(parse_spec, path, SpecError)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.floats(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
cells = st.fixed_dictionaries(
    {
        "cell_type": st.sampled_from(["code", "markdown", 3]),
        "metadata": st.one_of(
            json_values, st.just({"tags": ["parameters"]}), st.just({"tags": "parameters"})
        ),
        "source": st.one_of(
            json_values,
            st.text(max_size=60),
            st.lists(st.sampled_from(["x = 1\n", "y = (\n", "\x00", "def f(:\n", "z: int = 2\n"])),
        ),
    }
)
notebooks = st.one_of(
    json_values,
    st.fixed_dictionaries({"cells": st.one_of(json_values, st.lists(cells, max_size=3))}),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(notebooks.map(lambda nb: json.dumps(nb).encode()), st.binary(max_size=200)))
def test_template_check_raises_only_spec_errors(scratch: Path, data: bytes) -> None:
    """Whatever the template holds, the parameters check returns names or raises SpecError."""
    path = scratch / "template.ipynb"
    path.write_bytes(data)
    names = outcome(template_parameters, path, SpecError)
    assert names is None or all(isinstance(name, str) for name in names)


TOML_TOKENS = [
    *("[execution]", "[[sources]]", "[serve]", "[a.b]", "workers = ", "kind = 'files'"),
    *("\n", " = ", "a.b = ", "'x'", '"y"', "[", "]", "{", "}", ",", "1", "9" * 4400, "2024-13-45"),
    *("inf", "nan", "true", "\x00", "\xe9", "\\u0000", '"""', "# c", "\t", "{a = {b = 1}}"),
]


@SETTINGS
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(st.one_of(st.sampled_from(TOML_TOKENS), st.text(max_size=6)), max_size=30).map(
            lambda parts: "".join(parts).encode()
        ),
    )
)
def test_config_loader_raises_only_config_errors(scratch: Path, data: bytes) -> None:
    """Whatever rca.toml holds, load_settings returns settings or raises ConfigError."""
    path = scratch / "rca.toml"
    path.write_bytes(data)
    outcome(load_settings, path, ConfigError)
