"""Images in messages reach the model: URLs as they are, uploaded images inline; a model without vision fails
the run with a clear error instead of silently dropping them."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from agents_admin.models import Message, Run, Thread
from agents_admin.services.connections import connection_create
from agents_admin.services.files import file_create
from agents_admin.services.runs import run_execute
from agents_admin.services.threads import message_create
from tests.factories import make_agent, make_project, make_run, make_thread
from tests.model_server import FakeModelServer

pytestmark = pytest.mark.django_db
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def thread_with_images() -> Thread:
    project = make_project()
    image = file_create(project=project, upload=SimpleUploadedFile("dot.png", PNG), purpose="vision")
    thread = make_thread(project=project)
    message_create(
        thread=thread,
        role="user",
        content=[
            {"type": "text", "text": "What is in these pictures?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
            {"type": "image_file", "image_file": {"file_id": image.id}},
        ],
    )
    return thread


def execute(run: Run) -> Run:
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def connect(server: FakeModelServer, *, vision: bool) -> None:
    fields = {"name": "vision", "kind": "openai_compatible", "endpoint": f"{server.url}/v1", "auth": "none"}
    connection_create(fields={**fields, "default_deployment": "llava", "vision": vision, "is_default": True})


def test_image_parts_are_sent_as_vision_input(model_server: FakeModelServer) -> None:
    connect(model_server, vision=True)
    run = execute(make_run(thread=thread_with_images(), agent=make_agent(instructions="")))
    assert run.status == "completed", run.last_error
    [user] = model_server.requests[0].body["messages"]
    assert user["content"] == [
        {"type": "text", "text": "What is in these pictures?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}},
    ]


def test_a_model_that_takes_no_images_fails_the_run_clearly(model_server: FakeModelServer) -> None:
    connect(model_server, vision=False)
    run = execute(make_run(thread=thread_with_images(), agent=make_agent()))
    assert run.status == "failed"
    assert run.last_error["code"] == "model_cannot_take_images"
    assert "connection 'vision' does not take images" in run.last_error["message"]
    assert model_server.requests == []


def test_the_offline_model_is_shown_the_images() -> None:
    run = execute(make_run(thread=thread_with_images(), agent=make_agent()))
    assert run.status == "completed", run.last_error
    assert "You showed me 2 image(s)." in Message.objects.get(run=run).text
