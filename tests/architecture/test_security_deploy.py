"""Production mode: `manage.py check --deploy` is clean, and the hardening is really on."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path) -> dict[str, str]:
    # A production process, not this test run: the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for themselves.
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="example.com",
        VAR_DIR=str(tmp_path),
    )
    return env


def test_check_deploy_reports_nothing_under_production_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr


def test_production_settings_harden_cookies_transport_and_sessions(tmp_path: Path) -> None:
    names = [
        "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY", "SESSION_COOKIE_HTTPONLY",
        "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_EXPIRE_AT_BROWSER_CLOSE", "SESSION_COOKIE_AGE", "X_FRAME_OPTIONS", "SECURE_CONTENT_TYPE_NOSNIFF",
    ]  # fmt: skip
    code = f"import json; from django.conf import settings as s; print(json.dumps([getattr(s, n) for n in {names!r}]))"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=production_env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = dict(zip(names, json.loads(result.stdout.strip().splitlines()[-1]), strict=True))
    assert values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"] and values["SECURE_SSL_REDIRECT"]
    assert values["CSRF_COOKIE_HTTPONLY"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["SECURE_HSTS_SECONDS"] >= 31536000 and values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert values["SESSION_EXPIRE_AT_BROWSER_CLOSE"] and values["SESSION_COOKIE_AGE"] <= 24 * 3600
    assert values["X_FRAME_OPTIONS"] == "DENY" and values["SECURE_CONTENT_TYPE_NOSNIFF"]


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def test_web_processes_get_the_short_statement_timeout_and_the_others_the_long_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "AGENTS_ADMIN_WEB_PROCESS")}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="dashboard.settings")
    if env.get("DATABASE_URL", "").startswith("postgres"):  # the server's own database exists whatever ours is
        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    show = (
        "from django.conf import settings; from django.db import connection; c = connection.cursor(); "
        "pg = connection.vendor == 'postgresql'; "
        "print(settings.STATEMENT_TIMEOUT_SECONDS, c.execute('SHOW statement_timeout').fetchone()[0] if pg else '-')"
    )
    outputs = []
    for code in ("import dashboard.wsgi; " + show, "import django; django.setup(); " + show):
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.split())
    web, job = outputs
    assert web[0] == "30" and job[0] == "600"
    if web[1] != "-":  # on PostgreSQL the server really applies them
        assert (web[1], job[1]) == ("30s", "10min")


def _interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's variable syntax (``${X}``, ``${X:-default}``, ``${X:?error}``, ``$$``) in every string of the
    parsed file, as `docker compose` applies it; a missing required variable raises with its message."""

    def value(match: re.Match[str]) -> str:
        name, kind, rest = match.group(1), match.group(2), match.group(3) or ""
        if env.get(name):
            return env[name]
        if kind == "?":
            raise LookupError(rest)
        return rest if kind == "-" else ""

    if isinstance(node, dict):
        return {key: _interpolate(item, env) for key, item in node.items()}
    if isinstance(node, list):
        return [_interpolate(item, env) for item in node]
    if isinstance(node, str):
        return re.sub(r"\$\{(\w+)(?::([-?])([^}]*))?\}", value, node.replace("$$", "\x00")).replace("\x00", "$")
    return node


def test_compose_is_secure_by_default() -> None:
    text = yaml.safe_load((ROOT / "compose.yaml").read_text())
    required = {"SECRET_KEY": "s" * 50, "POSTGRES_PASSWORD": "pg-secret", "REDIS_PASSWORD": "redis-secret",
                "ALLOWED_HOSTS": "agents.example.com"}  # fmt: skip
    for name in required:  # nothing starts with a secret or host list missing: no default that works as shipped
        with pytest.raises(LookupError, match=f"set {name}"):
            _interpolate(text, {k: v for k, v in required.items() if k != name})
    stack = _interpolate(text, required)
    services = stack["services"]
    app = services["web"]["environment"]
    assert app["DEBUG"] == "false" and app["SECURE_SSL_REDIRECT"] == "true" and app["SESSION_COOKIE_SECURE"] == "true"
    assert "pg-secret" in app["DATABASE_URL"] and "redis-secret" in app["REDIS_URL"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"] == "pg-secret"
    assert "--requirepass" in " ".join(services["redis"]["command"])
    # Published ports on loopback only; the database and Redis on an internal network, unpublished.
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published and all(port.startswith("127.0.0.1:") for port in published)
    assert stack["networks"]["backend"]["internal"] is True
    for name in ("db", "redis"):
        assert services[name]["networks"] == ["backend"] and "ports" not in services[name]
