"""Validation shared by the console's forms and the REST API. Raises InvalidInput naming the field."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from agents_admin.errors import InvalidInput
from agents_admin.lib.text import text_problem

METADATA_MAX_PAIRS = 16
METADATA_MAX_KEY = 64
METADATA_MAX_VALUE = 512
MAX_TOOLS = 128
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# A thread flag: a standard one or a free tag, as a URL and a filter can carry it.
FLAG_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
KNOWN_TOOL_TYPES = {
    "function",
    "code_interpreter",
    "file_search",
    "bing_grounding",
    "azure_ai_search",
    "openapi",
    "azure_function",
    "connected_agent",
}
# Tools this service runs itself; the others are refused at creation, each with the reason, rather than
# accepted and never run. A remote Foundry project runs every known tool (its agents are the remote's).
RUNNABLE_TOOL_TYPES = {"function", "openapi", "connected_agent", "file_search"}
UNHOSTED_TOOLS = {
    "code_interpreter": "it needs a sandboxed code-execution service, which this service does not host",
    "bing_grounding": "it needs a Bing Search resource in Azure, which this service cannot host",
    "azure_ai_search": "it needs an Azure AI Search index, which this service cannot host",
    "azure_function": "it needs Azure Functions with Azure Storage queues, which this service cannot host",
}


def reject_unstorable(value: str, *, param: str) -> str:
    """Text PostgreSQL cannot store (NUL) or that is not Unicode (a lone surrogate), refused as bad input naming
    the field instead of failing as a server error at insert or on every page that shows it later."""
    problem = text_problem(value)
    if problem:
        raise InvalidInput(f"{param} {problem}.", param=param)
    return value


# A connection may read its secret from an environment variable, but only from one named with this prefix: any
# other name (SECRET_KEY, DATABASE_URL) would let whoever edits a connection send the server's own secrets to an
# endpoint of their choice.
SECRET_ENV_PREFIX = "AGENTS_ADMIN_SECRET_"
_SECRET_ENV = re.compile(rf"^{SECRET_ENV_PREFIX}[A-Z0-9_]+$")


def secret_env_allowed(name: str) -> bool:
    return bool(_SECRET_ENV.match(name))


def validate_secret_env(value: Any, *, param: str) -> str:
    """An environment variable name a secret may be read from: empty, or ``AGENTS_ADMIN_SECRET_<NAME>``."""
    name = str(value or "").strip()
    if name and not secret_env_allowed(name):
        raise InvalidInput(
            f"A secret can be read only from an environment variable named {SECRET_ENV_PREFIX}<NAME> "
            "(capitals, digits and '_').",
            param=param,
        )
    return name


def endpoint_host(url: str) -> str:
    """The scheme, host and port an endpoint sends its credential to: a stored secret is tied to it."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"


def validate_metadata(value: Any, *, param: str = "metadata") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("Metadata must be an object of string keys and string values.", param=param)
    if len(value) > METADATA_MAX_PAIRS:
        raise InvalidInput(f"Metadata can have at most {METADATA_MAX_PAIRS} pairs.", param=param)
    for key, item in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput("Metadata keys must be non-empty strings.", param=param)
        if len(key) > METADATA_MAX_KEY:
            raise InvalidInput(f"Metadata key '{key[:20]}…' is longer than {METADATA_MAX_KEY} characters.", param=param)
        if not isinstance(item, str):
            raise InvalidInput(f"Metadata value for '{key}' must be a string.", param=param)
        if len(item) > METADATA_MAX_VALUE:
            raise InvalidInput(
                f"Metadata value for '{key}' is longer than {METADATA_MAX_VALUE} characters.", param=param
            )
        reject_unstorable(key + item, param=param)
    return dict(value)


