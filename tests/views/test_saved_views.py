"""Saved views: save the Threads or Search filters under a name (personal or shared), open one in a click, rename,
delete (confirmed); stored as the parameters the pages read, so a view is a URL."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents_admin.errors import Conflict, InvalidInput
from agents_admin.models import AuditEvent, SavedView
from agents_admin.roles import ADMIN, OPERATOR, REVIEWER
from agents_admin.services.review import thread_flag_set
from agents_admin.services.saved_views import saved_view_create
from tests.confirm_helpers import confirm_post, confirmation_token
from tests.factories import make_thread
from tests.personas import client_for, user_with_role

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def reviewer() -> User:
    return user_with_role(REVIEWER, "rita")


def _save(client, page: str, query: str, name: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("agents_admin:saved_view_create"), {"page": page, "query": query, "name": name, **extra})


def test_saving_the_threads_filters_opens_the_view_and_lists_it_one_click_away(reviewer: User) -> None:
    escalated, other = make_thread(), make_thread()
    thread_flag_set(thread=escalated, name="escalated", on=True, actor=None)
    client = client_for(reviewer)
    page = client.get(reverse("agents_admin:thread_list"), {"flag": "escalated", "sort": "created"}).content.decode()
    # The form carries the page's query string as it is.
    assert re.search(r'name="query" value="[^"]*flag=escalated', page)
    response = _save(client, "threads", "flag=escalated&sort=created&cursor=abc&bogus=1", "Escalations")
    view = SavedView.objects.get()
    assert view.params == {"flag": "escalated", "sort": "created"} and view.owner == reviewer and not view.shared
    assert response.status_code == 302 and response["Location"] == "/threads/?flag=escalated&sort=created"
    listing = client.get(response["Location"]).content.decode()
    assert 'aria-current="page">Escalations' in listing
    assert escalated.id in listing and other.id not in listing
    unfiltered = client.get(reverse("agents_admin:thread_list")).content.decode()
    assert (
        'href="/threads/?flag=escalated&amp;sort=created"' in unfiltered and 'aria-current="page">Esc' not in unfiltered
    )
    assert AuditEvent.objects.get(action="saved_view.create").after["params"] == view.params


def test_a_search_view_keeps_its_words_and_filters(reviewer: User) -> None:
    client = client_for(reviewer)
    _save(client, "search", "q=refund+late&on_hold=on&run_status=bogus", "Late refunds on hold")
    view = SavedView.objects.get()
    assert view.page == "search" and view.params == {"q": "refund late", "on_hold": "on"}
    page = client.get(reverse("agents_admin:search")).content.decode()
    assert 'href="/search/?on_hold=on&amp;q=refund+late"' in page and "Late refunds on hold" in page
    # Search's own views only above its filters: a Threads view is not listed there (the menu has every page's).
    _save(client, "threads", "flag=vip", "VIPs")
    page = client.get(reverse("agents_admin:search")).content.decode()
    assert ">VIPs</a>" not in _bar(page) and ">VIPs</a>" in _menu(page)


def test_a_shared_view_is_listed_for_everyone_and_a_personal_one_only_for_its_owner() -> None:
    operator, reviewer, other = user_with_role(OPERATOR, "olga"), user_with_role(REVIEWER, "rita"), None
    other = user_with_role(REVIEWER, "rob")
    saved_view_create(
        owner=operator, page="threads", name="Team: failed runs", query={"run_status": "failed"}, shared=True
    )
    saved_view_create(owner=operator, page="threads", name="Olga's own", query={"flag": "vip"})
    for user in (reviewer, other):
        page = client_for(user).get(reverse("agents_admin:thread_list")).content.decode()
        assert "Team: failed runs" in page and "Olga&#x27;s own" not in page and "Olga's own" not in page
    assert "Olga&#x27;s own" in client_for(operator).get(reverse("agents_admin:thread_list")).content.decode()


def test_sharing_needs_the_capability_and_names_are_checked(reviewer: User) -> None:
    client = client_for(reviewer)
    response = _save(client, "threads", "flag=vip", "VIPs", shared="on")
    assert response.status_code == 400 and "cannot share" in response.content.decode()
    assert not SavedView.objects.exists()
    response = _save(client, "threads", "flag=vip", "   ")
    assert response.status_code == 400 and 'role="alert"' in response.content.decode()
    saved_view_create(owner=reviewer, page="threads", name="VIPs", query={"flag": "vip"})
    with pytest.raises(Conflict) as error:
        saved_view_create(owner=reviewer, page="threads", name="VIPs", query={})
    assert error.value.param == "name"
    with pytest.raises(InvalidInput):
        saved_view_create(owner=reviewer, page="agents", name="x", query={})
    admin = user_with_role(ADMIN, "ada")
    assert saved_view_create(owner=admin, page="threads", name="VIPs", query={}, shared=True).shared


def test_renaming_and_deleting_a_view_confirmed(reviewer: User) -> None:
    view = saved_view_create(owner=reviewer, page="threads", name="Old name", query={"flag": "vip"})
    client = client_for(reviewer)
    edit = reverse("agents_admin:saved_view_edit", args=[view.pk])
    assert "Old name" in client.get(edit).content.decode()
    assert client.post(edit, {"name": "New name"}).status_code == 302
    view.refresh_from_db()
    assert view.name == "New name" and view.params == {"flag": "vip"}
    assert AuditEvent.objects.get(action="saved_view.update").before == {"name": "Old name", "shared": False}
    delete = reverse("agents_admin:saved_view_delete", args=[view.pk])
    ask = client.post(delete, {})
    assert ask.status_code == 200 and "New name" in ask.content.decode() and SavedView.objects.exists()
    assert client.post(delete, {"confirm": confirmation_token(ask.content.decode())}).status_code == 302
    assert not SavedView.objects.exists() and AuditEvent.objects.filter(action="saved_view.delete").count() == 1


def test_nobody_else_changes_a_personal_view_and_sharers_may_tidy_shared_ones(reviewer: User) -> None:
    personal = saved_view_create(owner=reviewer, page="threads", name="Mine", query={})
    admin = client_for(user_with_role(ADMIN, "ada"))
    for name in ("saved_view_edit", "saved_view_delete"):
        assert admin.get(reverse(f"agents_admin:{name}", args=[personal.pk])).status_code == 404
    shared = saved_view_create(
        owner=user_with_role(OPERATOR, "olga"), page="threads", name="Team", query={}, shared=True
    )
    assert client_for(reviewer).get(reverse("agents_admin:saved_view_edit", args=[shared.pk])).status_code == 404
    assert (
        admin.post(
            reverse("agents_admin:saved_view_edit", args=[shared.pk]), {"name": "Team", "shared": ""}
        ).status_code
        == 302
    )
    assert not SavedView.objects.get(pk=shared.pk).shared


def test_the_views_list_shows_own_and_shared_views(reviewer: User) -> None:
    saved_view_create(owner=reviewer, page="search", name="Mine", query={"q": "refund"})
    client = client_for(reviewer)
    page = client.get(reverse("agents_admin:saved_view_list")).content.decode()
    assert "Mine" in page and 'href="/search/?q=refund"' in page and "Rename" in page


def test_the_results_region_carries_the_current_filters_and_lists_no_views(reviewer: User) -> None:
    saved_view_create(owner=reviewer, page="threads", name="Mine", query={})
    client = client_for(reviewer)
    fragment = client.get(reverse("agents_admin:thread_list"), {"flag": "vip"}, **HX).content.decode()
    assert "<html" not in fragment and 'value="flag=vip"' in fragment and "Mine" not in fragment
    with CaptureQueriesContext(connection) as one:
        client.get(reverse("agents_admin:thread_list"), {"flag": "vip"})
    for i in range(5):
        saved_view_create(owner=user_with_role(OPERATOR, f"op{i}"), page="threads", name=f"T{i}", query={}, shared=True)
    with CaptureQueriesContext(connection) as six:
        page = client.get(reverse("agents_admin:thread_list"), {"flag": "vip"}).content.decode()
    assert len(six) == len(one) and "T4" in page  # the list (with its owners) is one query


# --- the menu -------------------------------------------------------------------------------------------------


def _bar(page: str) -> str:
    """The page's own list of views, above its filters."""
    match = re.search(r'<nav class="saved-views".*?</nav>', page, flags=re.S)
    assert match, "no saved views above the filters"
    return match.group(0)


