"""The v2 protocol's shapes of an agent definition <-> the classic shapes an agent keeps (framework-free).

v2 function tools are flat (``{"type": "function", "name", "parameters", ...}``) where the classic API nests them
under ``function``; a v2 definition's ``text.format`` is the classic ``response_format``.
"""

from __future__ import annotations

import re
from typing import Any


def tools_from_v2(tools: Any) -> Any:
    """v2 tools -> the classic shape; other tools pass as they are (validation names what it does not know)."""
    if not isinstance(tools, list):
        return tools
    converted = []
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function" and "function" not in tool:
            function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
            converted.append({"type": "function", "function": function})
        else:
            converted.append(tool)
    return converted


def tools_to_v2(tools: Any) -> list[Any]:
    converted = []
    for tool in tools or []:
        if isinstance(tool, dict) and tool.get("type") == "function" and isinstance(tool.get("function"), dict):
            converted.append({"type": "function", **tool["function"]})
        else:
            converted.append(tool)
    return converted


def response_format_from_text(text: Any) -> Any:
    """``text.format`` -> the classic ``response_format`` (None: plain text). ValueError names what is wrong."""
    if text is None:
        return None
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        raise ValueError("text must be an object with a 'format' object.")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = {k: fmt[k] for k in ("name", "description", "schema", "strict") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise ValueError("text.format.type must be 'text', 'json_object' or 'json_schema'.")


def text_from_response_format(response_format: Any) -> dict[str, Any]:
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        return {"format": {"type": "json_object"}}
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return {"format": {"type": "json_schema", **(response_format.get("json_schema") or {})}}
    return {"format": {"type": "text"}}


def definition_fields(definition: dict[str, Any]) -> dict[str, Any]:
    """A prompt definition's agent fields (what a version keeps and a run uses)."""
    fields: dict[str, Any] = {"model": definition.get("model")}
    for key in ("instructions", "temperature", "top_p"):
        if key in definition:
            fields[key] = definition[key]
    if "tools" in definition:
        fields["tools"] = tools_from_v2(definition["tools"])
    if "text" in definition:
        fields["response_format"] = response_format_from_text(definition["text"])
    return fields


# --- from the classic shapes (the export of a remote classic project for the v2 surface to import) -------------

V2_NAME_MAX = 63


def v2_name_base(name: str | None) -> str:
    """A classic agent's display name made a valid v2 name: letters, digits and hyphens, alphanumeric at both
    ends, 63 at most (room left for a ``-N`` suffix); ``agent`` when nothing is left."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name or "").strip("-")[:56].strip("-").lower() or "agent"


def v2_name_unique(name: str | None, taken: set[str]) -> str:
    """``v2_name_base(name)``, made unique against ``taken`` with ``-2``, ``-3`` …; the result is added to it."""
    base = v2_name_base(name)
    candidate, suffix = base, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{base}-{suffix}"
    taken.add(candidate)
    return candidate


# Tools a v2 prompt definition carries as they are; the others name resources of the source project (vector
# stores, connections, other agents' ids) that do not exist where the export is imported.
PORTABLE_TOOL_TYPES = frozenset({"function"})


def classic_agent_definition(agent: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A classic agent object (as the API returns it) -> (a v2 ``prompt`` definition, the tools left out)."""
    definition: dict[str, Any] = {"kind": "prompt", "model": agent.get("model") or ""}
    if agent.get("instructions"):
        definition["instructions"] = agent["instructions"]
    for key in ("temperature", "top_p"):
        if isinstance(agent.get(key), int | float):
            definition[key] = agent[key]
    tools, dropped = [], []
    for tool in agent.get("tools") or []:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind in PORTABLE_TOOL_TYPES:
            tools.append(tool)
        else:
            dropped.append(str(kind))
    if tools:
        definition["tools"] = tools_to_v2(tools)
    response_format = agent.get("response_format")
    if isinstance(response_format, dict):
        definition["text"] = text_from_response_format(response_format)
    return definition, dropped


def classic_message_item(message: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A classic message object -> (a v2 message item, the content parts left out). Text becomes
    ``input_text`` (user) or ``output_text`` (assistant); images name files of the source project, so they are
    left out and named in the text instead, keeping the turn's place in the conversation."""
    role = "assistant" if message.get("role") == "assistant" else "user"
    part_type = "output_text" if role == "assistant" else "input_text"
    parts, dropped = [], []
    for block in message.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text = block.get("text")
            value = text.get("value") if isinstance(text, dict) else text
            parts.append({"type": part_type, "text": str(value or "")})
        elif kind == "image_file":
            file_id = (block.get("image_file") or {}).get("file_id", "")
            dropped.append(f"image_file {file_id}")
            parts.append({"type": part_type, "text": f"[image {file_id} not exported]"})
        elif kind == "image_url" and role == "user":  # a URL reaches the image from anywhere
            parts.append({"type": "input_image", "image_url": (block.get("image_url") or {}).get("url", "")})
        else:
            dropped.append(str(kind))
    if not parts:
        parts.append({"type": part_type, "text": ""})
    return {"type": "message", "role": role, "content": parts}, dropped


def v2_definition_portable(definition: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A v2 version's definition with only the tools that travel (see ``PORTABLE_TOOL_TYPES``)."""
    tools = definition.get("tools") or []
    kept = [t for t in tools if isinstance(t, dict) and t.get("type") in PORTABLE_TOOL_TYPES]
    dropped = [str(t.get("type")) if isinstance(t, dict) else "?" for t in tools if t not in kept]
    portable = {k: v for k, v in definition.items() if k != "tools"}
    if kept:
        portable["tools"] = kept
    return portable, dropped


def v2_message_item(item: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """A conversation's item as one to add elsewhere: user and assistant messages with their text (and image URLs);
    None for other items (a response's function calls and tool results are its own, produced again by a run)."""
    if item.get("type", "message") != "message" or item.get("role") not in ("user", "assistant"):
        return None
    role = item["role"]
    part_type = "output_text" if role == "assistant" else "input_text"
    parts: list[dict[str, Any]] = []
    dropped: list[str] = []
    content = item.get("content")
    for part in [{"type": part_type, "text": content}] if isinstance(content, str) else content or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": part_type, "text": str(part.get("text") or "")})
        elif kind == "input_image" and part.get("image_url") and role == "user":
            parts.append({"type": "input_image", "image_url": part["image_url"]})
        else:
            dropped.append(str(kind if kind != "input_image" else f"input_image {part.get('file_id', '')}"))
    return {"type": "message", "role": role, "content": parts or [{"type": part_type, "text": ""}]}, dropped
