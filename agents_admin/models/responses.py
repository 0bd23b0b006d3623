"""Responses: the v2 protocol's turn of an agent in a conversation, executed as a run of the thread.

A conversation is a thread and a response is a run (one store, two projections): the row here keeps only what
the v2 protocol has and a run has not (its own id, the chain to the previous response, the input items as sent,
whether it runs in the background), so the console, retention and exports see a response as the run it is.
"""

from __future__ import annotations

from django.db import models

from agents_admin import ids


class Response(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=ids.new_response_id, editable=False)
    project = models.ForeignKey("Project", on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey("Thread", on_delete=models.CASCADE, related_name="responses")
    run = models.OneToOneField("Run", on_delete=models.CASCADE, related_name="response")
    # The agent as the caller named it (``name`` and, when given, ``version``), echoed as ``agent_reference``.
    agent_name = models.CharField(max_length=63)
    agent_version = models.CharField(max_length=20, blank=True)
    previous_response = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The run whose function calls this response's ``function_call_output`` items answer.
    answers_run = models.ForeignKey("Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Whether the caller named the conversation (echoed as ``conversation``); otherwise the thread is the chain's.
    in_conversation = models.BooleanField(default=False)
    background = models.BooleanField(default=False)
    # The input items as received, with the ids of the messages they became.
    input_items = models.JSONField(default=list, blank=True)
    # Where the response stands among the conversation's messages (message seq values): its input's other items
    # (function_call_output) come after message ``input_seq``, its input messages follow, and the function calls
    # it made come after message ``after_seq``. The conversation's item list interleaves them by these.
    input_seq = models.PositiveIntegerField(null=True, blank=True)
    after_seq = models.PositiveIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["thread", "-created_at"], name="response_thread_created"),
            models.Index(fields=["thread", "input_seq"], name="response_thread_input_seq"),
        ]

    def __str__(self) -> str:
        return self.id
