"""Errors that services raise for bad input or a state that forbids the action.

Each names the field it is about (``param``) when there is one, so a form can show it beside the field and the
API can return it in ``error.param``. Nothing has been changed when one is raised.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code:
            self.code = code


class InvalidInput(ServiceError):
    code = "invalid_value"


class Conflict(ServiceError):
    """The object's state forbids the action (an active run, a terminal run, a held thread)."""

    status = 409
    code = "conflict"


class LimitExceeded(ServiceError):
    code = "limit_exceeded"


class RateLimited(ServiceError):
    """A per-key limit is reached: try again after ``retry_after`` seconds. ``limit`` names the setting."""

    status = 429
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, limit: str, retry_after: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after
