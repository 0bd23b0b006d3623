"""The run engine calling a real HTTP model server through a connection (in-process, one turn at a time)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from agents_admin.models import Message, ModelConnection, Run, RunStep
from agents_admin.providers import registry
from agents_admin.providers.offline import OfflineProvider
from agents_admin.services.connections import connection_create
from agents_admin.services.runs import run_execute, run_submit_tool_outputs
from tests.factories import WEATHER_TOOL, make_agent, make_project, make_run, make_thread
from tests.model_server import CountingCredential, FakeModelServer, answer, error, hang, raw, tool_calls

pytestmark = pytest.mark.django_db
SECRET = "sk-very-secret-key-0123456789"


def connect(server: FakeModelServer, **fields: Any) -> ModelConnection:
    values: dict[str, Any] = {
        "name": "fake",
        "kind": "openai_compatible",
        "endpoint": f"{server.url}/v1",
        "auth": "api_key",
        "api_key": SECRET,
        "deployments": {"gpt-4o": "llama3.2"},
        "read_timeout": 5.0,
    }
    values.update(fields)
    return connection_create(fields=values)


def execute(run: Run) -> Run:
    run_execute(run_id=run.id)
    run.refresh_from_db()
    return run


def test_a_run_answers_through_the_mapped_connection_and_records_usage(model_server: FakeModelServer) -> None:
    connect(model_server)
    model_server.add(answer("Hello from Ollama"))
    run = execute(make_run(text="Hi there"))
    assert run.status == "completed"
    assert (run.prompt_tokens, run.completion_tokens, run.total_tokens) == (11, 7, 18)
    reply = Message.objects.get(thread=run.thread, role="assistant")
    assert reply.text == "Hello from Ollama" and reply.status == "completed"
    [sent] = model_server.requests
    assert sent.body["model"] == "llama3.2"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi there"},
    ]
    assert RunStep.objects.get(run=run).prompt_tokens == 11


def test_a_429_with_retry_after_is_retried_then_succeeds(model_server: FakeModelServer) -> None:
    connect(model_server)
    model_server.add(error(429, "Too many requests", headers={"Retry-After": "1"}), answer("after the wait"))
    run = execute(make_run())
    assert run.status == "completed"
    assert len(model_server.requests) == 2
    assert Message.objects.get(thread=run.thread, role="assistant").text == "after the wait"


def test_a_500_is_retried_then_succeeds(model_server: FakeModelServer) -> None:
    connect(model_server)
    model_server.add(error(500, "upstream exploded"), answer("fine now"))
    run = execute(make_run())
    assert run.status == "completed" and len(model_server.requests) == 2


def test_a_timeout_is_retried_then_succeeds(model_server: FakeModelServer) -> None:
    connect(model_server, read_timeout=0.3)
    model_server.add(hang(2), answer("quick this time"))
    run = execute(make_run())
    assert run.status == "completed"
    assert Message.objects.get(thread=run.thread, role="assistant").text == "quick this time"


def test_a_retry_after_beyond_the_runs_budget_fails_the_run_without_waiting(model_server: FakeModelServer) -> None:
    connect(model_server)
    model_server.add(error(429, "Quota exhausted", headers={"Retry-After": "86400"}))
    run = execute(make_run())
    assert run.status == "failed"
    assert run.last_error == {"code": "rate_limit_exceeded", "message": "HTTP 429: Quota exhausted"}
    assert len(model_server.requests) == 1


def test_a_content_filter_fails_the_run_with_its_code(model_server: FakeModelServer) -> None:
    connect(model_server)
    model_server.add(error(400, "The prompt was filtered.", code="content_filter"))
    run = execute(make_run())
    assert run.status == "failed"
    assert run.last_error == {"code": "content_filter", "message": "HTTP 400: The prompt was filtered."}
    assert len(model_server.requests) == 1


def test_a_401_fails_with_an_auth_error_and_the_key_never_reaches_logs(
    model_server: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connect(model_server)
    model_server.add(error(401, "Incorrect API key provided.", code="invalid_api_key"))
    run = execute(make_run())
    assert run.status == "failed"
    assert run.last_error == {"code": "auth_error", "message": "HTTP 401: Incorrect API key provided."}
    assert model_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "auth_error" in caplog.text  # the failure is logged ...
    assert SECRET not in caplog.text  # ... the key is not


def test_a_malformed_response_fails_the_run(model_server: FakeModelServer) -> None:
    connect(model_server, stream=False)
    model_server.add(raw(b"<html>Bad gateway</html>"))
    run = execute(make_run())
    assert run.status == "failed" and run.last_error["code"] == "malformed_response"


def test_an_api_key_from_an_environment_variable_is_used(
    model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTS_ADMIN_SECRET_FAKE_MODEL_KEY", "key-from-env")
    connect(model_server, api_key="", api_key_env="AGENTS_ADMIN_SECRET_FAKE_MODEL_KEY")
    execute(make_run())
    assert model_server.requests[0].headers["authorization"] == "Bearer key-from-env"


def test_an_unset_key_variable_fails_the_run_with_a_configuration_error(model_server: FakeModelServer) -> None:
    connect(model_server, api_key="", api_key_env="AGENTS_ADMIN_SECRET_SURELY_NOT_SET")
    run = execute(make_run())
    assert run.status == "failed" and run.last_error["code"] == "configuration_error"
    assert "$AGENTS_ADMIN_SECRET_SURELY_NOT_SET" in run.last_error["message"]
    assert model_server.requests == []


@pytest.mark.parametrize("stream", [True, False])
def test_tool_calls_pause_the_run_and_outputs_go_back_to_the_model(model_server: FakeModelServer, stream: bool) -> None:
    connect(model_server, stream=stream)
    model_server.add(
        tool_calls(("get_weather", '{"city": "Paris"}'), ("get_weather", '{"city": "Oslo"}')),
        answer("Paris 22C, Oslo 3C"),
    )
    run = execute(make_run(agent=make_agent(tools=[WEATHER_TOOL]), text="Weather in Paris and Oslo?"))
    assert run.status == "requires_action"
    calls = run.pending_tool_calls
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [
        ("call_0", '{"city": "Paris"}'),
        ("call_1", '{"city": "Oslo"}'),
    ]
    run_submit_tool_outputs(
        run=run,
        tool_outputs=[{"tool_call_id": "call_0", "output": "22C"}, {"tool_call_id": "call_1", "output": "3C"}],
    )
    run = execute(run)
    assert run.status == "completed"
    second = model_server.requests[1].body["messages"]
    assert second[-3]["tool_calls"][1]["id"] == "call_1"
    assert second[-2:] == [
        {"role": "tool", "tool_call_id": "call_0", "content": "22C"},
        {"role": "tool", "tool_call_id": "call_1", "content": "3C"},
    ]
    assert Message.objects.get(thread=run.thread, role="assistant").text == "Paris 22C, Oslo 3C"
    assert run.total_tokens == 36  # both turns' usage


def test_max_completion_tokens_goes_to_the_model_and_a_length_finish_makes_the_run_incomplete(
    model_server: FakeModelServer,
) -> None:
    connect(model_server)
    model_server.add(answer("This answer was cut", finish="length"))
    run = execute(make_run(max_completion_tokens=5))
    assert model_server.requests[0].body["max_tokens"] == 5
    assert run.status == "incomplete"
    assert run.incomplete_details == {"reason": "max_completion_tokens"}
    message = Message.objects.get(thread=run.thread, role="assistant")
    assert message.status == "incomplete" and message.text == "This answer was cut"


def test_truncation_last_messages_sends_only_the_newest(model_server: FakeModelServer) -> None:
    connect(model_server)
    agent = make_agent()
    thread = make_thread(messages=["one", "two", "three", "four", "five"])
    execute(make_run(agent=agent, thread=thread, truncation_strategy={"type": "last_messages", "last_messages": 2}))
    sent = model_server.requests[0].body["messages"]
    assert [m["content"] for m in sent] == ["You are helpful.", "four", "five"]


def test_auto_truncation_fits_the_connections_context_window(model_server: FakeModelServer) -> None:
    connect(model_server, context_window=300)
    # Each message costs about 100 tokens with the offline count: only the newest two fit in 300.
    words = [" ".join([f"m{i}"] * 100) for i in range(5)]
    thread = make_thread(messages=words)
    run = execute(make_run(agent=make_agent(instructions=""), thread=thread))
    assert run.status == "completed"
    sent = [m["content"].split()[0] for m in model_server.requests[0].body["messages"]]
    assert sent == ["m3", "m4"]


def test_max_prompt_tokens_caps_the_input_below_the_window(model_server: FakeModelServer) -> None:
    connect(model_server)
    words = [" ".join([f"m{i}"] * 100) for i in range(5)]
    thread = make_thread(messages=words)
    execute(make_run(agent=make_agent(instructions=""), thread=thread, max_prompt_tokens=150))
    sent = [m["content"].split()[0] for m in model_server.requests[0].body["messages"]]
    assert sent == ["m4"]


# --- resolution ----------------------------------------------------------------------------------------


def test_resolution_prefers_a_mapping_then_the_project_default_then_the_instance_default(
    model_server: FakeModelServer,
) -> None:
    project = make_project()
    other = make_project("other")
    assert isinstance(registry.provider_for(project_id=project.id, model="gpt-4o"), OfflineProvider)
    instance = connect(model_server, name="instance", deployments={}, default_deployment="x", is_default=True)
    assert registry.connection_for(project_id=project.id, model="gpt-4o") == instance
    project_default = connect(
        model_server, name="project", project=project, deployments={}, default_deployment="y", is_default=True
    )
    assert registry.connection_for(project_id=project.id, model="gpt-4o") == project_default
    assert registry.connection_for(project_id=other.id, model="gpt-4o") == instance
    mapped = connect(model_server, name="mapped", deployments={"gpt-4o": "z"})
    assert registry.connection_for(project_id=project.id, model="gpt-4o") == mapped
    assert registry.connection_for(project_id=project.id, model="mistral") == project_default
    elsewhere = connect(model_server, name="elsewhere", project=other, deployments={"mistral": "m"})
    assert registry.connection_for(project_id=project.id, model="mistral") == project_default
    assert registry.connection_for(project_id=other.id, model="mistral") == elsewhere


def test_a_new_default_takes_over_from_the_old_one(model_server: FakeModelServer) -> None:
    first = connect(model_server, name="first", is_default=True)
    second = connect(model_server, name="second", is_default=True)
    first.refresh_from_db()
    assert not first.is_default and second.is_default


def test_an_azure_connection_with_entra_asks_for_one_token_across_runs(
    model_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = CountingCredential()
    monkeypatch.setattr(registry, "_credential", lambda connection: credential)
    connection_create(
        fields={
            "name": "azure",
            "kind": "azure_openai",
            "endpoint": model_server.url,
            "api_version": "2024-10-21",
            "auth": "entra_default",
            "deployments": {"gpt-4o": "gpt4o-prod"},
        }
    )
    agent = make_agent()
    for _ in range(2):
        assert execute(make_run(agent=agent)).status == "completed"
    assert credential.calls == [("https://cognitiveservices.azure.com/.default",)]
    assert {r.path for r in model_server.requests} == {
        "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    }
    assert {r.headers["authorization"] for r in model_server.requests} == {"Bearer entra-token-1"}


def test_secrets_are_sealed_at_rest_and_survive_a_key_rotation_through_fallbacks(
    model_server: FakeModelServer, settings
) -> None:
    connection = connect(model_server)
    stored = ModelConnection.objects.values_list("api_key", flat=True).get(pk=connection.pk)
    assert stored.startswith("sealed:") and SECRET not in stored
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation"
    assert execute(make_run()).status == "completed"
    assert model_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_a_secret_sealed_with_a_lost_key_fails_the_run_asking_for_it_again(
    model_server: FakeModelServer, settings
) -> None:
    connect(model_server)
    settings.SECRET_KEY = "a-key-that-never-saw-this-secret"
    run = execute(make_run())
    assert run.status == "failed" and run.last_error["code"] == "configuration_error"
    assert model_server.requests == []


def test_a_run_of_an_agent_with_a_chosen_connection_calls_that_connection(model_server: FakeModelServer) -> None:
    # The model name maps to the offline model; the agent's choice must win over that mapping.
    connect(model_server, name="mapped", kind="offline", endpoint="", auth="none", deployments={"gpt-4o": "x"})
    chosen = connect(model_server, name="chosen", deployments={}, default_deployment="llama3.2")
    agent = make_agent(connection=chosen)
    model_server.add(answer("Hello from the chosen one"))
    run = execute(make_run(agent=agent))
    assert run.status == "completed" and run.connection == chosen
    [sent] = model_server.requests
    assert sent.body["model"] == "llama3.2"
    assert Message.objects.get(thread=run.thread, role="assistant").text == "Hello from the chosen one"
