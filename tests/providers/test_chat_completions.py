"""The chat-completions provider against a real HTTP server on 127.0.0.1: wire format, streaming, errors, auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from agents_admin.providers.base import (
    ChatMessage,
    ModelRequest,
    PermanentProviderError,
    ToolCall,
    TransientProviderError,
)
from agents_admin.providers.chat_completions import (
    AZURE_SCOPE,
    ChatCompletionsProvider,
    EntraTokenAuth,
    HeaderAuth,
    retry_after,
)
from tests.factories import WEATHER_TOOL
from tests.model_server import CountingCredential, FakeModelServer, answer, error, hang, raw, tool_calls

HELLO = ModelRequest(model="gpt-4o", messages=[ChatMessage(role="user", content="Hi")])


def openai(server: FakeModelServer, *, stream: bool = True, **kw) -> ChatCompletionsProvider:
    return ChatCompletionsProvider(
        url=f"{server.url}/v1/chat/completions",
        auth=HeaderAuth("Authorization", "Bearer sk-test-123"),
        model="llama3.2",
        stream=stream,
        max_tokens_field="max_tokens",
        **kw,
    )


def no_checkpoint(_text: str) -> None:
    pass


@pytest.mark.parametrize("stream", [True, False])
def test_it_returns_the_answer_text_and_the_server_usage(model_server: FakeModelServer, stream: bool) -> None:
    model_server.add(answer("Bonjour tout le monde"))
    reply = openai(model_server, stream=stream).complete(HELLO, no_checkpoint)
    assert reply.text == "Bonjour tout le monde"
    assert reply.finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (11, 7)
    [sent] = model_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.body["model"] == "llama3.2"
    assert sent.body["messages"] == [{"role": "user", "content": "Hi"}]
    assert sent.body.get("stream", False) is stream
    if stream:
        assert sent.body["stream_options"] == {"include_usage": True}


def test_streaming_reports_the_text_so_far_at_each_delta(model_server: FakeModelServer) -> None:
    model_server.add(answer("one two three"))
    seen: list[str] = []
    openai(model_server).complete(HELLO, seen.append)
    assert seen == ["one", "one two", "one two three"]


def test_without_usage_from_the_server_it_estimates_tokens_offline(model_server: FakeModelServer) -> None:
    model_server.add(answer("four words right here", usage=None))
    reply = openai(model_server).complete(HELLO, no_checkpoint)
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens >= 4


@pytest.mark.parametrize("stream", [True, False])
def test_parallel_tool_calls_come_back_as_tool_calls(model_server: FakeModelServer, stream: bool) -> None:
    model_server.add(tool_calls(("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')))
    request = ModelRequest(model="m", messages=[ChatMessage(role="user", content="Weather?")], tools=[WEATHER_TOOL])
    reply = openai(model_server, stream=stream).complete(request, no_checkpoint)
    assert reply.finish_reason == "tool_calls"
    assert reply.tool_calls == (
        ToolCall(id="call_0", name="get_weather", arguments='{"city": "Paris"}'),
        ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}'),
    )
    body = model_server.requests[0].body
    assert body["tools"] == [WEATHER_TOOL]
    assert body["parallel_tool_calls"] is True


def test_tool_results_go_back_as_an_assistant_turn_and_tool_messages(model_server: FakeModelServer) -> None:
    call = ToolCall(id="call_9", name="get_weather", arguments='{"city": "Paris"}')
    request = ModelRequest(
        model="m",
        messages=[
            ChatMessage(role="user", content="Weather?"),
            ChatMessage(role="assistant", tool_calls=(call,)),
            ChatMessage(role="tool", content="22C", tool_call_id="call_9"),
        ],
        tools=[WEATHER_TOOL, {"type": "code_interpreter"}],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_completion_tokens=50,
        temperature=0.2,
    )
    openai(model_server).complete(request, no_checkpoint)
    body = model_server.requests[0].body
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_9",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_9", "content": "22C"},
    ]
    # Only function tools go to the model; the rest are the service's own.
    assert [t["type"] for t in body["tools"]] == ["function"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["max_tokens"] == 50 and body["temperature"] == 0.2


def test_a_length_finish_is_reported(model_server: FakeModelServer) -> None:
    model_server.add(answer("cut short", finish="length"))
    assert openai(model_server).complete(HELLO, no_checkpoint).finish_reason == "length"


def test_429_is_transient_with_the_servers_retry_after(model_server: FakeModelServer) -> None:
    model_server.add(error(429, "Rate limit reached", code="rate_limit_exceeded", headers={"Retry-After": "7"}))
    with pytest.raises(TransientProviderError) as info:
        openai(model_server).complete(HELLO, no_checkpoint)
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.retry_after == 7
    assert "Rate limit reached" in info.value.message


def test_retry_after_reads_milliseconds_seconds_and_http_dates() -> None:
    assert retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})) == 1.5
    assert retry_after(httpx.Headers({"retry-after": "3"})) == 3
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(httpx.Headers({"retry-after": later})) <= 30
    assert retry_after(httpx.Headers({"retry-after": "soon"})) is None
    assert retry_after(httpx.Headers({})) is None


@pytest.mark.parametrize("stream", [True, False])
def test_500_is_transient(model_server: FakeModelServer, stream: bool) -> None:
    model_server.add(error(500, "The server had an error"))
    with pytest.raises(TransientProviderError) as info:
        openai(model_server, stream=stream).complete(HELLO, no_checkpoint)
    assert info.value.code == "server_error" and "The server had an error" in info.value.message


def test_a_server_that_hangs_past_the_read_timeout_is_transient(model_server: FakeModelServer) -> None:
    model_server.add(hang(3))
    with pytest.raises(TransientProviderError) as info:
        openai(model_server, read_timeout=0.3).complete(HELLO, no_checkpoint)
    assert info.value.code == "timeout"


def test_a_closed_port_is_a_transient_connection_error() -> None:
    provider = ChatCompletionsProvider(url="http://127.0.0.1:9/v1/chat/completions", auth=HeaderAuth("x", ""))
    with pytest.raises(TransientProviderError) as info:
        provider.complete(HELLO, no_checkpoint)
    assert info.value.code == "connection_error"


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (400, "content_filter", "The prompt triggered the content management policy.", "content_filter"),
        (400, "invalid_value", "Invalid value for 'temperature'.", "bad_request"),
        (401, "invalid_api_key", "Incorrect API key provided.", "auth_error"),
        (403, "", "Principal does not have access to API/Operation.", "auth_error"),
        (404, "DeploymentNotFound", "The API deployment for this resource does not exist.", "model_not_found"),
    ],
)  # fmt: skip
def test_4xx_is_permanent_with_a_clear_code_and_the_servers_message(
    model_server: FakeModelServer, status: int, code: str, message: str, expected: str
) -> None:
    model_server.add(error(status, message, code=code))
    with pytest.raises(PermanentProviderError) as info:
        openai(model_server).complete(HELLO, no_checkpoint)
    assert info.value.code == expected
    assert info.value.message == f"HTTP {status}: {message}"


def test_a_content_filter_finish_in_a_stream_is_permanent(model_server: FakeModelServer) -> None:
    model_server.add(answer("partial", finish="content_filter"))
    with pytest.raises(PermanentProviderError) as info:
        openai(model_server).complete(HELLO, no_checkpoint)
    assert info.value.code == "content_filter"


@pytest.mark.parametrize(
    ("body", "content_type", "stream"),
    [
        (b"{not json", "application/json", False),
        (b'{"id": "x", "object": "chat.completion"}', "application/json", False),
        (b'{"choices": []}', "application/json", False),
        (b"data: {not json\n\n", "text/event-stream", True),
        (b"", "text/event-stream", True),
    ],
)
def test_a_malformed_response_is_permanent(
    model_server: FakeModelServer, body: bytes, content_type: str, stream: bool
) -> None:
    model_server.add(raw(body, content_type=content_type))
    with pytest.raises(PermanentProviderError) as info:
        openai(model_server, stream=stream).complete(HELLO, no_checkpoint)
    assert info.value.code == "malformed_response"


# --- Azure ---------------------------------------------------------------------------------------------


def azure(server: FakeModelServer, auth) -> ChatCompletionsProvider:
    return ChatCompletionsProvider(
        url=f"{server.url}/openai/deployments/gpt4o-prod/chat/completions",
        params={"api-version": "2024-10-21"},
        auth=auth,
        max_tokens_field="max_completion_tokens",
    )


def test_azure_calls_the_deployment_url_with_the_api_key_header(model_server: FakeModelServer) -> None:
    request = ModelRequest(model="gpt-4o", messages=[ChatMessage(role="user", content="Hi")], max_completion_tokens=9)
    azure(model_server, HeaderAuth("api-key", "azure-key-456")).complete(request, no_checkpoint)
    [sent] = model_server.requests
    assert sent.path == "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    assert sent.headers["api-key"] == "azure-key-456"
    assert "authorization" not in sent.headers
    assert "model" not in sent.body
    assert sent.body["max_completion_tokens"] == 9


def test_azure_with_entra_sends_a_cached_bearer_token_for_the_cognitive_services_scope(
    model_server: FakeModelServer,
) -> None:
    credential = CountingCredential()
    provider = azure(model_server, EntraTokenAuth(credential))
    for _ in range(3):
        provider.complete(HELLO, no_checkpoint)
    assert credential.calls == [(AZURE_SCOPE,)]
    assert AZURE_SCOPE == "https://cognitiveservices.azure.com/.default"
    assert [r.headers["authorization"] for r in model_server.requests] == ["Bearer entra-token-1"] * 3
    assert all("api-key" not in r.headers for r in model_server.requests)


def test_an_entra_token_close_to_expiry_is_refreshed(model_server: FakeModelServer) -> None:
    credential = CountingCredential(lifetime=60)  # inside the refresh margin
    provider = azure(model_server, EntraTokenAuth(credential))
    provider.complete(HELLO, no_checkpoint)
    provider.complete(HELLO, no_checkpoint)
    assert len(credential.calls) == 2
    assert model_server.requests[1].headers["authorization"] == "Bearer entra-token-2"


def test_a_credential_that_cannot_get_a_token_is_an_auth_error(model_server: FakeModelServer) -> None:
    class Broken:
        def get_token(self, *scopes: str) -> object:
            raise RuntimeError("DefaultAzureCredential failed to retrieve a token\nmore detail")

    with pytest.raises(PermanentProviderError) as info:
        azure(model_server, EntraTokenAuth(Broken())).complete(HELLO, no_checkpoint)
    assert info.value.code == "auth_error"
    assert "DefaultAzureCredential failed to retrieve a token" in info.value.message
    assert model_server.requests == []


def test_a_server_that_ignores_stream_and_answers_in_one_piece_still_works(model_server: FakeModelServer) -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "whole answer"}, "finish_reason": "stop"}]}
    model_server.add(raw(json.dumps(body).encode()))
    reply = openai(model_server, stream=True).complete(HELLO, no_checkpoint)
    assert reply.text == "whole answer"
    assert model_server.requests[0].body["stream"] is True