def _menu(page: str) -> str:
    """The menu's "Saved views" list of a page."""
    match = re.search(r'<ul class="nav-list nav-views"[^>]*>(.*?)</ul>', page, flags=re.S)
    assert match, "no saved views in the menu"
    return match.group(1)


def test_the_menu_lists_the_first_views_on_every_page_and_marks_the_open_one(reviewer: User) -> None:
    operator = user_with_role(OPERATOR, "olga")
    for i in range(6):
        saved_view_create(owner=reviewer, page="threads", name=f"Mine {i}", query={"flag": f"f{i}"})
    saved_view_create(owner=operator, page="search", name="All refunds", query={"q": "refund"}, shared=True)
    saved_view_create(owner=operator, page="threads", name="Olga's own", query={})
    for i in range(3):
        saved_view_create(owner=reviewer, page="search", name=f"Zed {i}", query={"q": f"w{i}"})
    client = client_for(reviewer)
    menu = _menu(client.get(reverse("agents_admin:home")).content.decode())
    names = re.findall(r'title="([^"]+)"', menu)
    # The first 8 by name (own and shared, as /views/ orders them), never someone else's personal view.
    assert names == ["All refunds (shared)", *[f"Mine {i}" for i in range(6)], "Zed 0"]
    assert 'href="/search/?q=refund"' in menu and 'href="/threads/?flag=f3"' in menu
    assert 'href="/views/">All views…</a>' in menu and "aria-current" not in menu
    # Opened from the menu, the view is marked there; the same page with other filters marks nothing.
    opened = _menu(client.get("/threads/?flag=f3").content.decode())
    assert re.findall(r'aria-current="page">([^<]+)<', opened) == ["Mine 3"]
    assert "aria-current" not in _menu(client.get("/threads/?flag=f3&has_notes=on").content.decode())
    assert 'aria-current="page">All views' in _menu(
        client.get(reverse("agents_admin:saved_view_list")).content.decode()
    )


