"""The REST API (Foundry Agents wire contract), mounted under /api/.

The route table below is also the source of the OpenAPI document (openapi.py); anything else under /api/
answers a JSON 404.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt

from agents_admin.api import (
    agents_v2,
    assistants,
    conversations,
    files,
    openapi,
    responses,
    runs,
    threads,
    vector_stores,
)
from agents_admin.api.base import AGENT_API_VERSIONS, ANY_API_VERSION, endpoint
from agents_admin.api.errors import error_response

app_name = "api"

P = "projects/<slug:project>/"

urlpatterns: list[URLPattern | URLResolver] = [
    path(P + "assistants", endpoint(GET=assistants.list_, POST=assistants.create), name="assistants"),
    path(
        P + "assistants/<str:agent_id>",
        endpoint(GET=assistants.retrieve, POST=assistants.update, DELETE=assistants.delete),
        name="assistant",
    ),
    path(P + "threads", endpoint(GET=threads.list_, POST=threads.create), name="threads"),
    path(P + "threads/runs", endpoint(POST=runs.create_thread_and_run), name="thread_and_run"),
    path(
        P + "threads/<str:thread_id>",
        endpoint(GET=threads.retrieve, POST=threads.update, DELETE=threads.delete),
        name="thread",
    ),
    path(
        P + "threads/<str:thread_id>/messages",
        endpoint(GET=threads.message_list, POST=threads.message_create_),
        name="messages",
    ),
    path(
        P + "threads/<str:thread_id>/messages/<str:message_id>",
        endpoint(GET=threads.message_retrieve, POST=threads.message_update_),
        name="message",
    ),
    path(P + "threads/<str:thread_id>/runs", endpoint(GET=runs.list_, POST=runs.create), name="runs"),
    path(
        P + "threads/<str:thread_id>/runs/<str:run_id>",
        endpoint(GET=runs.retrieve, POST=runs.update),
        name="run",
    ),
    path(
        P + "threads/<str:thread_id>/runs/<str:run_id>/cancel",
        endpoint(POST=runs.cancel),
        name="run_cancel",
    ),
    path(
        P + "threads/<str:thread_id>/runs/<str:run_id>/submit_tool_outputs",
        endpoint(POST=runs.submit_tool_outputs),
        name="run_submit_tool_outputs",
    ),
    path(P + "threads/<str:thread_id>/runs/<str:run_id>/steps", endpoint(GET=runs.step_list), name="run_steps"),
    path(
        P + "threads/<str:thread_id>/runs/<str:run_id>/steps/<str:step_id>",
        endpoint(GET=runs.step_retrieve),
        name="run_step",
    ),
    path(P + "files", endpoint(GET=files.list_, POST=files.upload), name="files"),
    path(P + "files/<str:file_id>", endpoint(GET=files.retrieve, DELETE=files.delete), name="file"),
    path(P + "files/<str:file_id>/content", endpoint(GET=files.content), name="file_content"),
    path(P + "vector_stores", endpoint(GET=vector_stores.list_, POST=vector_stores.create), name="vector_stores"),
    path(
        P + "vector_stores/<str:store_id>",
        endpoint(GET=vector_stores.retrieve, POST=vector_stores.update, DELETE=vector_stores.delete),
        name="vector_store",
    ),
    path(
        P + "vector_stores/<str:store_id>/files",
        endpoint(GET=vector_stores.file_list, POST=vector_stores.file_create),
        name="vector_store_files",
    ),
    path(
        P + "vector_stores/<str:store_id>/files/<str:file_id>",
        endpoint(GET=vector_stores.file_retrieve, DELETE=vector_stores.file_delete),
        name="vector_store_file",
    ),
    path(
        P + "vector_stores/<str:store_id>/file_batches",
        endpoint(POST=vector_stores.batch_create),
        name="vector_store_file_batches",
    ),
    path(
        P + "vector_stores/<str:store_id>/file_batches/<str:batch_id>",
        endpoint(GET=vector_stores.batch_retrieve),
        name="vector_store_file_batch",
    ),
    path(
        P + "vector_stores/<str:store_id>/file_batches/<str:batch_id>/cancel",
        endpoint(POST=vector_stores.batch_cancel),
        name="vector_store_file_batch_cancel",
    ),
    path(
        P + "vector_stores/<str:store_id>/file_batches/<str:batch_id>/files",
        endpoint(GET=vector_stores.batch_files),
        name="vector_store_file_batch_files",
    ),
]


# The v2 protocol (azure-ai-projects 2.x): agents by name with immutable versions.
urlpatterns += [
    path(P + "agents", endpoint(GET=agents_v2.list_, api_versions=AGENT_API_VERSIONS), name="agents"),
    path(
        P + "agents/<str:agent_name>",
        endpoint(GET=agents_v2.retrieve, DELETE=agents_v2.delete, api_versions=AGENT_API_VERSIONS),
        name="agent",
    ),
    path(
        P + "agents/<str:agent_name>/versions",
        endpoint(GET=agents_v2.version_list, POST=agents_v2.version_create, api_versions=AGENT_API_VERSIONS),
        name="agent_versions",
    ),
    path(
        P + "agents/<str:agent_name>/versions/<str:version>",
        endpoint(GET=agents_v2.version_retrieve, DELETE=agents_v2.version_delete, api_versions=AGENT_API_VERSIONS),
        name="agent_version",
    ),
]


def openai_routes(prefix: str, name: str, api_versions: tuple[str, ...] | None) -> list[URLPattern]:
    """The OpenAI-shaped routes under ``prefix``: ``openai/v1/`` (GA clients, no api-version) and ``openai/``
    (the 2.0 betas, with an api-version)."""
    c, r = conversations, responses
    return [
        path(
            P + prefix + "responses",
            endpoint(GET=r.list_, POST=r.create, api_versions=api_versions),
            name=f"{name}responses",
        ),
        path(
            P + prefix + "responses/<str:response_id>",
            endpoint(GET=r.retrieve, DELETE=r.delete, api_versions=api_versions),
            name=f"{name}response",
        ),
        path(
            P + prefix + "responses/<str:response_id>/cancel",
            endpoint(POST=r.cancel, api_versions=api_versions),
            name=f"{name}response_cancel",
        ),
        path(
            P + prefix + "responses/<str:response_id>/input_items",
            endpoint(GET=r.input_items, api_versions=api_versions),
            name=f"{name}response_input_items",
        ),
        path(
            P + prefix + "conversations",
            endpoint(GET=c.list_, POST=c.create, api_versions=api_versions),
            name=f"{name}conversations",
        ),
        path(
            P + prefix + "conversations/<str:conversation_id>",
            endpoint(GET=c.retrieve, POST=c.update, DELETE=c.delete, api_versions=api_versions),
            name=f"{name}conversation",
        ),
        path(
            P + prefix + "conversations/<str:conversation_id>/items",
            endpoint(GET=c.item_list, POST=c.item_create, api_versions=api_versions),
            name=f"{name}conversation_items",
        ),
        path(
            P + prefix + "conversations/<str:conversation_id>/items/<str:item_id>",
            endpoint(GET=c.item_retrieve, DELETE=c.item_delete, api_versions=api_versions),
            name=f"{name}conversation_item",
        ),
    ]


urlpatterns += openai_routes("openai/v1/", "", None) + openai_routes("openai/", "beta_", ANY_API_VERSION)


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return error_response(404, "not_found", f"No such route: {request.method} {request.path}.")


urlpatterns += [
    path("openapi.json", openapi.document_view(list(urlpatterns)), name="openapi"),
    re_path(r"^(?P<rest>.*)$", not_found, name="not_found"),
]
