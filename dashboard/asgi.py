from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
# A web process: queries get the short statement timeout (DB_STATEMENT_TIMEOUT), not the workers' longer one.
os.environ.setdefault("AGENTS_ADMIN_WEB_PROCESS", "true")
django.setup(set_prefix=False)

# Imported once Django is set up (it loads the database layer).
from dashboard.asgi_handler import StreamingASGIHandler  # noqa: E402

# Django's handler, except that an open stream holds no thread (dashboard/asgi_handler.py).
application = StreamingASGIHandler()
