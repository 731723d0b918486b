"""Every report page as a reader sees it: rendered in Debian's Chromium through Playwright.

Each page (review, standalone review, evidence page, register, library, index) opens offline
with no page or console errors, requests nothing but local files, draws its plots, and every
relative link and script on it resolves to a file that exists. Screenshots are left in the
test artifacts folder (env RCA_TEST_ARTIFACTS, default build/test-artifacts/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from investigated import Investigated, artifacts, failed_investigation, investigated
from playwright.sync_api import Browser

from rca_kit.scaffold import init_workspace

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# what a page references: links, scripts, stylesheets, images and frames, plus the ids anchors
# point at, and whether JupyterLab's theme (an evidence page's stylesheet) applies
REFERENCES = """() => ({
  links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  sources: [...document.querySelectorAll('[src], link[href]')].map(
    e => e.getAttribute(e.tagName === 'LINK' ? 'href' : 'src')),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  missing: document.querySelectorAll('.figure.missing').length,
  themed: getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim(),
})"""


@dataclass
class Seen:
    """What one page did in the browser."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    plots: int = 0
    references: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Investigated:
    return investigated(tmp_path_factory)


def visit(browser: Browser, page_path: Path, name: str, *, plots: int) -> Seen:
    """Open a page, wait for `plots` plots, screenshot it, and note what it did."""
    seen = Seen()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
    page.on("console", lambda msg: seen.errors.append(msg.text) if msg.type == "error" else None)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.goto(page_path.as_uri())
    if plots:
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {plots}",
            timeout=30_000,
        )
    page.wait_for_load_state("load")
    seen.plots = page.locator(".js-plotly-plot").count()
    seen.references = page.evaluate(REFERENCES)
    page.screenshot(path=str(artifacts() / f"{name}.png"), full_page=True)
    page.close()
    return seen


def assert_sound(seen: Seen, page_path: Path) -> None:
    """No errors, only local requests, and every relative reference and in-page link
    resolves."""
    assert seen.errors == []
    assert all(url.startswith("file://") for url in seen.requests), seen.requests
    assert seen.references["missing"] == 0  # every plot found plotly.js
    ids = set(seen.references["ids"])
    for ref in seen.references["links"] + seen.references["sources"]:
        if ref.startswith("#"):
            assert ref[1:] in ids, ref
            continue
        if re.match(r"https?://", ref):  # an alert's own link: opened only when clicked
            continue
        parsed = urlparse(ref)
        assert not parsed.scheme, ref
        assert not parsed.netloc, ref
        target = (page_path.parent / unquote(parsed.path)).resolve()
        assert target.is_file(), f"{ref} on {page_path.name} does not resolve"


def test_the_review_draws_every_plot(demo: Investigated, browser: Browser) -> None:
    """The review draws the timeline and one plot per test that judged, with none missing."""
    review = demo.page(demo.id)
    html = review.read_text(encoding="utf-8")
    expected = html.count('data-target="')
    seen = visit(browser, review, "review", plots=expected)
    assert_sound(seen, review)
    assert seen.plots == expected
    assert 'data-target="timeline"' in html
    assert expected >= 1 + sum(h["verdict"] == "supported" for h in demo.result["hypotheses"])
    links = [h for h in seen.references["links"] if h.startswith(f"{demo.id}/")]
    assert len(links) == len(demo.result["hypotheses"])  # one evidence page each


def test_the_standalone_review_needs_nothing_beside_it(
    demo: Investigated, browser: Browser
) -> None:
    """Moved alone to another folder, the standalone review still draws every plot."""
    alone = demo.page(demo.id, "--standalone")
    moved = demo.root / "elsewhere" / alone.name
    moved.parent.mkdir(exist_ok=True)
    moved.write_bytes(alone.read_bytes())
    expected = moved.read_text(encoding="utf-8").count('data-target="')
    seen = visit(browser, moved, "review-standalone", plots=expected)
    assert_sound(seen, moved)
    assert seen.plots == expected
    assert seen.references["sources"] == []


