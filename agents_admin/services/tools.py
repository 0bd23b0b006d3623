"""Tools this service runs itself (hosted tools): ``openapi``, ``connected_agent`` and ``file_search``.

The model sees every hosted tool as functions it may call: an OpenAPI tool as one function per operation of
its spec (``<tool name>_<operationId>``), a connected agent as one function (its ``name``) taking the task as
``input``, file search as ``file_search`` taking a ``query``. When the model calls one, the worker runs it and
asks the model again, instead of stopping in ``requires_action``; the call is recorded in a ``tool_calls`` run
step in the service's shape, with the arguments and output the model saw, so a resumed run rebuilds the same
context.

Definitions are checked when an agent or a run is created (``tools_check``): a spec that is not OpenAPI 3 with
an absolute http(s) server and named operations, an unknown connection, or an agent that is not in the
project is refused naming the field, so an accepted tool can run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from django.conf import settings

from agents_admin.errors import InvalidInput
from agents_admin.models import Agent, Message, ModelConnection, Run, RunStep, VectorStore
from agents_admin.providers.base import PermanentProviderError, ToolCall
from agents_admin.providers.registry import connection_api_key
from agents_admin.services.vector_stores import chunks_retrieve, vector_store_touch

HOSTED_TOOL_TYPES = ("openapi", "connected_agent", "file_search")
FILE_SEARCH_DEFAULT_RESULTS = 20
FILE_SEARCH_MAX_RESULTS = 50
FILE_SEARCH_RANKER = "default_2024_08_21"
# A citation marker the model copies into its answer: 【<search>:<result>†<file name>】.
CITATION = re.compile(r"【(\d+):(\d+)†[^】]*】")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_REF_DEPTH = 12


@dataclass(frozen=True)
class OpenApiOperation:
    """One operation of an OpenAPI spec, as the worker calls it."""

    method: str
    url: str  # the server URL joined with the path template ("https://api.example.com/v1/items/{id}")
    parameters: tuple[dict[str, Any], ...]  # resolved parameter objects: name, in, required, schema
    has_body: bool
    security: dict[str, Any] | None  # the scheme a connection's key is sent by (apiKey / http bearer)


@dataclass(frozen=True)
class HostedFunction:
    """A function the model sees that this service answers."""

    name: str
    kind: str  # one of HOSTED_TOOL_TYPES
    tool: dict[str, Any]
    definition: dict[str, Any]  # the function definition shown to the model
    operation: OpenApiOperation | None = None


@dataclass
class HostedTools:
    """What the model is offered for a run's tools, and which of those names this service answers."""

    definitions: list[dict[str, Any]] = field(default_factory=list)
    hosted: dict[str, HostedFunction] = field(default_factory=dict)


# --- what the model sees -------------------------------------------------------------------------------


def model_tools(tools: list[dict[str, Any]]) -> HostedTools:
    """The function definitions the model is offered for ``tools`` (function tools as they are)."""
    offered = HostedTools()
    for tool in tools or []:
        kind = tool.get("type")
        if kind == "function":
            offered.definitions.append(tool)
            continue
        for fn in _hosted_functions(tool):
            offered.definitions.append({"type": "function", "function": fn.definition})
            offered.hosted[fn.name] = fn
    return offered


def _hosted_functions(tool: dict[str, Any]) -> list[HostedFunction]:
    kind = tool.get("type")
    if kind == "openapi":
        spec_tool = tool["openapi"]
        functions = []
        for operation_id, summary, parameters, operation in openapi_operations(spec_tool["spec"], check_host=False):
            name = _function_name(f"{spec_tool['name']}_{operation_id}")
            definition = {"name": name, "description": summary, "parameters": parameters}
            functions.append(HostedFunction(name, "openapi", tool, definition, operation))
        return functions
    if kind == "connected_agent":
        details = tool["connected_agent"]
        definition = {
            "name": _function_name(details["name"]),
            "description": details.get("description") or "",
            "parameters": {
                "type": "object",
                "properties": {"input": {"type": "string", "description": "The task for the agent, in full."}},
                "required": ["input"],
            },
        }
        return [HostedFunction(definition["name"], "connected_agent", tool, definition)]
    if kind == "file_search":
        definition = {
            "name": "file_search",
            "description": "Search the attached files for passages relevant to a query; cite a passage by copying "
            "its 【n:i†file】 marker into the answer.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "What to look for, in full words."}},
                "required": ["query"],
            },
        }
        return [HostedFunction("file_search", "file_search", tool, definition)]
    return []


