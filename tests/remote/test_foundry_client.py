"""The Foundry client against a real HTTP server on 127.0.0.1: paging, retries, recovery of writes, auth."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken

from agents_admin.remote.foundry import (
    REQUEST_ID_KEY,
    TOKEN_SCOPE,
    ApiKeyAuth,
    BearerTokenAuth,
    FoundryAuthError,
    FoundryClient,
    FoundryConfig,
    FoundryNotFound,
    FoundryServerError,
    FoundryThrottled,
    FoundryUnavailable,
)
from tests.fake_foundry import FakeFoundry, Fault


class Sleeps:
    """Records the waits the client asks for instead of sleeping (tests stay fast and assert the values)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client_for(server: FakeFoundry, sleeps: Sleeps | None = None, **overrides: Any) -> FoundryClient:
    config = FoundryConfig(endpoint=server.endpoint, auth=ApiKeyAuth(server.key), sleep=sleeps or Sleeps())
    for name, value in overrides.items():
        setattr(config, name, value)
    return FoundryClient(config)


def test_paging_follows_last_id_until_has_more_is_false(fake_foundry: FakeFoundry) -> None:
    seeded = [fake_foundry.seed_agent(name=f"a{i}") for i in range(5)]
    client = client_for(fake_foundry)
    got = list(client.iter_all("/assistants", params={"order": "asc", "limit": 2}))
    assert [a["id"] for a in got] == [a["id"] for a in seeded]
    afters = [r["query"].get("after") for r in fake_foundry.requests_to("GET", "/assistants")]
    assert afters == [None, seeded[1]["id"], seeded[3]["id"]]
    assert all(r["query"]["limit"] == "2" and r["query"]["api-version"] == "v1" for r in fake_foundry.requests)


def test_paging_stops_on_a_null_last_id_even_when_has_more_claims_more(fake_foundry: FakeFoundry) -> None:
    for i in range(3):
        fake_foundry.seed_agent(name=f"a{i}")

    def null_cursor(path: str, query: dict[str, str], envelope: dict[str, Any]) -> dict[str, Any]:
        return {**envelope, "last_id": None, "has_more": True}

    fake_foundry.envelope_hook = null_cursor
    got = list(client_for(fake_foundry).iter_all("/assistants", params={"limit": 2}))
    assert len(got) == 2
    assert len(fake_foundry.requests_to("GET", "/assistants")) == 1


def test_paging_stops_on_an_empty_page_that_echoes_a_cursor(fake_foundry: FakeFoundry) -> None:
    fake_foundry.seed_agent()

    def buggy(path: str, query: dict[str, str], envelope: dict[str, Any]) -> dict[str, Any]:
        return {**envelope, "last_id": "asst_echo", "has_more": True}

    fake_foundry.envelope_hook = buggy
    got = list(client_for(fake_foundry).iter_all("/assistants", params={"limit": 1}))
    assert len(got) == 1
    # The second page is empty (after=asst_echo matches nothing): the loop ends instead of spinning.
    assert len(fake_foundry.requests_to("GET", "/assistants")) == 2


def test_a_429_with_retry_after_is_waited_for_and_retried(fake_foundry: FakeFoundry) -> None:
    fake_foundry.seed_agent()
    fake_foundry.faults.append(Fault("GET", "/assistants", status=429, retry_after="3"))
    sleeps = Sleeps()
    got = list(client_for(fake_foundry, sleeps).agents())
    assert len(got) == 1
    assert len(fake_foundry.requests_to("GET", "/assistants")) == 2
    assert len(sleeps.calls) == 1 and sleeps.calls[0] >= 3


def test_a_429_on_a_create_is_resent_without_a_duplicate(fake_foundry: FakeFoundry) -> None:
    fake_foundry.faults.append(Fault("POST", "/assistants", status=429, retry_after="1"))
    agent = client_for(fake_foundry).agent_create({"model": "gpt-4o", "name": "x"})
    assert list(fake_foundry.store.objects["assistants"]) == [agent["id"]]


