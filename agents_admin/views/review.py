"""Review tools on a thread: internal notes and flags. The thread page includes _thread_review.html."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from agents_admin.errors import ServiceError
from agents_admin.forms.review import FlagForm, NoteForm
from agents_admin.models import Thread
from agents_admin.selectors.review import thread_review
from agents_admin.services.review import thread_flag_set, thread_note_add
from agents_admin.views.access import capability_required
from agents_admin.views.common import HtmxHttpRequest, wants_partial

PAGE = "agents_admin/thread_review.html"
FRAGMENT = "agents_admin/_thread_review.html"


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
