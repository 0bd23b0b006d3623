"""Every list page of the console, on an empty database, says it is empty and what to do next."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client

from tests.architecture.test_permissions import console_patterns

pytestmark = pytest.mark.django_db

EMPTY = re.compile(r'<(p|td)[^>]*class="empty"[^>]*>(.*?)</\1>', re.S)
NEXT_STEP = re.compile(r"<a |<code>|<button ")
TABLE_BODY = re.compile(r"<tbody[^>]*>(.*?)</tbody>", re.S)


def pages_without_objects(client: Client) -> Iterator[tuple[str, str]]:
    """Every console page that needs no object in its URL and answers GET with HTML, with its HTML."""
    for route, entry in console_patterns():
        if entry.pattern.regex.groupindex:
            continue
        response = client.get("/" + route)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            yield "/" + route, response.content.decode()


def main(html: str) -> str:
    return html[html.index('<main id="main">') : html.index("</main>")]


def test_every_empty_list_says_what_to_do_next(admin_client: Client) -> None:
    problems = []
    pages = 0
    for url, html in pages_without_objects(admin_client):
        pages += 1
        body = main(html)
        empties = [text for _, text in EMPTY.findall(body)]
        for text in empties:
            if not NEXT_STEP.search(text):
                problems.append(f"{url}: the empty state gives no next step: {re.sub(r'<[^>]+>', '', text).strip()}")
        for rows in TABLE_BODY.findall(body):
            if "<tr" not in rows and not empties:
                problems.append(f"{url}: an empty table without an empty state")
    assert pages > 15
    assert problems == [], "\n".join(problems)


# The console's lists: with nothing in them, each shows an empty state (a next step is checked above).
LISTS = (
    "/threads/",
    "/agents/",
    "/vector-stores/",
    "/runs/needs-action/",
    "/review/",
    "/review/queues/",
    "/retention/",
    "/retention/reports/",
    "/retention/holds/",
    "/settings/connections/",
    "/settings/remote-projects/",
    "/usage/prices/",
    "/settings/api-keys/",
)


@pytest.mark.parametrize("url", LISTS)
def test_each_list_has_an_empty_state(admin_client: Client, url: str) -> None:
    html = main(admin_client.get(url).content.decode())
    assert EMPTY.search(html), f"{url} shows no empty state"