def _function_name(raw: str) -> str:
    return _NAME_UNSAFE.sub("_", raw)[:64] or "tool"


# --- checks at creation ----------------------------------------------------------------------------------


def tools_check(tools: list[dict[str, Any]], *, project_id: int | None, param: str = "tools") -> None:
    """Refuse hosted tool definitions that could not run, naming the field; function tools are checked by
    ``validation.validate_tools``."""
    names: set[str] = {t["function"]["name"] for t in tools if t.get("type") == "function"}
    for index, tool in enumerate(tools):
        where = f"{param}[{index}]"
        kind = tool.get("type")
        if kind == "openapi":
            _openapi_check(tool.get("openapi"), where=f"{where}.openapi", project_id=project_id)
        elif kind == "connected_agent":
            _connected_agent_check(tool.get("connected_agent"), where=f"{where}.connected_agent", project_id=project_id)
        elif kind == "file_search":
            _file_search_check(tool.get("file_search"), where=f"{where}.file_search")
        else:
            continue
        for fn in _hosted_functions(tool):
            if fn.name in names:
                raise InvalidInput(f"{where}: the function name '{fn.name}' is used twice.", param=where)
            names.add(fn.name)


def _openapi_check(body: Any, *, where: str, project_id: int | None) -> None:
    if not isinstance(body, dict):
        raise InvalidInput(f"{where} must be an object with a name, a spec and auth.", param=where)
    name = body.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise InvalidInput(f"{where}.name must be 1-64 letters, digits, '_' or '-'.", param=f"{where}.name")
    try:
        operations = openapi_operations(body.get("spec"))
    except ValueError as exc:
        raise InvalidInput(f"{where}.spec: {exc}", param=f"{where}.spec") from None
    if not operations:
        raise InvalidInput(f"{where}.spec has no operation with an operationId.", param=f"{where}.spec")
    auth = body.get("auth")
    kind = auth.get("type") if isinstance(auth, dict) else None
    if kind == "anonymous":
        return
    if kind == "connection":
        connection_id = (auth.get("security_scheme") or {}).get("connection_id")
        if _connection(connection_id, project_id=project_id) is None:
            raise InvalidInput(
                f"{where}.auth: no model connection '{connection_id}' in this project.",
                param=f"{where}.auth.security_scheme.connection_id",
            )
        return
    if kind == "managed_identity":
        raise InvalidInput(
            f"{where}.auth: managed_identity needs an Azure managed identity, which this service does not have; "
            "use 'anonymous' or 'connection'.",
            param=f"{where}.auth.type",
            code="unsupported_tool",
        )
    raise InvalidInput(f"{where}.auth.type must be 'anonymous' or 'connection'.", param=f"{where}.auth.type")


def _connected_agent_check(body: Any, *, where: str, project_id: int | None) -> None:
    if not isinstance(body, dict):
        raise InvalidInput(f"{where} must be an object with an id, a name and a description.", param=where)
    name = body.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise InvalidInput(f"{where}.name must be 1-64 letters, digits, '_' or '-'.", param=f"{where}.name")
    agent_id = body.get("id")
    if not isinstance(agent_id, str) or not Agent.objects.filter(pk=agent_id, project_id=project_id).exists():
        raise InvalidInput(f"{where}.id: no agent '{agent_id}' in this project.", param=f"{where}.id")


