"""Retention service: selection (scope, age, holds, active runs), trim, preview == purge, batches, stop and
resume, concurrent sweeps, the stricter-than-default rule, and thread deletion through the same code."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models.signals import post_delete
from django.utils import timezone

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import (
    Message,
    PurgeReport,
    Response,
    RetentionPolicy,
    Run,
    RunStep,
    Thread,
    ThreadHold,
    ThreadTombstone,
)
from agents_admin.selectors import retention as sel
from agents_admin.services import retention
from agents_admin.services.threads import message_create, thread_delete
from tests.factories import make_agent, make_project, make_run
from tests.retention_helpers import make_aged_thread, make_policy

pytestmark = pytest.mark.django_db


def run_now(policy: RetentionPolicy, *, dry_run: bool = False, batch_size: int = 200, **kw: object) -> PurgeReport:
    report = retention.purge_start(policy=policy, trigger="manual", dry_run=dry_run, enqueue=False, **kw)
    result = retention.purge_execute(report_id=report.pk, batch_size=batch_size)
    assert result is not None
    return result


def selected(policy: RetentionPolicy, now: datetime | None = None) -> list[str]:
    plan = retention.plan_for(policy, now=now or timezone.now())
    return [c.id for batch in sel.candidate_batches(plan, batch_size=3) for c in batch]


def test_a_thread_exactly_n_days_old_is_selected_and_one_a_second_younger_is_not() -> None:
    policy = make_policy(days=30)
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    on_boundary = make_aged_thread(days=1)
    younger = make_aged_thread(days=1)
    Thread.objects.filter(pk=on_boundary.pk).update(last_activity_at=now - timedelta(days=30))
    Thread.objects.filter(pk=younger.pk).update(last_activity_at=now - timedelta(days=30) + timedelta(seconds=1))
    assert selected(policy, now) == [on_boundary.pk]


def test_age_is_compared_as_an_instant_whatever_the_time_zone(settings) -> None:
    settings.TIME_ZONE = "Pacific/Kiritimati"  # UTC+14: a naive local comparison would be off by 14 hours
    policy = make_policy(days=1)
    now = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
    stale = make_aged_thread(days=0)
    fresh = make_aged_thread(days=0)
    Thread.objects.filter(pk=stale.pk).update(last_activity_at=now - timedelta(days=1, minutes=1))
    Thread.objects.filter(pk=fresh.pk).update(last_activity_at=now - timedelta(hours=23))
    assert selected(policy, now) == [stale.pk]


def test_a_daily_schedule_fires_at_the_utc_time_of_day() -> None:
    policy = make_policy(daily_at=time(15, 0))
    tokyo_evening = datetime(2026, 1, 1, 23, 30, tzinfo=UTC) - timedelta(hours=9)  # 14:30 UTC
    assert retention.policy_next_run(policy=policy, after=tokyo_evening) == datetime(2026, 1, 1, 15, 0, tzinfo=UTC)
    assert retention.policy_next_run(policy=policy, after=datetime(2026, 1, 1, 15, 0, tzinfo=UTC)) == datetime(
        2026, 1, 2, 15, 0, tzinfo=UTC
    )


def test_created_days_measures_from_creation_not_activity() -> None:
    policy = make_policy(days=30, criterion="created_days")
    old_but_active = make_aged_thread(days=1, created_days=40)
    make_aged_thread(days=40, created_days=10)  # impossible in life, but proves which field is read
    assert selected(policy) == [old_but_active.pk]


def test_holds_protect_until_released_or_expired() -> None:
    policy = make_policy(days=30)
    held = make_aged_thread(days=40)
    expired = make_aged_thread(days=40)
    released = make_aged_thread(days=40)
    retention.hold_place(thread=held, reason="litigation", actor=None)
    hold = retention.hold_place(thread=expired, reason="short", actor=None)
    ThreadHold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    retention.hold_release(hold=retention.hold_place(thread=released, reason="x", actor=None), actor=None)
    report = run_now(policy)
    assert set(Thread.objects.values_list("pk", flat=True)) == {held.pk}
    assert report.threads == 2 and report.skipped_held == 1


def test_a_thread_with_an_active_run_is_never_purged() -> None:
    policy = make_policy(days=30)
    busy = make_run().thread
    Thread.objects.filter(pk=busy.pk).update(last_activity_at=timezone.now() - timedelta(days=90))
    idle = make_aged_thread(days=90)
    report = run_now(policy)
    assert list(Thread.objects.values_list("pk", flat=True)) == [busy.pk]
    assert report.threads == 1 and report.skipped_active == 1
    assert not Thread.objects.filter(pk=idle.pk).exists()


def test_agent_and_metadata_scope_narrow_a_project_policy() -> None:
    project = make_project("sales")
    agent, other_agent = make_agent(project=project), make_agent(project=project, name="Other")
    match = make_aged_thread(days=40, project=project, agent=agent, metadata={"tier": "free"})
    make_aged_thread(days=40, project=project, agent=other_agent, metadata={"tier": "free"})
    make_aged_thread(days=40, project=project, agent=agent, metadata={"tier": "paid"})
    make_aged_thread(days=40, agent=agent, metadata={"tier": "free"})  # another project
    policy = make_policy(project=project, agents=[agent], metadata_key="tier", metadata_value="free")
    assert selected(policy) == [match.pk]


def test_a_metadata_key_with_lookup_syntax_is_taken_literally() -> None:
    project = make_project("sales")
    make_aged_thread(days=40, project=project, metadata={"a": "x"})
    policy = make_policy(project=project, metadata_key="a__contains", metadata_value="x")
    assert selected(policy) == []


def test_trim_keeps_the_newest_n_by_seq_and_fixes_the_count() -> None:
    project = make_project("support")
    thread = make_aged_thread(days=40, messages=6, project=project)
    short = make_aged_thread(days=40, messages=2, project=project)
    policy = make_policy(project=project, action="trim", keep_last_messages=3)
    preview = run_now(policy, dry_run=True)
    report = run_now(policy)
    assert (preview.threads, preview.messages) == (report.threads, report.messages) == (1, 3)
    assert list(Message.objects.filter(thread=thread).values_list("seq", "text")) == [(1, "m3"), (2, "m4"), (3, "m5")]
    thread.refresh_from_db()
    assert thread.message_count == 3
    assert message_create(thread=thread, role="user", content="next").seq == 4
    assert Message.objects.filter(thread=short).count() == 2


def test_a_dry_run_and_the_real_run_after_it_pick_the_same_threads() -> None:
    agent = make_agent()
    stale = [make_aged_thread(days=40 + i, messages=3, runs=i % 3, agent=agent) for i in range(7)]
    make_aged_thread(days=5)
    retention.hold_place(thread=stale[0], reason="keep", actor=None)
    policy = make_policy(days=30)
    preview = run_now(policy, dry_run=True, batch_size=2)
    before = {"messages": Message.objects.count(), "runs": Run.objects.count(), "steps": RunStep.objects.count()}
    report = run_now(policy, batch_size=2, cutoff=preview.cutoff)
    assert report.sample == preview.sample and len(report.sample) == 6
    assert set(report.sample) == {t.pk for t in stale[1:]} and Thread.objects.count() == 2
    for kind in ("threads", "messages", "runs", "steps", "files", "skipped_held", "skipped_active"):
        assert getattr(report, kind) == getattr(preview, kind), kind
    assert (report.oldest_at, report.newest_at) == (preview.oldest_at, preview.newest_at)
    # The report's counts are the rows that really left the database.
    assert report.messages == before["messages"] - Message.objects.count() == 18
    assert report.runs == before["runs"] - Run.objects.count() > 0
    assert report.steps == before["steps"] - RunStep.objects.count() == report.runs
    assert preview.dry_run and preview.status == report.status == "completed" and report.progress_percent == 100


def test_stopping_between_batches_leaves_whole_threads_and_resume_finishes() -> None:
    threads = [make_aged_thread(days=40 + i, messages=2, runs=1) for i in range(6)]
    policy = make_policy(days=30)
    report = retention.purge_start(policy=policy, trigger="manual", enqueue=False)

    def press_stop(sender: object, **kwargs: object) -> None:
        PurgeReport.objects.filter(pk=report.pk).update(stop_requested=True)

    post_delete.connect(press_stop, sender=Thread)
    try:
        stopped = retention.purge_execute(report_id=report.pk, batch_size=2)
    finally:
        post_delete.disconnect(press_stop, sender=Thread)
    assert stopped is not None and stopped.status == "stopped" and stopped.threads == 2
    remaining = Thread.objects.order_by("last_activity_at")
    assert [t.pk for t in remaining] == [t.pk for t in reversed(threads[:4])]
    for thread in remaining:  # none half-deleted
        assert Message.objects.filter(thread=thread).count() == thread.message_count == 2
        assert Run.objects.filter(thread=thread).count() == 1 == RunStep.objects.filter(thread=thread).count()
    retention.purge_resume(report=stopped, enqueue=False)
    done = retention.purge_execute(report_id=report.pk, batch_size=2)
    assert done is not None and done.status == "completed"
    assert done.threads == 6 and done.messages == 12 and done.runs == 6 and Thread.objects.count() == 0
    assert done.processed == done.total_candidates == 6


def test_a_report_is_executed_once_even_if_the_task_is_delivered_twice() -> None:
    make_aged_thread(days=40)
    report = retention.purge_start(policy=make_policy(), trigger="manual", enqueue=False)
    assert retention.purge_execute(report_id=report.pk) is not None
    assert retention.purge_execute(report_id=report.pk) is None
    report.refresh_from_db()
    assert report.threads == 1


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_delete_each_thread_exactly_once() -> None:
    for i in range(40):
        make_aged_thread(days=40 + i, messages=2, runs=1)
    policy = make_policy(days=30)
    reports = [retention.purge_start(policy=policy, trigger="manual", enqueue=False) for _ in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def sweep(report_id: int) -> None:
        try:
            barrier.wait(10)
            retention.purge_execute(report_id=report_id, batch_size=3)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=sweep, args=(r.pk,)) for r in reports]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert errors == []
    finished = [PurgeReport.objects.get(pk=r.pk) for r in reports]
    assert [r.status for r in finished] == ["completed", "completed"]
    assert [r.errors for r in finished] == [[], []]
    assert sum(r.threads for r in finished) == 40 and sum(r.messages for r in finished) == 80
    assert sum(r.runs for r in finished) == 40 and sum(r.steps for r in finished) == 40
    assert Thread.objects.count() == Message.objects.count() == Run.objects.count() == 0


def test_the_beat_sweep_starts_a_due_policy_once_and_schedules_the_next_run() -> None:
    policy = make_policy(schedule="interval", every_hours=6, daily_at=None)
    RetentionPolicy.objects.filter(pk=policy.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    now = timezone.now()
    first = retention.retention_sweep(now=now)
    second = retention.retention_sweep(now=now)
    assert len(first) == 1 and second == []
    report = PurgeReport.objects.get(pk=first[0])
    assert report.trigger == "schedule" and report.status == "queued" and report.policy_id == policy.pk
    policy.refresh_from_db()
    assert policy.next_run_at == now + timedelta(hours=6)


def test_a_project_policy_may_only_be_stricter_than_the_default(admin_user: User) -> None:
    make_policy(name="Default", days=90)
    project = make_project("sales")
    with pytest.raises(InvalidInput) as refused:
        make_policy(name="Sales", project=project, days=120)
    assert refused.value.param == "days" and "stricter" in refused.value.message
    assert not RetentionPolicy.objects.filter(name="Sales").exists()
    staff = User.objects.create_user("staff", password="x-pass-123", is_staff=True)
    with pytest.raises(InvalidInput) as not_admin:
        make_policy(name="Sales", project=project, days=120, allow_less_strict=True, actor=staff)
    assert not_admin.value.param == "allow_less_strict"
    allowed = make_policy(name="Sales", project=project, days=120, allow_less_strict=True, actor=admin_user)
    assert retention.policy_effective(allowed, default=retention.policy_default()) == (120, None)


def test_a_stricter_default_tightens_an_existing_project_policy_at_run_time() -> None:
    default = make_policy(name="Default", days=90)
    project = make_project("sales")
    sales = make_policy(name="Sales", project=project, days=60)
    retention.policy_save(policy=default, actor=None, name="Default", project=None, days=30, daily_at=time(3, 0))
    assert retention.policy_effective(sales, default=retention.policy_default()) == (30, None)
    thread = make_aged_thread(days=45, project=project)
    assert selected(sales) == [thread.pk]


def test_the_default_leaves_a_project_an_admin_allowed_to_keep_longer(admin_user: User) -> None:
    default = make_policy(name="Default", days=30)
    project = make_project("legal")
    make_policy(name="Legal", project=project, days=365, allow_less_strict=True, actor=admin_user)
    legal = make_aged_thread(days=60, project=project)
    other = make_aged_thread(days=60)
    assert selected(default) == [other.pk]
    assert Thread.objects.filter(pk=legal.pk).exists()


def test_policy_input_errors_name_the_field() -> None:
    cases = [
        ({"name": " "}, "name"),
        ({"action": "trim"}, "keep_last_messages"),
        ({"keep_last_messages": 5}, "keep_last_messages"),
        ({"metadata_key": "tier"}, "metadata_value"),
        ({"daily_at": None}, "daily_at"),
        ({"schedule": "interval", "every_hours": 0}, "every_hours"),
        ({"days": 10**6}, "days"),
    ]
    for fields, param in cases:
        with pytest.raises(InvalidInput) as error:
            make_policy(**fields)
        assert error.value.param == param, fields
    make_policy(name="Default")
    with pytest.raises(InvalidInput) as second_default:
        make_policy(name="Another default")
    assert second_default.value.param == "project"
    assert RetentionPolicy.objects.count() == 1


def test_deleting_a_held_thread_is_refused_and_changes_nothing() -> None:
    thread = make_aged_thread(days=1, messages=2)
    retention.hold_place(thread=thread, reason="audit", actor=None)
    with pytest.raises(Conflict, match="on hold"):
        thread_delete(thread=thread)
    assert Message.objects.filter(thread=thread).count() == 2
    assert not PurgeReport.objects.exists()


def test_deleting_a_thread_records_a_report_with_what_went(admin_user: User) -> None:
    thread = make_aged_thread(days=1, messages=3, runs=2)
    report = thread_delete(thread=thread, trigger="api", actor=admin_user)
    assert not Thread.objects.filter(pk=thread.pk).exists()
    assert (report.trigger, report.triggered_by, report.status) == ("api", admin_user, "completed")
    assert (report.threads, report.messages, report.runs, report.steps) == (1, 3, 2, 2)
    assert report.sample == [thread.pk]
    other = make_aged_thread(days=1)
    assert thread_delete(thread=other).trigger == "console-delete"


def test_deleting_a_thread_with_an_active_run_is_refused() -> None:
    run = make_run()
    with pytest.raises(Conflict, match="active run"):
        thread_delete(thread=run.thread)
    assert Thread.objects.filter(pk=run.thread_id).exists()


def test_a_hold_needs_a_reason_and_a_future_expiry() -> None:
    thread = make_aged_thread(days=1)
    with pytest.raises(InvalidInput) as no_reason:
        retention.hold_place(thread=thread, reason="  ", actor=None)
    assert no_reason.value.param == "reason"
    with pytest.raises(InvalidInput) as past:
        retention.hold_place(thread=thread, reason="x", actor=None, expires_at=timezone.now() - timedelta(hours=1))
    assert past.value.param == "expires_at"
    hold = retention.hold_place(thread=thread, reason="x", actor=None)
    retention.hold_release(hold=hold, actor=None)
    with pytest.raises(Conflict):
        retention.hold_release(hold=hold, actor=None)
    assert ThreadHold.objects.count() == 1


def test_a_purge_whose_worker_died_is_taken_over_but_a_live_one_is_not() -> None:
    make_aged_thread(days=40)
    policy = make_policy()
    live = retention.purge_start(policy=policy, trigger="manual", enqueue=False)
    dead = retention.purge_start(policy=policy, trigger="manual", enqueue=False)
    PurgeReport.objects.filter(pk=live.pk).update(status="running", heartbeat_at=timezone.now())
    PurgeReport.objects.filter(pk=dead.pk).update(
        status="running", heartbeat_at=timezone.now() - retention.STALE_AFTER - timedelta(seconds=1)
    )
    assert retention.purge_execute(report_id=live.pk) is None
    with pytest.raises(Conflict):
        retention.purge_resume(report=live, enqueue=False)
    taken_over = retention.purge_execute(report_id=dead.pk)
    assert taken_over is not None and taken_over.status == "completed" and taken_over.threads == 1


def test_batches_walk_threads_with_identical_timestamps_exactly_once() -> None:
    threads = [make_aged_thread(days=40) for _ in range(7)]
    Thread.objects.update(last_activity_at=timezone.now() - timedelta(days=40))
    policy = make_policy(days=30)
    plan = retention.plan_for(policy, now=timezone.now())
    walked = [c.id for batch in sel.candidate_batches(plan, batch_size=2) for c in batch]
    assert walked == sorted(t.pk for t in threads)
    assert run_now(policy, batch_size=2).threads == 7


def test_every_delete_path_leaves_a_tombstone_naming_when_how_and_by_what(admin_user: User) -> None:
    policy = make_policy(days=30, name="Ninety-day sweep")
    swept = [make_aged_thread(days=40 + i, messages=2) for i in range(5)]
    kept = make_aged_thread(days=5)
    trimmed_policy_report = run_now(policy, batch_size=2)
    by_console = make_aged_thread(days=1)
    console_report = thread_delete(thread=by_console, actor=admin_user)
    by_api = make_aged_thread(days=1)
    api_report = thread_delete(thread=by_api, trigger="api", actor_label="api-key:ak_12345678")

    stones = {t.thread_id: t for t in ThreadTombstone.objects.all()}
    assert set(stones) == {t.pk for t in swept} | {by_console.pk, by_api.pk}
    assert {(stones[t.pk].how, stones[t.pk].by, stones[t.pk].report_id) for t in swept} == {
        ("policy", "Ninety-day sweep", trimmed_policy_report.pk)
    }
    assert (stones[by_console.pk].how, stones[by_console.pk].by, stones[by_console.pk].report_id) == (
        "console", admin_user.username, console_report.pk,
    )  # fmt: skip
    assert (stones[by_api.pk].how, stones[by_api.pk].by, stones[by_api.pk].report_id) == (
        "api", "api-key:ak_12345678", api_report.pk,
    )  # fmt: skip
    assert kept.pk not in stones and console_report.threads == 1 and console_report.sample == [by_console.pk]


def test_a_dry_run_a_trim_and_a_refused_delete_leave_no_tombstone() -> None:
    make_aged_thread(days=40, messages=2)
    assert run_now(make_policy(days=30), dry_run=True).threads == 1
    make_aged_thread(days=40, messages=3)
    trim = run_now(make_policy(days=30, action="trim", keep_last_messages=1, project=make_project()))
    assert (trim.threads, trim.messages, Thread.objects.count()) == (2, 3, 2)
    held = make_aged_thread(days=1)
    retention.hold_place(thread=held, reason="audit", actor=None)
    with pytest.raises(Conflict):
        thread_delete(thread=held)
    assert not ThreadTombstone.objects.exists()


def test_a_rolled_back_batch_leaves_no_tombstone_of_its_threads() -> None:
    threads = [make_aged_thread(days=40 + i, messages=2) for i in range(4)]
    policy = make_policy(days=30)

    def fail_on_second_batch(sender: object, **kwargs: object) -> None:
        if Thread.objects.count() <= 2:
            raise RuntimeError("disk full")

    post_delete.connect(fail_on_second_batch, sender=Message)
    try:
        report = run_now(policy, batch_size=2)
    finally:
        post_delete.disconnect(fail_on_second_batch, sender=Message)
    assert report.status == "failed"
    gone = {t.pk for t in threads if not Thread.objects.filter(pk=t.pk).exists()}
    assert len(gone) == 2 and set(ThreadTombstone.objects.values_list("thread_id", flat=True)) == gone


def test_tombstones_are_kept_for_the_setting_then_pruned(settings) -> None:
    settings.THREAD_TOMBSTONE_DAYS = 30
    thread_delete(thread=make_aged_thread(days=1))
    old = make_aged_thread(days=1)
    thread_delete(thread=old)
    ThreadTombstone.objects.filter(thread_id=old.pk).update(deleted_at=timezone.now() - timedelta(days=31))
    assert retention.tombstones_prune() == 1
    assert not ThreadTombstone.objects.filter(thread_id=old.pk).exists() and ThreadTombstone.objects.count() == 1


def _pointing_at(model: type) -> set[tuple[type, str]]:
    return {
        (r.related_model, r.field.name)
        for r in model._meta.get_fields(include_hidden=True)
        if r.auto_created and not r.concrete and (r.one_to_many or r.one_to_one)
    }


def test_the_purge_empties_every_table_that_points_at_its_threads_or_their_runs() -> None:
    # The purge deletes children by thread id, then runs and threads with one plain DELETE each: a table added
    # later that points at a thread or a run must be named in THREAD_CHILDREN, or its rows would refuse the purge.
    by_thread = {(model, "thread") for model in retention.THREAD_CHILDREN} | {(ThreadHold, "thread"), (Run, "thread")}
    assert _pointing_at(Thread) == by_thread
    assert {model for model, _ in _pointing_at(Run)} <= {model for model, _ in by_thread}
    # A response elsewhere that answers or follows one of them forgets it (SET_NULL), handled by name.
    assert _pointing_at(Response) == {(Response, "previous_response")}
