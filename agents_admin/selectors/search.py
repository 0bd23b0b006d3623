"""Reads for support review: full-text search over messages within the filtered threads, and its keyset pages.

One interface over two backends. PostgreSQL: ``search_vector @@ websearch_to_tsquery('english', …)``, where
search_vector is a stored ``to_tsvector('english', text)`` with a GIN index (stemming, "phrases", -exclusions,
OR). SQLite: an FTS5 table with the porter tokenizer
(stemming, "phrases", -exclusions, OR, prefix*), queried with MATCH and snippet().

Search results are ordered newest first (SQLite: by the message's rowid, i.e. insertion order; PostgreSQL: by
created_at then id), not by relevance: that order lets both engines stop after one page instead of ranking every
match of a common word, and a cursor on it is stable while new messages arrive (they sort before the first page,
so later pages never show a duplicate or skip one). Nothing here counts matches.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db import connection
from django.db.models import BooleanField, F, QuerySet, prefetch_related_objects
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from agents_admin import ids
from agents_admin.lib import keyset
from agents_admin.models import Agent, Message, Response, Run, Thread
from agents_admin.selectors.threads import ThreadFilters, metadata_is_common, threads_matching

RESULTS_PER_PAGE = 20
# Grouped by thread: threads a page shows; matches its walk reads first, and at most, to find them (on 1M messages
# the newest 60 matches of 'refund' fall in 13 threads, the newest 200 in 31: the 100,000-message threads are the
# busiest); hits counted per thread ("100+" past it) and shown per thread (its newest).
THREADS_PER_PAGE = 20
FIRST_WALK = 150
WALK_MATCHES = 300
HITS_COUNTED = 100
HITS_SHOWN = 3
# What an opened hit marks: at most this many words, none longer than this.
MARKED_WORDS = 12
MARKED_WORD_LENGTH = 40
HIT_FIELDS = ("id", "thread", "seq", "role", "created_at", "thread__last_agent", "thread__last_agent__name")
# Private-use characters mark the match inside a snippet: the snippet is escaped first, then they become <mark>.
MARK_START = "\ue000"
MARK_END = "\ue001"


@dataclass
class SearchHit:
    # The shown columns only (id, thread_id, seq, role, created_at), with its thread's last agent and flags.
    message: Message
    snippet: SafeString
    url: str


@dataclass
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str = ""


@dataclass
class ThreadHits:
    """One thread of a grouped search: its newest hits and how many it has (at most HITS_COUNTED, ``more`` past)."""

    thread: Thread
    hits: list[SearchHit] = field(default_factory=list)
    count: int = 0
    more: bool = False


@dataclass
class ThreadSearchPage:
    threads: list[ThreadHits]
    next_cursor: str = ""


# --- links -------------------------------------------------------------------------------------------------


def thread_url(thread_id: str, *, around: int | None = None, anchor: str = "", words: list[str] | None = None) -> str:
    """The thread page; ``around`` asks it to open at that message sequence number (and highlight that message),
    ``words`` to mark those words in it, ``anchor`` scrolls to an element (the console's message elements have the
    message id as their id)."""
    url = reverse("agents_admin:thread_detail", args=[thread_id])
    query: dict[str, object] = {"around": around} if around is not None else {}
    if words:
        query["hl"] = " ".join(words)
    if query:
        url += "?" + urlencode(query)
    return url + (f"#{anchor}" if anchor else "")


def marked_words(snippet: str | None, q: str = "") -> list[str]:
    """The words to mark in an opened hit: those its snippet marked (the forms the message really holds, stems
    included), then the query's own words; lower-case, distinct, at most ``MARKED_WORDS``."""
    found = re.findall(f"{MARK_START}(.*?){MARK_END}", snippet or "")
    words = [w.lower() for text in found for w in re.findall(r"\w+", text)]
    words += [w.lower() for w in query_words(q)]
    return list(dict.fromkeys(w for w in words if len(w) <= MARKED_WORD_LENGTH))[:MARKED_WORDS]


def query_words(q: str) -> list[str]:
    """The words a query asks for (phrases split into words; excluded words, ``or`` and ``*`` left out)."""
    words: list[str] = []
    for match in _TOKEN.finditer(q):
        negated, phrase, word = match.group(1), match.group(2), match.group(3)
        if negated or (word is not None and (word.startswith("-") or word.lower() == "or")):
            continue
        words += re.findall(r"\w+", phrase if phrase is not None else word)
    return words