def _file_search_check(body: Any, *, where: str) -> None:
    if body is None:
        return
    if not isinstance(body, dict):
        raise InvalidInput(f"{where} must be an object.", param=where)
    limit = body.get("max_num_results")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= FILE_SEARCH_MAX_RESULTS
    ):
        raise InvalidInput(
            f"max_num_results must be an integer from 1 to {FILE_SEARCH_MAX_RESULTS}.", param=f"{where}.max_num_results"
        )
    ranking = body.get("ranking_options")
    if ranking is not None:
        threshold = ranking.get("score_threshold", 0) if isinstance(ranking, dict) else None
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
            raise InvalidInput(
                "ranking_options.score_threshold must be a number from 0 to 1.",
                param=f"{where}.ranking_options.score_threshold",
            )


def _connection(reference: Any, *, project_id: int | None) -> ModelConnection | None:
    """A connection by name (or id) that this project may use: its own or an instance-wide one."""
    if not isinstance(reference, str) or not reference:
        return None
    candidates = ModelConnection.objects.filter(project_id__in=[project_id]) | ModelConnection.objects.filter(
        project__isnull=True
    )
    by_name = candidates.filter(name=reference.rsplit("/", 1)[-1]).first()
    if by_name is not None or not reference.isdigit():
        return by_name
    return candidates.filter(pk=int(reference)).first()


# --- OpenAPI specs ---------------------------------------------------------------------------------------


def openapi_operations(
    spec: Any, *, check_host: bool = True
) -> list[tuple[str, str, dict[str, Any], OpenApiOperation]]:
    """``(operationId, description, JSON Schema of the arguments, operation)`` for each named operation.

    Raises ValueError saying what is wrong: not OpenAPI 3, no absolute http(s) server URL, a broken $ref.
    """
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3."):
        raise ValueError("must be an OpenAPI 3 document (an object with 'openapi': '3.x').")
    servers = spec.get("servers")
    server = servers[0].get("url") if isinstance(servers, list) and servers and isinstance(servers[0], dict) else None
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise ValueError("needs servers[0].url, an absolute http(s) URL the operations are called on.")
    if check_host and not host_allowed(server):
        raise ValueError(f"servers[0].url: the host '{urlsplit(server).hostname}' is not one OpenAPI tools may call.")
    paths = spec.get("paths")
    if not isinstance(paths, dict):
        raise ValueError("needs a 'paths' object.")
    security = _security_scheme(spec)
    found = []
    for path, item in paths.items():
        item = _resolve(spec, item)
        if not isinstance(item, dict) or not isinstance(path, str):
            continue
        shared = [_resolve(spec, p) for p in item.get("parameters") or []]
        for method in HTTP_METHODS:
            op = item.get(method)
            if not isinstance(op, dict) or not isinstance(op.get("operationId"), str):
                continue
            parameters = {(p.get("name"), p.get("in")): p for p in shared if isinstance(p, dict)}
            for p in op.get("parameters") or []:
                p = _resolve(spec, p)
                if isinstance(p, dict):
                    parameters[(p.get("name"), p.get("in"))] = p
            usable = tuple(
                p for p in parameters.values() if isinstance(p.get("name"), str) and p.get("in") in _PARAM_PLACES
            )
            body_schema = _json_body_schema(spec, op.get("requestBody"))
            properties: dict[str, Any] = {}
            required: list[str] = []
            for p in usable:
                schema = dict(_resolve(spec, p.get("schema") or {"type": "string"}, deep=True))
                if p.get("description"):
                    schema.setdefault("description", p["description"])
                properties[p["name"]] = schema
                if p.get("required") or p.get("in") == "path":
                    required.append(p["name"])
            if body_schema is not None:
                properties["body"] = body_schema
                if (_resolve(spec, op.get("requestBody")) or {}).get("required"):
                    required.append("body")
            arguments = {"type": "object", "properties": properties, "required": required}
            description = str(op.get("description") or op.get("summary") or op["operationId"])[:1024]
            operation = OpenApiOperation(
                method=method.upper(),
                url=server.rstrip("/") + "/" + path.lstrip("/"),
                parameters=usable,
                has_body=body_schema is not None,
                security=security,
            )
            found.append((op["operationId"], description, arguments, operation))
    return found


