"""The reads the busiest console pages make on every request, in SQL: the thread page's messages with their runs'
statuses and steps, a run's messages, the thread's runs, its flags and notes, the agents that may run it; the flags
of a list page's threads; the choices of the filter forms.

Through the ORM a page of 50 messages cost about 3.5 ms on the benchmark's 100,000-message thread, and each small
read (runs, notes with their authors, choices, a page's flags) 0.3-0.7 ms: compiling the query (select_related,
only(), a Prefetch) and building model instances, for SQL that runs in a tenth of that. Here the statements are
written once and each row becomes a tuple or a small frozen record with the fields the page shows
(templatetags/conversation.py, _thread_review.html), as Zulip does for its message fetches. Writes still go
through models and services; these records are read-only.

Values are converted as the model fields would (JSON decoded by the field itself, datetimes made aware), on SQLite
and PostgreSQL alike; tests/test_conversation_markup.py and tests/test_views_threads.py compare them with the ORM.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.dateparse import parse_datetime

from agents_admin.models import Agent, Message, ModelConnection, Project, Run, RunStep, ThreadFlag, ThreadNote

MESSAGES_PER_PAGE = 50
THREAD_RUNS = 10

_MESSAGE = Message._meta.db_table
_RUN = Run._meta.db_table
_STEP = RunStep._meta.db_table
# What the run panel and the runs list show of a run: the run row has some forty columns (instructions, tools,
# options as JSON) that the page never shows.
_RUN_COLUMNS = ", ".join(
    f"r.{name}"
    for name in (
        *("id", "thread_id", "agent_id", "agent_ref", "agent_version", "status", "model", "connection_id"),
        *("required_action", "last_error", "incomplete_details", "prompt_tokens", "completion_tokens", "total_tokens"),
        *("created_at", "started_at", "completed_at", "failed_at", "cancelled_at", "expires_at"),
        *("remote_project_id", "remote_id"),
    )
)
_MESSAGE_COLUMNS = "m.id, m.seq, m.role, m.content, m.text, m.status, m.created_at, m.run_id"
_CONTENT = Message._meta.get_field("content")
_STEP_DETAILS = RunStep._meta.get_field("step_details")
_STEP_ERROR = RunStep._meta.get_field("last_error")


@dataclass(frozen=True, slots=True)
class StepRow:
    """A run step as the conversation shows it."""

    run_id: str
    type: str
    status: str
    step_details: Any
    last_error: Any


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    """A message as the conversation shows it; ``run_status`` and ``run_steps`` are its run's (history pages only)."""

    id: str
    seq: int
    role: str
    content: Any
    text: str
    status: str
    created_at: datetime
    run_id: str | None
    run_status: str | None = None
    run_steps: Sequence[StepRow] = ()


@dataclass(frozen=True, slots=True)
class NoteRow:
    """An internal note as the review panel shows it; ``author_name`` is None once its author is deleted."""

    author_name: str | None
    body: str
    created_at: datetime


@dataclass
class MessagePage:
    messages: list[ConversationMessage]
    earlier_before: int | None  # pass as ``before`` to load the page before this one
    # The steps of every run read with the page, by run id (the run panel's run among them when asked for).
    steps: dict[str, list[StepRow]] = field(default_factory=dict)


def _json(model_field: Any, value: Any) -> Any:
    return model_field.from_db_value(value, None, connection)