# --- full-text search ----------------------------------------------------------------------------------------

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


def fts5_query(text: str) -> str:
    """A web-search style query ("a phrase", -not, or, prefix*) as safe FTS5 syntax; '' when nothing to find.

    Every term is quoted, so FTS5 operators and column filters typed by a user are plain words.
    """
    positive: list[str] = []
    negative: list[str] = []
    pending_or = False
    for match in _TOKEN.finditer(text):
        negated, phrase, word = match.group(1), match.group(2), match.group(3)
        if word is not None and word.lower() == "or" and positive:
            pending_or = True
            continue
        if word is not None and word.startswith("-") and len(word) > 1:
            negated, word = "-", word[1:]
        raw = phrase if phrase is not None else word
        prefix = raw.endswith("*") and phrase is None
        terms = re.findall(r"\w+", raw)
        if not terms:
            continue
        term = '"' + " ".join(terms) + '"' + ("*" if prefix else "")
        if negated:
            negative.append(term)
        elif pending_or:
            positive[-1] = f"({positive[-1]} OR {term})"
            pending_or = False
        else:
            positive.append(term)
    if not positive:
        return ""
    query = " AND ".join(positive)
    for term in negative:
        query = f"({query}) NOT {term}"
    return query


def highlight(snippet: str) -> SafeString:
    """Escape untrusted message text, then turn the match markers into <mark> (the only markup it can hold)."""
    escaped = str(escape(snippet)).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    # A message could contain the marker characters itself; keep the tags balanced.
    if escaped.count("<mark>") != escaped.count("</mark>"):
        escaped = escaped.replace("<mark>", "").replace("</mark>", "")
    return mark_safe(escaped)  # noqa: S308 - escaped above


def _narrowing_threads(filters: ThreadFilters, *, metadata_common: bool | None = None) -> QuerySet[Thread] | None:
    """The threads a search is limited to, unordered; None when no filter is set."""
    if filters.is_empty():
        return None
    return threads_matching(filters, metadata_common=metadata_common).order_by()


# The SQLite search walks the matches of the words newest first (FTS5 serves them in rowid order, which is the page
# order) and keeps those in the filtered threads. A common word has tens of thousands of matches and only a handful
# may fall in a few hundred threads, so the test each match meets must be cheap. Up to this many messages in those
# threads, it is a lookup in the set of their message rowids, read once from the (thread, seq) index; reading the
# match's own row instead costs a page or more, since thread_id is the row's last column, after the text ('refund'
# + project + failed run on 1M messages: 802 threads, 7,000 messages, 3,000 matches walked). Past it, building the
# set costs more than the walk saves (about 0.6 µs a message against 8 µs a probe and 21 / share-of-messages-kept
# probes: even near 17,000 messages of 1M), and each match's thread is probed instead. Starting from the threads'
# messages and looking each up in the full-text index was dearer still at every size measured (30-60 µs a message:
# 105 ms against 8 for 'refund' in 276 threads of 1,608 messages; the same 3 ms for 257 messages).
SQLITE_ROWID_SET_MESSAGES = 20_000
# Up to this many filtered threads, FTS5 itself intersects the word with them through the index's thread column
# (migration 0002): 'refund' in one customer's 17 threads, 1.3 ms against 7.3 ms for walking all 33,554 matches. Each
# thread is one more term ORed in the query, about 0.05 ms (200 threads: 10 ms), so past a few dozen the walk above
# is cheaper, and for a rare word it always is (a few hundred matches to walk).
SQLITE_FTS_THREADS = 32


def _metadata_alone(filters: ThreadFilters) -> bool:
    """Whether the filters are a metadata pair (and dates) and nothing else."""
    alone = ThreadFilters(
        metadata_key=filters.metadata_key,
        metadata_value=filters.metadata_value,
        date_from=filters.date_from,
        date_to=filters.date_to,
    )
    return bool(filters.metadata_key) and alone == filters


