"""M8: background exports are capped per person (unfinished, and started per hour) and for everyone; a refused
export queues nothing and records nothing, an accepted one is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.errors import LimitExceeded
from agents_admin.models import AuditEvent, ExportJob
from agents_admin.services import exports
from tests.factories import make_thread

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def caps(settings: Any) -> None:
    settings.EXPORT_MAX_ACTIVE_PER_USER = 2
    settings.EXPORT_MAX_PER_USER_PER_HOUR = 3
    settings.EXPORT_MAX_ACTIVE = 3


def test_a_person_cannot_queue_unlimited_exports(admin_client: Client, admin_user: User) -> None:
    thread = make_thread(messages=["a"])
    start = reverse("agents_admin:export_start")
    for _ in range(2):
        assert admin_client.post(start, {"format": "jsonl", "thread_id": thread.id}).status_code == 302
    refused = admin_client.post(start, {"format": "jsonl", "thread_id": thread.id})
    assert refused.status_code == 429 and "exports being written" in refused.content.decode()
    assert ExportJob.objects.count() == 2 and AuditEvent.objects.filter(action="export.create").count() == 2

    for job in ExportJob.objects.all():  # both finish: unfinished ones no longer count, the hourly cap does
        exports.export_job_run(job_id=job.pk)
    assert admin_client.post(start, {"format": "jsonl", "thread_id": thread.id}).status_code == 302
    refused = admin_client.post(start, {"format": "csv", "thread_id": thread.id})
    assert refused.status_code == 429 and "in the last hour" in refused.content.decode()
    assert ExportJob.objects.count() == 3


def test_everyone_together_is_capped_too() -> None:
    thread = make_thread(messages=["a"])
    people = [User.objects.create_user(f"r{i}", password="pw-1234567890") for i in range(4)]
    for person in people[:3]:
        exports.export_job_create(actor=person, fmt="jsonl", thread=thread)
    with pytest.raises(LimitExceeded, match="being written already"):
        exports.export_job_create(actor=people[3], fmt="jsonl", thread=thread)
    assert ExportJob.objects.count() == 3
