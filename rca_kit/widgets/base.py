"""What the widgets share: the workspace, a register opened per action, one-line problems."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..config import Workspace, find_workspace
from ..exceptions import RcaKitError
from ..inert import one_line
from ..register import Register


def resolve_workspace(workspace: Workspace | str | Path | None) -> Workspace:
    """A Workspace as given, else found like the CLI does (RCA_WORKSPACE, then upward)."""
    return workspace if isinstance(workspace, Workspace) else find_workspace(workspace)


@contextmanager
def opened(workspace: Workspace, actor: str) -> Iterator[Register]:
    """The register for one action: a widget lives long, a database connection should not."""
    register = Register(workspace.database_url, workspace.settings, actor=actor)
    try:
        yield register
    finally:
        register.close()


def problem(exc: BaseException) -> str:
    """An error as one line for the widget (an RcaKitError already says what and how)."""
    if isinstance(exc, RcaKitError):
        return str(exc)
    return one_line(f"{type(exc).__name__}: {exc}", 500)


class Displayed:
    """Shown in a notebook as its `widget` (composition: no ipywidgets subclass)."""

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
