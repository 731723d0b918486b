"""Shared fixtures: a scaffolded workspace per test, CLI runners, register databases."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pgserver import PostgresServer, PostgresUnavailable

from rca_kit.config import Workspace, find_workspace
from rca_kit.scaffold import init_workspace

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RCA = str(Path(sys.executable).parent / "rca")

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from rca_kit.register import Register


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


# Register databases --------------------------------------------------------------------------
# `database_url` runs a test once per supported database: a fresh SQLite file, and a fresh
# database on one PostgreSQL server per session (started only when a test first needs it).
# A missing PostgreSQL fails the test with a one-line fix; it is never skipped.


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL 15 server for the whole session (fsync=off, trust auth)."""
    server = PostgresServer()
    try:
        server.start()
        problem = None
    except PostgresUnavailable as exc:
        problem = str(exc)
    if problem is not None:  # failed outside the except block: one clean line, no chained trace
        server.stop()
        pytest.fail(problem, pytrace=False)
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty register database: SQLite file or PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/rca.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def register(database_url: str) -> Iterator[Register]:
    """A Register on a fresh database (each database in turn), closed after the test."""
    from rca_kit.register import Register  # imported here: most tests never touch SQL

    reg = Register(database_url)
    yield reg
    reg.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium through Playwright (headless, offline), one per test module."""
    from chromium import launched

    with launched() as launched_browser:
        yield launched_browser
