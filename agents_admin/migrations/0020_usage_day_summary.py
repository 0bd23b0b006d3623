"""Daily summary rows of the usage rollups (per project, agent and model), built once from the daily rows."""

from datetime import timedelta

from django.db import migrations, models
from django.db.models import Sum

PERIOD = models.CharField(choices=[("hour", "Hour"), ("day", "Day"), ("dsum", "Day summary")], max_length=4)


def _summarise(model, counters):
    """Sum the daily rows per day, project, agent and model (and code) as new summary rows, a day at a time."""
    keys = ["project_ref", "agent_ref", "model", *(["code"] if "count" in counters else [])]
    model.objects.filter(period="dsum").delete()
    days = model.objects.filter(period="day").values_list("bucket", flat=True).distinct().order_by("bucket")
    # A day by range, not equality: on SQLite, rows the engine wrote before may keep the bucket's UTC offset.
    for day in sorted(set(days)):
        sums = (
            model.objects.filter(period="day", bucket__gte=day, bucket__lt=day + timedelta(days=1))
            .values(*keys)
            .annotate(**{f"{c}__sum": Sum(c) for c in counters})
        )
        model.objects.bulk_create(
            model(period="dsum", bucket=day, connection_ref="", principal="", **{k: row[k] for k in keys},
                  **{c: row[f"{c}__sum"] or 0 for c in counters})
            for row in sums.order_by()
        )  # fmt: skip


def build(apps, schema_editor):
    rollup = apps.get_model("agents_admin", "UsageRollup")
    errors = apps.get_model("agents_admin", "UsageErrorCount")
    counters = [
        f.name
        for f in rollup._meta.concrete_fields
        if isinstance(f, (models.PositiveIntegerField, models.BigIntegerField)) and not f.primary_key
    ]
    _summarise(rollup, counters)
    _summarise(errors, ["count"])


def drop(apps, schema_editor):
    for name in ("UsageRollup", "UsageErrorCount"):
        apps.get_model("agents_admin", name).objects.filter(period="dsum").delete()


class Migration(migrations.Migration):
    dependencies = [("agents_admin", "0019_thread_failed_messages")]

    operations = [
        migrations.AlterField(model_name="usageerrorcount", name="period", field=PERIOD),
        migrations.AlterField(model_name="usagerollup", name="period", field=PERIOD),
        migrations.RunPython(build, drop),
    ]
