from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse

from agents_admin.services.audit import client_ip
from agents_admin.services.throttle import signin_blocked, signin_failed, signin_succeeded


class ThrottledLoginView(LoginView):
    """Django's sign-in, refusing further attempts (429) after repeated failures for a user or address."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        ip = client_ip(request)
        if signin_blocked(username=username, ip=ip):
            form = self.get_form()
            minutes = settings.SIGNIN_THROTTLE_WINDOW // 60
            form.errors.clear()
            form.add_error(None, f"Too many failed sign-ins. Try again in {minutes} minutes.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form was re-rendered with an error
            signin_failed(username=username, ip=ip)
        else:
            signin_succeeded(username=username, ip=ip)
        return response
