"""Load for `make load`: Locust users against a running stack's REST API on 127.0.0.1.

- ``RunCreator`` creates a thread with a question and runs it in one call (``/threads/runs``), then polls the run
  until it ends, as an SDK's ``create_and_process`` does; each run's time to its end is reported as
  ``run: end to end``.
- ``Poller`` reads what dashboards and SDKs poll: the thread list, one thread's messages and runs.

Environment: ``AGENTS_ADMIN_KEY`` (a project API key, `make load` makes one), ``AGENTS_ADMIN_PROJECT``
(default ``default``). The agent is made once per Locust process (``/assistants``, the offline model).
"""

from __future__ import annotations

import os
import random
import time

from locust import HttpUser, between, events, task

PROJECT = os.environ.get("AGENTS_ADMIN_PROJECT", "default")
BASE = f"/api/projects/{PROJECT}"
PARAMS = {"api-version": "v1"}
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete", "requires_action"}
_agent: dict[str, str] = {}
_threads: list[str] = []


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ['AGENTS_ADMIN_KEY']}", "Content-Type": "application/json"}


class RunCreator(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        if "id" not in _agent:
            answer = self.client.post(
                f"{BASE}/assistants", params=PARAMS, headers=_headers(), name="assistants: create",
                json={"model": "gpt-4o", "name": "Load", "instructions": "Answer briefly."},
            )  # fmt: skip
            _agent["id"] = answer.json()["id"]

    @task
    def create_and_process(self) -> None:
        began = time.monotonic()
        created = self.client.post(
            f"{BASE}/threads/runs", params=PARAMS, headers=_headers(), name="threads/runs: create",
            json={"assistant_id": _agent["id"], "thread": {"messages": [{"role": "user", "content": "How are you?"}]}},
        )  # fmt: skip
        if created.status_code != 200:
            return
        run = created.json()
        _threads.append(run["thread_id"])
        del _threads[:-500]
        while run.get("status") not in TERMINAL and time.monotonic() - began < 60:
            time.sleep(0.25)
            run = self.client.get(
                f"{BASE}/threads/{run['thread_id']}/runs/{run['id']}", params=PARAMS, headers=_headers(),
                name="runs: get (polling)",
            ).json()  # fmt: skip
        events.request.fire(
            request_type="RUN", name="run: end to end", response_time=(time.monotonic() - began) * 1000,
            response_length=0, exception=None if run.get("status") == "completed" else RuntimeError(run.get("status")),
            context={},
        )  # fmt: skip


class Poller(HttpUser):
    weight = 3
    wait_time = between(0.2, 1.0)

    @task(2)
    def thread_list(self) -> None:
        self.client.get(f"{BASE}/threads", params={**PARAMS, "limit": 20}, headers=_headers(), name="threads: list")

    @task(3)
    def thread_messages(self) -> None:
        if _threads:
            thread = random.choice(_threads)  # noqa: S311 - load, not security
            self.client.get(
                f"{BASE}/threads/{thread}/messages", params=PARAMS, headers=_headers(), name="messages: list"
            )

    @task(1)
    def thread_runs(self) -> None:
        if _threads:
            thread = random.choice(_threads)  # noqa: S311 - load, not security
            self.client.get(f"{BASE}/threads/{thread}/runs", params=PARAMS, headers=_headers(), name="runs: list")
