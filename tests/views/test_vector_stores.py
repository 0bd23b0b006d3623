"""Console pages for vector stores: what is indexed, status, size, which agents search it; roles."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents_admin.models import AuditEvent, VectorStore, VectorStoreChunk
from agents_admin.services.files import file_create
from agents_admin.services.vector_stores import vector_store_create, vector_store_file_index
from tests.confirm_helpers import confirm_post
from tests.documents import HANDBOOK_PDF_LINES, pdf_bytes
from tests.factories import make_agent, make_project
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db


def indexed_store():  # noqa: ANN201 - a VectorStore
    project = make_project()
    pdf = file_create(project=project, upload=SimpleUploadedFile("handbook.pdf", pdf_bytes(HANDBOOK_PDF_LINES)),
                      purpose="assistants")  # fmt: skip
    bad = file_create(project=project, upload=SimpleUploadedFile("photo.png", b"\x89PNG"), purpose="assistants")
    store = vector_store_create(project=project, name="Travel handbook", file_ids=[pdf.id, bad.id])
    for entry in store.files.all():
        vector_store_file_index(entry_id=entry.pk)
    return store


def test_the_list_and_the_store_page_show_what_is_indexed_and_who_uses_it(django_assert_max_num_queries) -> None:
    store = indexed_store()
    agent = make_agent(name="Librarian", tools=[{"type": "file_search"}],
                       tool_resources={"file_search": {"vector_store_ids": [store.id]}})  # fmt: skip
    client = client_for(user_with_role("Operator"))
    with django_assert_max_num_queries(12):
        page = client.get(reverse("agents_admin:vector_store_list")).content.decode()
    assert "Travel handbook" in page and "1 failed" in page and "ready" in page
    page = client.get(reverse("agents_admin:vector_store_detail", args=[store.id])).content.decode()
    assert "handbook.pdf" in page and "photo.png" in page and "Librarian" in page
    assert "not &#x27;.png&#x27; files" in page or "not '.png' files" in page
    assert agent.id in page
    partial = client.get(reverse("agents_admin:vector_store_detail", args=[store.id]), HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="vector-store-files")  # fmt: skip
    body = partial.content.decode()
    assert partial.status_code == 200 and "handbook.pdf" in body and "<html" not in body


def test_an_empty_list_says_how_to_make_a_store_and_reviewers_may_not_see_it() -> None:
    page = client_for(user_with_role("Admin")).get(reverse("agents_admin:vector_store_list")).content.decode()
    assert "No vector stores yet" in page
    response = client_for(user_with_role("Reviewer")).get(reverse("agents_admin:vector_store_list"))
    assert response.status_code == 403


def test_an_operator_creates_a_store_from_the_projects_files() -> None:
    project = make_project()
    notes = file_create(project=project, upload=SimpleUploadedFile("notes.md", b"# Notes\nParking is free."),
                        purpose="assistants")  # fmt: skip
    operator = user_with_role("Operator")
    client = client_for(operator)
    form = client.get(reverse("agents_admin:vector_store_create")).content.decode()
    assert "notes.md" in form
    response = client.post(
        reverse("agents_admin:vector_store_create"),
        {"project": project.pk, "name": "Office notes", "files": [notes.id], "expires_days": "30"},
    )
    store = VectorStore.objects.get(name="Office notes")
    assert response.status_code == 302 and response["Location"] == reverse(
        "agents_admin:vector_store_detail", args=[store.id]
    )
    assert list(store.files.values_list("file_id", flat=True)) == [notes.id]
    assert store.expires_after == {"anchor": "last_active_at", "days": 30}
    event = AuditEvent.objects.get(action="vector_store.create")
    assert event.actor_id == operator.pk and event.object_id == store.id


def test_bad_input_is_shown_beside_the_field_and_nothing_is_made() -> None:
    other = file_create(project=make_project(name="other"), upload=SimpleUploadedFile("x.txt", b"x"),
                        purpose="assistants")  # fmt: skip
    client = client_for(user_with_role("Operator"))
    url = reverse("agents_admin:vector_store_create")
    page = client.post(url, {"project": make_project().pk, "files": [other.id]}).content.decode()
    assert f"No file &#x27;{other.id}&#x27; in this project." in page
    page = client.post(url, {"project": make_project().pk, "expires_days": "0"}).content.decode()
    assert "greater than or equal to 1" in page
    assert not VectorStore.objects.exists()


def test_deleting_a_store_says_what_goes_asks_first_and_is_audited_once() -> None:
    store = indexed_store()
    make_agent(name="Librarian", tools=[{"type": "file_search"}],
               tool_resources={"file_search": {"vector_store_ids": [store.id]}})  # fmt: skip
    client = client_for(user_with_role("Operator"))
    url = reverse("agents_admin:vector_store_delete", args=[store.id])
    first = client.post(url).content.decode()
    chunks = VectorStoreChunk.objects.filter(vector_store=store).count()
    assert f"2 files leave the store and its {chunks} indexed chunk" in first and "Librarian" in first
    assert VectorStore.objects.filter(pk=store.id).exists()  # nothing yet
    response = confirm_post(client, url)
    assert response.status_code == 302 and not VectorStore.objects.filter(pk=store.id).exists()
    assert not VectorStoreChunk.objects.filter(vector_store_id=store.id).exists()
    [event] = AuditEvent.objects.filter(action="vector_store.delete")
    assert event.before["files"] == 2 and event.before["chunks"] == chunks


def test_reviewers_may_neither_create_nor_delete_stores() -> None:
    store = indexed_store()
    client = client_for(user_with_role("Reviewer"))
    assert client.get(reverse("agents_admin:vector_store_create")).status_code == 403
    assert client.post(reverse("agents_admin:vector_store_delete", args=[store.id])).status_code == 403
    assert VectorStore.objects.filter(pk=store.id).exists()