_PARAM_PLACES = ("path", "query", "header")


def host_allowed(url: str) -> bool:
    """``OPENAPI_TOOL_ALLOWED_HOSTS`` (empty: any host) lets OpenAPI tools call this URL's host."""
    allowed = [h.lower() for h in settings.OPENAPI_TOOL_ALLOWED_HOSTS]
    return not allowed or (urlsplit(url).hostname or "").lower() in allowed


def _json_body_schema(spec: dict[str, Any], request_body: Any) -> dict[str, Any] | None:
    request_body = _resolve(spec, request_body)
    if not isinstance(request_body, dict):
        return None
    content = request_body.get("content") or {}
    media = content.get("application/json") if isinstance(content, dict) else None
    if not isinstance(media, dict):
        return None
    return dict(_resolve(spec, media.get("schema") or {"type": "object"}, deep=True))


def _security_scheme(spec: dict[str, Any]) -> dict[str, Any] | None:
    schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    for scheme in schemes.values() if isinstance(schemes, dict) else []:
        scheme = _resolve(spec, scheme)
        if isinstance(scheme, dict) and scheme.get("type") in ("apiKey", "http"):
            return scheme
    return None


def _resolve(spec: dict[str, Any], node: Any, *, deep: bool = False, depth: int = 0) -> Any:
    """Follow local ``#/...`` references (and, with ``deep``, those nested in a schema)."""
    if depth > _REF_DEPTH:
        raise ValueError("$ref nesting is too deep (or circular).")
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local references ('#/...') are supported, not '{ref}'.")
        target: Any = spec
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        if target is None:
            raise ValueError(f"the reference '{ref}' points nowhere.")
        return _resolve(spec, target, deep=deep, depth=depth + 1)
    if deep and isinstance(node, dict):
        return {key: _resolve(spec, value, deep=True, depth=depth + 1) for key, value in node.items()}
    if deep and isinstance(node, list):
        return [_resolve(spec, value, deep=True, depth=depth + 1) for value in node]
    return node


# --- running a call ----------------------------------------------------------------------------------


def openapi_call(fn: HostedFunction, call: ToolCall, *, project_id: int) -> dict[str, Any]:
    """Call the operation over HTTP; the run step's tool-call entry, with the output the model is given.

    Whatever goes wrong with the call itself (bad arguments, timeout, a refused connection, an oversized
    answer) becomes the output, so the model can say so; only a missing connection key fails the run.
    """
    assert fn.operation is not None
    output = _openapi_output(fn, fn.operation, call.arguments, project_id=project_id)
    return {
        "id": call.id,
        "type": "openapi",
        "openapi": {"name": fn.name, "arguments": call.arguments, "output": output},
    }


