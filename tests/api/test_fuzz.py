"""Fuzzing from the served OpenAPI document (schemathesis): whatever the input, no 5xx and no non-JSON error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from agents_admin.services.api_keys import api_key_create
from tests.factories import make_project

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture
def key(db: None) -> Iterator[str]:
    # As Django's test client does: the app must not close the test's connection at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield api_key_create(project=make_project(), label="fuzz").secret
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_fails_with_a_server_error_or_an_html_page(case: Any, key: str) -> None:
    if case.path_parameters and "project" in case.path_parameters:
        case.path_parameters["project"] = "default"  # the key's project, so calls get past auth
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    response = case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    if response.status_code >= 400:
        content_type = {k.lower(): v for k, v in response.headers.items()}["content-type"]
        assert "application/json" in str(content_type), response.text[:300]
        assert set(response.json()["error"]) == {"code", "message", "type", "param", "details"}
