"""Who may open a console view: sign-in plus one capability of the role table (agents_admin.roles).

Every console view carries ``@capability_required(...)`` (or ``@signed_in`` for pages every role may see);
tests/architecture/test_permissions.py walks the URLconf and fails any view without one. A signed-in user who lacks
the capability gets 403, never a redirect loop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from agents_admin.roles import perm

ViewFunc = Callable[..., HttpResponseBase]


def capability_required(*codenames: str) -> Callable[[ViewFunc], ViewFunc]:
    """Sign-in required (else redirect to sign-in); then every named capability (else 403)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not all(request.user.has_perm(perm(c)) for c in codenames):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        wrapped.required_capabilities = codenames  # type: ignore[attr-defined]
        return login_required(wrapped)

    return decorator


def signed_in(view: ViewFunc) -> ViewFunc:
    """For pages every role may open (home, own profile)."""
    view.required_capabilities = ()  # type: ignore[attr-defined]
    return login_required(view)


def can(user: Any, codename: str) -> bool:
    """For templates and views that show or hide controls by role (the check on the target view still applies)."""
    return bool(user.has_perm(perm(codename)))
