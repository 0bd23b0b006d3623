"""The v2 protocol's shapes of an agent definition <-> the classic shapes an agent keeps (framework-free).

v2 function tools are flat (``{"type": "function", "name", "parameters", ...}``) where the classic API nests them
under ``function``; a v2 definition's ``text.format`` is the classic ``response_format``.
"""

from __future__ import annotations

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
