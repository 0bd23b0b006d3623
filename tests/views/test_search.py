"""The search page: hits with their place in the conversation, and the filters alone as a thread table."""

from __future__ import annotations

import re

from django.test import Client
from django.urls import reverse

from agents_admin.models import Message, Thread
from agents_admin.services.review import thread_flag_set
from tests.factories import make_agent, make_project, make_run, make_thread


def test_hits_are_grouped_per_thread_and_link_to_the_message_with_the_match_marked(admin_client: Client) -> None:
    thread = make_thread(messages=["hello", "my <b>refund</b> never came"])
    thread_flag_set(thread=thread, name="escalated", on=True, actor=None)
    make_run(thread=thread, agent=make_agent(name="Billing <bot>"))
    never_ran = make_thread(messages=["a refund for the run-less thread", "another refund"])
    body = admin_client.get(reverse("agents_admin:search"), {"q": "refund"}).content.decode()
    message_id = Thread.objects.get(pk=thread.pk).messages.get(seq=2).id
    assert f'<a href="/threads/{thread.id}/?around=2&amp;hl=refund#{message_id}">#2 user</a>' in body
    # The match is marked; the message's own markup is text (SQLite keeps it escaped, PostgreSQL's ts_headline
    # drops tags), never markup.
    assert "<mark>refund</mark>" in body and "<b>" not in body
    assert 'title="Threads flagged escalated">escalated</a>' in body
    assert body.count('class="card hit-thread"') == 2
    # Each thread row has its title, its number of hits and its last agent, escaped; a thread no agent ran names none.
    group = body[body.index(f'<a class="hit-title" href="/threads/{thread.id}/">hello</a>') :]
    group = group[: group.index("</ol>")]
    assert '<span class="hit-count">1 hit</span>' in group and "· Billing &lt;bot&gt;" in group
    # Its project too: a page of hits mixes the projects' threads and agents.
    assert f'<span class="hit-project">{thread.project}</span>' in group
    other = body[body.index(f'href="/threads/{never_ran.id}/">a refund for the run-less thread</a>') :]
    other = other[: other.index("</ol>")]
    assert '<span class="hit-count">2 hits</span>' in other and "Billing" not in other
    assert other.count('<li class="hit">') == 2


def test_an_opened_hit_is_highlighted_with_its_words_marked_far_back_in_a_long_thread(admin_client: Client) -> None:
    thread = make_thread(messages=[f"message {i}" for i in range(1, 131)])
    message = thread.messages.get(seq=7)
    Message.objects.filter(pk=message.pk).update(text="Your Refunds &amp; <b>refund</b> notes", content=[])
    response = admin_client.get(f"/threads/{thread.id}/", {"around": 7, "hl": "refunds refund"})
    body = response.content.decode()
    article = body[body.rindex("<article", 0, body.index(f'id="{message.id}"')) :]
    article = article[: article.index("</article>")]
    assert "msg-hit" in article and 'aria-label="Search hit: message 7"' in article
    # Marked inside the rendered text, which stays escaped: the message's markup is still text.
    assert "<mark>Refunds</mark>" in article and "&lt;b&gt;<mark>refund</mark>&lt;/b&gt;" in article
    assert body.count("msg-hit") == 1 and body.count("<mark>") == 2
    seqs = [m.seq for m in response.context["page"].messages]
    assert 7 in seqs and max(seqs) < 130  # the window around the hit, not the latest page
    later = response.context["later_before"]
    assert later is not None and f"?before={later}" in body and "Jump to the latest messages" in body
    assert (
        admin_client.get(f"/threads/{thread.id}/", {"before": later}).context["page"].messages[0].seq == max(seqs) + 1
    )


def test_the_search_filters_alone_list_threads_in_the_same_table(admin_client: Client) -> None:
    flagged = make_thread(messages=["one"])
    make_thread(messages=["two"])
    thread_flag_set(thread=flagged, name="reviewed", on=True, actor=None)
    body = admin_client.get(reverse("agents_admin:search"), {"flag": "reviewed"}).content.decode()
    assert body.count('<tr><td class="thread-cell">') == 1 and f'<code class="thread-id">{flagged.id}</code>' in body
    assert '<a class="tag" href="/threads/?flag=reviewed" title="Threads flagged reviewed">reviewed</a>' in body


def test_the_filters_offer_every_agent_and_project_by_name(admin_client: Client) -> None:
    named = make_agent(name="Billing <bot>")
    make_agent(name="Zed", project=make_project("side-desk"))
    body = admin_client.get(reverse("agents_admin:search")).content.decode()
    options = re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', body)
    # Agents are named with their project: two projects may each have a "support" agent.
    assert (named.id, "", f"Billing &lt;bot&gt; · {named.project.name} ({named.id})") in options
    assert ("side-desk", "", "Side-Desk") in options


def test_an_over_long_search_is_refused_with_the_error_beside_the_box(admin_client: Client) -> None:
    from agents_admin.models import AuditEvent

    make_thread(messages=["refund " * 100])
    words = " ".join(["refund"] * 80)  # 559 characters
    page = admin_client.get(reverse("agents_admin:search"), {"q": words})
    body = page.content.decode()
    assert page.status_code == 400 and "Search with at most 500 characters (this has 559)" in body
    assert "hit-meta" not in body and not AuditEvent.objects.filter(action="search.query").exists()
    partial = admin_client.get(reverse("agents_admin:search"), {"q": words}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "at most 500 characters" in partial.content.decode()
    assert admin_client.get(reverse("agents_admin:search"), {"q": "refund"}).status_code == 200
