"""Vector stores and the file_search tool, in-process: indexing (text, Markdown, PDF, HTML), chunking, ranking on
the configured database, expiry, and a run that searches and cites."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from agents_admin.errors import InvalidInput
from agents_admin.lib.vectors import rank_fusion
from agents_admin.models import AuditEvent, File, Message, Run, RunStep, VectorStore, VectorStoreChunk, VectorStoreFile
from agents_admin.selectors.vector_stores import chunks_search
from agents_admin.services.connections import connection_create
from agents_admin.services.files import file_create
from agents_admin.services.runs import run_execute
from agents_admin.services.threads import message_create, thread_update
from agents_admin.services.vector_stores import (
    EXPIRY_ACTOR,
    chunk_stats_refresh,
    chunks_retrieve,
    file_batch_create,
    vector_store_create,
    vector_store_file_add,
    vector_store_file_index,
    vector_store_file_remove,
    vector_store_touch,
    vector_stores_expire,
)
from tests.documents import HANDBOOK_PDF_LINES, NOTES_MARKDOWN, pdf_bytes
from tests.factories import make_agent, make_project, make_run, make_thread
from tests.model_server import FakeModelServer, error

pytestmark = pytest.mark.django_db


def upload(name: str, data: bytes) -> File:
    return file_create(project=make_project(), upload=SimpleUploadedFile(name, data), purpose="assistants")


def index_all() -> None:
    for entry_id in VectorStoreFile.objects.filter(status="in_progress").values_list("id", flat=True):
        vector_store_file_index(entry_id=entry_id)


def handbook_store(**fields: Any) -> tuple[VectorStore, File, File]:
    pdf = upload("handbook.pdf", pdf_bytes(HANDBOOK_PDF_LINES))
    notes = upload("notes.md", NOTES_MARKDOWN.encode())
    store = vector_store_create(project=make_project(), name="Handbook", file_ids=[pdf.id, notes.id], **fields)
    index_all()
    return store, pdf, notes


def test_files_are_indexed_and_ranked_by_relevance() -> None:
    store, pdf, notes = handbook_store()
    assert set(VectorStoreFile.objects.values_list("status", flat=True)) == {"completed"}
    hits = chunks_search(store_ids=[store.id], query="What is the hotel limit in Lisbon?", limit=5)
    assert hits[0].file_id == pdf.id and "185 euros" in hits[0].text and hits[0].score == 1.0
    hits = chunks_search(store_ids=[store.id], query="When is the coffee machine descaled?", limit=5)
    assert hits[0].file_id == notes.id and hits[0].file_name == "notes.md"
    assert chunks_search(store_ids=["vs_other"], query="coffee", limit=5) == []


def test_chunking_follows_the_strategy_and_html_loses_its_markup() -> None:
    long_text = " ".join(f"sentence{i} about nothing." for i in range(2000))
    page = b"<html><head><style>p{}</style><script>var secret=1</script></head><body><p>Visible words</p></body></html>"
    text_file, html_file = upload("long.txt", long_text.encode()), upload("page.html", page)
    static = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    store = vector_store_create(project=make_project(), file_ids=[text_file.id, html_file.id], chunking_strategy=static)
    index_all()
    pieces = list(VectorStoreChunk.objects.filter(file_id=text_file.id).values_list("text", flat=True))
    assert len(pieces) > 50 and all(len(p) <= 400 for p in pieces)
    assert "".join(pieces).replace(" ", "") == long_text.replace(" ", "")  # no overlap, nothing lost
    [html_chunk] = VectorStoreChunk.objects.filter(file_id=html_file.id).values_list("text", flat=True)
    assert html_chunk == "Visible words"
    assert chunks_search(store_ids=[store.id], query="secret", limit=5) == []


@pytest.mark.parametrize(
    ("strategy", "param"),
    [
        ({"type": "other"}, "chunking_strategy.type"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}},
         "chunking_strategy.static.max_chunk_size_tokens"),
        ({"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 500}},
         "chunking_strategy.static.chunk_overlap_tokens"),
    ],
)  # fmt: skip
def test_bad_chunking_is_refused_naming_the_field(strategy: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidInput) as error:
        vector_store_create(project=make_project(), chunking_strategy=strategy)
    assert error.value.param == param and not VectorStore.objects.exists()


def test_unreadable_and_unsupported_files_fail_with_a_reason() -> None:
    image = upload("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    broken = upload("broken.pdf", b"%PDF-1.4 nothing else")
    store = vector_store_create(project=make_project(), file_ids=[image.id, broken.id])
    batch = file_batch_create(store=store, file_ids=[image.id])
    index_all()
    errors = dict(VectorStoreFile.objects.values_list("file_id", "last_error"))
    assert errors[image.id]["code"] == "unsupported_file" and "'.png'" in errors[image.id]["message"]
    assert errors[broken.id]["code"] == "invalid_file"
    batch.refresh_from_db()
    assert batch.status == "completed"


def test_a_store_expires_after_its_idle_days_and_is_deleted_later_audited(settings: Any) -> None:
    settings.VECTOR_STORE_EXPIRED_KEEP_DAYS = 30
    store, _, _ = handbook_store(expires_after={"anchor": "last_active_at", "days": 2})
    chunks = VectorStoreChunk.objects.filter(vector_store=store).count()
    assert vector_stores_expire(now=timezone.now() + timedelta(days=1)) == 0
    assert vector_stores_expire(now=timezone.now() + timedelta(days=3)) == 1
    store.refresh_from_db()
    assert store.expired and not VectorStoreChunk.objects.filter(vector_store=store).exists()
    [event] = AuditEvent.objects.filter(action="vector_store.expire", object_id=store.id)
    assert event.before["files"] == 2 and event.before["chunks"] == chunks and event.actor_label == EXPIRY_ACTOR
    vector_store_touch([store.id])  # a search naming it does not bring it back
    store.refresh_from_db()
    assert store.expired and store.expires_at < timezone.now() + timedelta(days=3)
    assert vector_stores_expire(now=timezone.now() + timedelta(days=20)) == 0
    assert VectorStore.objects.filter(pk=store.pk).exists()  # kept, shown as expired, for 30 days
    vector_stores_expire(now=timezone.now() + timedelta(days=33))
    assert not VectorStore.objects.filter(pk=store.pk).exists() and not VectorStoreFile.objects.exists()
    [deleted] = AuditEvent.objects.filter(action="vector_store.delete", object_id=store.id)
    assert deleted.actor_label == EXPIRY_ACTOR and deleted.before["files"] == 2
    with pytest.raises(InvalidInput) as error:
        make_agent(tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store.id]}})
    assert error.value.param == "tool_resources.file_search.vector_store_ids[0]"


def test_made_up_vector_store_ids_are_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        make_agent(tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": ["vs_x"]}})
    assert error.value.param == "tool_resources.file_search.vector_store_ids[0]"
    with pytest.raises(InvalidInput):
        thread_update(thread=make_thread(), metadata={}, tool_resources={"file_search": {"vector_store_ids": ["x"]}})


def test_a_run_searches_the_files_and_cites_the_pdf() -> None:
    store, pdf, _ = handbook_store()
    agent = make_agent(
        tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    run = make_run(agent=agent, text="What is the reimbursement limit for hotel stays in Lisbon?")
    run_execute(run_id=run.id)
    run.refresh_from_db()
    assert run.status == "completed", run.last_error
    [entry] = RunStep.objects.get(run=run, type="tool_calls").step_details["tool_calls"]
    assert entry["type"] == "file_search" and entry["file_search"]["results"][0]["file_id"] == pdf.id
    answer = Message.objects.get(run=run, role="assistant").content[0]["text"]
    assert "185 euros" in answer["value"]
    [citation] = answer["annotations"]
    assert citation["type"] == "file_citation" and citation["file_citation"]["file_id"] == pdf.id
    assert answer["value"][citation["start_index"] : citation["end_index"]] == citation["text"]
    assert citation["text"] == "【0:0†handbook.pdf】"


@pytest.mark.django_db(transaction=True)
def test_a_client_that_reads_the_run_completed_reads_its_citations_with_it() -> None:
    """At the commit that makes the run completed (what any client polling the run sees first), the answer
    already carries its file_citation annotations: never the bare markers followed by a later write."""
    store, pdf, _ = handbook_store()
    agent = make_agent(
        tools=[{"type": "file_search"}], tool_resources={"file_search": {"vector_store_ids": [store.id]}}
    )
    run = make_run(agent=agent, text="What is the reimbursement limit for hotel stays in Lisbon?")
    seen: list[tuple[str, list[Any]]] = []

    def read_as_a_client() -> None:
        status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
        answer = Message.objects.filter(run=run, role="assistant").values_list("content", flat=True).first()
        seen.append((status, answer[0]["text"]["annotations"] if answer else []))

    def at_each_commit(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if sql.lstrip().upper().startswith("UPDATE") and "completed" in (params or ()):
            transaction.on_commit(read_as_a_client)  # runs once the statement's transaction commits
        return result

    with connection.execute_wrapper(at_each_commit):
        run_execute(run_id=run.id)
    completed = [annotations for status, annotations in seen if status == "completed"]
    assert completed, seen
    first = completed[0]
    assert [a["file_citation"]["file_id"] for a in first] == [pdf.id]


def test_attachments_for_file_search_go_through_the_threads_own_store() -> None:
    pdf = upload("handbook.pdf", pdf_bytes(HANDBOOK_PDF_LINES))
    thread = make_thread()
    attached = [{"file_id": pdf.id, "tools": [{"type": "file_search"}]}]
    question = "What is the reimbursement limit for hotel stays in Lisbon?"
    message_create(thread=thread, role="user", content=question, attachments=attached)
    thread.refresh_from_db()
    [store_id] = thread.tool_resources["file_search"]["vector_store_ids"]
    store = VectorStore.objects.get(pk=store_id)
    assert store.metadata == {"thread_id": thread.id} and store.expires_after == {"anchor": "last_active_at", "days": 7}
    notes = upload("notes.md", NOTES_MARKDOWN.encode())
    message_create(thread=thread, role="user", content="and notes", attachments=[{"file_id": notes.id, "tools": []}])
    message_create(thread=thread, role="user", content=question, attachments=attached)
    assert VectorStore.objects.count() == 1 and store.files.count() == 1  # the same store, notes not searched
    index_all()
    run = make_run(agent=make_agent(tools=[{"type": "file_search"}]), thread=thread)
    run_execute(run_id=run.id)
    answer = Message.objects.get(run=run, role="assistant").content[0]["text"]
    assert "185 euros" in answer["value"] and answer["annotations"][0]["file_citation"]["file_id"] == pdf.id


# --- embeddings and hybrid ranking (a real embeddings server on 127.0.0.1) ---------------------------------

PARKING = "Company car parking is behind building B, with chargers on level two."
DISTRACTORS = [f"The {topic} policy is reviewed every spring by the {topic} committee." for topic in
               ("travel", "security", "training", "privacy", "holiday")]  # fmt: skip


def embeddings_connection(server: FakeModelServer) -> None:
    connection_create(
        fields={"name": "embed", "kind": "openai_compatible", "endpoint": f"{server.url}/v1", "auth": "none",
                "embeddings_deployment": "embed-small"}
    )  # fmt: skip


def parking_store() -> tuple[VectorStore, File]:
    parking = upload("parking.txt", PARKING.encode())
    others = [upload(f"policy{i}.txt", text.encode()) for i, text in enumerate(DISTRACTORS)]
    store = vector_store_create(project=make_project(), file_ids=[parking.id, *(f.id for f in others)])
    index_all()
    return store, parking


def test_without_an_embeddings_connection_a_store_ranks_by_full_text_alone() -> None:
    store, parking = parking_store()
    assert store.embedding_model == "" and not VectorStoreChunk.objects.filter(embedding__isnull=False).exists()
    assert chunks_retrieve(store_ids=[store.id], query="Where is the car parking?", limit=3)[0].file_id == parking.id
    assert chunks_retrieve(store_ids=[store.id], query="Where do I leave my automobile?", limit=3) == []


def test_with_an_embeddings_connection_chunks_are_embedded_and_found_by_meaning(
    model_server: FakeModelServer,
) -> None:
    embeddings_connection(model_server)
    store, parking = parking_store()
    assert store.embedding_model == "embed-small"
    assert VectorStoreChunk.objects.filter(vector_store=store, embedding__isnull=True).count() == 0
    request = model_server.requests[0]
    assert request.path == "/v1/embeddings" and request.body["model"] == "embed-small"
    question = "Where do I leave my automobile?"  # no word in common with the parking chunk
    assert chunks_search(store_ids=[store.id], query=question, limit=3) == []
    hits = chunks_retrieve(store_ids=[store.id], query=question, limit=3)
    assert hits[0].file_id == parking.id and hits[0].score == 1.0 and hits[0].file_name == "parking.txt"
    # A file added later is searched at once (the process's vectors of the store are reloaded), and one taken
    # out is no longer found.
    lodging = upload("hotel.txt", b"Hotel stays in Lisbon are paid up to 185 euros a night.")
    entry = vector_store_file_add(store=store, file_id=lodging.id)
    index_all()
    assert chunks_retrieve(store_ids=[store.id], query="lodging allowance", limit=1)[0].file_id == lodging.id
    vector_store_file_remove(entry=entry)
    assert all(h.file_id != lodging.id for h in chunks_retrieve(store_ids=[store.id], query="lodging", limit=5))


def test_a_failed_embeddings_call_fails_that_file_with_the_reason(model_server: FakeModelServer) -> None:
    embeddings_connection(model_server)
    model_server.embeddings_script.append(error(401, "Invalid key for embeddings"))
    store, _ = parking_store()
    [failed] = VectorStoreFile.objects.filter(vector_store=store, status="failed")  # the first file indexed
    assert failed.status == "failed" and failed.last_error["code"] == "embedding_failed"
    assert "Invalid key for embeddings" in failed.last_error["message"]
    assert set(VectorStoreFile.objects.exclude(pk=failed.pk).values_list("status", flat=True)) == {"completed"}
    assert not VectorStoreChunk.objects.filter(store_file=failed).exists()


def test_a_search_falls_back_to_full_text_when_the_query_cannot_be_embedded(model_server: FakeModelServer) -> None:
    embeddings_connection(model_server)
    store, parking = parking_store()
    model_server.embeddings_script.append(error(503, "overloaded"))
    hits = chunks_retrieve(store_ids=[store.id], query="Where is the car parking?", limit=3)
    assert hits[0].file_id == parking.id


def test_rank_fusion_rewards_chunks_both_rankings_place_high() -> None:
    fused = rank_fusion([1, 2, 3], [3, 4, 1])
    assert [chunk_id for chunk_id, _ in fused][:2] == [1, 3] and {i for i, _ in fused} == {1, 2, 3, 4}


def test_the_chunk_holding_the_questions_rarest_words_ranks_first(monkeypatch: Any) -> None:
    """A word most chunks hold only ranks. On PostgreSQL the chunks matched are those holding the question's rarer
    words (by the column's statistics), so a search at 100k chunks no longer ranks every chunk that says "policy";
    SQLite's bm25 ranks every chunk holding any of the words, the rare one first."""
    postgresql = connection.vendor == "postgresql"
    from agents_admin.selectors import vector_stores as selectors

    filler = "The travel policy applies to every employee and every trip booked through the agency portal. " * 4
    text = "".join(f"Section {n}. {filler[:380]}\n\n" for n in range(200))
    text += "Visitors park for free at the Porto office on weekends, under the same policy.\n\n"
    strategy = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0}}
    store = vector_store_create(
        project=make_project(), name="Policies", file_ids=[upload("policy.txt", text.encode()).id],
        chunking_strategy=strategy,
    )  # fmt: skip
    index_all()
    # What the beat does once a tenth of the table changed; SQLite keeps no such statistics.
    assert chunk_stats_refresh(force=True) is postgresql
    selectors.column_stats_forget()
    monkeypatch.setattr(selectors, "MATCH_BUDGET_ROWS", 20)
    try:
        hits = chunks_search(store_ids=[store.id], query="What is the policy on visitors parking?", limit=20)
        assert "Porto" in hits[0].text
        assert len(hits) == (1 if postgresql else 20)  # on PostgreSQL "policy" chunks alone are not ranked
        # A question of common words only still answers, matched on the rarest of them.
        assert len(chunks_search(store_ids=[store.id], query="travel policy", limit=20)) == 20
    finally:
        selectors.column_stats_forget()
