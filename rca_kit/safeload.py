"""Reading the files a workspace is made of (specs, templates, rca.toml) within limits.

Every file is read with a size limit, must be UTF-8, and any problem is one line naming the
file (and the line in it): never a traceback, never minutes or gigabytes spent on a hostile file.
YAML specs are parsed by SpecLoader (specloader.py), a SafeLoader that refuses duplicate keys,
deep nesting, recursive aliases, and more than a few thousand values (each alias counted
expanded).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import inert
from .exceptions import InputError, SpecError

if TYPE_CHECKING:
    import ast

KIB = 1024
SPEC_LIMIT = 256 * KIB  # one hypothesis spec (the bundled ones are under 3 KiB)
CONFIG_LIMIT = 1024 * KIB  # rca.toml
TEMPLATE_LIMIT = 16 * 1024 * KIB  # one notebook template
MAX_DEPTH = 32  # levels of nested mappings/lists in a spec
MAX_ALIASES = 100  # *alias uses in a spec
MAX_VALUES = 10_000  # values (nodes) in a spec, each alias counted expanded (bundled: < 200)


def one_line(text: str) -> str:
    """`text` as one printable line of at most 1,000 characters (`rca_kit.inert.one_line`)."""
    return inert.one_line(text, 1000)


def _size(n: int) -> str:
    if n >= 1024 * KIB:
        return f"{n / (1024 * KIB):.1f} MiB".replace(".0 ", " ")
    return f"{n / KIB:.1f} KiB".replace(".0 ", " ") if n >= KIB else f"{n} bytes"


def read_text(path: Path, limit: int, error: type[InputError], what: str) -> str:
    """The file's text: a regular file of at most `limit` bytes of UTF-8 (a BOM is dropped).

    Never reads more than limit + 1 bytes, and never blocks on a FIFO or a device."""
    where = one_line(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", where=where) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error("cannot read: not a regular file", where=where)
        too_big = f"over the {_size(limit)} limit for {what}"
        if info.st_size > limit:
            raise error(f"is {info.st_size:,} bytes, {too_big}", where=where)
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise error(f"cannot read: {exc.strerror}", where=where) from None
        if len(data) > limit:
            raise error(f"is {too_big}", where=where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise error(
            f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column})",
            where=where,
            hint="save it as UTF-8",
        ) from None
    return text.removeprefix("\ufeff")


# YAML specs ------------------------------------------------------------------------------------


def load_yaml(path: Path, limit: int = SPEC_LIMIT) -> Any:
    """One YAML document from `path` (SpecLoader); any problem is a one-line SpecError."""
    import yaml  # here: reading rca.toml alone never imports it

    from .specloader import Refused, SpecLoader

    text = read_text(path, limit, SpecError, "a hypothesis spec")
    try:
        return yaml.load(text, Loader=SpecLoader)  # noqa: S506 (SpecLoader is a SafeLoader)
    except Refused as exc:
        message = f"line {exc.line}: {exc.text}"
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f"line {mark.line + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        message = f"{at}not valid YAML: {problem}{context}"
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"line {line}: not valid YAML: character #x{exc.character:04x} is not allowed"
    except yaml.YAMLError as exc:
        message = f"not valid YAML: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        message = f"not valid YAML: {str(exc).split(';')[0] or type(exc).__name__}"
    raise SpecError(one_line(message), where=one_line(str(path)))


# Notebook templates ----------------------------------------------------------------------------


def parameters_cell(path: Path) -> ast.Module:
    """The parsed Python of the notebook template's code cell tagged `parameters`."""
    import ast

    text = read_text(path, TEMPLATE_LIMIT, SpecError, "a notebook template")
    where = one_line(str(path))
    try:
        notebook = _json(text)
    except ValueError as exc:
        raise SpecError(one_line(f"not a notebook: {exc}"), where=where) from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise SpecError("not a notebook: no list of cells", where=where)
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            raise SpecError(f"not a notebook: cell {number} is not an object", where=where)
        metadata = cell.get("metadata")
        tags = metadata.get("tags") if isinstance(metadata, dict) else None
        if (
            cell.get("cell_type") != "code"
            or not isinstance(tags, list)
            or "parameters" not in tags
        ):
            continue
        source = cell.get("source")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise SpecError(f"parameters cell (cell {number}): source is not text", where=where)
        try:
            return ast.parse(source)
        except SyntaxError as exc:
            at = f" line {exc.lineno}" if exc.lineno else ""
            raise SpecError(
                one_line(f"parameters cell (cell {number}){at}: not valid Python: {exc.msg}"),
                where=where,
            ) from None
        except (ValueError, RecursionError, MemoryError) as exc:
            reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
            raise SpecError(
                one_line(f"parameters cell (cell {number}): not valid Python: {reason}"),
                where=where,
            ) from None
    raise SpecError("has no code cell tagged 'parameters'", where=where)


def _json(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise ValueError("not valid JSON: nested too deeply") from None


# rca.toml --------------------------------------------------------------------------------------

_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_KEY_PART = r"(?:[A-Za-z0-9_-]+|\"[^\"\n]*\"|'[^'\n]*')"
_KEY = rf"{_KEY_PART}(?:[ \t]*\.[ \t]*{_KEY_PART})*"
_ASSIGN = re.compile(rf"(?:^|[{{,])[ \t]*({_KEY})[ \t]*=", re.MULTILINE)
_HEADER = re.compile(rf"^[ \t]*\[\[?[ \t]*({_KEY})", re.MULTILINE)
_DUPLICATE = ("Cannot overwrite a value", "Cannot declare", "Cannot redefine", "Duplicate inline")


def load_toml(path: Path, error: type[InputError], limit: int = CONFIG_LIMIT) -> dict[str, Any]:
    """The TOML document at `path`; any problem is a one-line `error` naming file and line
    (for a key given twice, the key)."""
    text = read_text(path, limit, error, "rca.toml")
    where = one_line(str(path))
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
    except (ValueError, RecursionError) as exc:  # an integer of 5000 digits; [[[[… nesting
        reason = str(exc).split(";")[0] if isinstance(exc, ValueError) else "nested too deeply"
        raise error(one_line(f"not valid TOML: {reason}"), where=where) from None
    at = _AT.search(message)
    if at is None:
        raise error(one_line(f"not valid TOML: {message}"), where=where)
    line, column = int(at.group(1)), int(at.group(2))
    problem = message[: at.start()]
    if problem.startswith(_DUPLICATE):
        key = _toml_key(text, line, column)
        if key is not None:
            problem = f"duplicate key {inert.shown(key)}"
    raise error(one_line(f"line {line}: not valid TOML: {problem}"), where=where)


def _toml_key(text: str, line: int, column: int) -> str | None:
    """The dotted key that the statement ending at (line, column) sets or declares."""
    lines = text.split("\n")
    pos = sum(len(part) + 1 for part in lines[: line - 1]) + column - 1
    before = text[:pos]
    last_line = before.rsplit("\n", 1)[-1]
    header = _HEADER.match(last_line)
    if header:
        return _unquote(header.group(1))
    assigned = list(_ASSIGN.finditer(before))
    if not assigned:
        return None
    key = _unquote(assigned[-1].group(1))
    tables = list(_HEADER.finditer(before, 0, assigned[-1].start()))
    return f"{_unquote(tables[-1].group(1))}.{key}" if tables else key


def _unquote(key: str) -> str:
    parts = re.findall(_KEY_PART, key)
    return ".".join(part.strip("\"'") for part in parts)