def validate_tools(value: Any, *, param: str = "tools", hosted: bool = True) -> list[dict[str, Any]]:
    """Tool definitions in the API's shape. Function tools need a valid name and a JSON Schema object.

    ``hosted``: the tools run on this service, so a tool it cannot run is refused naming the tool and why
    (False for a remote Foundry project, which runs every known tool itself)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("Tools must be a list of tool definitions.", param=param)
    if len(value) > MAX_TOOLS:
        raise InvalidInput(f"An agent can have at most {MAX_TOOLS} tools.", param=param)
    seen: set[str] = set()
    for index, tool in enumerate(value):
        where = f"{param}[{index}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise InvalidInput(f"{where} must be an object with a 'type'.", param=where)
        if tool["type"] not in KNOWN_TOOL_TYPES:
            raise InvalidInput(f"{where}: unknown tool type '{tool['type']}'.", param=f"{where}.type")
        if hosted and tool["type"] not in RUNNABLE_TOOL_TYPES:
            reason = UNHOSTED_TOOLS[tool["type"]]
            raise InvalidInput(
                f"{where}: the '{tool['type']}' tool cannot run here: {reason}.",
                param=f"{where}.type",
                code="unsupported_tool",
            )
        if tool["type"] == "function":
            _validate_function(tool.get("function"), where=where, seen=seen)
    return value


def _validate_function(function: Any, *, where: str, seen: set[str]) -> None:
    if not isinstance(function, dict):
        raise InvalidInput(f"{where}: a function tool needs a 'function' object.", param=f"{where}.function")
    name = function.get("name")
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        raise InvalidInput(
            f"{where}: function name must be 1-64 letters, digits, '_' or '-'.",
            param=f"{where}.function.name",
        )
    if name in seen:
        raise InvalidInput(f"{where}: function '{name}' is defined twice.", param=f"{where}.function.name")
    seen.add(name)
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise InvalidInput(
            f"{where}: function parameters must be a JSON Schema of type 'object'.",
            param=f"{where}.function.parameters",
        )
    properties = parameters.get("properties", {})
    if not isinstance(properties, dict) or not all(isinstance(p, dict) for p in properties.values()):
        raise InvalidInput(
            f"{where}: 'properties' must map names to JSON Schemas.", param=f"{where}.function.parameters"
        )
    required = parameters.get("required", [])
    if not isinstance(required, list) or not set(required) <= set(properties):
        raise InvalidInput(
            f"{where}: 'required' must list names defined in 'properties'.",
            param=f"{where}.function.parameters",
        )


def validate_range(value: Any, *, param: str, low: float, high: float) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{param} must be a number between {low} and {high}.", param=param)
    if not low <= value <= high:
        raise InvalidInput(f"{param} must be between {low} and {high}.", param=param)
    return float(value)


def validate_response_format(value: Any, *, param: str = "response_format") -> Any:
    if value is None or value == "auto":
        return value
    if value == "none":
        raise InvalidInput("response_format 'none' is not supported.", param=param)
    if isinstance(value, dict) and value.get("type") in {"text", "json_object"}:
        return value
    if isinstance(value, dict) and value.get("type") == "json_schema":
        schema = value.get("json_schema")
        if isinstance(schema, dict) and isinstance(schema.get("name"), str) and isinstance(schema.get("schema"), dict):
            return value
        raise InvalidInput("json_schema needs a 'name' and a 'schema' object.", param=param)
    raise InvalidInput(
        "response_format must be 'auto', {'type': 'text'}, {'type': 'json_object'} or a json_schema.",
        param=param,
    )


def validate_truncation_strategy(value: Any, *, param: str = "truncation_strategy") -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type") not in {"auto", "last_messages"}:
        raise InvalidInput("truncation_strategy.type must be 'auto' or 'last_messages'.", param=param)
    if value["type"] == "last_messages":
        n = value.get("last_messages")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidInput("last_messages must be an integer of at least 1.", param=f"{param}.last_messages")
        return {"type": "last_messages", "last_messages": n}
    return {"type": "auto", "last_messages": None}


def validate_name(value: Any, *, param: str = "name", max_length: int = 256, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{param} must be a string.", param=param)
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{param} is required.", param=param)
    if len(value) > max_length:
        raise InvalidInput(f"{param} must be at most {max_length} characters.", param=param)
    return reject_unstorable(value, param=param)


# The longest message text, summed over its text blocks.
MAX_TEXT_LENGTH = 1_500_000


def _detail(image: dict[str, Any], where: str) -> dict[str, str]:
    """An image part's optional ``detail`` (how closely the model looks), kept for the model."""
    detail = image.get("detail")
    if detail is None:
        return {}
    if detail not in ("auto", "low", "high"):
        raise InvalidInput("detail must be 'auto', 'low' or 'high'.", param=f"{where}.detail")
    return {"detail": detail}


def validate_content(content: Any, *, param: str = "content") -> tuple[list[dict[str, Any]], str]:
    """Normalise message input (a string, or a list of input blocks) to output parts and their plain text."""
    if isinstance(content, str):
        if not content.strip():
            raise InvalidInput("Message content must not be empty.", param=param)
        blocks: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list) and content:
        blocks = content
    else:
        raise InvalidInput("Message content must be a string or a non-empty list of content blocks.", param=param)
    parts: list[dict[str, Any]] = []
    texts: list[str] = []
    for index, block in enumerate(blocks):
        where = f"{param}[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            value = block.get("text")
            if isinstance(value, dict):  # already in output shape
                value = value.get("value")
            if not isinstance(value, str):
                raise InvalidInput("A text block needs a string 'text'.", param=f"{where}.text")
            reject_unstorable(value, param=param if isinstance(content, str) else f"{where}.text")
            parts.append({"type": "text", "text": {"value": value, "annotations": []}})
            texts.append(value)
        elif kind == "image_file":
            file_id = (block.get("image_file") or {}).get("file_id")
            if not isinstance(file_id, str) or not file_id:
                raise InvalidInput("An image_file block needs image_file.file_id.", param=f"{where}.image_file")
            parts.append(
                {
                    "type": "image_file",
                    "image_file": {"file_id": file_id, **_detail(block["image_file"], f"{where}.image_file")},
                }
            )
        elif kind == "image_url":
            url = (block.get("image_url") or {}).get("url")
            if not isinstance(url, str) or not url.startswith(("https://", "http://", "data:image/")):
                raise InvalidInput(
                    "An image_url block needs an http(s) or data:image URL.", param=f"{where}.image_url.url"
                )
            parts.append(
                {"type": "image_url", "image_url": {"url": url, **_detail(block["image_url"], f"{where}.image_url")}}
            )
        else:
            raise InvalidInput("Content blocks are text, image_file or image_url.", param=f"{where}.type")
    text = "\n".join(texts)
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"Message text is longer than {MAX_TEXT_LENGTH:,} characters.", param=param)
    return parts, text
