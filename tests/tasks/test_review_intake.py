"""Review queue intake through its door: the beat task on a real worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents_admin.models import ReviewItem, ReviewQueue, Thread
from agents_admin.roles import REVIEWER
from agents_admin.services.review_queues import queue_create
from dashboard.celery import app
from tests.conftest import Worker, wait_for
from tests.factories import make_thread
from tests.personas import user_with_role


def test_intake_is_on_the_beat_schedule_and_the_maintenance_queue() -> None:
    entry = next(e for e in app.conf.beat_schedule.values() if e["task"] == "agents_admin.tasks.review_intake")
    assert entry["schedule"] <= 60
    assert app.amqp.router.route({}, "agents_admin.tasks.review_intake")["queue"].name == "maintenance"


@pytest.mark.worker
def test_the_beat_task_fills_a_backfill_queue_on_a_real_worker(celery_worker: Worker) -> None:
    threads = [make_thread(messages=[f"hello {n}"]) for n in range(3)]
    # Settled threads: intake leaves conversations younger than a few minutes alone.
    Thread.objects.update(created_at=timezone.now() - timedelta(hours=1))
    ann = user_with_role(REVIEWER, "ann")
    queue = queue_create(
        data={"name": "All", "scope": "backfill", "reviewers": [ann], "rubric": [{"label": "Ok", "kind": "yes_no"}]}
    )
    app.send_task("agents_admin.tasks.review_intake")
    wait_for(lambda: ReviewItem.objects.filter(queue=queue).count() == 3, timeout=60)
    assert set(ReviewItem.objects.values_list("thread_id", flat=True)) == {t.id for t in threads}
    assert ReviewQueue.objects.get(pk=queue.pk).items_entered == 3
