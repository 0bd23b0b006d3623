"""Retention policies that purge vector stores: idle (or old) stores and stores past their own expires_after go,
with their file entries and index, after a dry run has counted them; the uploaded files stay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents_admin.errors import InvalidInput
from agents_admin.models import (
    AuditEvent,
    File,
    PurgeReport,
    RetentionPolicy,
    VectorStore,
    VectorStoreChunk,
    VectorStoreFile,
)
from agents_admin.services import retention
from agents_admin.services.vector_stores import chunks_retrieve
from tests.factories import make_agent, make_project
from tests.retention_helpers import indexed_store, make_aged_thread, make_policy

pytestmark = pytest.mark.django_db


def run_report(policy: RetentionPolicy, **kw: Any) -> PurgeReport:
    report = retention.purge_start(policy=policy, trigger="manual", enqueue=False, **kw)
    result = retention.purge_execute(report_id=report.pk, batch_size=2)
    assert result is not None
    return result


def test_a_dry_run_counts_the_idle_and_expired_stores_then_the_run_deletes_exactly_those() -> None:
    project = make_project()
    idle = [indexed_store(project, idle_days=40 + i, files=2) for i in range(3)]
    fresh = indexed_store(project, idle_days=2)
    # Idle 3 days with expires_after 1 day: past its own expiry, so the policy takes it too.
    expiring = indexed_store(project, idle_days=3, expires_after={"anchor": "last_active_at", "days": 1})
    VectorStore.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(days=2))
    other_project = indexed_store(make_project("other"), idle_days=90)
    thread = make_aged_thread(days=400, project=project)
    policy = make_policy(name="Idle stores", target="vector_stores", project=project, days=30, enabled=False)
    doomed = {s.id for s in idle} | {expiring.id}
    entries = VectorStoreFile.objects.filter(vector_store_id__in=doomed)
    chunks = VectorStoreChunk.objects.filter(vector_store_id__in=doomed).count()
    text = sum(entries.values_list("usage_bytes", flat=True))
    assert chunks > 0 and text > 0

    with pytest.raises(InvalidInput) as refused:
        retention.policy_enable(policy=policy, enabled=True, actor=None)
    assert refused.value.param == "enabled"

    preview = run_report(policy, dry_run=True)
    assert preview.status == "completed" and preview.target == "vector_stores"
    assert (preview.vector_stores, preview.files, preview.chunks, preview.bytes) == (4, 7, chunks, text)
    assert set(preview.sample) == doomed and preview.total_candidates == 4 and preview.progress_percent == 100
    assert VectorStore.objects.count() == 6  # a dry run deletes nothing
    retention.policy_enable(policy=policy, enabled=True, actor=None)  # allowed once a dry run has counted

    with pytest.raises(InvalidInput) as unconfirmed:
        retention.purge_start_confirmed(policy=policy, actor=None, preview_id=None, confirm_name="idle stores")
    assert unconfirmed.value.param == "confirm_name" and PurgeReport.objects.count() == 1

    real = retention.purge_start_confirmed(policy=policy, actor=None, preview_id=preview.pk, confirm_name="")
    real = retention.purge_execute(report_id=real.pk, batch_size=2)
    assert real is not None and real.status == "completed" and real.cutoff == preview.cutoff
    for name in ("vector_stores", "files", "chunks", "bytes", "total_candidates"):
        assert getattr(real, name) == getattr(preview, name), name
    assert set(VectorStore.objects.values_list("id", flat=True)) == {fresh.id, other_project.id}
    assert not VectorStoreChunk.objects.filter(vector_store_id__in=doomed).exists()
    assert not VectorStoreFile.objects.filter(vector_store_id__in=doomed).exists()
    assert File.objects.filter(project=project).count() == 8  # the uploads belong to the project and stay
    assert thread.__class__.objects.filter(pk=thread.pk).exists()  # a store policy never touches threads
    assert chunks_retrieve(store_ids=[fresh.id], query="parking", limit=5) is not None
    [finish] = AuditEvent.objects.filter(action="purge.finish", object_id=str(real.pk))
    assert finish.after["vector_stores"] == 4 and finish.after["chunks"] == chunks and finish.after["bytes"] == text


def test_a_store_searched_after_the_dry_run_is_no_longer_idle_and_stays() -> None:
    project = make_project()
    stores = [indexed_store(project, idle_days=50 + i) for i in range(2)]
    policy = make_policy(target="vector_stores", project=project, days=30)
    preview = run_report(policy, dry_run=True)
    assert preview.vector_stores == 2
    VectorStore.objects.filter(pk=stores[0].pk).update(last_active_at=timezone.now())  # searched since
    real = run_report(policy, cutoff=preview.cutoff)
    assert real.vector_stores == 1 and list(VectorStore.objects.values_list("id", flat=True)) == [stores[0].id]


def test_created_days_measures_a_store_from_its_creation() -> None:
    project = make_project()
    store = indexed_store(project, idle_days=1)
    VectorStore.objects.filter(pk=store.pk).update(created_at=timezone.now() - timedelta(days=100))
    indexed_store(project, idle_days=60)  # idle, but created today
    policy = make_policy(target="vector_stores", project=project, days=30, criterion="created_days")
    assert run_report(policy).vector_stores == 1 and not VectorStore.objects.filter(pk=store.pk).exists()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"agents": "agent"}, "agents"),
        ({"metadata_key": "k", "metadata_value": "v"}, "metadata_key"),
        ({"action": "trim", "keep_last_messages": 3}, "action"),
        ({"target": "files"}, "target"),
    ],
)
def test_a_vector_store_policy_refuses_what_does_not_apply_naming_the_field(fields: dict[str, Any], param: str) -> None:
    project = make_project()
    if fields.get("agents") == "agent":
        fields = {**fields, "agents": [make_agent(project=project)]}
    with pytest.raises(InvalidInput) as error:
        make_policy(**{"target": "vector_stores", "project": project, "enabled": False, **fields})
    assert error.value.param == param and not RetentionPolicy.objects.exists()


def test_an_instance_wide_store_policy_sits_beside_the_thread_default_and_leaves_its_days_alone() -> None:
    default = make_policy(name="Default", days=30)
    stores = make_policy(name="All stores", target="vector_stores", days=90)
    assert retention.policy_default() == default
    assert retention.policy_effective(stores, default=default) == (90, None)
    with pytest.raises(InvalidInput) as error:
        make_policy(name="Second", target="vector_stores", days=10)
    assert error.value.param == "project"
