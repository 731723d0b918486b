"""One real investigation of the demo alert per test session, shared by the report tests (an
investigation runs nine notebooks: too slow to repeat for every test that reads its pages).

Tests that add to it (a review, a resolution, a decision) only add; each asserts on what it
added, so the order the tests run in does not matter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rca_kit.scaffold import init_workspace

RCA = str(Path(sys.executable).parent / "rca")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("RCA_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts")


@dataclass(frozen=True)
class Investigated:
    root: Path
    result: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.result["investigation_id"])

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def rca(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the real `rca` console script in the shared workspace."""
        env = {
            k: v for k, v in os.environ.items() if k not in ("RCA_WORKSPACE", "RCA_DATABASE_URL")
        }
        return subprocess.run(
            [RCA, *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=check,
        )

    def page(self, *args: str) -> Path:
        """Render one page with `rca report ARGS` and return its path."""
        return Path(self.rca("report", *args).stdout.strip().splitlines()[-1])


_shared: dict[str, Investigated] = {}


def investigated(factory: pytest.TempPathFactory, key: str = "demo") -> Investigated:
    """The session's investigation of examples/alerts/consumer-lag.json (made on first use);
    another `key` is another investigation in a workspace of its own, for tests that damage
    what it wrote."""
    if key not in _shared:
        root = init_workspace(factory.mktemp(f"investigated-{key}") / "ws")
        first = Investigated(root, {})
        done = first.rca("investigate", "examples/alerts/consumer-lag.json", "--json")
        _shared[key] = Investigated(root, json.loads(done.stdout))
    return _shared[key]


def failed_investigation(factory: pytest.TempPathFactory) -> Investigated:
    """The session's investigation that failed: its workspace has no metrics file."""
    if "failed" not in _shared:
        root = init_workspace(factory.mktemp("investigated-failed") / "ws")
        (root / "examples" / "data" / "metrics.csv").unlink()
        first = Investigated(root, {})
        done = first.rca("investigate", "examples/alerts/consumer-lag.json", check=False)
        assert done.returncode != 0, done.stdout
        [folder] = (root / "investigations").iterdir()
        _shared["failed"] = Investigated(root, {"investigation_id": folder.name})
    return _shared["failed"]


def artifacts() -> Path:
    """Where tests leave screenshots (env RCA_TEST_ARTIFACTS, default build/test-artifacts)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def section(html: str, hypothesis_id: str) -> str:
    """The <section> of one hypothesis in the review."""
    for found in re.findall(r'<section class="hypothesis" id="h-\d+">.*?</section>', html, re.S):
        if f"<code>{hypothesis_id}</code>" in found:
            return str(found)
    raise AssertionError(f"no section for {hypothesis_id}")


def fact(html: str, label: str) -> str:
    match = re.search(
        rf'<span class="label">{label}</span><span class="value"[^>]*>(.*?)</span>', html, re.S
    )
    assert match, label
    return match.group(1)
