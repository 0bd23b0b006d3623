"""Internal notes and flags on a thread: services, the review views (page and htmx partial), filtering by them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents_admin.errors import InvalidInput, LimitExceeded
from agents_admin.models import Thread, ThreadFlag, ThreadNote
from agents_admin.selectors.threads import ThreadFilters, thread_list
from agents_admin.services.review import MAX_FLAGS_PER_THREAD, thread_flag_set, thread_note_add
from tests.factories import make_thread

pytestmark = pytest.mark.django_db


def test_setting_a_flag_twice_keeps_one_and_clearing_it_twice_is_harmless() -> None:
    thread = make_thread()
    assert thread_flag_set(thread=thread, name="Escalated", on=True, actor=None) is True
    assert thread_flag_set(thread=thread, name="escalated", on=True, actor=None) is True
    assert list(ThreadFlag.objects.filter(thread=thread).values_list("name", flat=True)) == ["escalated"]
    assert thread_flag_set(thread=thread, name="escalated", on=False, actor=None) is False
    assert thread_flag_set(thread=thread, name="escalated", on=False, actor=None) is False
    assert not ThreadFlag.objects.exists()


def test_a_standard_flag_is_mirrored_on_its_thread_column_and_a_free_tag_is_not() -> None:
    thread, other = make_thread(), make_thread()
    thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    thread_flag_set(thread=thread, name="vip", on=True, actor=None)
    row = Thread.objects.values("flag_escalated", "flag_needs_follow_up", "flag_reviewed").get(pk=thread.pk)
    assert row == {"flag_escalated": True, "flag_needs_follow_up": False, "flag_reviewed": False}
    assert not Thread.objects.get(pk=other.pk).flag_escalated
    thread_flag_set(thread=thread, name="escalated", on=False, actor=None)
    assert not Thread.objects.get(pk=thread.pk).flag_escalated
    assert [t.id for t in thread_list(ThreadFilters(flag="vip")).threads] == [thread.id]
    assert thread_list(ThreadFilters(flag="escalated")).threads == []


def test_bad_flag_names_and_too_many_flags_are_refused_without_change() -> None:
    thread = make_thread()
    for bad in ("", "has space", "-leading", "x" * 41, "<b>"):
        with pytest.raises(InvalidInput) as error:
            thread_flag_set(thread=thread, name=bad, on=True, actor=None)
        assert error.value.param == "name"
    for i in range(MAX_FLAGS_PER_THREAD):
        thread_flag_set(thread=thread, name=f"tag-{i}", on=True, actor=None)
    with pytest.raises(LimitExceeded):
        thread_flag_set(thread=thread, name="one-more", on=True, actor=None)
    assert ThreadFlag.objects.filter(thread=thread).count() == MAX_FLAGS_PER_THREAD


def test_an_empty_note_is_refused() -> None:
    thread = make_thread()
    with pytest.raises(InvalidInput) as error:
        thread_note_add(thread=thread, author=None, body="   ")
    assert error.value.param == "body"
    assert not ThreadNote.objects.exists()


def test_the_notes_page_renders_in_full_and_as_a_partial(admin_client: Client) -> None:
    thread = make_thread()
    thread_note_add(thread=thread, author=None, body="Customer <b>angry</b>")
    url = reverse("agents_admin:thread_notes", args=[thread.id])
    page = admin_client.get(url).content.decode()
    assert "<html" in page and "Customer &lt;b&gt;angry&lt;/b&gt;" in page and 'id="review-flags"' in page
    partial = admin_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'id="review-notes"' in partial and 'id="review-flags"' not in partial
    assert "Customer &lt;b&gt;angry" in partial


def test_adding_a_note_with_htmx_returns_the_notes_region_with_the_note(admin_client: Client, admin_user) -> None:
    thread = make_thread()
    url = reverse("agents_admin:thread_notes", args=[thread.id])
    response = admin_client.post(url, {"body": "Called back, resolved."}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and "Called back, resolved." in body
    note = ThreadNote.objects.get()
    assert note.author == admin_user and note.thread == thread


def test_adding_a_note_without_javascript_redirects_back_to_the_notes(admin_client: Client) -> None:
    thread = make_thread()
    url = reverse("agents_admin:thread_notes", args=[thread.id])
    response = admin_client.post(url, {"body": "plain form post"})
    assert response.status_code == 302 and response["Location"] == url
    assert ThreadNote.objects.filter(body="plain form post").exists()


def test_an_empty_note_shows_an_error_beside_the_field_and_adds_nothing(admin_client: Client) -> None:
    thread = make_thread()
    url = reverse("agents_admin:thread_notes", args=[thread.id])
    body = admin_client.post(url, {"body": ""}, HTTP_HX_REQUEST="true").content.decode()
    assert "This field is required." in body
    assert not ThreadNote.objects.exists()


def test_toggling_a_flag_with_htmx_returns_the_flags_region(admin_client: Client) -> None:
    thread = make_thread()
    url = reverse("agents_admin:thread_flags", args=[thread.id])
    body = admin_client.post(url, {"name": "needs-follow-up", "on": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in body and 'aria-pressed="true">needs-follow-up' in body
    assert ThreadFlag.objects.filter(thread=thread, name="needs-follow-up").exists()
    body = admin_client.post(url, {"name": "needs-follow-up"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-pressed="false">needs-follow-up' in body
    assert not ThreadFlag.objects.exists()


def test_the_flags_page_renders_in_full_and_a_plain_post_redirects(admin_client: Client) -> None:
    thread = make_thread()
    url = reverse("agents_admin:thread_flags", args=[thread.id])
    assert "<html" in admin_client.get(url).content.decode()
    response = admin_client.post(url, {"name": "vip-customer", "on": "1"})
    assert response.status_code == 302
    page = admin_client.get(url).content.decode()
    assert '<span class="tag">vip-customer</span>' in page


def test_a_bad_tag_shows_an_error_and_changes_nothing(admin_client: Client) -> None:
    thread = make_thread()
    url = reverse("agents_admin:thread_flags", args=[thread.id])
    body = admin_client.post(url, {"name": "Not OK!", "on": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "lower-case letters" in body
    assert not ThreadFlag.objects.exists()


def test_review_views_need_a_signed_in_user_and_an_existing_thread(anon_client: Client, admin_client: Client) -> None:
    thread = make_thread()
    response = anon_client.post(reverse("agents_admin:thread_flags", args=[thread.id]), {"name": "x", "on": "1"})
    assert response.status_code == 302 and not ThreadFlag.objects.exists()
    assert admin_client.get(reverse("agents_admin:thread_notes", args=["thread_missing"])).status_code == 404


def test_threads_can_be_filtered_by_flag_and_by_having_notes() -> None:
    flagged, noted, plain = make_thread(), make_thread(), make_thread()
    thread_flag_set(thread=flagged, name="reviewed", on=True, actor=None)
    thread_note_add(thread=noted, author=None, body="look at this")
    assert [t.id for t in thread_list(ThreadFilters(flag="reviewed")).threads] == [flagged.id]
    assert [t.id for t in thread_list(ThreadFilters(has_notes=True)).threads] == [noted.id]
    assert {t.id for t in thread_list(ThreadFilters()).threads} == {flagged.id, noted.id, plain.id}


def test_the_review_panel_costs_the_same_few_queries_however_many_notes_and_flags(
    admin_client: Client, django_assert_max_num_queries: object
) -> None:
    thread = make_thread()
    for i in range(60):
        thread_note_add(thread=thread, author=None, body=f"note {i}")
    for name in ("reviewed", "escalated", "vip", "billing"):
        thread_flag_set(thread=thread, name=name, on=True, actor=None)
    url = reverse("agents_admin:thread_notes", args=[thread.id])
    with django_assert_max_num_queries(6):  # type: ignore[operator]
        body = admin_client.get(url).content.decode()
    assert body.count('class="note"') == 50 and "Older notes are not shown." in body
    assert '<span class="tag">vip</span>' in body and 'aria-pressed="true">escalated' in body


def test_notes_show_their_authors_newest_first_and_someone_once_the_author_is_gone(
    admin_client: Client, django_user_model: Any
) -> None:
    thread = make_thread()
    leaver = django_user_model.objects.create_user("leaver", password="x-pass-12345")
    thread_note_add(thread=thread, author=leaver, body="first, by the leaver")
    thread_note_add(thread=thread, author=django_user_model.objects.get(username="admin"), body="second, by admin")
    url = reverse("agents_admin:thread_notes", args=[thread.id])
    body = admin_client.get(url).content.decode()
    when = r"<time [^>]+>[0-9-]+ [0-9:]+ UTC</time>"
    assert re.search(rf"admin · {when}</p>second, by admin.*leaver · {when}</p>first", body, re.S)
    leaver.delete()
    body = admin_client.get(url).content.decode()
    assert re.search(rf"someone · {when}</p>first, by the leaver", body) and "leaver ·" not in body
