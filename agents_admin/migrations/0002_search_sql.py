"""Search structures Django's schema editor can't express, one set per database (see agents_admin/selectors/search.py).

Message full text:
- SQLite: an external-content FTS5 table over the message text (porter stemming), with the message's thread as a
  second column so a search within a few threads intersects inside FTS5. Searches name the text column, so words
  never match thread ids. Triggers keep it in step with every insert, update and delete (bulk ones and retention
  included).
- PostgreSQL: a stored generated tsvector column, outside the Django model so the ORM never reads or writes it, with
  a GIN index. Stored rather than an expression index: a newest-first search walks the created_at index and tests
  each row, and reading a stored vector costs about a microsecond where re-parsing the text costs ten or more.

Thread metadata key=value filters:
- SQLite: a key/value side table kept by triggers on the thread table, so the filter is an index lookup instead of
  a scan of every thread's JSON.
- PostgreSQL: a jsonb_path_ops GIN index serving containment (metadata @> '{"k": "v"}').

The SQLite triggers live on agents_admin_message and agents_admin_thread. Django rebuilds a SQLite table for most
AddField/AlterField operations, and a rebuilt table loses its triggers: a later migration that alters either table
on SQLite must add its columns with ALTER TABLE or create the triggers again.
"""

from __future__ import annotations

from django.db import migrations

MESSAGE_FTS_SQLITE = [
    """CREATE VIRTUAL TABLE agents_admin_message_fts USING fts5(
        text, thread_id, content='agents_admin_message', content_rowid='rowid', tokenize='porter unicode61')""",
    """CREATE TRIGGER agents_admin_message_fts_ai AFTER INSERT ON agents_admin_message BEGIN
        INSERT INTO agents_admin_message_fts(rowid, text, thread_id)
        VALUES (new.rowid, new.text, new.thread_id); END""",
    """CREATE TRIGGER agents_admin_message_fts_ad AFTER DELETE ON agents_admin_message BEGIN
        INSERT INTO agents_admin_message_fts(agents_admin_message_fts, rowid, text, thread_id)
        VALUES ('delete', old.rowid, old.text, old.thread_id); END""",
    """CREATE TRIGGER agents_admin_message_fts_au AFTER UPDATE OF text, thread_id ON agents_admin_message BEGIN
        INSERT INTO agents_admin_message_fts(agents_admin_message_fts, rowid, text, thread_id)
        VALUES ('delete', old.rowid, old.text, old.thread_id);
        INSERT INTO agents_admin_message_fts(rowid, text, thread_id)
        VALUES (new.rowid, new.text, new.thread_id); END""",
]
MESSAGE_FTS_SQLITE_REVERSE = [
    "DROP TRIGGER agents_admin_message_fts_au",
    "DROP TRIGGER agents_admin_message_fts_ad",
    "DROP TRIGGER agents_admin_message_fts_ai",
    "DROP TABLE agents_admin_message_fts",
]

MESSAGE_FTS_POSTGRESQL = [
    "ALTER TABLE agents_admin_message ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "CREATE INDEX message_search_vector ON agents_admin_message USING gin (search_vector)",
]
MESSAGE_FTS_POSTGRESQL_REVERSE = [
    "DROP INDEX message_search_vector",
    "ALTER TABLE agents_admin_message DROP COLUMN search_vector",
]

THREAD_METADATA_SQLITE = [
    """CREATE TABLE agents_admin_thread_meta (
        thread_id varchar(40) NOT NULL, key text NOT NULL, value)""",
    "CREATE INDEX thread_meta_key_value ON agents_admin_thread_meta (key, value)",
    "CREATE INDEX thread_meta_thread ON agents_admin_thread_meta (thread_id)",
    """CREATE TRIGGER agents_admin_thread_meta_ai AFTER INSERT ON agents_admin_thread BEGIN
        INSERT INTO agents_admin_thread_meta (thread_id, key, value)
        SELECT new.id, key, value FROM json_each(new.metadata); END""",
    """CREATE TRIGGER agents_admin_thread_meta_au AFTER UPDATE OF metadata ON agents_admin_thread BEGIN
        DELETE FROM agents_admin_thread_meta WHERE thread_id = old.id;
        INSERT INTO agents_admin_thread_meta (thread_id, key, value)
        SELECT new.id, key, value FROM json_each(new.metadata); END""",
    """CREATE TRIGGER agents_admin_thread_meta_ad AFTER DELETE ON agents_admin_thread BEGIN
        DELETE FROM agents_admin_thread_meta WHERE thread_id = old.id; END""",
]
THREAD_METADATA_SQLITE_REVERSE = [
    "DROP TRIGGER agents_admin_thread_meta_ad",
    "DROP TRIGGER agents_admin_thread_meta_au",
    "DROP TRIGGER agents_admin_thread_meta_ai",
    "DROP TABLE agents_admin_thread_meta",
]

THREAD_METADATA_POSTGRESQL = [
    "CREATE INDEX thread_metadata_gin ON agents_admin_thread USING gin (metadata jsonb_path_ops)",
]
THREAD_METADATA_POSTGRESQL_REVERSE = [
    "DROP INDEX thread_metadata_gin",
]


def by_vendor(**statements):
    """A RunPython function that executes the statements listed for the connection's vendor, if any."""

    def run(apps, schema_editor):
        for sql in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("agents_admin", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            by_vendor(sqlite=MESSAGE_FTS_SQLITE, postgresql=MESSAGE_FTS_POSTGRESQL),
            by_vendor(sqlite=MESSAGE_FTS_SQLITE_REVERSE, postgresql=MESSAGE_FTS_POSTGRESQL_REVERSE),
            elidable=False,
        ),
        migrations.RunPython(
            by_vendor(sqlite=THREAD_METADATA_SQLITE, postgresql=THREAD_METADATA_POSTGRESQL),
            by_vendor(sqlite=THREAD_METADATA_SQLITE_REVERSE, postgresql=THREAD_METADATA_POSTGRESQL_REVERSE),
            elidable=False,
        ),
    ]
