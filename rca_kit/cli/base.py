"""Shared pieces of the command line: the root group, error handling, workspace, progress."""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from ..exceptions import RcaKitError
from ..inert import one_line

if TYPE_CHECKING:  # rca.toml is read (pydantic) by the commands that need it, not by --help
    from ..config import Workspace

F = TypeVar("F", bound=Callable[..., Any])
# how a command whose reader went away ends (`rca register list | head -1`): silently, with the
# status a shell reports for a tool that SIGPIPE ended (`seq 1000000 | head -1`: 128 + 13), so
# `set -o pipefail` scripts see output was cut short, as they do for every other Unix tool
SIGPIPE_EXIT = 141


def echo(text: object, *, err: bool = False) -> None:
    """Print one human-readable record as one line: whatever the data holds (line breaks,
    ANSI escapes, bidi overrides), it is shown escaped (`\\n`, `\\x1b`), never sent to the
    terminal, so no value can forge a row or drive the terminal. JSON output bypasses this:
    json.dumps escapes control characters and keeps the data exact."""
    click.echo(one_line(text), err=err)


def _fail(exc: RcaKitError) -> None:
    echo(f"rca: error: {exc}", err=True)
    sys.exit(exc.exit_code)


def closed(stream: Any) -> bool:
    """Whether `stream` is a pipe or socket whose reader has gone away (a terminal, a file or a
    stream without a descriptor is not; where poll is missing, any broken pipe is taken as it)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):
        return True
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))


def end_quietly() -> NoReturn:
    """Stop at once without a word: what is left for a closed stdout or stderr goes to
    /dev/null, so Python's final flush has nothing to complain about either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        if closed(stream):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    sys.exit(SIGPIPE_EXIT)


@contextmanager
def output_cut_short() -> Iterator[None]:
    """A broken pipe on stdout or stderr ends quietly (`end_quietly`); any other propagates."""
    try:
        yield
    except BrokenPipeError:
        if closed(sys.stdout) or closed(sys.stderr):
            end_quietly()
        raise


# the module(s) of rca_kit.cli that define each top-level command: running one imports only
# those, so `rca register list` compiles no other command's code; help imports them all (a
# test checks that every command of every module of rca_kit.cli is here)
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "alert": ("alerts",),
    "audit": ("commands",),
    "demo": ("commands",),
    "init": ("commands",),
    "investigate": ("commands",),
    "lab": ("lab",),
    "library": ("commands",),
    "override": ("triage",),
    "register": ("backlog", "tickets"),
    "report": ("commands",),
    "rerun": ("triage",),
    "review": ("loop",),
    "serve": ("serve",),
    "verify": ("loop",),
}


def load_commands(*modules: str) -> None:
    """Import these modules of rca_kit.cli (each adds its commands to `cli`); none given:
    the modules of every command."""
    every = dict.fromkeys(module for names in COMMAND_MODULES.values() for module in names)
    for module in modules or every:  # __import__, not importlib: `-X importtime` lists them
        __import__(f"{__package__}.{module}")


class RcaGroup(click.Group):
    """The root group: commands loaded on first use (`COMMAND_MODULES`); help and version
    text whose reader went away ends as commands do (click itself would exit 1)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        load_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load_commands(*COMMAND_MODULES.get(cmd_name, ()))
        return super().get_command(ctx, cmd_name)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with output_cut_short():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        with output_cut_short():
            return super().invoke(ctx)


def _fail_os(exc: OSError) -> None:
    where = f": {exc.filename}" if exc.filename else ""
    _fail(RcaKitError(f"{exc.strerror or exc}{where}", hint="check the disk and folder"))


def handled(func: F) -> F:
    """Turn RcaKitError into one line on stderr and its exit code (no traceback); so too a
    database that cannot be reached or used (exit 1), which is not a bug of rca-kit. Output
    whose reader went away ends the command quietly (`SIGPIPE_EXIT`)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RcaKitError as exc:
            _fail(exc)
        except KeyboardInterrupt:  # Ctrl-C: what was running is recorded; no traceback
            echo("rca: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError as exc:  # `| head -1`; not a pipe of our own (a worker's)
            if closed(sys.stdout) or closed(sys.stderr):
                end_quietly()
            _fail_os(exc)
        except OSError as exc:  # the machine, not rca-kit: a full disk, a read-only folder
            _fail_os(exc)
        except Exception as exc:
            if not _database_error(exc):
                raise
            first = str(getattr(exc, "orig", exc)).strip().splitlines()
            _fail(
                RcaKitError(
                    f"the register database failed: {first[0][:300] if first else type(exc)}",
                    hint="check [workspace] database / RCA_DATABASE_URL and that it is reachable",
                )
            )

    return wrapper  # type: ignore[return-value]


def _database_error(exc: BaseException) -> bool:
    # checked by name: importing SQLAlchemy here would slow every command's start
    return any(
        cls.__module__.startswith("sqlalchemy")
        and cls.__name__ in ("OperationalError", "DBAPIError", "InterfaceError")
        for cls in type(exc).__mro__
    )


def _workspace(ctx: click.Context) -> Workspace:
    from ..config import find_workspace

    return find_workspace(ctx.obj.get("workspace"))


def actor() -> str:
    """Who the audit log names for a change made from this shell: RCA_ACTOR, else the login."""
    import getpass
    import os

    try:
        return os.environ.get("RCA_ACTOR") or getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


@click.group(cls=RcaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder (else RCA_WORKSPACE, else the nearest rca.toml upward).",
)
@click.version_option(package_name="rca-kit")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """Turn alerts into tested hypotheses, evidence notebooks and a ranked list of fixes."""
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


def _progress(
    total_label: str,
) -> tuple[Callable[[int], None], Callable[[Any], None], Callable[[], None]]:
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def start(total: int) -> None:
        bar["bar"] = tqdm(
            total=total,
            desc=total_label,
            unit="nb",
            file=sys.stderr,
            disable=None,
            dynamic_ncols=True,
        )

    def step(result: Any) -> None:
        if "bar" in bar:
            bar["bar"].set_postfix_str(
                result.hypothesis_id + (" (errored)" if result.error else "")
            )
            bar["bar"].update(1)

    def close() -> None:
        if "bar" in bar:
            bar["bar"].close()

    return start, step, close


def _investigate(
    ws: Workspace,
    alert_id: str | None,
    now: datetime | None,
    *,
    resume: str | None = None,
    run_jobs: Callable[..., Any] | None = None,
) -> Any:
    from ..children import terminate_gracefully
    from ..pipeline import investigate
    from ..pipeline import resume as resume_investigation

    terminate_gracefully()  # a SIGTERM still records the investigation as failed, with why
    start, step, close = _progress("hypotheses")
    try:
        if resume:
            return resume_investigation(
                ws, resume, progress=step, on_start=start, run_jobs=run_jobs
            )
        assert alert_id is not None
        return investigate(ws, alert_id, now=now, progress=step, on_start=start, run_jobs=run_jobs)
    finally:
        close()
