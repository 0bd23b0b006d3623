"""The API's error shape: ``{"error": {"code", "message", "type", "param", "details"}}`` with the right status.

The Azure SDK parses this body into its exceptions; a non-JSON error body makes it crash instead, so every
failure under /api/ answers with one of these (see also middleware.py).
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from agents_admin.errors import Conflict, RateLimited, ServiceError

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, *, param: str | None = None, type_: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.type = type_


def not_found(kind: str, object_id: str) -> ApiError:
    return ApiError(404, "not_found", f"No {kind} found with id '{object_id}'.")


def invalid(message: str, *, param: str) -> ApiError:
    return ApiError(400, "invalid_value", message, param=param)


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    type_: str | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JsonResponse:
    """The one error body: the Azure SDKs read ``code``/``message``, openai-python also ``param`` and ``type``."""
    kind = type_ or _TYPES.get(status, "invalid_request_error")
    body = {"error": {"code": code, "message": message, "type": kind, "param": param, "details": details or []}}
    return JsonResponse(body, status=status)


def from_api_error(exc: ApiError) -> JsonResponse:
    return error_response(exc.status, exc.code, exc.message, param=exc.param, type_=exc.type)


def from_service_error(exc: ServiceError) -> JsonResponse:
    # The OpenAI-compatible service answers state conflicts (an active run, a run that already ended) with
    # 400; a 409 would surface in the SDK as ResourceExistsError, which is the wrong story.
    status = 400 if isinstance(exc, Conflict) else exc.status
    if isinstance(exc, RateLimited):
        # The limit is named in details (the setting), and clients (azure-core, openai) honour Retry-After.
        response = error_response(status, exc.code, exc.message, details=[{"code": exc.limit, "message": exc.message}])
        response["Retry-After"] = str(exc.retry_after)
        return response
    return error_response(status, exc.code, exc.message, param=exc.param)
