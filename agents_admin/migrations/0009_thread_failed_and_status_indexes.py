# Faster support filters on big tables (issue 7):
# - Thread.has_failed_run, backfilled here, so "has a failed run" is an index range instead of an EXISTS over runs;
# - indexes for the last-run-status and failed-run filters in activity order (keyset pages stay index walks);
# - SQLite only: a key/value side table of thread metadata, kept by triggers like the FTS table, so a
#   metadata key=value filter is an index lookup instead of scanning every thread's JSON. PostgreSQL serves the same
#   filter from the jsonb GIN index made in 0002_search_review.

from django.db import migrations, models
from django.db.models import Exists, OuterRef

SQLITE_FORWARD = [
    """CREATE TABLE IF NOT EXISTS agents_admin_thread_meta (
        thread_id varchar(40) NOT NULL, key text NOT NULL, value)""",
    "CREATE INDEX IF NOT EXISTS thread_meta_key_value ON agents_admin_thread_meta (key, value)",
    "CREATE INDEX IF NOT EXISTS thread_meta_thread ON agents_admin_thread_meta (thread_id)",
    """CREATE TRIGGER IF NOT EXISTS agents_admin_thread_meta_ai AFTER INSERT ON agents_admin_thread BEGIN
        INSERT INTO agents_admin_thread_meta (thread_id, key, value)
        SELECT new.id, key, value FROM json_each(new.metadata); END""",
    """CREATE TRIGGER IF NOT EXISTS agents_admin_thread_meta_au AFTER UPDATE OF metadata ON agents_admin_thread BEGIN
        DELETE FROM agents_admin_thread_meta WHERE thread_id = old.id;
        INSERT INTO agents_admin_thread_meta (thread_id, key, value)
        SELECT new.id, key, value FROM json_each(new.metadata); END""",
    """CREATE TRIGGER IF NOT EXISTS agents_admin_thread_meta_ad AFTER DELETE ON agents_admin_thread BEGIN
        DELETE FROM agents_admin_thread_meta WHERE thread_id = old.id; END""",
    # What is already there (a database migrated with threads in it).
    """INSERT INTO agents_admin_thread_meta (thread_id, key, value)
        SELECT t.id, j.key, j.value FROM agents_admin_thread t, json_each(t.metadata) j""",
    # Statistics for the new indexes: without them SQLite's planner can prefer a join order that sorts every
    # thread (services.maintenance keeps them current afterwards).
    "ANALYZE agents_admin_thread",
    "ANALYZE agents_admin_thread_meta",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS agents_admin_thread_meta_ai",
    "DROP TRIGGER IF EXISTS agents_admin_thread_meta_au",
    "DROP TRIGGER IF EXISTS agents_admin_thread_meta_ad",
    "DROP TABLE IF EXISTS agents_admin_thread_meta",
]


def metadata_table(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_FORWARD:
            schema_editor.execute(sql)


def metadata_table_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql)


def failed_run_backfill(apps, schema_editor):
    Thread = apps.get_model("agents_admin", "Thread")
    Run = apps.get_model("agents_admin", "Run")
    failed = Run.objects.filter(thread=OuterRef("pk"), status="failed")
    Thread.objects.filter(Exists(failed)).update(has_failed_run=True)


class Migration(migrations.Migration):

    dependencies = [
        ('agents_admin', '0008_agent_connection'),
    ]

    operations = [
        migrations.AddField(
            model_name='thread',
            name='has_failed_run',
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(failed_run_backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name='thread',
            index=models.Index(fields=['last_run_status', '-last_activity_at', '-id'], name='thread_status_activity'),
        ),
        migrations.AddIndex(
            model_name='thread',
            index=models.Index(condition=models.Q(('has_failed_run', True)), fields=['-last_activity_at', '-id'], name='thread_failed_activity'),
        ),
        migrations.AddIndex(
            model_name='thread',
            index=models.Index(condition=models.Q(('has_failed_run', True)), fields=['project', '-last_activity_at', '-id'], name='thread_failed_project'),
        ),
        migrations.RunPython(metadata_table, metadata_table_drop),
    ]
