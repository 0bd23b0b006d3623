"""Every console GET route x odd query values answers without a server error (like the API's schemathesis run):
superscript digits, huge numbers, far dates, NUL, lone surrogates, very long strings, on both databases."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.architecture.test_permissions import console_patterns, sample_objects, url_for

# The query parameters the console's pages read (cursors, filters, dates, search, formats, ranges).
PARAMS = (
    "before", "after", "around", "cursor", "q", "date_from", "date_to", "created_from", "created_to", "project",
    "agent", "flag", "run_status", "meta", "has_notes", "page", "format", "range", "id", "status", "action",
    "actor", "object_id", "from", "to", "model", "connection", "principal", "limit", "order",
)  # fmt: skip
ODD_VALUES = (
    "²",
    "9" * 25,
    "-1",
    "9999-12-31",
    "0001-01-01",
    "a\x00b",
    "\ud800",
    "x" * 20_000,
    "%",
    "' OR 1=1 --",
)


@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_no_console_page_fails_on_odd_query_values(value: str, settings: Any, db: None) -> None:
    settings.REMOTE_MAX_ATTEMPTS = 1
    objects = sample_objects()
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("fuzz", password="pw-1234567890"))
    failures = []
    for route, entry in console_patterns():
        url = url_for(route, entry, objects)
        # A real request cannot carry a lone surrogate: it arrives percent-encoded and decodes to U+FFFD.
        query = urlencode(dict.fromkeys(PARAMS, value), encoding="utf-8", errors="surrogatepass")
        response = client.get(f"{url}?{query}")
        if response.status_code >= 500:
            failures.append((url, response.status_code))
    assert failures == [], failures


def test_nul_and_odd_characters_in_console_paths_are_not_found(db: None) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(User.objects.create_superuser("fuzz", password="pw-1234567890"))
    for path in ("/threads/thread_%00/", "/agents/asst_%00/", "/threads/%C2%B2/", "/jump/?id=%00"):
        assert client.get(path).status_code in (400, 404), path
