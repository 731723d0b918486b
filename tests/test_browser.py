"""The HTML review as a reader sees it: rendered in Debian's Chromium through Playwright."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from chromium import ARGS, CHROMIUM
from playwright.sync_api import sync_playwright

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_report_renders_its_plots_without_errors(
    rca: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    """The review opens offline with no page errors and draws one plot per hypothesis."""
    result = json.loads(
        rca("investigate", "examples/alerts/consumer-lag.json", "--json", check=True).stdout
    )
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context()
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("request", lambda req: requests.append(req.url))
        page.goto(Path(result["report"]).as_uri())
        page.wait_for_selector(".plotly .main-svg", timeout=20_000)
        plots = page.locator(".figure .plotly .main-svg").count()
        verdicts = page.locator("section.hypothesis .verdict").all_inner_texts()
        links = page.locator("section.hypothesis a", has_text="evidence notebook").count()
        browser.close()
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests
    assert plots >= len(result["hypotheses"])
    assert [v.lower() for v in verdicts].count("supported") == 1
    assert links == len(result["hypotheses"])
