"""The real URLconf plus placeholders for console pages other branches build (see tests/model_server.py)."""

from __future__ import annotations

from tests.model_server import console_urlpatterns

urlpatterns = console_urlpatterns()