def _thread_ids_within(threads: QuerySet[Thread], max_messages: int) -> tuple[list[str], int] | None:
    """The ids of ``threads`` and their number of messages when that is at most ``max_messages`` (and they are at
    most THREAD_FIRST_LIMIT threads); None when they hold more.

    One statement sizes the filter over at most THREAD_FIRST_LIMIT + 1 threads and gives their ids only when they
    pass, so a broad filter hands Python one row instead of 2,001 (3.5 ms of a broad search on SQLite) and a narrow
    one is evaluated once. A bounded read, not an iterator: on PostgreSQL an iterator is a server-side cursor, whose
    plan took 26 ms to give the first of one channel's 33,000 threads, against 2 ms for 2,000 rows read outright.
    """
    bounded, params = threads.values("id", "message_count")[: THREAD_FIRST_LIMIT + 1].query.sql_with_params()
    sql = (
        f"WITH bounded AS MATERIALIZED ({bounded}), "
        "size AS (SELECT COUNT(*) AS n, COALESCE(SUM(message_count), 0) AS total FROM bounded) "
        "SELECT size.n, size.total, bounded.id FROM size "
        "LEFT JOIN bounded ON size.n <= %s AND size.total <= %s"
    )
    with connection.cursor() as db:
        db.execute(sql, [*params, THREAD_FIRST_LIMIT, max_messages])
        rows = db.fetchall()
    count, total = rows[0][0], rows[0][1]
    if count > THREAD_FIRST_LIMIT or total > max_messages:
        return None
    return [thread_id for _count, _total, thread_id in rows if thread_id is not None], total


def _fts5_thread_term(thread_id: str) -> str:
    """A thread as the FTS5 index's thread column holds it: unicode61 splits ``thread_AbC9`` at the underscore
    and lower-cases it, so the query asks for the same pieces as a phrase."""
    return '"' + " ".join(re.findall(r"\w+", thread_id.replace("_", " "))) + '"'


# One match of a search walk: the message id, its snippet (None: made later), its position in the walk's order (a
# cursor that continues after it) and its thread.
Match = tuple[str, str | None, str, str]


def _search_sqlite(
    q: str, filters: ThreadFilters, cursor: str, limit: int, *, snippets: bool = True
) -> tuple[list[Match], str]:
    match = fts5_query(q)
    if not match:
        return [], ""
    # A common metadata pair alone is broad for certain: its matches are probed without sizing the filtered set
    # first (reading 2,000 of one channel's 33,000 threads by probing each thread's pairs: 15 ms).
    common = bool(filters.metadata_key) and metadata_is_common(filters.metadata_key, filters.metadata_value)
    broad = common and _metadata_alone(filters)
    threads = None if broad else _narrowing_threads(filters, metadata_common=common)
    within = _thread_ids_within(threads, SQLITE_ROWID_SET_MESSAGES) if threads is not None else None
    if within is not None and not within[0]:
        return [], ""
    # The text column only: the index also holds each message's thread id (migration 0002).
    match = f"text : ({match})"
    few = within[0] if within is not None and len(within[0]) <= SQLITE_FTS_THREADS else None
    if few is not None:
        match += " AND thread_id : (" + " OR ".join(_fts5_thread_term(t) for t in few) + ")"
    where = ["agents_admin_message_fts MATCH %s"]
    params: list[Any] = [match]
    after = _rowid_cursor(cursor)
    if after is not None:
        where.append("f.rowid < %s")
        params.append(after)
    join = "agents_admin_message_fts f JOIN agents_admin_message m ON m.rowid = f.rowid"
    if few is not None:
        # The index tokenizes ids into lower-case pieces; the thread itself is checked on the few rows it gives.
        where.append(f"+m.thread_id IN ({', '.join(['%s'] * len(few))})")
        params.extend(few)
    elif within is not None:
        # The unary + keeps the set a test on each match: handed to FTS5 as a rowid constraint it would look each
        # of the set's rowids up in the full-text index instead (the 30-60 µs a message above).
        thread_ids = within[0]
        where.append(
            "+f.rowid IN (SELECT rowid FROM agents_admin_message "
            f"WHERE thread_id IN ({', '.join(['%s'] * len(thread_ids))}))"
        )
        params.extend(thread_ids)
    elif broad or threads is not None:
        # A broad filter: test each match's thread as the walk meets it. Matches fall in such a filter often, so a few
        # dozen probes fill a page, where reading the filter's set first would read all of it ('refund' in one
        # channel's 33,000 threads: 75 ms to build the set).
        probe = threads_matching(filters, per_thread=True).filter(pk=RawSQL("m.thread_id", []))
        subquery, subquery_params = probe.values("id").query.get_compiler(connection=connection).as_sql()
        where.append(f"EXISTS ({subquery})")
        params.extend(subquery_params)
    snippet = "snippet(agents_admin_message_fts, 0, %s, %s, '…', 24)" if snippets else "NULL"
    sql = (
        f"SELECT m.id, {snippet}, f.rowid, m.thread_id FROM {join} "
        f"WHERE {' AND '.join(where)} ORDER BY f.rowid DESC LIMIT %s"
    )
    with connection.cursor() as db:
        db.execute(sql, [*([MARK_START, MARK_END] if snippets else []), *params, limit + 1])
        rows = db.fetchall()
    next_cursor = str(rows[limit - 1][2]) if len(rows) > limit else ""
    return [(row[0], row[1], str(row[2]), row[3]) for row in rows[:limit]], next_cursor


