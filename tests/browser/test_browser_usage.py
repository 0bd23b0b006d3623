"""The usage page in a real browser: its charts draw, a click on a bar opens the runs it counted, each chart has
its table of numbers; the home page's glance draws too."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from agents_admin.models import Run
from agents_admin.services.runs import run_execute
from tests.browser.conftest import axe_violations, screenshot
from tests.factories import make_agent, make_run

pytestmark = pytest.mark.browser


def finished(text: str, **fields: Any) -> Run:
    run = make_run(text=text, **fields)
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def test_charts_draw_and_a_bar_opens_its_runs(signed_in: Any) -> None:
    agent = make_agent(name="Support bot")
    completed = [finished(f"Question {i}", agent=agent) for i in range(3)]
    failed = finished("/fail now", agent=agent)
    assert failed.status == "failed" and all(r.status == "completed" for r in completed)
    page = signed_in
    page.goto("/usage/?range=24h")
    for chart in ("runs", "tokens", "latency", "errors", "breakdown"):
        expect(page.locator(f'canvas[data-chart="{chart}"]')).to_have_attribute("data-drawn", "true")
    # Something was painted: the runs chart's canvas is not blank.
    painted = page.evaluate(
        """() => { const c = document.querySelector('canvas[data-chart="runs"]');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert painted > 1000
    # The fallback: a table of the same numbers under every chart.
    tables = page.locator("figure.chart details table")
    assert tables.count() >= 5
    page.locator("#chart-runs summary").click()
    expect(page.locator("#chart-runs details table")).to_contain_text("1")
    screenshot(page, "usage")
    assert axe_violations(page) == []

    # Click the failed segment of the hour that holds the runs.
    point = page.evaluate(
        """() => { const chart = document.querySelector('canvas[data-chart="runs"]').chart;
                   const failed = chart.data.datasets.findIndex((d) => d.label === 'failed');
                   const index = chart.data.datasets[failed].data.findIndex((n) => n > 0);
                   const bar = chart.getDatasetMeta(failed).data[index];
                   const box = chart.canvas.getBoundingClientRect();
                   return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2}; }"""
    )
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url("**/usage/runs/**status=failed**")
    rows = page.locator("#usage-runs tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(failed.id)
    expect(rows.first).to_contain_text("offline_model_failure")
    screenshot(page, "usage-runs")


def test_home_shows_the_glance_with_its_chart(signed_in: Any) -> None:
    agent = make_agent()
    finished("Hello", agent=agent)
    page = signed_in
    page.goto("/")
    expect(page.locator('#usage-glance canvas[data-chart="runs"]')).to_have_attribute("data-drawn", "true")
    expect(page.locator("#usage-glance")).to_contain_text("1 runs")
    page.get_by_role("link", name="Usage in detail").click()
    page.wait_for_url("**/usage/")
    expect(page.get_by_role("heading", name="Usage", exact=True)).to_be_visible()
