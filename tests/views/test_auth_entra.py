"""Sign-in with Microsoft Entra ID, against a real OpenID Connect provider on 127.0.0.1 (discovery, JWKS and a
token endpoint issuing RS256-signed ID tokens)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from agents_admin.models import AuditEvent, ExternalIdentity
from agents_admin.roles import roles_sync
from agents_admin.services.users import user_role
from tests.personas import user_with_role

pytestmark = pytest.mark.django_db

CLIENT_ID = "console-client-id"
CLIENT_SECRET = "console-client-secret-123"


class FakeIdP(ThreadingHTTPServer):
    """Issues an ID token for whatever claims the test put on ``claims``, echoing the nonce it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _IdPHandler)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.claims: dict[str, Any] = {}
        self.token_requests: list[dict[str, list[str]]] = []
        self.wrong_key = False

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/tenant/v2.0"

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "s-1", "iat": now, "exp": now + 600, "nonce": nonce}
        claims.update(self.claims)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if self.wrong_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


class _IdPHandler(BaseHTTPRequestHandler):
    server: FakeIdP

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        base = self.server.issuer
        if self.path.endswith("/.well-known/openid-configuration"):
            self._json({
                "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/keys",
            })  # fmt: skip
        elif self.path.endswith("/keys"):
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.server.key.public_key()))
            self._json({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.server.token_requests.append(form)
        # The code the test sends is the nonce the console put in the authorization URL.
        self._json({"id_token": self.server.id_token(form["code"][0]), "token_type": "Bearer"})

    def _json(self, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def idp(settings: Any) -> Iterator[FakeIdP]:
    server = FakeIdP()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.ENTRA_ISSUER = server.issuer
    settings.ENTRA_CLIENT_ID = CLIENT_ID
    settings.ENTRA_CLIENT_SECRET = CLIENT_SECRET
    settings.ENTRA_ROLE_MAP = {}
    roles_sync()
    yield server
    server.shutdown()
    server.server_close()


def sign_in(client: Client, idp: FakeIdP, *, next_url: str = "") -> Any:
    """Follow the flow as a browser would: start, (the provider authenticates), come back with a code."""
    start = client.get(reverse("entra_login"), {"next": next_url} if next_url else {})
    assert start.status_code == 302
    location = urlsplit(start["Location"])
    assert location.geturl().startswith(f"{idp.issuer}/authorize")
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID and query["code_challenge_method"] == "S256"
    return client.get(reverse("entra_callback"), {"code": query["nonce"], "state": query["state"]})


def test_the_sign_in_page_offers_microsoft_only_when_configured(settings: Any, idp: FakeIdP) -> None:
    assert "Sign in with Microsoft" in Client().get("/login/").content.decode()
    settings.ENTRA_CLIENT_ID = ""
    assert "Sign in with Microsoft" not in Client().get("/login/").content.decode()
    assert Client().get(reverse("entra_login")).status_code == 404


def sso_user(role: str, username: str) -> User:
    """A console user made for single sign-on: no password (the only kind a first sign-in may bind to)."""
    user = user_with_role(role, username)
    user.set_unusable_password()
    user.save()
    return user


def test_an_existing_user_signs_in_and_it_is_audited(idp: FakeIdP) -> None:
    rita = sso_user("Reviewer", "rita@example.com")
    idp.claims = {"preferred_username": "Rita@Example.com", "email_verified": True}
    client = Client()
    response = sign_in(client, idp, next_url="/threads/")
    assert response.status_code == 302 and response["Location"] == "/threads/"
    assert client.get(reverse("agents_admin:thread_list")).status_code == 200
    assert AuditEvent.objects.filter(action="auth.sign_in", actor=rita).count() == 1
    [request] = idp.token_requests
    assert request["client_secret"] == [CLIENT_SECRET] and len(request["code_verifier"][0]) >= 43


def test_an_unknown_person_is_refused_without_a_role_map(idp: FakeIdP) -> None:
    idp.claims = {"preferred_username": "stranger@example.com"}
    client = Client()
    response = sign_in(client, idp)
    assert response.status_code == 403 and "no console user" in response.content.decode()
    assert "_auth_user_id" not in client.session and not User.objects.filter(username__icontains="stranger").exists()
    assert AuditEvent.objects.filter(action="auth.sign_in_failed", object_id="stranger@example.com").count() == 1


def test_with_a_role_map_people_are_created_and_their_role_follows_the_token(settings: Any, idp: FakeIdP) -> None:
    settings.ENTRA_ROLE_MAP = {"Console.Admin": "Admin", "Console.Reviewer": "Reviewer"}
    idp.claims = {"preferred_username": "new@example.com", "email": "new@example.com", "roles": ["Console.Reviewer"]}
    assert sign_in(Client(), idp).status_code == 302
    person = User.objects.get(username="new@example.com")
    assert user_role(person) == "Reviewer" and not person.has_usable_password()
    idp.claims["roles"] = ["Console.Reviewer", "Console.Admin"]
    assert sign_in(Client(), idp).status_code == 302
    assert user_role(User.objects.get(pk=person.pk)) == "Admin"
    change = AuditEvent.objects.get(action="user.role_change")
    assert change.actor_label == "entra-id" and change.after == {"role": "Admin"}
    idp.claims["roles"] = ["Something.Else"]
    assert sign_in(Client(), idp).status_code == 403


def test_a_deactivated_user_is_refused(idp: FakeIdP) -> None:
    rita = sso_user("Reviewer", "rita@example.com")
    User.objects.filter(pk=rita.pk).update(is_active=False)
    idp.claims = {"preferred_username": "rita@example.com", "email_verified": True}
    response = sign_in(Client(), idp)
    assert response.status_code == 403 and "deactivated" in response.content.decode()


def test_a_token_signed_by_another_key_is_refused(idp: FakeIdP) -> None:
    user_with_role("Reviewer", "rita@example.com")
    idp.claims = {"preferred_username": "rita@example.com"}
    idp.wrong_key = True
    client = Client()
    response = sign_in(client, idp)
    assert response.status_code == 403 and "not valid" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_token_for_another_client_or_an_old_nonce_is_refused(idp: FakeIdP) -> None:
    user_with_role("Reviewer", "rita@example.com")
    idp.claims = {"preferred_username": "rita@example.com", "aud": "some-other-app"}
    assert sign_in(Client(), idp).status_code == 403
    idp.claims = {"preferred_username": "rita@example.com", "nonce": "replayed"}
    assert sign_in(Client(), idp).status_code == 403


def test_a_callback_without_the_matching_state_is_refused(idp: FakeIdP) -> None:
    user_with_role("Reviewer", "rita@example.com")
    idp.claims = {"preferred_username": "rita@example.com"}
    client = Client()
    client.get(reverse("entra_login"))
    response = client.get(reverse("entra_callback"), {"code": "x", "state": "forged"})
    assert response.status_code == 403 and "stale" in response.content.decode()
    assert idp.token_requests == []


def test_an_open_redirect_in_next_is_ignored(idp: FakeIdP, settings: Any) -> None:
    sso_user("Reviewer", "rita@example.com")
    idp.claims = {"preferred_username": "rita@example.com", "email_verified": True}
    response = sign_in(Client(), idp, next_url="https://evil.example.com/")
    assert response.status_code == 302 and "evil" not in response["Location"]


# --- binding on issuer + subject (M6) ---------------------------------------------------------------------------


def test_a_password_account_or_the_superuser_is_never_linked_by_name(settings: Any, idp: FakeIdP) -> None:
    user_with_role("Admin", "boss@example.com")  # has a password
    User.objects.create_superuser("root@example.com", password="pw-1234567890")
    settings.ENTRA_ROLE_MAP = {"Console.Admin": "Admin"}
    for name in ("boss@example.com", "ROOT@example.com"):
        idp.claims = {"preferred_username": name, "email_verified": True, "roles": ["Console.Admin"], "sub": name}
        client = Client()
        response = sign_in(client, idp)
        assert response.status_code == 403 and "cannot be linked" in response.content.decode()
        assert "_auth_user_id" not in client.session
    assert not ExternalIdentity.objects.exists()


def test_an_unverified_email_does_not_link(idp: FakeIdP) -> None:
    sso_user("Reviewer", "rita@example.com")
    idp.claims = {"preferred_username": "rita@example.com"}  # no email_verified
    assert sign_in(Client(), idp).status_code == 403
    idp.claims["email_verified"] = False
    assert sign_in(Client(), idp).status_code == 403


def test_the_binding_is_on_tenant_and_object_id_not_the_name(idp: FakeIdP) -> None:
    rita = sso_user("Reviewer", "rita@example.com")
    idp.claims = {"preferred_username": "rita@example.com", "email_verified": True, "tid": "t-1", "oid": "o-1"}
    assert sign_in(Client(), idp).status_code == 302
    assert ExternalIdentity.objects.get().subject == "t-1:o-1"
    idp.claims["preferred_username"] = "rita.renamed@example.com"  # renamed at the provider: still Rita
    client = Client()
    assert sign_in(client, idp).status_code == 302 and client.session["_auth_user_id"] == str(rita.pk)
    # Someone else who now carries Rita's old name (another object id) does not get her account.
    idp.claims = {"preferred_username": "rita@example.com", "email_verified": True, "tid": "t-1", "oid": "o-2"}
    assert sign_in(Client(), idp).status_code == 403


def test_the_role_map_never_leaves_superuser_set(settings: Any, idp: FakeIdP) -> None:
    settings.ENTRA_ROLE_MAP = {"Console.Reviewer": "Reviewer"}
    idp.claims = {"preferred_username": "pat@example.com", "roles": ["Console.Reviewer"], "sub": "pat"}
    assert sign_in(Client(), idp).status_code == 302
    pat = User.objects.get(username="pat@example.com")
    User.objects.filter(pk=pat.pk).update(is_superuser=True, is_staff=True)  # made superuser some other way
    assert sign_in(Client(), idp).status_code == 302
    pat.refresh_from_db()
    assert not pat.is_superuser and not pat.is_staff
    assert AuditEvent.objects.filter(
        action="user.role_change", after={"is_superuser": False, "is_staff": False}
    ).exists()