# search_vector is a stored generated column, to_tsvector('english', text), made by migration 0002 on PostgreSQL.
_PG_MATCH = "agents_admin_message.search_vector @@ websearch_to_tsquery('english', %s)"
# The same test, which the planner cannot answer from the full-text index (IS TRUE hides the operator from it).
_PG_MATCH_EACH = f"({_PG_MATCH}) IS TRUE"
# At most this many threads are read to size a filter (see _thread_ids_within); more are a broad filter.
THREAD_FIRST_LIMIT = 2_000
# Up to this many messages in all in those threads, read them by thread and test each one's vector (about 1 µs):
# the bitmap of a common word is tens of thousands of entries (on 1M messages, 'refund' + one customer's metadata:
# 7.6 ms with the bitmaps ANDed, 0.2 ms thread first; 'refund' + 802 threads of 7,000 messages: 14.5 and 8.2 ms).
PG_THREAD_FIRST_MESSAGES = 10_000
_PG_HEADLINE = (
    "ts_headline('english', agents_admin_message.text, websearch_to_tsquery('english', %s), "
    "'StartSel=" + MARK_START + ", StopSel=" + MARK_END + ", MaxWords=35, MinWords=15')"
)


def _search_postgres(
    q: str, filters: ThreadFilters, cursor: str, limit: int, *, snippets: bool = True
) -> tuple[list[Match], str]:
    if not q.strip():
        return [], ""
    threads = _narrowing_threads(filters)
    within = _thread_ids_within(threads, PG_THREAD_FIRST_MESSAGES) if threads is not None else None
    match = _PG_MATCH_EACH if within is not None else _PG_MATCH
    qs = Message.objects.filter(RawSQL(match, [q], output_field=BooleanField()))
    if within is not None:
        if not within[0]:
            return [], ""
        # One array parameter: Django would compile and bind a parameter per id (hundreds of them).
        in_threads = RawSQL("agents_admin_message.thread_id = ANY(%s)", [within[0]], output_field=BooleanField())
        qs = qs.filter(in_threads)
    elif threads is not None:
        # A broad filter: the planner picks between probing each match's thread while walking newest first (common
        # words) and joining the word's matches to the threads (rare ones). Reading the threads' ids first cost more
        # than either (5,000 of one channel's 33,000 threads: 10 ms).
        qs = qs.filter(thread__in=threads.values("id"))
    position = keyset.cursor_decode(cursor)
    if position is not None:
        qs = qs.filter(keyset.after("created_at", position))
    # Thread first, the order must not match the created_at index either: the planner would walk it newest first,
    # testing every message of every thread (130 ms instead of 8 for 'refund' in 802 threads). A top-N sort of the
    # few matches is cheap.
    newest = RawSQL("agents_admin_message.created_at + interval '0'", []) if within is not None else F("created_at")
    rows = list(qs.order_by(newest.desc(), "-id").values_list("id", "created_at", "thread_id")[: limit + 1])
    next_cursor = keyset.cursor_encode(rows[limit - 1][1], rows[limit - 1][0]) if len(rows) > limit else ""
    # No snippets yet (``snippets`` is for SQLite): they are made for the page's rows only, in the query that reads
    # those rows (ts_headline re-parses the text, too dear for every match).
    return [(row[0], None, keyset.cursor_encode(row[1], row[0]), row[2]) for row in rows[:limit]], next_cursor