def _aware(value: Any) -> datetime:
    """SQLite hands back naive UTC datetimes (or text, through an expression); PostgreSQL aware ones."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def message_page(
    thread_id: str,
    *,
    before: int | None = None,
    exclude_run_id: str | None = None,
    steps_also_for: str | None = None,
    per_page: int = MESSAGES_PER_PAGE,
) -> MessagePage:
    """One page of messages, oldest first, the latest page unless ``before`` a seq; two queries.

    Messages of ``exclude_run_id`` are left out because the run panel shows them live. Each message carries its
    run's status and steps, so tool calls render inline; ``steps_also_for`` (the run panel's run) gets its steps
    in the same query (``page.steps[run_id]``). Walks the (thread, seq) unique index newest first.
    """
    where: list[str] = ["m.thread_id = %s"]
    params: list[Any] = [thread_id]
    if before is not None:
        where.append("m.seq < %s")
        params.append(before)
    if exclude_run_id is not None:
        where.append("(m.run_id IS NULL OR m.run_id <> %s)")
        params.append(exclude_run_id)
    sql = (
        f"SELECT {_MESSAGE_COLUMNS}, r.status FROM {_MESSAGE} m LEFT JOIN {_RUN} r ON r.id = m.run_id "
        f"WHERE {' AND '.join(where)} ORDER BY m.seq DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, per_page + 1])
        rows = cursor.fetchall()
    page_rows = rows[:per_page]
    page_rows.reverse()
    run_ids = {row[7] for row in page_rows if row[7] is not None and row[8] is not None}
    steps = steps_of_runs(run_ids | ({steps_also_for} if steps_also_for else set()))
    messages = [_message(row, run_status=row[8], run_steps=steps.get(row[7], ())) for row in page_rows]
    return MessagePage(
        messages=messages,
        earlier_before=messages[0].seq if len(rows) > per_page else None,
        steps=steps,
    )


def thread_runs(thread_id: str, *, limit: int = THREAD_RUNS) -> list[Run]:
    """The latest runs, newest first, with ``agent_name`` and ``connection_name`` (None when there is none); the
    first is the one the run panel shows. Run instances (ToolOutputsForm and the panel use their properties) with
    only the shown columns loaded; one query on the (thread, created_at) index."""
    sql = (
        f"SELECT {_RUN_COLUMNS}, a.name AS agent_name, c.name AS connection_name FROM {_RUN} r "
        f"LEFT JOIN {Agent._meta.db_table} a ON a.id = r.agent_id "
        f"LEFT JOIN {ModelConnection._meta.db_table} c ON c.id = r.connection_id "
        "WHERE r.thread_id = %s ORDER BY r.created_at DESC, r.id DESC LIMIT %s"
    )
    return list(Run.objects.raw(sql, [thread_id, limit]))


def run_messages(run_id: str, *, limit: int = MESSAGES_PER_PAGE) -> list[ConversationMessage]:
    """The messages a run wrote, in order (what the live run panel shows); one query on the run index."""
    sql = f"SELECT {_MESSAGE_COLUMNS} FROM {_MESSAGE} m WHERE m.run_id = %s ORDER BY m.seq LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, limit])
        return [_message(row) for row in cursor.fetchall()]


def steps_of_runs(run_ids: set[str]) -> dict[str, list[StepRow]]:
    """Each run's steps, oldest first; one query for all of them (none for no runs)."""
    if not run_ids:
        return {}
    placeholders = ", ".join(["%s"] * len(run_ids))
    sql = (
        f"SELECT s.run_id, s.type, s.status, s.step_details, s.last_error FROM {_STEP} s "
        f"WHERE s.run_id IN ({placeholders}) ORDER BY s.created_at, s.id"
    )
    steps: dict[str, list[StepRow]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, sorted(run_ids))
        for run_id, kind, status, details, error in cursor.fetchall():
            step = StepRow(run_id, kind, status, _json(_STEP_DETAILS, details), _json(_STEP_ERROR, error))
            steps[run_id].append(step)
    return dict(steps)


def _message(row: Sequence[Any], **run: Any) -> ConversationMessage:
    id_, seq, role, content, text, status, created_at, run_id = row[:8]
    return ConversationMessage(
        id=id_,
        seq=seq,
        role=role,
        content=_json(_CONTENT, content),
        text=text,
        status=status,
        created_at=_aware(created_at),
        run_id=run_id,
        **run,
    )


def thread_flag_names(thread_id: str) -> list[str]:
    """The thread's flags and tags, by name."""
    return flags_of_threads([thread_id]).get(thread_id, [])


def flags_of_threads(thread_ids: list[str]) -> dict[str, list[str]]:
    """Flag names by thread id, each thread's by name, in one query (none for no threads); the rows of a list page
    read theirs this way too (0.7 ms through the ORM for 25 threads, for 0.1 ms of SQL)."""
    if not thread_ids:
        return {}
    placeholders = ", ".join(["%s"] * len(thread_ids))
    sql = f"SELECT thread_id, name FROM {ThreadFlag._meta.db_table} WHERE thread_id IN ({placeholders}) ORDER BY name"
    flags: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, thread_ids)
        for thread_id, name in cursor.fetchall():
            flags.setdefault(thread_id, []).append(name)
    return flags


def thread_notes(thread_id: str, *, limit: int) -> list[NoteRow]:
    """The thread's latest notes, newest first, with their authors' user names; on the (thread, created_at) index."""
    user_model = get_user_model()
    username: Any = user_model._meta.get_field(user_model.USERNAME_FIELD)
    sql = (
        f"SELECT u.{username.column}, n.body, n.created_at FROM {ThreadNote._meta.db_table} n "
        f"LEFT JOIN {user_model._meta.db_table} u ON u.{user_model._meta.pk.column} = n.author_id "
        "WHERE n.thread_id = %s ORDER BY n.created_at DESC, n.id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [thread_id, limit])
        return [NoteRow(author, body, _aware(created_at)) for author, body, created_at in cursor.fetchall()]


def agent_choices(project_id: int) -> list[tuple[str, str]]:
    """(id, label) of the agents that may run a thread of this project, as the run form lists them (Agent.__str__:
    the name, or the id for an unnamed agent)."""
    sql = f"SELECT id, name FROM {Agent._meta.db_table} WHERE project_id = %s ORDER BY name, id"
    with connection.cursor() as cursor:
        cursor.execute(sql, [project_id])
        return [(agent_id, name or agent_id) for agent_id, name in cursor.fetchall()]


def agents_named() -> list[tuple[str, str]]:
    """(id, name) of every agent, by name then id: the filter forms' agent choices."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name FROM {Agent._meta.db_table} ORDER BY name, id")
        return cursor.fetchall()


def projects_named() -> list[tuple[str, str]]:
    """(name, display name) of every project, by name: the search form's project choices."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, display_name FROM {Project._meta.db_table} ORDER BY name")
        return cursor.fetchall()


def project_id_named(name: str) -> int | None:
    """The id of the project with this name, or None; a search or list filtered by project asks once or twice."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Project._meta.db_table} WHERE name = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None
