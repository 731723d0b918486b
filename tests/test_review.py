"""The review as people read it, on a real investigation of the demo alert (`rca report ID`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from investigated import Investigated, fact, investigated, section

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Investigated:
    return investigated(tmp_path_factory)


def test_the_header_states_the_alert_its_times_and_links(demo: Investigated) -> None:
    """Severity, service, status, window and time to detect head the page; the alert's
    http(s) links are real links that give the target no handle on the page."""
    html = demo.page(demo.id).read_text(encoding="utf-8")
    assert fact(html, "Severity") == "page"
    assert fact(html, "Service") == "orders-consumer"
    assert re.fullmatch(r"[\d.]+ (s|min|h|d)", fact(html, "Time to detect"))
    assert "→" in fact(html, "Evidence window")
    links = re.findall(r'<a href="([^"]+)" rel="([^"]+)" target="_blank">([^<]+)</a>', html)
    assert {name for _, _, name in links} >= {"runbook", "generator"}
    assert all(url.startswith(("https://", "http://")) for url, _, _ in links)
    assert all(rel == "noopener noreferrer" for _, rel, _ in links)


def test_an_annotation_that_is_an_alert_link_is_a_link(demo: Investigated) -> None:
    """runbook_url in the Alert section opens the runbook, as the header's link does (no
    handle on the page for the target); other annotations stay text."""
    html = demo.page(demo.id).read_text(encoding="utf-8")
    alert = html.split("<h2>Alert</h2>", 1)[1].split("<h2>", 1)[0]
    url = "https://runbooks.example/ConsumerLagHigh"
    assert (
        f'<dt>runbook_url</dt><dd><a href="{url}" rel="noopener noreferrer" '
        f'target="_blank">{url}</a></dd>'
    ) in alert
    assert "<dt>summary</dt><dd>ConsumerLagHigh on orders-consumer</dd>" in alert
    assert re.fullmatch(r"[\d.]+ (s|min|h|d)", fact(html, "Time to notify"))


def test_a_long_firing_alert_says_its_window_was_capped(demo: Investigated) -> None:
    """The demo alert fired days before it was investigated: the review names the cap, the
    window kept and the alert's own span."""
    html = demo.page(demo.id).read_text(encoding="utf-8")
    banner = re.search(r'<div class="cap-banner"[^>]*>(.*?)</div>', html, re.S)
    assert banner, "no window-cap banner"
    text = banner.group(1)
    assert "capped at 6h" in text
    assert "2026-11-20 09:31:00 UTC" in text  # the alert's start
    assert "2026-11-20 08:31:00 UTC → 2026-11-20 14:31:00 UTC" in text  # the window kept
    assert re.search(r"\d+\.\d d in all", text)


def test_the_timeline_runs_from_onset_through_every_test_to_the_tasks(
    demo: Investigated,
) -> None:
    """One plot and one table: onset, alert, snapshot, each test's start and verdict, tasks."""
    html = demo.page(demo.id).read_text(encoding="utf-8")
    assert 'data-target="timeline"' in html
    table = re.search(r'<table id="timeline-events">(.*?)</table>', html, re.S)
    assert table
    cell = r"<td>([^<]+)</td>"
    row = rf'<tr class="k-[^"]+">{cell}<td class="num">[^<]*</td>{cell}{cell}'
    events = re.findall(row, table.group(1))
    labels = [label for _, _, label in events]
    assert labels[0] == "Symptom onset"
    for expected in ("Alert received", "Evidence snapshot frozen", "Verdicts recorded"):
        assert expected in labels
    hypotheses = demo.result["hypotheses"]
    assert labels.count("Test started") == len(hypotheses)
    assert sum(label.startswith("Verdict: ") for label in labels) == len(hypotheses)
    assert labels.count("Task created") == len(demo.result["tasks"])
    times = [at for at, _, _ in events]
    assert times == sorted(times)


def test_a_test_that_could_not_judge_draws_no_plot_and_says_why(demo: Investigated) -> None:
    """Inconclusive hypotheses show the data they missed instead of an empty chart."""
    html = demo.page(demo.id).read_text(encoding="utf-8")
    inconclusive = [h["id"] for h in demo.result["hypotheses"] if h["verdict"] == "inconclusive"]
    assert inconclusive
    for hypothesis_id in inconclusive:
        found = section(html, hypothesis_id)
        assert "data-target" not in found
        assert "No plot: the test could not judge" in found
    supported = section(html, "backpressure")
    assert 'data-target="fig-' in supported


def test_evidence_links_open_exported_pages_beside_the_review(demo: Investigated) -> None:
    """Each hypothesis links reports/<id>/<hypothesis>.html, never a raw notebook."""
    review = demo.page(demo.id)
    html = review.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+)" class="evidence-link">', html)
    assert len(links) == len(demo.result["hypotheses"])
    assert not re.search(r'href="[^"]*\.ipynb"', html)
    for link in links:
        page = review.parent / link
        assert page.parent == review.parent / demo.id
        assert page.suffix == ".html"
        assert page.is_file()
        assert "plotly" in page.read_text(encoding="utf-8")


