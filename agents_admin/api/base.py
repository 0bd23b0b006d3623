"""What every API endpoint shares: bearer-key auth for the project in the URL, api-version, JSON bodies,
method dispatch and error mapping. Endpoints are plain functions ``(call, **url_kwargs) -> HttpResponse``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from agents_admin.api.errors import ApiError, error_response, from_api_error, from_service_error, invalid
from agents_admin.errors import ServiceError
from agents_admin.lib.text import json_text_problem
from agents_admin.models import ApiKey, Project
from agents_admin.services.api_keys import api_key_authenticate

logger = logging.getLogger(__name__)

API_VERSIONS = ("v1", "2025-05-01", "2025-05-15-preview")
# The v2 agent routes (``/agents/{name}/versions``): GA clients send v1, the 2.0 betas 2025-11-15-preview.
AGENT_API_VERSIONS = ("v1", "2025-11-15-preview")
# ``/openai/conversations`` and ``/openai/responses`` (the 2.0 betas' routes) need an api-version, of any value.
ANY_API_VERSION: tuple[str, ...] = ()


@dataclass
class Call:
    """One authenticated API call: the request, the key's project, and the parsed JSON body (or ``{}``)."""

    request: HttpRequest
    project: Project
    api_key: ApiKey
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def actor_label(self) -> str:
        """Who the audit log names for changes made through the API: the key, by its display prefix."""
        return f"api-key:{self.api_key.prefix}"

    @property
    def query(self) -> Any:
        return self.request.GET


Handler = Callable[..., HttpResponseBase]


def endpoint(
    *, api_versions: tuple[str, ...] | None = API_VERSIONS, **handlers: Handler
) -> Callable[..., HttpResponseBase]:
    """A view serving ``handlers`` by HTTP method (``GET=…, POST=…, DELETE=…``); anything else is 405.

    The view authenticates, checks api-version (one of ``api_versions``; any value when it is empty; not at all
    when None, as under ``/openai/v1``), parses the body and turns every failure into a JSON error.
    Its ``api_methods`` attribute feeds the OpenAPI document.
    """

    @csrf_exempt
    @wraps(next(iter(handlers.values())))
    def view(request: HttpRequest, project: str, **kwargs: Any) -> HttpResponseBase:
        try:
            handler = handlers.get(request.method or "")
            call = _authenticate(request, project)
            if handler is None:
                response = error_response(
                    405, "method_not_allowed", f"{request.method} is not allowed here.", param=None
                )
                response["Allow"] = ", ".join(handlers)
                return response
            if api_versions is not None:
                _check_api_version(request, api_versions)
            _refuse_nul_in_url(request)
            if request.method == "POST" and not (request.content_type or "").startswith("multipart/"):
                call.body = _json_body(request)
            return handler(call, **kwargs)
        except ApiError as exc:
            return from_api_error(exc)
        except ServiceError as exc:
            return from_service_error(exc)
        except RequestDataTooBig:
            return error_response(413, "too_large", "The request body is too large.")
        except (SuspiciousOperation, MultiPartParserError) as exc:
            # Malformed multipart bodies, too many fields or files: the client's fault, not a server error.
            return error_response(400, "bad_request", f"The request body could not be read: {exc}")
        except Exception:
            logger.exception("API %s %s failed", request.method, request.path)
            return error_response(500, "server_error", "The server failed to handle the request.")

    view.api_methods = {method: getattr(h, "__doc__", "") or "" for method, h in handlers.items()}  # type: ignore[attr-defined]
    view.api_versions = api_versions  # type: ignore[attr-defined]
    return view


def _authenticate(request: HttpRequest, project_name: str) -> Call:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "Send a project API key as 'Authorization: Bearer <key>'.")
    api_key = api_key_authenticate(secret=secret.strip())
    if api_key is None:
        raise ApiError(401, "invalid_api_key", "The API key is unknown or has been revoked.")
    if api_key.project.name != project_name:
        raise ApiError(403, "permission_denied", f"This API key does not belong to project '{project_name}'.")
    return Call(request=request, project=api_key.project, api_key=api_key)


def _check_api_version(request: HttpRequest, versions: tuple[str, ...]) -> None:
    version = request.GET.get("api-version")
    if not version:
        raise invalid("The api-version query parameter is required (use 'v1').", param="api-version")
    if versions and version not in versions:
        raise invalid(f"Unsupported api-version '{version}'; use one of {', '.join(versions)}.", param="api-version")


def _refuse_nul_in_url(request: HttpRequest) -> None:
    if "\x00" in request.path:
        raise ApiError(404, "not_found", "No such object: ids never contain NUL characters.")
    for name, values in request.GET.lists():
        if any("\x00" in value for value in values):
            raise invalid("Query parameters must not contain NUL characters.", param=name)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.API_MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"The request body is larger than {settings.API_MAX_JSON_BYTES:,} bytes.")
    # Read the stream directly: request.body would apply Django's 2.5 MB form limit to JSON bodies.
    raw = request.read(settings.API_MAX_JSON_BYTES + 1)
    if len(raw) > settings.API_MAX_JSON_BYTES:
        raise ApiError(413, "too_large", f"The request body is larger than {settings.API_MAX_JSON_BYTES:,} bytes.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "The request body is nested too deeply.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "The request body must be a JSON object.")
    problem = json_text_problem(body)
    if problem is not None:
        param, reason = problem
        raise invalid(f"{param} {reason}.", param=param)
    return body


def ok(data: Any) -> JsonResponse:
    """Every success is a 200: the SDK treats 201 and 204 as errors."""
    return JsonResponse(data, safe=False)


# --- reading bodies and queries, with errors that name the field -------------------------------------------


def opt_str(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise invalid(f"{name} must be a string.", param=name)
    return value


def req_str(body: dict[str, Any], name: str) -> str:
    value = opt_str(body, name)
    if not value:
        raise invalid(f"{name} is required.", param=name)
    return value


def opt_list(body: dict[str, Any], name: str) -> list[Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, list):
        raise invalid(f"{name} must be a list.", param=name)
    return value


def opt_dict(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise invalid(f"{name} must be an object.", param=name)
    return value


def opt_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"{name} must be true or false.", param=name)
    return value


def opt_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise invalid(f"{name} must be an integer.", param=name)
    return value
