"""Shared fixtures: a scaffolded workspace per test, the repository root, CLI runners."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rca_kit.config import Workspace, find_workspace
from rca_kit.scaffold import init_workspace

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RCA = str(Path(sys.executable).parent / "rca")


@pytest.fixture(scope="session")
def _pristine_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_workspace(tmp_path_factory.mktemp("pristine") / "ws")


@pytest.fixture
def workspace_dir(_pristine_workspace: Path, tmp_path: Path) -> Path:
    """A fresh workspace with the bundled library, templates and demo evidence."""
    dest = tmp_path / "ws"
    shutil.copytree(_pristine_workspace, dest)
    return dest


@pytest.fixture
def workspace(workspace_dir: Path) -> Workspace:
    return find_workspace(workspace_dir)


@pytest.fixture
def rca(workspace_dir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the real `rca` console script in the workspace."""

    def run(
        *args: str, cwd: Path | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        env = {
            k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")
        }
        return subprocess.run(
            [RCA, *args],
            cwd=cwd or workspace_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=check,
        )

    return run