def _openapi_output(fn: HostedFunction, op: OpenApiOperation, arguments: str, *, project_id: int) -> str:
    try:
        args = json.loads(arguments or "{}")
    except ValueError:
        return "error: the arguments are not valid JSON."
    if not isinstance(args, dict):
        return "error: the arguments must be a JSON object."
    url = op.url
    query: dict[str, str] = {}
    headers: dict[str, str] = {"Accept": "application/json"}
    for p in op.parameters:
        name = p["name"]
        if name not in args:
            if p.get("in") == "path" or p.get("required"):
                return f"error: the argument '{name}' is required."
            continue
        value = args[name]
        text = json.dumps(value) if isinstance(value, dict | list) else str(value)
        if p["in"] == "path":
            url = url.replace("{" + name + "}", quote(text, safe=""))
        elif p["in"] == "query":
            query[name] = text
        else:
            headers[name] = text
    if not host_allowed(url):
        return f"error: the host '{urlsplit(url).hostname}' is not one OpenAPI tools may call here."
    _authorise(fn, op, query, headers, project_id=project_id)
    cap = settings.OPENAPI_TOOL_MAX_RESPONSE_BYTES
    try:
        with (
            httpx.Client(timeout=settings.OPENAPI_TOOL_TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream(
                op.method, url, params=query, headers=headers, json=args.get("body") if op.has_body else None
            ) as response,
        ):
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > cap:
                    return f"error: the response is larger than {cap:,} bytes; it was not read."
            text = bytes(body).decode(response.encoding or "utf-8", errors="replace")
            if response.status_code >= 400:
                return f"error: HTTP {response.status_code} {response.reason_phrase}: {text}"
            return text
    except httpx.TimeoutException:
        return f"error: no answer within {settings.OPENAPI_TOOL_TIMEOUT_SECONDS:g} seconds."
    except httpx.HTTPError as exc:
        return f"error: the request failed ({type(exc).__name__}: {exc})."


def _authorise(
    fn: HostedFunction, op: OpenApiOperation, query: dict[str, str], headers: dict[str, str], *, project_id: int
) -> None:
    auth = fn.tool["openapi"].get("auth") or {}
    if auth.get("type") != "connection":
        return
    connection = _connection((auth.get("security_scheme") or {}).get("connection_id"), project_id=project_id)
    if connection is None:
        raise PermanentProviderError(
            "tool_configuration_error", f"The OpenAPI tool '{fn.tool['openapi']['name']}' lost its connection."
        )
    key = connection_api_key(connection)
    scheme = op.security or {}
    if scheme.get("type") == "apiKey" and scheme.get("in") == "query":
        query[str(scheme.get("name"))] = key
    elif scheme.get("type") == "apiKey" and scheme.get("in") == "header":
        headers[str(scheme.get("name"))] = key
    else:
        headers["Authorization"] = f"Bearer {key}"


def connected_agent_entry(
    fn: HostedFunction, call: ToolCall, *, output: str, agent_id: str, thread_id: str | None, run_id: str | None
) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "connected_agent",
        "connected_agent": {
            "name": fn.name,
            "arguments": call.arguments,
            "output": output,
            "agent_id": agent_id,
            "thread_id": thread_id,
            "run_id": run_id,
        },
    }


def connected_agent_input(call: ToolCall) -> str:
    """The task text the model gave the connected agent (its arguments as they are when not ``{"input"}``)."""
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        return call.arguments
    if isinstance(args, dict) and isinstance(args.get("input"), str) and args["input"].strip():
        return args["input"]
    return call.arguments or "(no input)"


def file_search_call(fn: HostedFunction, call: ToolCall, *, store_ids: list[str], search: int) -> dict[str, Any]:
    """Search the stores for the model's query: the step's ``file_search`` entry, with the ranked chunks.

    ``search`` numbers this search within the run, for the citation markers the model is shown.
    """
    options = fn.tool.get("file_search") or {}
    limit = options.get("max_num_results") or FILE_SEARCH_DEFAULT_RESULTS
    threshold = float((options.get("ranking_options") or {}).get("score_threshold") or 0.0)
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        args = {}
    query = args.get("query") if isinstance(args, dict) else None
    if not isinstance(query, str) or not query.strip():
        query = call.arguments or ""
    hits = chunks_retrieve(store_ids=store_ids, query=query, limit=limit, score_threshold=threshold)
    if store_ids:
        vector_store_touch(store_ids)
    return {
        "id": call.id,
        "type": "file_search",
        "file_search": {
            "ranking_options": {"ranker": FILE_SEARCH_RANKER, "score_threshold": threshold},
            "results": [
                {"file_id": h.file_id, "file_name": h.file_name, "score": h.score,
                 "content": [{"type": "text", "text": h.text}]}
                for h in hits
            ],
            # What the model asked and which search this was, so the context and citations can be rebuilt.
            "name": "file_search",
            "arguments": call.arguments,
            "search": search,
            "vector_store_ids": store_ids,
        },
    }  # fmt: skip


