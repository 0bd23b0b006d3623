"""Django's SQLite backend, with two changes: the database file is private to the service's user (0600), and a
flush lifts the audit table's append-only triggers for itself.

SQLite creates a new database file with the process's umask (usually 0644: readable by every local user), and its
``-wal`` and ``-shm`` files with the database file's own mode. The file holds every conversation, so it is created
0600 before SQLite opens it, and an existing one readable by others is narrowed to 0600.

``manage.py flush`` (and the test suite between transactional tests) empties every table. On PostgreSQL it does
so with TRUNCATE, which fires no row triggers; SQLite has no TRUNCATE, so Django issues ``DELETE FROM`` and the
triggers that keep ``agents_admin_auditevent`` append-only (the migration audit_append_only) would refuse it.
Here that table's triggers are dropped, the tables emptied and the triggers created again, in the flush's one
transaction. Nothing else deletes audit rows.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import Any

from django.db import transaction
from django.db.backends.sqlite3 import base, operations

PRIVATE = 0o600


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


def _make_private(name: str) -> None:
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    # Never open (and close) an existing database file here: closing any descriptor of a file drops every POSIX
    # lock this process holds on it, SQLite's locks included, and another thread's connection may hold them (a
    # database written under a lost lock is corrupted). Only a file that does not exist yet is created.
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        # No directory yet (SQLite's own error says so), or another thread created the file meanwhile.
        with contextlib.suppress(FileNotFoundError, FileExistsError):
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
        return
    if stat.S_IMODE(mode) & 0o077:
        os.chmod(name, PRIVATE)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        _make_private(str(conn_params.get("database", "")))
        return super().get_new_connection(conn_params)
