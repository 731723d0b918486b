"""Package-level promises: a light kernel-side import and reproducible bundled examples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from rca_kit.scenarios import demo, write_scenario

ROOT = Path(__file__).resolve().parent.parent


def test_import_rca_kit_stays_light() -> None:
    """`import rca_kit` pulls in none of papermill, SQLAlchemy, jupyter, starlette or dask."""
    code = (
        "import sys, rca_kit; heavy = [m for m in ('papermill', 'sqlalchemy', 'jupyter_client', "
        "'starlette', 'dask', 'pandas') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bundled_examples_are_what_the_generator_makes(tmp_path: Path) -> None:
    """examples/data is regenerated identically from its seed (no hand-typed numbers)."""
    write_scenario(demo(), tmp_path)
    for name in ("logs.jsonl", "changes.jsonl"):
        assert (tmp_path / "data" / name).read_text() == (
            ROOT / "examples" / "data" / name
        ).read_text()
    fresh = pd.read_csv(tmp_path / "data" / "metrics.csv")
    bundled = pd.read_csv(ROOT / "examples" / "data" / "metrics.csv")
    pd.testing.assert_frame_equal(fresh, bundled, check_exact=False, rtol=1e-9)
    assert (tmp_path / "alerts" / "consumer-lag.json").read_text() == (
        ROOT / "examples" / "alerts" / "consumer-lag.json"
    ).read_text()


def test_every_module_stays_under_400_lines() -> None:
    """Modules are split before they grow past ~400 lines (one concern each)."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in (ROOT / "rca_kit").rglob("*.py")
    }
    assert {path: n for path, n in sizes.items() if n > 400} == {}