def test_the_menu_costs_no_query_until_a_view_changes_anywhere(reviewer: User) -> None:
    operator = user_with_role(OPERATOR, "olga")
    mine = saved_view_create(owner=reviewer, page="threads", name="Mine", query={})
    client = client_for(reviewer)
    client.get(reverse("agents_admin:home"))  # fills the menu's cache entry
    with CaptureQueriesContext(connection) as warm:
        page = client.get(reverse("agents_admin:home")).content.decode()
    assert "Mine" in _menu(page) and not [q for q in warm.captured_queries if "savedview" in q["sql"]]
    # Someone else shares a view, renames it, then is deleted: each change shows on my next page.
    shared = saved_view_create(owner=operator, page="search", name="Shared", query={"q": "x"}, shared=True)
    assert "Shared (shared)" in _menu(client.get(reverse("agents_admin:home")).content.decode())
    SavedView.objects.filter(pk=shared.pk).update(name="stale")  # a bulk update sends no signal: the cache holds
    assert "Shared (shared)" in _menu(client.get(reverse("agents_admin:home")).content.decode())
    shared.name = "Renamed"
    shared.save()
    assert "Renamed (shared)" in _menu(client.get(reverse("agents_admin:home")).content.decode())
    operator.delete()
    menu = _menu(client.get(reverse("agents_admin:home")).content.decode())
    assert "Renamed" not in menu and "Mine" in menu
    # My own delete, through the console.
    confirm_post(client, reverse("agents_admin:saved_view_delete", args=[mine.pk]))
    assert not SavedView.objects.exists()
    assert "Mine" not in _menu(client.get(reverse("agents_admin:home")).content.decode())


def test_people_who_cannot_read_conversations_have_no_saved_views_in_their_menu() -> None:
    from agents_admin.roles import AUDITOR

    page = client_for(user_with_role(AUDITOR, "audrey")).get(reverse("agents_admin:home")).content.decode()
    assert "nav-views" not in page and "All views" not in page
