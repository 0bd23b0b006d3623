"""The model-provider seam: messages and tools in, a reply (text and/or tool calls, usage) out.

Providers are framework-free: no ORM here. Errors are typed so the run engine knows what to retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON string, as the wire format carries it


@dataclass(frozen=True)
class ImageInput:
    """An image a message shows the model: an http(s) URL, or the bytes inline as a ``data:`` URL."""

    url: str
    detail: str | None = None  # auto | low | high


@dataclass(frozen=True)
class ChatMessage:
    """One entry of the model input, in chat-completions terms."""

    role: str  # system | user | assistant | tool
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class ModelRequest:
    model: str
    messages: list[ChatMessage]
    tools: list[dict[str, Any]] = field(default_factory=list)
    temperature: float | None = None
    top_p: float | None = None
    max_completion_tokens: int | None = None
    response_format: Any = None
    tool_choice: Any = None
    parallel_tool_calls: bool = True


@dataclass(frozen=True)
class ModelReply:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    # "stop", "tool_calls" or "length" (the completion limit cut the answer short).
    finish_reason: str = "stop"


class ProviderError(Exception):
    """A model call failed. ``code`` goes to the run's last_error.code."""

    transient = False
    # The endpoint's HTTP status, when the failure was an HTTP error answer.
    status: int | None = None

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientProviderError(ProviderError):
    """Worth retrying later (rate limit, 5xx, timeout)."""

    transient = True

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """Retrying will not help (bad request, auth, content filter, malformed response)."""


class Cancelled(Exception):
    """The run was cancelled or expired while the provider was working."""


# Called by providers while they work: reports liveness and raises Cancelled when the run should stop.
# Streaming providers pass the text so far, so the console can show it while the model generates.
Checkpoint = Callable[[str], None]


class Provider(Protocol):
    # Tokens the model can take in and give out in one call; "auto" truncation fits the input into it.
    @property
    def context_window(self) -> int: ...

    # Whether the model takes images; a run whose input has images fails clearly when it does not.
    @property
    def accepts_images(self) -> bool: ...

    def complete(self, request: ModelRequest, checkpoint: Checkpoint) -> ModelReply: ...
