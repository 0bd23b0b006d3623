"""A small OpenID Connect client (authorization code flow with PKCE) for signing in with Microsoft Entra ID or any
OIDC provider: discovery, the authorization URL, the code exchange and ID token verification.

Framework-free: httpx for HTTP and PyJWT (already installed with msal, via azure-identity)
for the signature. The ID token's signature, issuer, audience, expiry and nonce are all checked.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

TIMEOUT = 10.0
# Providers' clocks drift a little from ours.
LEEWAY_SECONDS = 120


class OIDCError(Exception):
    """The sign-in cannot complete; the message is safe to show and to log (it never holds a token)."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid profile email"


@dataclass(frozen=True)
class Start:
    """Where to send the browser, and what to keep in the session until it comes back."""

    url: str
    state: str
    nonce: str
    verifier: str


def discover(provider: Provider) -> dict[str, Any]:
    url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = _get_json(url)
    if document.get("issuer", "").rstrip("/") != provider.issuer.rstrip("/"):
        raise OIDCError("The provider's discovery document names another issuer.")
    return document


def start(provider: Provider, configuration: dict[str, Any], *, redirect_uri: str) -> Start:
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = urlencode(
        {
            "client_id": provider.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "scope": provider.scopes,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    return Start(url=f"{configuration['authorization_endpoint']}?{query}", state=state, nonce=nonce, verifier=verifier)


def finish(
    provider: Provider, configuration: dict[str, Any], *, code: str, redirect_uri: str, verifier: str, nonce: str
) -> dict[str, Any]:
    """Exchange the code for tokens and return the verified ID token's claims."""
    try:
        response = httpx.post(
            configuration["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": provider.client_id,
                "client_secret": provider.client_secret,
                "code_verifier": verifier,
            },
            timeout=TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise OIDCError(f"The provider's token endpoint did not answer ({type(exc).__name__}).") from exc
    if response.status_code != 200:
        raise OIDCError(f"The provider refused the sign-in code (HTTP {response.status_code}).")
    id_token = response.json().get("id_token")
    if not isinstance(id_token, str):
        raise OIDCError("The provider sent no ID token.")
    return verify_id_token(provider, configuration, id_token=id_token, nonce=nonce)


def verify_id_token(provider: Provider, configuration: dict[str, Any], *, id_token: str, nonce: str) -> dict[str, Any]:
    keys = _get_json(configuration["jwks_uri"]).get("keys", [])
    try:
        header = jwt.get_unverified_header(id_token)
        key = next((k for k in keys if k.get("kid") == header.get("kid")), None)
        if key is None:
            raise OIDCError("The ID token is signed with a key the provider does not publish.")
        claims: dict[str, Any] = jwt.decode(
            id_token,
            jwt.PyJWK(key).key,
            algorithms=["RS256"],
            audience=provider.client_id,
            issuer=configuration["issuer"],
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise OIDCError(f"The ID token is not valid ({type(exc).__name__}).") from exc
    if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OIDCError("The ID token does not answer this sign-in (nonce mismatch).")
    return claims


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=TIMEOUT)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OIDCError(f"Could not read {url} ({type(exc).__name__}).") from exc
    if not isinstance(data, dict):
        raise OIDCError(f"{url} did not return a JSON object.")
    return data
