# Production image: web (uvicorn, the ASGI server) by default; the same image runs the worker and beat with another command:
#   docker run IMAGE celery -A dashboard worker -Q runs,maintenance -l info
#   docker run IMAGE celery -A dashboard beat -l info
# Set REDIS_URL for any deployment of more than one container. Without it the broker is the embedded one, which
# only processes in the same container reach: `python manage.py embedded_broker` runs it.
FROM python:3.13-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN python -m venv /venv
COPY pyproject.toml requirements.lock README.md ./
COPY agents_admin ./agents_admin
COPY dashboard ./dashboard
RUN /venv/bin/pip install -c requirements.lock .

FROM python:3.13-slim
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    DEBUG=false VAR_DIR=/var/lib/agents-admin PORT=8000
RUN useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /var/lib/agents-admin && chown app /var/lib/agents-admin
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=app . .
# collectstatic needs a SECRET_KEY to import settings; this throwaway one never reaches a running container.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --no-input -v0
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=4)"
# Each web process serves hundreds of streams beside ordinary requests (docs/benchmarks.md); sync views run in a
# thread per request, so database connections are not kept between requests (DB_CONN_MAX_AGE=0) in the web process.
# --no-proxy-headers: the application decides which proxies to trust (TRUSTED_PROXIES).
CMD ["sh", "-c", "python manage.py migrate --no-input && DB_CONN_MAX_AGE=${DB_CONN_MAX_AGE:-0} exec uvicorn dashboard.asgi:application --host 0.0.0.0 --port ${PORT} --workers ${WEB_CONCURRENCY:-2} --no-proxy-headers --timeout-graceful-shutdown 20"]
