"""draft.html in a real browser: headless Chromium loads it, the charts render, nothing errors.

Debian's chromium is driven by Playwright (no browser download). `.ci/run` installs chromium;
a developer machine without it skips, saying why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tasks.render import build_charts, render_draft, write_draft
from tests.render.test_charts import findings as charted_findings
from tests.render.test_render import SPEC, T0, manifest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="module")
def draft_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("draft")
    findings = charted_findings()
    charts = build_charts(findings)
    text = render_draft(SPEC, findings, manifest(listed=2, read=1), T0, charts=charts)
    write_draft(text, SPEC, out, charts)
    return out / "draft.html"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.mark.parametrize("width", [1200, 390])  # a laptop and a phone
def test_draft_renders_with_charts_and_no_console_errors(
    browser, draft_html: Path, width: int
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(draft_html.as_uri())

    assert page.title().startswith("INC-7")
    assert page.locator("h2", has_text="Root cause and trigger").count() == 1
    charts = page.locator("figure.chart svg")
    assert charts.count() == 3
    for i in range(3):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 200 and box["height"] > 50  # drawn, not collapsed
        assert box["x"] + box["width"] <= width + 1  # fits the viewport, even on a phone
    # The page itself never grows wider than the screen: wide tables scroll in their box.
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
    assert requests == [draft_html.as_uri()]  # self-contained: nothing else was fetched
    assert problems == []
    page.close()


def test_draft_prints_to_pdf(browser, draft_html: Path) -> None:
    page = browser.new_page()
    page.goto(draft_html.as_uri())
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    page.close()
