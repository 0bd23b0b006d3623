from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
# A web process: queries get the short statement timeout (DB_STATEMENT_TIMEOUT), not the workers' longer one.
os.environ.setdefault("AGENTS_ADMIN_WEB_PROCESS", "true")
application = get_asgi_application()