def threads_with_words(q: str, thread_ids: list[str]) -> set[str]:
    """Which of these threads (a bounded set, e.g. a review queue's intake window) have a message matching ``q``.

    Each thread's messages are read by thread and tested one by one, which costs what the threads hold and never
    walks the full-text index of the whole table."""
    if not thread_ids or not q.strip():
        return set()
    if connection.vendor == "postgresql":
        qs = Message.objects.filter(RawSQL(_PG_MATCH_EACH, [q], output_field=BooleanField()))
        qs = qs.filter(RawSQL("agents_admin_message.thread_id = ANY(%s)", [thread_ids], output_field=BooleanField()))
        return set(qs.order_by().values_list("thread_id", flat=True).distinct())
    match = fts5_query(q)
    if not match:
        return set()
    marks = ", ".join(["%s"] * len(thread_ids))
    sql = (
        "SELECT DISTINCT m.thread_id FROM agents_admin_message_fts f JOIN agents_admin_message m ON m.rowid = f.rowid "
        f"WHERE agents_admin_message_fts MATCH %s AND +f.rowid IN (SELECT rowid FROM agents_admin_message "
        f"WHERE thread_id IN ({marks}))"
    )
    with connection.cursor() as db:
        db.execute(sql, [f"text : ({match})", *thread_ids])
        return {row[0] for row in db.fetchall()}


def message_search(
    *, q: str, filters: ThreadFilters | None = None, cursor: str = "", limit: int = RESULTS_PER_PAGE
) -> SearchPage:
    """One page of messages matching ``q`` and the thread filters, newest first, with highlighted snippets.

    Three queries whatever the page size: matches (with their snippets on SQLite), their messages with their threads
    and last agents (with their snippets on PostgreSQL), the threads' flags.
    """
    filters = filters or ThreadFilters()
    search = _search_postgres if connection.vendor == "postgresql" else _search_sqlite
    matches, next_cursor = search(q, filters, cursor, limit)
    if not matches:
        return SearchPage(hits=[])
    # Only what a hit shows (search.html): the thread and message rows are wide, and their JSON columns cost more
    # to decode than the rest of the page.
    shown = Message.objects.filter(id__in=[m[0] for m in matches]).select_related("thread__last_agent")
    shown = shown.only(*HIT_FIELDS)
    if connection.vendor == "postgresql":
        shown = shown.annotate(headline=RawSQL(_PG_HEADLINE, [q]))
    messages = {message.id: message for message in shown}
    prefetch_related_objects([message.thread for message in messages.values()], "flags")
    hits = [
        SearchHit(
            message=messages[message_id],
            snippet=highlight(snippet if snippet is not None else getattr(messages[message_id], "headline", "")),
            url=thread_url(messages[message_id].thread_id, around=messages[message_id].seq, anchor=message_id),
        )
        for message_id, snippet, _position, _thread_id in matches
        if message_id in messages
    ]
    return SearchPage(hits=hits, next_cursor=next_cursor)


# --- grouped by thread ----------------------------------------------------------------------------------------

# The project too: a page mixes threads (and so agents) of several projects.
THREAD_FIELDS = (
    "id", "title", "message_count", "last_activity_at", "last_agent", "last_agent__name", "project", "project__name",
    "project__display_name",
)  # fmt: skip


@dataclass
class _ThreadStats:
    """A thread's newest matches (id, and the walk's order key), newest first, at most HITS_COUNTED + 1."""

    matches: list[tuple[str, Any]]

    @property
    def newest(self) -> Any:
        return max(key for _id, key in self.matches)


