"""Django's SQLite backend, with one change: a flush lifts the audit table's append-only triggers for itself.

``manage.py flush`` (and the test suite between transactional tests) empties every table. On PostgreSQL it does
so with TRUNCATE, which fires no row triggers; SQLite has no TRUNCATE, so Django issues ``DELETE FROM`` and the
triggers that keep ``agents_admin_auditevent`` append-only (the migration audit_append_only) would refuse it.
Here that table's triggers are dropped, the tables emptied and the triggers created again, in the flush's one
transaction. Nothing else deletes audit rows.
"""

from __future__ import annotations

from django.db import transaction
from django.db.backends.sqlite3 import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def execute_sql_flush(self, sql_list: list[str]) -> None:
        guarded = "agents_admin_auditevent"
        if not any(guarded in sql for sql in sql_list):
            super().execute_sql_flush(sql_list)
            return
        atomic = transaction.atomic(using=self.connection.alias, savepoint=self.connection.features.can_rollback_ddl)
        with atomic, self.connection.cursor() as cursor:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [guarded])
            triggers = cursor.fetchall()
            for name, _sql in triggers:
                cursor.execute(f'DROP TRIGGER "{name}"')
            for sql in sql_list:
                cursor.execute(sql)
            for _name, sql in triggers:
                cursor.execute(sql)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