def test_the_snapshot_and_the_audit_trail_are_on_the_page(demo: Investigated) -> None:
    """The manifest's sources, files and digests, and the investigation's audit events with
    the chain head that `rca audit verify` reports."""
    html = demo.page(demo.id).read_text(encoding="utf-8")
    folder = demo.root / "investigations" / demo.id / "snapshot"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["manifest_sha256"] in html
    assert "as recorded in the register" in html
    for name, info in manifest["files"].items():
        assert f"<code>{name}</code>" in html
        assert info["sha256"] in html
    trail = re.search(r'<table class="trail" id="audit-trail">(.*?)</table>', html, re.S)
    assert trail
    actions = re.findall(r"<code>([a-z_.]+)</code>", trail.group(1))
    for action in ("alert.stored", "investigation.started", "investigation.snapshot_frozen"):
        assert action in actions
    assert actions.count("run.recorded") == len(demo.result["hypotheses"])
    assert actions.count("task.created") == len(demo.result["tasks"])
    head = re.search(r'<code id="chain-head">([0-9a-f]{64})</code>', html)
    assert head
    assert head.group(1) in demo.rca("audit", "verify").stdout


def test_the_review_shares_plotly_js_with_every_page(demo: Investigated) -> None:
    """The review loads the reports folder's one plotly.js and stays small; --standalone
    carries plotly.js inside and links nothing beside it."""
    review = demo.page(demo.id)
    html = review.read_text(encoding="utf-8")
    [src] = re.findall(r'<script src="([^"]+)"', html)
    assert src.startswith("assets/plotly-")
    assert (review.parent / src).is_file()
    assert len(html.encode()) < 500_000
    assert len(list((demo.reports / "assets").glob("plotly-*.js"))) == 1

    alone = demo.page(demo.id, "--standalone")
    assert alone == demo.reports / f"{demo.id}.standalone.html"
    text = alone.read_text(encoding="utf-8")
    assert len(text.encode()) > 3_000_000  # plotly.js inside
    assert "<script src=" not in text
    markup = re.sub(r"<script>.*?</script>", "", text, flags=re.S)  # without plotly.js itself
    hrefs = re.findall(r'href="([^"]+)"', markup)
    relative = [h for h in hrefs if not h.startswith(("#", "http"))]
    assert relative == []
    assert "evidence notebook <code>" in text  # named, not linked


def test_a_review_fills_the_lessons(demo: Investigated) -> None:
    """`rca review` puts the confirmed cause and what worked and did not on the page."""
    demo.rca(
        "review",
        demo.id,
        "--root-cause",
        "backpressure",
        "--worked",
        "scaling out within the hour",
        "--did-not-work",
        "the lag alert fired late",
        "--reviewer",
        "alice",
    )
    html = demo.page(demo.id).read_text(encoding="utf-8")
    lessons = re.search(r'<dl id="lessons">(.*?)</dl>', html, re.S)
    assert lessons
    assert "scaling out within the hour" in lessons.group(1)
    assert "the lag alert fired late" in lessons.group(1)
    assert "alice" in lessons.group(1)
    assert re.search(r"<td>Decisions</td><td>Reviewed</td>", html)


def test_a_reprioritization_is_on_the_timeline_and_in_the_trail(demo: Investigated) -> None:
    """A decision authority's override shows on the timeline with who decided and why."""
    task = demo.result["tasks"][-1]["id"]
    demo.rca(
        "register",
        "reprioritize",
        task,
        "--score",
        "97",
        "--rationale",
        "customer escalation",
        "--authority",
        "head-of-data",
    )
    html = demo.page(demo.id).read_text(encoding="utf-8")
    assert re.search(
        r"<td>Decisions</td><td>Reprioritized</td><td class=\"muted\">[^<]*by head-of-data"
        r" · customer escalation</td>",
        html,
    )
    assert "<code>task.reprioritized</code>" in html


def test_a_resolved_alert_shows_its_time_to_resolve(demo: Investigated) -> None:
    """The resolved notice gives the time to resolve and the resolution on the timeline."""
    payload = json.loads((demo.root / "examples/alerts/consumer-lag.json").read_text())
    for alert in payload["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-22T09:31:00Z"  # two days: longer than the window kept
    payload["status"] = "resolved"
    (demo.root / "resolved.json").write_text(json.dumps(payload))
    demo.rca("alert", "ingest", "resolved.json")
    html = demo.page(demo.id).read_text(encoding="utf-8")
    assert fact(html, "Time to resolve") == "2.0 d"
    assert "<td>Alert</td><td>Resolved (endsAt)</td>" in html
    assert "fired from 2026-11-20 09:31:00 UTC to 2026-11-22 09:31:00 UTC" in html


def test_the_index_lists_every_investigation_and_links_its_review(demo: Investigated) -> None:
    """`rca report --index` links each rendered review, with status and leading hypothesis."""
    demo.page(demo.id)
    index = demo.page("--index")
    assert index == demo.reports / "index.html"
    html = index.read_text(encoding="utf-8")
    row = re.search(rf'<tr id="i-{demo.id}">(.*?)</tr>', html, re.S)
    assert row
    assert f'<a href="{demo.id}.html">{demo.id}</a>' in row.group(1)
    assert "<code>backpressure</code>" in row.group(1)
    assert "ConsumerLagHigh" in row.group(1)
    [src] = re.findall(r'<script src="([^"]+)"', html)
    assert (index.parent / src).is_file()
    assert Path(index.parent / src) in (demo.reports / "assets").iterdir()
