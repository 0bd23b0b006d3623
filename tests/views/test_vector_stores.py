"""Console pages for vector stores: what is indexed, status, size, which agents search it; roles."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from agents_admin.services.files import file_create
from agents_admin.services.vector_stores import vector_store_create, vector_store_file_index
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
