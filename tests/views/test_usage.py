"""The usage page, its JSON and CSV, the runs behind a chart point, the price table, and home's glance."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_admin.models import AuditEvent, ModelPrice, Run
from agents_admin.services.runs import run_cancel, run_execute
from agents_admin.services.usage import usage_rebuild
from agents_admin.tasks import usage_choices_refresh
from dashboard.celery import app
from tests.factories import make_agent, make_run
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def finished(text: str, **fields) -> Run:
    run = make_run(text=text, **fields)
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


@pytest.fixture
def runs() -> dict[str, list[Run]]:
    agent = make_agent(name="Support bot", model="gpt-4o")
    other = make_agent(name="Billing bot", model="gpt-4o-mini")
    return {
        "completed": [finished("Hello", agent=agent), finished("Hi", agent=agent), finished("Hey", agent=other)],
        "failed": [finished("/fail", agent=agent)],
        "cancelled": [run_cancel(run=make_run(agent=other))],
    }


def test_the_page_shows_totals_charts_and_their_tables(admin_client: Client, runs: dict[str, list[Run]]) -> None:
    response = admin_client.get(reverse("agents_admin:usage"))
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["report"].totals.by_status == {
        "completed": 3, "failed": 1, "cancelled": 1, "expired": 0, "incomplete": 0,
    }  # fmt: skip
    for chart in ("runs", "tokens", "latency", "errors", "breakdown"):
        assert f'data-chart="{chart}"' in body
    assert body.count("<summary>Table</summary>") >= 5
    assert "Support bot" in body and "offline_model_failure" in body
    partial = admin_client.get(reverse("agents_admin:usage"), **HX)
    assert partial.status_code == 200 and "<html" not in partial.content.decode()


def test_the_json_and_csv_carry_the_same_numbers(admin_client: Client, runs: dict[str, list[Run]]) -> None:
    data = admin_client.get(reverse("agents_admin:usage_data") + "?range=7d&by=model").json()
    assert data["period"] == "hour" and len(data["points"]) == 168
    assert data["totals"]["runs"]["completed"] == 3
    assert {b["value"]: b["runs"] for b in data["breakdown"]} == {"gpt-4o": 3, "gpt-4o-mini": 2}
    rows = list(csv.reader(io.StringIO(admin_client.get("/usage/csv/runs/?range=7d").content.decode())))
    assert rows[0] == ["bucket", "completed", "failed", "cancelled", "expired", "incomplete"]
    assert sum(int(r[1]) for r in rows[1:]) == 3 and sum(int(r[2]) for r in rows[1:]) == 1
    assert admin_client.get("/usage/csv/nonsense/").status_code == 404


def test_a_chart_point_opens_exactly_the_runs_it_counted(admin_client: Client, runs: dict[str, list[Run]]) -> None:
    data = admin_client.get(reverse("agents_admin:usage_data")).json()
    point = next(p for p in data["points"] if p["runs"]["failed"])
    page = admin_client.get(point["runs_url"] + "&status=failed")
    assert [r.id for r in page.context["page"].runs] == [runs["failed"][0].id]
    everything = admin_client.get(point["runs_url"])
    assert {r.id for r in everything.context["page"].runs} == {r.id for rs in runs.values() for r in rs}
    by_agent = next(b for b in admin_client.get("/usage/data.json?by=agent").json()["breakdown"]
                    if b["label"] == "Billing bot")  # fmt: skip
    listed = admin_client.get(by_agent["runs_url"]).context["page"].runs
    assert {r.agent.name for r in listed} == {"Billing bot"} and len(listed) == 2
    error = data["errors"][0]
    assert error["code"] == "offline_model_failure"
    assert [r.id for r in admin_client.get(error["runs_url"]).context["page"].runs] == [runs["failed"][0].id]


def test_filters_and_ranges_live_in_the_url_and_bad_ones_are_reported(admin_client: Client, runs) -> None:
    agent = runs["failed"][0].agent_ref
    data = admin_client.get(f"/usage/data.json?range=30d&agent={agent}").json()
    assert data["period"] == "day" and len(data["points"]) == 30
    assert sum(data["totals"]["runs"].values()) == 3
    response = admin_client.get("/usage/?range=custom&start=2026-05-02&end=2026-05-01")
    assert response.status_code == 200
    assert "The last day is before the first." in response.content.decode()
    assert response.context["report"].filters.range_name == "24h"  # the bad range is left out
    today = timezone.now().date()
    custom = admin_client.get(f"/usage/data.json?range=custom&start={today - timedelta(days=1)}&end={today}").json()
    assert custom["range"] == "custom" and len(custom["points"]) == 48


def test_prices_are_effective_dated_so_past_usage_keeps_its_price(admin_client: Client) -> None:
    agent = make_agent(model="gpt-4o")
    old = finished("Hello", agent=agent)
    new = finished("Hello again", agent=agent)
    today = timezone.now().date()
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    usage_rebuild(since=timezone.now() - timedelta(days=5), actor_label="test")
    response = admin_client.post(reverse("agents_admin:price_list"), {
        "model": "gpt-4o", "effective_from": str(today - timedelta(days=30)), "input_per_million": "1000000",
        "output_per_million": "0", "currency": "usd",
    })  # fmt: skip
    assert response.status_code == 302
    admin_client.post(reverse("agents_admin:price_list"), {
        "model": "gpt-4o", "effective_from": str(today), "input_per_million": "2000000",
        "output_per_million": "0", "currency": "USD",
    })  # fmt: skip
    assert AuditEvent.objects.filter(action="price.create").count() == 2
    old.refresh_from_db()
    new.refresh_from_db()
    # 1 per prompt token before today, 2 from today on.
    expected = old.prompt_tokens + 2 * new.prompt_tokens
    data = admin_client.get("/usage/data.json?range=7d").json()
    assert data["totals"]["cost"] == {"USD": pytest.approx(expected)}
    panel = admin_client.get(reverse("agents_admin:run_panel", args=[old.thread_id, old.id]), **HX)
    assert f"{Decimal(old.prompt_tokens):.6f} USD" in panel.content.decode()


def test_a_price_form_refuses_bad_input_and_a_second_price_on_the_same_day(admin_client: Client) -> None:
    fields = {"model": "m", "effective_from": "2026-01-01", "input_per_million": "-1", "output_per_million": "1",
              "currency": "U$D"}  # fmt: skip
    response = admin_client.post(reverse("agents_admin:price_list"), fields)
    assert response.status_code == 200
    body = response.content.decode()
    assert "A price cannot be negative." in body and "three-letter" in body
    assert not ModelPrice.objects.exists()
    fields.update(input_per_million="1", currency="EUR")
    assert admin_client.post(reverse("agents_admin:price_list"), fields).status_code == 302
    again = admin_client.post(reverse("agents_admin:price_list"), fields)
    assert "already exists" in again.content.decode()
    assert ModelPrice.objects.count() == 1


def test_deleting_a_price_needs_confirmation_and_is_audited(admin_client: Client) -> None:
    price = ModelPrice.objects.create(model="m", effective_from=date(2026, 1, 1), input_per_million=1,
                                      output_per_million=1)  # fmt: skip
    admin_client.post(reverse("agents_admin:price_delete", args=[price.pk]), {})
    assert ModelPrice.objects.filter(pk=price.pk).exists()
    admin_client.post(reverse("agents_admin:price_delete", args=[price.pk]), {"confirm": "yes"})
    assert not ModelPrice.objects.filter(pk=price.pk).exists()
    assert AuditEvent.objects.filter(action="price.delete", object_id=str(price.pk)).count() == 1


@pytest.mark.parametrize(("role", "status"), [("Admin", 200), ("Operator", 200), ("Auditor", 200), ("Reviewer", 403)])
def test_who_sees_usage(role: str, status: int) -> None:
    assert client_for(user_with_role(role)).get(reverse("agents_admin:usage")).status_code == status


def test_the_usage_page_costs_a_fixed_number_of_queries(
    admin_client: Client, runs, django_assert_max_num_queries
) -> None:
    # Session, user, the choices (cached afterwards), prices, three rollup reads, errors, breakdown names.
    admin_client.get(reverse("agents_admin:usage"))
    with django_assert_max_num_queries(8):
        admin_client.get(reverse("agents_admin:usage") + "?range=90d")


def test_home_numbers_agree_with_each_other_while_runs_are_live(admin_client: Client, runs) -> None:
    live = make_run(agent=runs["completed"][0].agent)
    response = admin_client.get(reverse("agents_admin:home"))
    by_status = dict(response.context["runs_by_status"])
    assert by_status["queued"] == 1 and by_status["completed"] == 3 and by_status["failed"] == 1
    assert response.context["runs_24h"] == sum(by_status.values()) == 6
    assert 'hx-get="/?part=usage"' in response.content.decode()
    run_execute(run_id=live.id)
    glance = admin_client.get("/?part=usage", **HX)
    assert glance.status_code == 286  # nothing active any more: stop polling
    assert dict(glance.context["runs_by_status"]) == {**by_status, "queued": 0, "completed": 4}
    usage = admin_client.get("/usage/data.json?range=24h").json()
    assert sum(usage["totals"]["runs"].values()) == glance.context["runs_24h"]


def test_daily_views_read_the_summary_rows_and_agree_with_the_full_rows(
    admin_client: Client, runs: dict[str, list[Run]]
) -> None:
    # By agent, project or model the daily summary rows suffice; by principal (or connection) the full rows.
    reads = {by: admin_client.get(f"/usage/?range=30d&by={by}").context["report"].filters.read_period
             for by in ("agent", "principal")}  # fmt: skip
    assert reads == {"agent": "dsum", "principal": "day"}
    summary = admin_client.get("/usage/data.json?range=30d&by=agent")
    full = admin_client.get("/usage/data.json?range=30d&by=principal")
    assert (summary.json()["totals"], summary.json()["points"]) == (full.json()["totals"], full.json()["points"])
    assert summary.json()["totals"]["runs"] == {"completed": 3, "failed": 1, "cancelled": 1, "expired": 0,
                                                "incomplete": 0}  # fmt: skip
    assert [b["runs"] for b in summary.json()["breakdown"]] == [3, 2]
    assert [b["runs"] for b in full.json()["breakdown"]] == [5]


def test_the_filter_choices_are_refreshed_by_the_beat_not_by_a_page(admin_client: Client, runs) -> None:
    entry = next(e for e in app.conf.beat_schedule.values() if e["task"] == "agents_admin.tasks.usage_choices_refresh")
    assert entry["schedule"] <= 60
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "maintenance"

    def models() -> set[str]:
        form = admin_client.get("/usage/?range=30d").context["form"]
        return {value for value, _label in form.fields["model"].choices if value}

    assert models() == {"gpt-4o", "gpt-4o-mini"}
    finished("Hello", agent=make_agent(name="Triage bot", model="o3-mini"))
    # The page reads the choices it was given (a scan of 90 days of rollups is the beat's work) …
    assert models() == {"gpt-4o", "gpt-4o-mini"}
    usage_choices_refresh()
    # … and lists the new model once the beat's task has run.
    assert models() == {"gpt-4o", "gpt-4o-mini", "o3-mini"}