def test_throttling_beyond_the_attempt_cap_raises_throttled(fake_foundry: FakeFoundry) -> None:
    fake_foundry.faults.append(Fault("GET", "/assistants", status=429, retry_after="1", times=10))
    sleeps = Sleeps()
    with pytest.raises(FoundryThrottled) as caught:
        list(client_for(fake_foundry, sleeps, max_attempts=3).agents())
    assert caught.value.status == 429
    assert len(fake_foundry.requests_to("GET", "/assistants")) == 3
    assert len(sleeps.calls) == 2


def test_server_errors_on_reads_back_off_exponentially(fake_foundry: FakeFoundry) -> None:
    fake_foundry.faults.append(Fault("GET", "/assistants", status=503, times=10))
    sleeps = Sleeps()
    with pytest.raises(FoundryServerError):
        list(client_for(fake_foundry, sleeps, max_attempts=4, backoff_base=1.0).agents())
    # Equal jitter: each wait lies in [exp/2, exp] with exp = 1, 2, 4.
    assert [0.5 <= sleeps.calls[0] <= 1, 1 <= sleeps.calls[1] <= 2, 2 <= sleeps.calls[2] <= 4] == [True] * 3


def test_a_timeout_after_a_create_was_processed_does_not_create_a_duplicate(fake_foundry: FakeFoundry) -> None:
    fake_foundry.faults.append(Fault("POST", "/assistants", mode="slow_after", delay=1.0))
    client = client_for(fake_foundry, timeout=httpx.Timeout(5.0, read=0.3))
    agent = client.agent_create({"model": "gpt-4o", "name": "once"})
    assert list(fake_foundry.store.objects["assistants"]) == [agent["id"]]
    assert agent["metadata"][REQUEST_ID_KEY]
    assert len(fake_foundry.requests_to("POST", "/assistants")) == 1


def test_a_500_after_a_message_was_stored_is_recovered_not_repeated(fake_foundry: FakeFoundry) -> None:
    thread = fake_foundry.seed_thread()
    fake_foundry.faults.append(Fault("POST", r"/threads/[^/]+/messages", status=500, mode="after"))
    message = client_for(fake_foundry).message_create(thread["id"], {"role": "user", "content": "hi"})
    stored = [m for m in fake_foundry.store.objects["messages"].values() if m["thread_id"] == thread["id"]]
    assert [m["id"] for m in stored] == [message["id"]]


def test_a_connection_cut_after_a_run_was_created_is_recovered(fake_foundry: FakeFoundry) -> None:
    agent = fake_foundry.seed_agent()
    thread = fake_foundry.seed_thread(messages=["hi"])
    fake_foundry.faults.append(Fault("POST", r"/threads/[^/]+/runs", mode="cut_after"))
    run = client_for(fake_foundry).run_create(thread["id"], {"assistant_id": agent["id"]})
    assert list(fake_foundry.store.objects["runs"]) == [run["id"]]


def test_a_create_refused_before_processing_is_sent_again(fake_foundry: FakeFoundry) -> None:
    fake_foundry.faults.append(Fault("POST", "/threads", status=503, mode="before"))
    thread = client_for(fake_foundry).thread_create()
    assert list(fake_foundry.store.objects["threads"]) == [thread["id"]]
    assert len(fake_foundry.requests_to("POST", "/threads")) == 2


def test_a_connection_cut_in_the_middle_of_paging_is_retried_from_the_same_cursor(fake_foundry: FakeFoundry) -> None:
    seeded = [fake_foundry.seed_agent(name=f"a{i}") for i in range(4)]
    fake_foundry.faults.append(Fault("GET", "/assistants", mode="cut_before", skip=1))
    got = list(client_for(fake_foundry).iter_all("/assistants", params={"order": "asc", "limit": 2}))
    assert [a["id"] for a in got] == [a["id"] for a in seeded]
    afters = [r["query"].get("after") for r in fake_foundry.requests_to("GET", "/assistants")]
    assert afters == [None, seeded[1]["id"], seeded[1]["id"]]


def test_errors_are_typed_and_carry_the_service_message(fake_foundry: FakeFoundry) -> None:
    with pytest.raises(FoundryNotFound) as caught:
        client_for(fake_foundry).thread_get("thread_nope")
    assert caught.value.status == 404
    assert "No thread found with id 'thread_nope'" in str(caught.value)