def thread_search(
    *, q: str, filters: ThreadFilters | None = None, cursor: str = "", limit: int = THREADS_PER_PAGE
) -> ThreadSearchPage:
    """One page of threads with messages matching ``q`` (and the thread filters), the thread with the newest match
    first: each with its HITS_SHOWN newest hits (highlighted snippets, links that open the thread at the message)
    and its number of hits, counted up to HITS_COUNTED.

    Bounded whatever the table's size: the newest-first walk of ``message_search`` reads FIRST_WALK, at most
    WALK_MATCHES, matches to find the page's threads; one statement reads each of those threads' newest
    HITS_COUNTED + 1 matches; then the shown hits with their snippets, the threads, their flags. A thread
    already shown on an earlier page (its newest match lies before ``cursor``) is left out of later pages.
    """
    filters = filters or ThreadFilters()
    postgres = connection.vendor == "postgresql"
    walk = _search_postgres if postgres else _search_sqlite
    # A short walk finds a page's threads when its matches are spread over threads (the common case); a longer one
    # follows only when a few threads hold most of them (a common word in a 100,000-message thread).
    matches, walk_next = walk(q, filters, cursor, FIRST_WALK, snippets=False)
    if walk_next and len({match[3] for match in matches}) <= (limit * 2 if cursor else limit):
        more, walk_next = walk(q, filters, walk_next, WALK_MATCHES - FIRST_WALK, snippets=False)
        matches += more
    first_at: dict[str, int] = {}
    for index, match in enumerate(matches):
        first_at.setdefault(match[3], index)
    order = list(first_at)
    # Later pages may meet threads an earlier page showed (their older matches): read enough to drop those.
    examined = order[: limit * 2 if cursor else limit + 1]
    stats = (_thread_stats_postgres if postgres else _thread_stats_sqlite)(q, examined)
    start = _walk_key(cursor, postgres=postgres)
    shown: list[str] = []
    pending: str | None = None
    for thread_id in order:
        if thread_id not in examined or len(shown) == limit:
            pending = thread_id
            break
        found = stats.get(thread_id)
        if found is None or (start is not None and found.newest >= start):
            continue  # shown on an earlier page (or gone meanwhile)
        shown.append(thread_id)
    if pending is not None:
        # The next page starts at the first thread not shown: every match before it belongs to shown threads.
        next_cursor = matches[first_at[pending] - 1][2] if first_at[pending] else ""
    else:
        next_cursor = matches[-1][2] if walk_next else ""
    return ThreadSearchPage(threads=_thread_hits(q, shown, stats, postgres=postgres), next_cursor=next_cursor)


def _walk_key(cursor: str, *, postgres: bool) -> Any:
    """A walk cursor as the order key ``_ThreadStats`` holds (rowid, or (created_at, id)); None for none."""
    if postgres:
        position = keyset.cursor_decode(cursor)
        return (position[0], position[1]) if position is not None else None
    return _rowid_cursor(cursor)


def _rowid_cursor(cursor: str) -> int | None:
    """A SQLite walk's cursor (a rowid in ASCII digits: "²" is a digit to ``isdigit`` but not to ``int``)."""
    return int(cursor) if cursor.isascii() and cursor.isdigit() else None


def _thread_stats_sqlite(q: str, thread_ids: list[str]) -> dict[str, _ThreadStats]:
    """Each thread's newest HITS_COUNTED + 1 matches, one statement: per thread, FTS5 intersects the words with the
    thread's id in the index's thread column, so a thread of 100,000 messages costs what its matches cost."""
    match = fts5_query(q)
    if not thread_ids or not match:
        return {}
    part = (
        "SELECT * FROM (SELECT m.thread_id, m.id, f.rowid FROM agents_admin_message_fts f "
        "JOIN agents_admin_message m ON m.rowid = f.rowid WHERE agents_admin_message_fts MATCH %s "
        "AND +m.thread_id = %s ORDER BY f.rowid DESC LIMIT %s)"
    )
    params: list[Any] = []
    for thread_id in thread_ids:
        params += [f"text : ({match}) AND thread_id : ({_fts5_thread_term(thread_id)})", thread_id, HITS_COUNTED + 1]
    with connection.cursor() as db:
        db.execute(" UNION ALL ".join([part] * len(thread_ids)), params)
        rows = db.fetchall()
    found: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for thread_id, message_id, rowid in rows:
        found[thread_id].append((message_id, rowid))
    return {thread_id: _ThreadStats(matches) for thread_id, matches in found.items()}


def _thread_stats_postgres(q: str, thread_ids: list[str]) -> dict[str, _ThreadStats]:
    """Each thread's newest HITS_COUNTED + 1 matches (by seq), one statement: the word's GIN bitmap read once and
    ANDed with the threads' rows. Measured on 1M messages (load 24): 3-48 ms for a page's 21 threads, 32-108 ms
    with a 100,000-message thread among them; a LATERAL per thread instead rebuilt the bitmap for each (244 ms for
    a word with 10,000 matches), and walking each thread's index testing vectors read all of a big thread (350 ms+).
    """
    if not thread_ids or not q.strip():
        return {}
    sql = (
        "SELECT thread_id, id, created_at FROM (SELECT thread_id, id, created_at, "
        "row_number() OVER (PARTITION BY thread_id ORDER BY seq DESC) AS n FROM agents_admin_message "
        f"WHERE thread_id = ANY(%s) AND {_PG_MATCH}) newest WHERE n <= %s ORDER BY thread_id, n"
    )
    with connection.cursor() as db:
        db.execute(sql, [thread_ids, q, HITS_COUNTED + 1])
        rows = db.fetchall()
    found: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for thread_id, message_id, created_at in rows:
        found[thread_id].append((message_id, (created_at, message_id)))
    return {thread_id: _ThreadStats(matches) for thread_id, matches in found.items()}


