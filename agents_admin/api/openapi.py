"""The OpenAPI 3 document of the API, built from the route table so it always lists what is served."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver
from django.views.decorators.http import require_GET

_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
_OBJ: dict[str, Any] = {"type": "object", "additionalProperties": True}
_METADATA: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 512}}
_MESSAGE_OPTIONS: dict[str, Any] = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"type": "string", "enum": ["user", "assistant"]},
        "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": _OBJ}]},
        "attachments": {"type": "array", "items": _OBJ},
        "metadata": _METADATA,
    },
}
_AGENT_FIELDS: dict[str, Any] = {
    "model": {"type": "string"},
    "name": {"type": "string", "nullable": True},
    "description": {"type": "string", "nullable": True},
    "instructions": {"type": "string", "nullable": True},
    "tools": {"type": "array", "items": _OBJ},
    "tool_resources": {**_OBJ, "nullable": True},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2, "nullable": True},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1, "nullable": True},
    "response_format": {"nullable": True},
    "metadata": _METADATA,
}
_RUN_FIELDS: dict[str, Any] = {
    "assistant_id": {"type": "string"},
    "model": {"type": "string"},
    "instructions": {"type": "string"},
    "tools": {"type": "array", "items": _OBJ},
    "stream": {"type": "boolean"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "max_prompt_tokens": {"type": "integer", "minimum": 256},
    "max_completion_tokens": {"type": "integer", "minimum": 256},
    "truncation_strategy": _OBJ,
    "tool_choice": {},
    "response_format": {},
    "parallel_tool_calls": {"type": "boolean"},
    "metadata": _METADATA,
}
_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("assistants", "post"): {"type": "object", "required": ["model"], "properties": _AGENT_FIELDS},
    ("assistant", "post"): {"type": "object", "properties": _AGENT_FIELDS},
    ("threads", "post"): {
        "type": "object",
        "properties": {"messages": {"type": "array", "items": _MESSAGE_OPTIONS}, "metadata": _METADATA},
    },
    ("thread", "post"): {"type": "object", "properties": {"metadata": _METADATA, "tool_resources": _OBJ}},
    ("messages", "post"): _MESSAGE_OPTIONS,
    ("message", "post"): {"type": "object", "properties": {"metadata": _METADATA}},
    ("runs", "post"): {
        "type": "object",
        "required": ["assistant_id"],
        "properties": {
            **_RUN_FIELDS,
            "additional_instructions": {"type": "string"},
            "additional_messages": {"type": "array", "items": _MESSAGE_OPTIONS},
        },
    },
    ("thread_and_run", "post"): {
        "type": "object",
        "required": ["assistant_id"],
        "properties": {**_RUN_FIELDS, "thread": _OBJ},
    },
    ("run", "post"): {"type": "object", "properties": {"metadata": _METADATA}},
    ("run_submit_tool_outputs", "post"): {
        "type": "object",
        "required": ["tool_outputs"],
        "properties": {
            "tool_outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"tool_call_id": {"type": "string"}, "output": {"type": "string"}},
                },
            },
            "stream": {"type": "boolean"},
        },
    },
}
_RESULTS = {
    "assistants": "Agent",
    "assistant": "Agent",
    "threads": "Thread",
    "thread": "Thread",
    "messages": "Message",
    "message": "Message",
    "runs": "Run",
    "run": "Run",
    "run_cancel": "Run",
    "run_submit_tool_outputs": "Run",
    "thread_and_run": "Run",
    "run_steps": "RunStep",
    "run_step": "RunStep",
    "files": "File",
    "file": "File",
}
_LISTS = {"assistants", "threads", "messages", "runs", "run_steps"}


def build(patterns: list[URLPattern | URLResolver]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for pattern in patterns:
        callback = getattr(pattern, "callback", None)
        methods = getattr(callback, "api_methods", None)
        versions = getattr(callback, "api_versions", ("v1",))
        if not isinstance(pattern, URLPattern) or not methods:
            continue
        route = "/api/" + _PARAM.sub(r"{\1}", str(pattern.pattern))
        names = _PARAM.findall(str(pattern.pattern))
        operations: dict[str, Any] = {}
        for method, summary in methods.items():
            operation = _operation(pattern.name or "", method.lower(), summary, names)
            operations[method.lower()] = _with_api_version(operation, versions)
        paths[route] = operations
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Agents Admin: Foundry Agents API (classic, and v2 agents, conversations and responses)",
            "version": "v1",
            "description": "The Azure AI Foundry Agent Service data-plane contract, served for the official SDKs.",
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "A project API key"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "code": {"type": "string", "nullable": True},
                                "message": {"type": "string", "nullable": True},
                                "type": {"type": "string", "nullable": True},
                                "param": {"type": "string", "nullable": True},
                                "details": {"type": "array", "items": _OBJ},
                            },
                        }
                    },
                },
                "List": {
                    "type": "object",
                    "required": ["object", "data", "has_more"],
                    "properties": {
                        "object": {"type": "string", "enum": ["list"]},
                        "data": {"type": "array", "items": _OBJ},
                        "first_id": {"type": "string", "nullable": True},
                        "last_id": {"type": "string", "nullable": True},
                        "has_more": {"type": "boolean"},
                    },
                },
                "Deleted": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"type": "string"},
                        "deleted": {"type": "boolean"},
                    },
                },
                **{name: _object_schema(name) for name in ("Agent", "Thread", "Message", "Run", "RunStep", "File")},
            },
        },
    }


def _with_api_version(operation: dict[str, Any], versions: tuple[str, ...] | None) -> dict[str, Any]:
    """The api-version a route takes: the classic ``v1``, the v2 agents' pair, any value (the 2.0 betas' OpenAI
    routes) or none (``/openai/v1``)."""
    params = [p for p in operation["parameters"] if p["name"] != "api-version"]
    if versions is not None:
        schema: dict[str, Any] = {"type": "string", "enum": list(versions)} if versions else {"type": "string"}
        params.append({"name": "api-version", "in": "query", "required": True, "schema": schema})
    return {**operation, "parameters": params}


def _object_schema(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["id", "object"],
        "properties": {"id": {"type": "string"}, "object": {"type": "string"}, "created_at": {"type": "integer"}},
        "additionalProperties": True,
        "description": f"A {name} object (see the Foundry Agents reference).",
    }


def _operation(name: str, method: str, summary: str, path_params: list[str]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in path_params
    ]
    params.append(
        {"name": "api-version", "in": "query", "required": True, "schema": {"type": "string", "enum": ["v1"]}}
    )
    is_list = method == "get" and name in _LISTS
    if is_list:
        params += [
            {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            },
            {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"}},
            {"name": "after", "in": "query", "schema": {"type": "string"}},
            {"name": "before", "in": "query", "schema": {"type": "string"}},
        ]
    if name == "messages" and method == "get":
        params.append({"name": "run_id", "in": "query", "schema": {"type": "string"}})
    if method == "delete":
        result = "Deleted"
    elif is_list:
        result = "List"
    else:
        result = _RESULTS.get(name, "Error")
    content: dict[str, Any] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{result}"}}}
    if name == "file_content":
        content = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    operation: dict[str, Any] = {
        "operationId": f"{name}_{method}",
        "summary": summary.strip().splitlines()[0] if summary.strip() else name,
        "parameters": params,
        "responses": {
            "200": {"description": "Success (every success is 200).", "content": content},
            "default": {
                "description": "An error.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
    }
    body = _BODIES.get((name, method))
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    elif name == "files" and method == "post":
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "purpose"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "purpose": {"type": "string", "enum": ["assistants", "assistants_output", "vision"]},
                            "filename": {"type": "string"},
                        },
                    }
                }
            },
        }
    return operation


def document_view(patterns: list[URLPattern | URLResolver]) -> Any:
    spec = build(patterns)

    @require_GET
    def document(request: HttpRequest) -> HttpResponse:
        """The OpenAPI document (public: it describes the contract, not any data)."""
        return JsonResponse(spec)

    return document
