"""The review of evidence that is not what the investigation recorded, and of investigations
that did not finish, on real investigations of the demo alert (`rca report ID`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from investigated import Investigated, failed_investigation, investigated

pytestmark = pytest.mark.slow

TAMPERED = "TAMPERED figure title"


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Investigated:
    """An investigation of its own whose review and pages were rendered, then one evidence
    notebook's figure title was edited (made writable, edited, protected again) and another
    notebook deleted."""
    found = investigated(tmp_path_factory, key="damaged")
    found.page(found.id)
    folder = found.root / "investigations" / found.id
    [changed] = folder.glob("*-backpressure.ipynb")
    mode = changed.stat().st_mode
    changed.chmod(mode | 0o200)
    text = changed.read_text(encoding="utf-8")
    assert "Backpressure on orders-consumer" in text
    changed.write_text(text.replace("Backpressure on orders-consumer", TAMPERED), "utf-8")
    changed.chmod(mode)
    [gone] = folder.glob("*-disk-pressure.ipynb")
    gone.unlink()
    return found


def section(html: str, hypothesis_id: str) -> str:
    for found in re.findall(r'<section class="hypothesis" id="h-\d+">.*?</section>', html, re.S):
        if f"<code>{hypothesis_id}</code>" in found:
            return str(found)
    raise AssertionError(f"no section for {hypothesis_id}")


def banner(html: str) -> str:
    match = re.search(r'<div class="integrity-banner"[^>]*>(.*?)</div>', html, re.S)
    assert match, "no integrity banner"
    return match.group(1)


def test_a_changed_notebook_is_flagged_and_nothing_is_shown_from_it(
    damaged: Investigated,
) -> None:
    """`rca audit verify` fails on the edited notebook; the review warns on its hypothesis
    and in the integrity banner, draws no figure from it and exports no page from it."""
    assert damaged.rca("audit", "verify", check=False).returncode == 1
    done = damaged.rca("report", damaged.id)
    review = Path(done.stdout.strip().splitlines()[-1])
    html = review.read_text(encoding="utf-8")
    assert TAMPERED not in html
    found = section(html, "backpressure")
    warning = re.search(r'<div class="integrity-warning" role="alert">(.*?)</div>', found, re.S)
    assert warning, "no warning on the hypothesis"
    assert "changed after its run was recorded" in warning.group(1)
    assert 'data-target="fig-' not in found
    assert 'class="evidence-link"' not in found
    assert "nothing is drawn from the changed file" in found
    assert "backpressure.ipynb changed after its run was recorded" in banner(html)
    page = damaged.reports / damaged.id / "backpressure.html"
    assert TAMPERED not in page.read_text(encoding="utf-8")  # the page exported before stays
    others = [h for h in damaged.result["hypotheses"] if h["id"] not in ("backpressure",)]
    assert html.count('class="evidence-link"') == len(others) - 1  # less the deleted one


def test_a_deleted_notebook_is_said_missing(damaged: Investigated) -> None:
    """A deleted notebook is named missing, never an empty test or a file in the folder."""
    html = damaged.page(damaged.id).read_text(encoding="utf-8")
    found = section(html, "disk-pressure")
    assert "the test found no series to draw" not in found
    assert "in the investigation folder" not in found
    assert "No plot: the evidence notebook is missing." in found
    assert re.search(r"<strong>Evidence notebook missing\.</strong>", found)
    assert "disk-pressure.ipynb is missing" in banner(html)
    assert "disk-pressure.ipynb is missing" in damaged.rca("audit", "verify", check=False).stderr


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Investigated:
    return failed_investigation(tmp_path_factory)


def test_a_failed_investigation_says_so_first(failed: Investigated) -> None:
    """The conclusion names the failure and its error, not "nothing was supported", and shows
    no empty verdict table."""
    html = failed.page(failed.id).read_text(encoding="utf-8")
    conclusion = html.split("<h2>Conclusion</h2>", 1)[1].split("<h2>", 1)[0]
    status = re.search(
        r'<div class="status-banner failed" role="alert" id="status">(.*?)</div>', conclusion, re.S
    )
    assert status, conclusion
    assert "This investigation failed:" in status.group(1)
    assert "metrics file not found" in status.group(1)
    assert f"rca investigate --resume {failed.id}" in status.group(1)
    assert "No hypothesis in the library was supported" not in html
    assert 'id="verdicts"' not in html