def test_an_evidence_page_draws_its_figure(demo: Investigated, browser: Browser) -> None:
    """The exported notebook of the supported hypothesis opens with its plot."""
    demo.page(demo.id)
    page = demo.reports / demo.id / "backpressure.html"
    seen = visit(browser, page, "evidence-backpressure", plots=1)
    assert_sound(seen, page)
    assert seen.plots >= 1
    # styled by the reports' one stylesheet, which the Content-Security-Policy let in
    assert [s for s in seen.references["sources"] if s.endswith(".css")] == [
        f"../assets/{p.name}" for p in (demo.reports / "assets").glob("*.css")
    ]
    assert seen.references["themed"]


def test_the_register_draws_its_backlog(demo: Investigated, browser: Browser) -> None:
    """The register shares the reports folder's plotly.js and draws open work per service."""
    page = demo.page("--register")
    seen = visit(browser, page, "register", plots=1)
    assert_sound(seen, page)
    assert seen.plots == 1


def test_the_library_page_opens_clean(demo: Investigated, browser: Browser) -> None:
    """The library page has no plots and no errors."""
    page = demo.page("--library")
    seen = visit(browser, page, "library", plots=0)
    assert_sound(seen, page)
    assert seen.plots == 0


def test_the_index_links_every_page_it_lists(demo: Investigated, browser: Browser) -> None:
    """The index draws incidents per cause and every link on it opens an existing page."""
    demo.page(demo.id)
    demo.page("--register")
    demo.page("--library")
    page = demo.page("--index")
    seen = visit(browser, page, "index", plots=1)
    assert_sound(seen, page)
    assert seen.plots == 1
    assert f"{demo.id}.html" in seen.references["links"]
    assert {"register.html", "library.html"} <= set(seen.references["links"])


def test_an_index_of_no_investigations_opens_clean(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A new workspace's index has no plot, says how to start, and every link resolves."""
    empty = Investigated(init_workspace(tmp_path_factory.mktemp("empty") / "ws"), {})
    page = empty.page("--index")
    seen = visit(browser, page, "index-empty", plots=0)
    assert_sound(seen, page)
    assert seen.plots == 0
    assert "No investigations yet" in page.read_text(encoding="utf-8")


def test_a_failed_investigations_review_opens_clean(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The review of an investigation that failed before any test ran draws its timeline,
    says it failed and why, and every link on it resolves; so does the index listing it."""
    failed = failed_investigation(tmp_path_factory)
    review = failed.page(failed.id)
    html = review.read_text(encoding="utf-8")
    expected = html.count('data-target="')
    seen = visit(browser, review, "review-failed", plots=expected)
    assert_sound(seen, review)
    assert seen.plots == expected
    assert "status" in seen.references["ids"]
    index = failed.page("--index")
    seen = visit(browser, index, "index-failed", plots=0)
    assert_sound(seen, index)
    assert f"{failed.id}.html" in seen.references["links"]


def test_markup_that_escaped_escaping_could_not_run(demo: Investigated, browser: Browser) -> None:
    """Each page's Content-Security-Policy stops a script that got into the page: inline or
    from another host, it neither runs nor fetches."""
    blocked: list[str] = []
    for page_path in (demo.page(demo.id), demo.page("--library")):
        blocked.clear()
        page = browser.new_page()
        page.on("console", lambda msg: blocked.append(msg.text) if msg.type == "error" else None)
        page.goto(page_path.as_uri())
        ran = page.evaluate(
            """() => new Promise(done => {
              const inline = document.createElement('script');
              inline.textContent = 'window.injected = true';
              document.body.appendChild(inline);
              const remote = document.createElement('script');
              remote.src = 'https://evil.example/x.js';
              remote.onerror = () => done(window.injected === true);
              document.body.appendChild(remote);
            })"""
        )
        page.close()
        assert ran is False, page_path.name
        assert any("Content Security Policy" in text for text in blocked), blocked
