# The standard review flags as Thread columns with partial indexes in activity order (issue 7): filtering the thread
# list by "escalated" walks an index of only the escalated threads instead of probing the flags of every thread.
#
# The columns are added with ALTER TABLE on SQLite. Django's AddField would rebuild the thread table there (it does
# for any NOT NULL column), and a rebuilt table loses the triggers 0009 put on it for the metadata side table.

from django.db import migrations, models

FIELDS = {
    "needs-follow-up": "flag_needs_follow_up",
    "escalated": "flag_escalated",
    "reviewed": "flag_reviewed",
}


def _field(column):
    field = models.BooleanField(default=False)
    field.set_attributes_from_name(column)
    return field


def columns_add(apps, schema_editor):
    Thread = apps.get_model("agents_admin", "Thread")
    for column in FIELDS.values():
        if schema_editor.connection.vendor == "sqlite":
            schema_editor.execute(f'ALTER TABLE "agents_admin_thread" ADD COLUMN "{column}" bool NOT NULL DEFAULT 0')
        else:
            schema_editor.add_field(Thread, _field(column))


def columns_drop(apps, schema_editor):
    Thread = apps.get_model("agents_admin", "Thread")
    for column in FIELDS.values():
        if schema_editor.connection.vendor == "sqlite":
            schema_editor.execute(f'ALTER TABLE "agents_admin_thread" DROP COLUMN "{column}"')
        else:
            schema_editor.remove_field(Thread, _field(column))


def flags_backfill(apps, schema_editor):
    Thread = apps.get_model("agents_admin", "Thread")
    ThreadFlag = apps.get_model("agents_admin", "ThreadFlag")
    for name, column in FIELDS.items():
        flagged = ThreadFlag.objects.filter(name=name).values("thread_id")
        Thread.objects.filter(pk__in=flagged).update(**{column: True})
    if schema_editor.connection.vendor == "postgresql":
        # The updates queued deferred foreign-key checks, and PostgreSQL will not index a table with pending
        # trigger events in the same transaction: run them now.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ('agents_admin', '0010_export_housekeeping'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name='thread',
                    name='flag_escalated',
                    field=models.BooleanField(default=False),
                ),
                migrations.AddField(
                    model_name='thread',
                    name='flag_needs_follow_up',
                    field=models.BooleanField(default=False),
                ),
                migrations.AddField(
                    model_name='thread',
                    name='flag_reviewed',
                    field=models.BooleanField(default=False),
                ),
            ],
            database_operations=[migrations.RunPython(columns_add, columns_drop)],
        ),
        migrations.RunPython(flags_backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='thread',
            index=models.Index(condition=models.Q(('flag_needs_follow_up', True)), fields=['-last_activity_at', '-id'], name='thread_follow_up_activity'),
        ),
        migrations.AddIndex(
            model_name='thread',
            index=models.Index(condition=models.Q(('flag_escalated', True)), fields=['-last_activity_at', '-id'], name='thread_escalated_activity'),
        ),
        migrations.AddIndex(
            model_name='thread',
            index=models.Index(condition=models.Q(('flag_reviewed', True)), fields=['-last_activity_at', '-id'], name='thread_reviewed_activity'),
        ),
    ]
