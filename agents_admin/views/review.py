"""Review tools on a thread: internal notes and flags (the thread page includes _thread_review.html), and comments
on a message (each message of a transcript includes _message_comments.html; these views swap that region)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents_admin.errors import ServiceError
from agents_admin.forms.confirm import ConfirmForm
from agents_admin.forms.review import CommentForm, FlagForm, NoteForm
from agents_admin.models import Message, MessageComment, Thread
from agents_admin.selectors.review import comment_own, message_comments, message_get, thread_review
from agents_admin.services.review import (
    message_comment_add,
    message_comment_delete,
    message_comment_update,
    thread_flag_set,
    thread_note_add,
)
from agents_admin.views.access import capability_required
from agents_admin.views.common import Confirmation, HtmxHttpRequest, confirmed, render_confirm, wants_partial

PAGE = "agents_admin/thread_review.html"
FRAGMENT = "agents_admin/_thread_review.html"
COMMENTS = "agents_admin/_message_comments.html"
COMMENT_PAGE = "agents_admin/message_comment.html"


def review_context(thread: Thread, **extra: object) -> dict[str, object]:
    """Everything _thread_review.html needs; the thread page adds this to its context (two queries)."""
    context = thread_review(thread)
    context.update({"note_form": NoteForm(), "flag_error": ""})
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
@capability_required("review_conversations")
def thread_notes(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    """The notes of a thread (GET) and adding one (POST); htmx gets the notes region only."""
    thread = get_object_or_404(Thread, pk=thread_id)
    form = NoteForm(data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            thread_note_add(thread=thread, author=request.user, body=form.cleaned_data["body"])
        except ServiceError as error:
            form.add_error(error.param if error.param in form.fields else None, error.message)
        else:
            messages.success(request, "Note added.")
            if not wants_partial(request):
                return redirect("agents_admin:thread_notes", thread_id=thread.id)
            form = NoteForm()
    context = review_context(thread, note_form=form)
    return render(request, f"{FRAGMENT}#notes" if wants_partial(request) else PAGE, context)


@require_http_methods(["GET", "POST"])
@capability_required("review_conversations")
def thread_flags(request: HtmxHttpRequest, thread_id: str) -> HttpResponse:
    """The flags of a thread (GET) and setting or clearing one (POST ``name``, ``on``); htmx gets the flags region."""
    thread = get_object_or_404(Thread, pk=thread_id)
    form = FlagForm(data=request.POST if request.method == "POST" else None)
    flag_error = ""
    if request.method == "POST":
        if form.is_valid():
            try:
                thread_flag_set(
                    thread=thread, name=form.cleaned_data["name"], on=form.cleaned_data["on"], actor=request.user
                )
            except ServiceError as error:
                flag_error = error.message
            else:
                name, on = form.cleaned_data["name"], form.cleaned_data["on"]
                messages.success(request, f"Flag “{name}” {'set' if on else 'cleared'}.")
                if not wants_partial(request):
                    return redirect("agents_admin:thread_flags", thread_id=thread.id)
        else:
            flag_error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
    context = review_context(thread, flag_error=flag_error)
    return render(request, f"{FRAGMENT}#flags" if wants_partial(request) else PAGE, context)


# --- comments on a message ------------------------------------------------------------------------------------


def _message_url(message: Message | MessageComment) -> str:
    """The thread page opened at the message (its page of the transcript, scrolled to it)."""
    if isinstance(message, MessageComment):
        message = message_get(message.thread_id, message.message_id)
    url = reverse("agents_admin:thread_detail", args=[message.thread_id])
    return f"{url}?around={message.seq}#{message.id}"


def _comments(request: HtmxHttpRequest, message: Message, **context: Any) -> HttpResponse:
    """The message's comments region for htmx (swapped in place); a page back at the message otherwise."""
    if not wants_partial(request):
        return redirect(_message_url(message))
    context = {"message": message_comments(message), "in_place": True, **context}
    return render(request, f"{COMMENTS}#comments", context)


@require_GET
@capability_required("view_conversations")
def message_comments_view(request: HtmxHttpRequest, thread_id: str, message_id: str) -> HttpResponse:
    """The comments of one message (htmx region; a link to the message without JavaScript)."""
    return _comments(request, message_get(thread_id, message_id))


@require_POST
@capability_required("comment_messages")
def message_comment_add_view(request: HtmxHttpRequest, thread_id: str, message_id: str) -> HttpResponse:
    message = message_get(thread_id, message_id)
    form = CommentForm(data=request.POST)
    if form.is_valid():
        try:
            message_comment_add(message=message, author=request.user, body=form.cleaned_data["body"])
        except ServiceError as error:
            form.add_error("body", error.message)
        else:
            messages.success(request, "Comment added.")
            return _comments(request, message)
    if wants_partial(request):
        return _comments(request, message, comment_form=form)
    context = {"mode": "add", "message": message, "form": form, "back_url": _message_url(message)}
    return render(request, COMMENT_PAGE, context, status=400)


@require_http_methods(["GET", "POST"])
@capability_required("comment_messages")
def message_comment_edit(request: HtmxHttpRequest, thread_id: str, comment_id: int) -> HttpResponse:
    """Edit one's own comment: the form in place of the comment (htmx) or on a page of its own."""
    comment = comment_own(thread_id, comment_id, request.user)
    form = CommentForm(data=request.POST if request.method == "POST" else None, initial={"body": comment.body})
    if request.method == "POST" and form.is_valid():
        try:
            message_comment_update(comment=comment, actor=request.user, body=form.cleaned_data["body"])
        except ServiceError as error:
            form.add_error("body", error.message)
        else:
            messages.success(request, "Comment saved.")
            return _comments(request, message_get(thread_id, comment.message_id))
    context = {"mode": "edit", "comment": comment, "form": form, "in_place": wants_partial(request)}
    if wants_partial(request):
        return render(request, f"{COMMENTS}#edit", context)
    return render(request, COMMENT_PAGE, {**context, "back_url": _message_url(comment)})


@require_http_methods(["GET", "POST"])
@capability_required("comment_messages")
def message_comment_delete_view(request: HtmxHttpRequest, thread_id: str, comment_id: int) -> HttpResponse:
    """Delete one's own comment once confirmed (a signed token): asked in place (htmx) or on the confirm page."""
    comment = comment_own(thread_id, comment_id, request.user)
    form = ConfirmForm(
        request.POST if request.method == "POST" else None, action="comment.delete", target=comment.pk,
        user_id=request.user.pk,
    )  # fmt: skip
    if confirmed(request, form):
        message_comment_delete(comment=comment, actor=request.user)
        messages.success(request, "Comment deleted.")
        return _comments(request, message_get(thread_id, comment.message_id))
    if wants_partial(request):
        context = {"comment": comment, "confirm_form": form.fresh() if form.is_bound else form, "in_place": True}
        return render(request, f"{COMMENTS}#delete", context)
    url = reverse("agents_admin:message_comment_delete", args=[thread_id, comment.pk])
    confirmation = Confirmation(
        title="Delete your comment?",
        effects=[f"Your comment “{comment.body[:80]}” on this message is deleted. This cannot be undone."],
        button="Delete comment",
        action=url,
        cancel=_message_url(comment),
        form=form,
    )
    return render_confirm(request, confirmation)
