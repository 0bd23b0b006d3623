"""Query budgets: a page of any list costs the same few queries whatever its size or position."""

from __future__ import annotations

from typing import Any

from django.test import Client

from agents_admin.services.api_keys import api_key_create
from agents_admin.services.threads import message_create
from tests.factories import make_agent, make_project, make_run, make_thread


def test_list_pages_cost_a_fixed_number_of_queries(db: None, django_assert_max_num_queries: Any) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {api_key_create(project=make_project()).secret}")
    thread = make_thread()
    for i in range(120):
        message_create(thread=thread, role="user", content=f"m{i}")
    for _ in range(30):
        make_agent()
    run = make_run()
    base = "/api/projects/default"
    client.get(f"{base}/assistants?api-version=v1")  # the key's last_used_at is written once, here
    cursor = client.get(f"{base}/threads/{thread.id}/messages?api-version=v1&limit=50").json()["last_id"]
    for url in [
        f"/threads/{thread.id}/messages?limit=100",
        f"/threads/{thread.id}/messages?limit=50&after={cursor}",
        f"/threads/{thread.id}/messages?limit=50&before={cursor}&order=asc",
        "/assistants?limit=100",
        "/threads?limit=100",
        f"/threads/{run.thread_id}/runs",
        f"/threads/{run.thread_id}/runs/{run.id}/steps",
    ]:
        # key, object lookups (thread, run), cursor row, the page itself
        with django_assert_max_num_queries(5):
            response = client.get(f"{base}{url}{'&' if '?' in url else '?'}api-version=v1")
        assert response.status_code == 200, url