def file_search_output(body: dict[str, Any]) -> str:
    """The ranked chunks as the model reads them, each behind the marker that cites it."""
    results = body.get("results") or []
    if not body.get("vector_store_ids"):
        return "No files are attached to search: the agent and the thread name no vector store."
    if not results:
        return "No passage of the attached files matches that query."
    search = body.get("search", 0)
    return "\n\n".join(
        f"【{search}:{index}†{r.get('file_name')}】 " + "".join(c.get("text", "") for c in r.get("content") or [])
        for index, r in enumerate(results)
    )


def citations(text: str, searches: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``file_citation`` annotations for the markers the answer copied from file search results."""
    annotations = []
    for match in CITATION.finditer(text):
        results = searches.get(int(match.group(1))) or []
        index = int(match.group(2))
        if index >= len(results):
            continue
        result = results[index]
        quote = "".join(c.get("text", "") for c in result.get("content") or [])[:200]
        annotations.append(
            {
                "type": "file_citation",
                "text": match.group(0),
                "start_index": match.start(),
                "end_index": match.end(),
                "file_citation": {"file_id": result.get("file_id"), "quote": quote},
            }
        )
    return annotations


def run_vector_stores(run: Run) -> list[str]:
    """The live vector stores a run searches: its agent's, then its thread's (``tool_resources.file_search``)."""
    agent_resources = Agent.objects.filter(pk=run.agent_ref).values_list("tool_resources", flat=True).first()
    named = [*_store_ids(agent_resources), *_store_ids(run.thread.tool_resources)]
    live = set(
        VectorStore.objects.filter(pk__in=named, project_id=run.thread.project_id, expired=False).values_list(
            "id", flat=True
        )
    )
    return [store_id for store_id in dict.fromkeys(named) if store_id in live]


def _store_ids(tool_resources: Any) -> list[str]:
    search = tool_resources.get("file_search") if isinstance(tool_resources, dict) else None
    ids = search.get("vector_store_ids") if isinstance(search, dict) else None
    return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []


def _file_search_entries(run_id: str) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    steps = RunStep.objects.filter(run_id=run_id, type=RunStep.Type.TOOL_CALLS).values_list("step_details", flat=True)
    for details in steps:
        for entry in (details or {}).get("tool_calls") or []:
            if entry.get("type") == "file_search":
                body = entry.get("file_search") or {}
                found[int(body.get("search", 0))] = body.get("results") or []
    return found


def file_searches_done(run_id: str) -> int:
    return len(_file_search_entries(run_id))


def answer_cite(run_id: str, message_id: str) -> None:
    """Add ``file_citation`` annotations to the run's answer for the file search markers it copied (called in
    the transaction that completes the run)."""
    searches = _file_search_entries(run_id)
    message = Message.objects.filter(pk=message_id).first() if searches else None
    if message is None:
        return
    content = []
    for part in message.content or []:
        if part.get("type") == "text":
            value = part["text"]["value"]
            part = {"type": "text", "text": {"value": value, "annotations": citations(value, searches)}}
        content.append(part)
    Message.objects.filter(pk=message.pk).update(content=content)


def call_turn(entry: dict[str, Any]) -> ToolCall:
    """A recorded tool-call entry as the model saw the call (the output is ``call_output``)."""
    body = entry.get(entry.get("type") or "function") or {}
    return ToolCall(id=entry["id"], name=str(body.get("name") or ""), arguments=str(body.get("arguments") or "{}"))


def call_output(entry: dict[str, Any]) -> str:
    body = entry.get(entry.get("type") or "function") or {}
    if entry.get("type") == "file_search":
        return file_search_output(body)
    return str(body.get("output") or "")
