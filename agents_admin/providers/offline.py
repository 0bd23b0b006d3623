"""The built-in offline model: deterministic, no network, able to walk a run through every state.

What it does depends on the last user message (case-insensitive, anywhere in the text):

- ``/tool`` (or ``/tool NAME {json}``): asks for a call of the agent's first function tool (or NAME), with
  the given JSON arguments or ``{}``; the run goes to requires_action.
- ``/tools``: asks for every function tool at once (parallel tool calls).
- ``/slow``: answers after ``OFFLINE_SLOW_SECONDS`` (default 5 s), streaming word by word; cancel it meanwhile.
- ``/fail``: fails the run with last_error code ``offline_model_failure``.
- ``/long``: a long answer (200 words), to watch streaming and the completion-token limit.
- anything else: a short, deterministic answer that quotes the message.

After tool outputs are submitted it answers with what the tools returned. An agent with ``file_search`` has its
files searched for each question, and the answer quotes the best passage with its citation marker.
"""

from __future__ import annotations

import json
import re
import time

from agents_admin.ids import new_call_id
from agents_admin.providers.base import (
    ChatMessage,
    Checkpoint,
    ModelReply,
    ModelRequest,
    PermanentProviderError,
    ToolCall,
    Usage,
)

_TOOL_DIRECTIVE = re.compile(r"/tool(?:\s+(?P<name>[A-Za-z0-9_-]+))?(?:\s+(?P<args>\{.*\}))?", re.S)


def count_tokens(text: str) -> int:
    """A rough, offline token count: about four characters a token, at least one a word."""
    if not text:
        return 0
    return max(len(text.split()), (len(text) + 3) // 4)


class OfflineProvider:
    # It takes images, and says how many it was shown (so a test can see they reached the model).
    accepts_images = True

    def __init__(self, slow_seconds: float = 5.0, context_window: int = 128_000) -> None:
        self.slow_seconds = slow_seconds
        self.context_window = context_window

    def complete(self, request: ModelRequest, checkpoint: Checkpoint) -> ModelReply:
        prompt_tokens = sum(count_tokens(m.content) + 4 for m in request.messages)
        last = request.messages[-1] if request.messages else ChatMessage(role="user")
        if last.role == "tool":
            return self._after_tools(request, prompt_tokens)
        text = last.content
        lowered = text.lower()
        if "/fail" in lowered:
            raise PermanentProviderError("offline_model_failure", "The offline model was asked to fail (/fail).")
        if "/tools" in lowered:
            return self._tool_reply(request, names=_function_names(request), args="{}", prompt=prompt_tokens)
        match = _TOOL_DIRECTIVE.search(text)
        if match and "/tool" in lowered:
            names = _function_names(request)
            wanted = match.group("name")
            chosen = [wanted] if wanted and wanted in names else names[:1]
            return self._tool_reply(request, names=chosen, args=match.group("args") or "{}", prompt=prompt_tokens)
        if "file_search" in _function_names(request) and last.role == "user":
            # With files to search, it searches them for the question first (and quotes what it finds).
            query = json.dumps({"query": text})
            return self._tool_reply(request, names=["file_search"], args=query, prompt=prompt_tokens)
        if "/long" in lowered:
            answer = " ".join(f"word{i}" for i in range(1, 201))
        else:
            quoted = " ".join(text.split())[:200]
            answer = f"(offline model) You said: “{quoted}”. I am the built-in offline model."
            if last.images:
                answer += f" You showed me {len(last.images)} image(s)."
        return self._answer(answer, request, prompt_tokens, slow="/slow" in lowered, checkpoint=checkpoint)

    def _answer(
        self, answer: str, request: ModelRequest, prompt: int, *, slow: bool, checkpoint: Checkpoint
    ) -> ModelReply:
        words = answer.split(" ")
        finish = "stop"
        if request.max_completion_tokens is not None and len(words) > request.max_completion_tokens:
            words, finish = words[: request.max_completion_tokens], "length"
        delay = self.slow_seconds / max(len(words), 1) if slow else 0.0
        emitted: list[str] = []
        for word in words:
            emitted.append(word)
            if delay:
                time.sleep(delay)
                checkpoint(" ".join(emitted))
        # Only a streamed ("/slow") answer shows progress: one given in one piece is written once, by the run
        # completing.
        text = " ".join(emitted)
        return ModelReply(text=text, usage=Usage(prompt, count_tokens(text)), finish_reason=finish)

    def _tool_reply(self, request: ModelRequest, *, names: list[str], args: str, prompt: int) -> ModelReply:
        if not names:
            return ModelReply(
                text="(offline model) You asked for a tool call, but this agent has no function tools.",
                usage=Usage(prompt, 14),
            )
        try:
            json.loads(args)
        except ValueError:
            args = "{}"
        calls = tuple(ToolCall(id=new_call_id(), name=name, arguments=args) for name in names)
        return ModelReply(tool_calls=calls, usage=Usage(prompt, 10 * len(calls)), finish_reason="tool_calls")

    def _after_tools(self, request: ModelRequest, prompt: int) -> ModelReply:
        outputs: list[str] = []
        for message in reversed(request.messages):
            if message.role != "tool":
                break
            outputs.insert(0, message.content)
        text = "(offline model) The tools returned: " + "; ".join(outputs)
        if outputs and outputs[-1].startswith("【"):
            # File search results: quote the best passage behind its citation marker.
            best = outputs[-1].split("\n\n", 1)[0]
            text = f"(offline model) From the files: {best[:600]}"
        return ModelReply(text=text, usage=Usage(prompt, count_tokens(text)))


def _function_names(request: ModelRequest) -> list[str]:
    return [t["function"]["name"] for t in request.tools if t.get("type") == "function" and "function" in t]
