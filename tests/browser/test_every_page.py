"""Every console page in a real browser, at a desktop and a phone width (390 px): no horizontal page scroll, no
console errors, no Content Security Policy violations (the app's own policy enforced), and no serious or
critical axe violations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.architecture.test_permissions import console_patterns, sample_objects, url_for
from tests.browser.conftest import axe_violations, sign_in

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
# Records every CSP violation the page meets, before any of its own scripts run.
CSP_LISTENER = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def html_pages(page: Any, objects: dict[str, str]) -> list[str]:
    """The console's pages a person opens: those that answer GET with HTML (not POST-only actions, downloads)."""
    urls = []
    for route, entry in console_patterns():
        url = url_for(route, entry, objects)
        answer = page.request.get(url, max_redirects=0)
        if answer.status == 200 and answer.headers.get("content-type", "").startswith("text/html"):
            urls.append(url)
    return urls


@pytest.fixture
def walker(browser: Any, live_server: Any, admin_user: User) -> Iterator[Any]:
    """A signed-in page whose context enforces the app's CSP (no bypass) and records console errors."""
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    sign_in(page)
    yield page
    context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_fits_has_no_console_or_csp_errors(walker: Any, width: str) -> None:
    page = walker
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    problems: list[str] = []
    current = {"url": ""}
    page.on("console", lambda m: m.type == "error" and problems.append(f"{current['url']}: console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{current['url']}: {e}"))
    pages = 0
    for url in html_pages(page, sample_objects()):
        current["url"] = url
        page.goto(url)
        pages += 1
        page.wait_for_load_state("networkidle")
        problems += [f"{url}: CSP: {v}" for v in page.evaluate("window.__csp || []")]
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{url}: {overflow}px wider than the {width} viewport")
    assert pages > 30
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_has_no_serious_accessibility_violations(signed_in: Any, width: str) -> None:
    page = signed_in
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    found = {}
    for url in html_pages(page, sample_objects()):
        page.goto(url)
        violations = axe_violations(page)
        if violations:
            found[url] = violations
    assert found == {}, "\n".join(f"{url}: {v}" for url, v in found.items())