def test_a_wrong_key_is_an_auth_error_without_the_key_in_it(fake_foundry: FakeFoundry) -> None:
    config = FoundryConfig(endpoint=fake_foundry.endpoint, auth=ApiKeyAuth("wrong-secret-value"), sleep=Sleeps())
    with pytest.raises(FoundryAuthError) as caught:
        FoundryClient(config).check()
    assert caught.value.status == 401
    assert "wrong-secret-value" not in str(caught.value) and "wrong-secret-value" not in repr(config.auth)


class CountingCredential:
    """A TokenCredential stand-in (Entra cannot be reached here): counts calls, records scopes."""

    def __init__(self, token: str, lifetime: int = 3600) -> None:
        self.token = token
        self.lifetime = lifetime
        self.calls: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append(scopes)
        return AccessToken(self.token, int(time.time()) + self.lifetime)


def test_tokens_are_cached_until_near_expiry(fake_foundry: FakeFoundry) -> None:
    credential = CountingCredential(fake_foundry.key)
    now = [time.time()]
    auth = BearerTokenAuth(credential, clock=lambda: now[0])
    client = FoundryClient(FoundryConfig(endpoint=fake_foundry.endpoint, auth=auth, sleep=Sleeps()))
    client.check()
    client.check()
    client.thread_create()
    assert credential.calls == [(TOKEN_SCOPE,)]
    now[0] += 3600 - 200  # inside the refresh margin
    client.check()
    assert len(credential.calls) == 2


def test_a_401_drops_the_cached_token_and_tries_once_more(fake_foundry: FakeFoundry) -> None:
    credential = CountingCredential(fake_foundry.key)
    client = FoundryClient(
        FoundryConfig(endpoint=fake_foundry.endpoint, auth=BearerTokenAuth(credential), sleep=Sleeps())
    )
    fake_foundry.faults.append(Fault("GET", "/assistants", status=401))
    client.check()
    assert len(credential.calls) == 2
    assert len(fake_foundry.requests_to("GET", "/assistants")) == 2


def test_https_with_a_trusted_certificate_works_and_an_untrusted_one_says_why(tmp_path: Any) -> None:
    server = FakeFoundry(tls_dir=tmp_path).start()
    try:
        assert server.endpoint.startswith("https://127.0.0.1:")
        trusted = client_for(server, verify=str(server.cert))
        assert "Connected" in trusted.check()
        with pytest.raises(FoundryUnavailable) as caught:
            client_for(server, max_attempts=1).check()
        assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    finally:
        server.stop()


class FailingCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        raise RuntimeError("ManagedIdentityCredential: no managed identity endpoint found.")


def test_a_credential_that_cannot_get_a_token_says_why(fake_foundry: FakeFoundry) -> None:
    client = FoundryClient(
        FoundryConfig(endpoint=fake_foundry.endpoint, auth=BearerTokenAuth(FailingCredential()), sleep=Sleeps())
    )
    with pytest.raises(FoundryAuthError) as caught:
        client.check()
    assert "https://ai.azure.com/.default" in str(caught.value)
    assert "no managed identity endpoint found" in str(caught.value)
    assert fake_foundry.requests == []  # nothing was sent without a token


def test_a_create_with_full_metadata_goes_without_a_marker_and_is_not_resent_after_a_500(
    fake_foundry: FakeFoundry,
) -> None:
    metadata = {f"k{n}": "v" for n in range(16)}  # the contract's limit: a marker would be a 17th pair
    client = client_for(fake_foundry)
    assert client.thread_create({"metadata": metadata})["metadata"] == metadata
    fake_foundry.faults.append(Fault("POST", "/threads", status=500, mode="after"))
    with pytest.raises(FoundryServerError):
        client.thread_create({"metadata": metadata})
    assert len(fake_foundry.requests_to("POST", "/threads")) == 2  # once each: the ambiguous one not repeated
    assert len(fake_foundry.store.objects["threads"]) == 2
