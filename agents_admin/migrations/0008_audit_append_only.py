"""The audit table is append-only in the database itself: triggers refuse UPDATE and DELETE of its rows.

The model's save()/delete() guards only stop the ORM's instance methods; a queryset ``update()``/``delete()``, the
Django admin, a cascade or a SQL session would pass them. The triggers refuse all of those, on both databases.

The references to the acting user and the project lose their foreign-key constraint and their ON DELETE SET NULL
(``DO_NOTHING``), because that cascade is an UPDATE the triggers would refuse: deleting a user or a project leaves
their records as they were, and ``actor_label`` keeps the name.

Emptying the whole table is still possible for its owner: PostgreSQL's TRUNCATE fires no row triggers (that is how
``manage.py flush`` and the test suite reset a database), and on SQLite the flush of the project's database backend
lifts the triggers for that one statement (``dashboard/db/sqlite3``). Grant the application's database role no
TRUNCATE on this table in production (see docs/security.md).

On SQLite, Django *rebuilds* a table for most later AlterField operations and a rebuilt table loses its triggers:
a migration that alters ``agents_admin_auditevent`` must create these triggers again
(``tests/security/test_audit_append_only.py`` fails when they are missing).
"""

from __future__ import annotations

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

APPEND_ONLY_SQLITE = [
    """CREATE TRIGGER agents_admin_auditevent_no_update BEFORE UPDATE ON agents_admin_auditevent
        BEGIN SELECT RAISE(ABORT, 'agents_admin_auditevent is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER agents_admin_auditevent_no_delete BEFORE DELETE ON agents_admin_auditevent
        BEGIN SELECT RAISE(ABORT, 'agents_admin_auditevent is append-only: DELETE refused'); END""",
]
APPEND_ONLY_SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS agents_admin_auditevent_no_update",
    "DROP TRIGGER IF EXISTS agents_admin_auditevent_no_delete",
]
APPEND_ONLY_POSTGRESQL = [
    """CREATE FUNCTION agents_admin_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
                MESSAGE = 'agents_admin_auditevent is append-only: ' || TG_OP || ' refused';
        END $$""",
    """CREATE TRIGGER agents_admin_auditevent_append_only BEFORE UPDATE OR DELETE ON agents_admin_auditevent
        FOR EACH ROW EXECUTE FUNCTION agents_admin_auditevent_append_only()""",
]
APPEND_ONLY_POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS agents_admin_auditevent_append_only ON agents_admin_auditevent",
    "DROP FUNCTION IF EXISTS agents_admin_auditevent_append_only()",
]


def by_vendor(**statements):
    """A RunPython function that executes the statements listed for the connection's vendor, if any."""

    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("agents_admin", "0007_review_queues"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="project",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="agents_admin.project",
            ),
        ),
        migrations.RunPython(
            by_vendor(sqlite=APPEND_ONLY_SQLITE, postgresql=APPEND_ONLY_POSTGRESQL),
            by_vendor(sqlite=APPEND_ONLY_SQLITE_REVERSE, postgresql=APPEND_ONLY_POSTGRESQL_REVERSE),
            elidable=False,
        ),
    ]