def _hit_snippets(
    q: str, stats: dict[str, _ThreadStats], shown: list[str], *, postgres: bool
) -> tuple[dict[str, Message], dict[str, str]]:
    """The shown hits (each thread's HITS_SHOWN newest) and their snippets, by message id; one or two queries."""
    wanted = [(message_id, key) for t in shown for message_id, key in stats[t].matches[:HITS_SHOWN]]
    rows = Message.objects.filter(id__in=[message_id for message_id, _key in wanted]).only(
        "id", "thread_id", "seq", "role", "created_at"
    )
    if postgres:
        headlined = list(rows.annotate(snippet=RawSQL(_PG_HEADLINE, [q])))
        return {m.id: m for m in headlined}, {m.id: getattr(m, "snippet", "") for m in headlined}
    messages: dict[str, Message] = {message.id: message for message in rows}
    snippets: dict[str, str] = {}
    rowids = {key: message_id for message_id, key in wanted}
    if rowids:
        # The snippets come from the full-text index, each match looked up by its rowid.
        sql = (
            "SELECT f.rowid, snippet(agents_admin_message_fts, 0, %s, %s, '…', 24) FROM agents_admin_message_fts f "
            f"WHERE agents_admin_message_fts MATCH %s AND f.rowid IN ({', '.join(['%s'] * len(rowids))})"
        )
        with connection.cursor() as db:
            db.execute(sql, [MARK_START, MARK_END, f"text : ({fts5_query(q)})", *rowids])
            for rowid, snippet in db.fetchall():
                snippets[rowids[rowid]] = snippet
    return messages, snippets


def _thread_hits(q: str, shown: list[str], stats: dict[str, _ThreadStats], *, postgres: bool) -> list[ThreadHits]:
    if not shown:
        return []
    messages, snippets = _hit_snippets(q, stats, shown, postgres=postgres)
    threads = Thread.objects.filter(pk__in=shown).select_related("last_agent", "project").only(*THREAD_FIELDS).in_bulk()
    prefetch_related_objects(list(threads.values()), "flags")
    groups = []
    for thread_id in shown:
        if thread_id not in threads:
            continue
        group = ThreadHits(
            thread=threads[thread_id],
            count=min(len(stats[thread_id].matches), HITS_COUNTED),
            more=len(stats[thread_id].matches) > HITS_COUNTED,
        )
        for message_id, _key in stats[thread_id].matches[:HITS_SHOWN]:
            message = messages.get(message_id)
            if message is None:
                continue
            snippet = snippets.get(message_id) or ""
            url = thread_url(thread_id, around=message.seq, anchor=message_id, words=marked_words(snippet, q))
            group.hits.append(SearchHit(message=message, snippet=highlight(snippet), url=url))
        groups.append(group)
    return groups


# --- jump to an object by id -----------------------------------------------------------------------------------


def agent_url(agent_id: str) -> str:
    return reverse("agents_admin:agent_edit", args=[agent_id])


def run_url(thread_id: str, run_id: str) -> str:
    """The thread page showing that run's panel (the console's run_panel URL renders the whole page)."""
    return reverse("agents_admin:run_panel", args=[thread_id, run_id]) + "#run-panel"


def object_url(object_id: str) -> str | None:
    """The console page of the object an id names, or None when there is no such object. One query."""
    kind = ids.kind_of(object_id)
    if kind == "agent" and Agent.objects.filter(pk=object_id).exists():
        return agent_url(object_id)
    if kind in ("thread", "conversation") and Thread.objects.filter(pk=object_id).exists():
        return thread_url(object_id)
    if kind == "message":
        found = Message.objects.filter(pk=object_id).values_list("thread_id", "seq").first()
        if found:
            return thread_url(found[0], around=found[1], anchor=object_id)
    if kind == "run":
        thread_id = Run.objects.filter(pk=object_id).values_list("thread_id", flat=True).first()
        if thread_id:
            return run_url(thread_id, object_id)
    if kind == "response":
        found = Response.objects.filter(pk=object_id).values_list("thread_id", "run_id").first()
        if found:
            return run_url(*found)
    return None
