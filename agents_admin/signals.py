"""Sign-in events go to the audit log; role groups are synced after every migrate; a saved view's change (on any
path: the console, the Django admin, its owner's deletion) refreshes the menus that list saved views."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from agents_admin.models import SavedView
from agents_admin.roles import roles_sync
from agents_admin.selectors.saved_views import saved_views_changed
from agents_admin.services.accounts import account_session_start
from agents_admin.services.audit import audit_record


@receiver(user_logged_in)
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.sign_in", actor=user, object_type="user", object_id=str(user.pk), request=request)
    if request is not None and hasattr(request, "session"):
        account_session_start(request=request, user=user)


@receiver(user_logged_out)
def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action="auth.sign_out", actor=user, object_type="user", object_id=str(user.pk), request=request)


@receiver(user_login_failed)
def _sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Only the username is kept; never the password.
    username = str(credentials.get("username", ""))[:150]
    audit_record(
        action="auth.sign_in_failed", actor_label=f"anonymous ({username})", object_type="user", object_id=username,
        request=request,
    )  # fmt: skip


def sync_roles_after_migrate(sender: Any, **kwargs: Any) -> None:
    roles_sync()


@receiver(post_save, sender=SavedView)
@receiver(post_delete, sender=SavedView)
def _saved_view_changed(sender: Any, **kwargs: Any) -> None:
    saved_views_changed()
