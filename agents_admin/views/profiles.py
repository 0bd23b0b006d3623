"""The signed-in person's own settings: the time zone the console shows times in."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from agents_admin.errors import ServiceError
from agents_admin.forms.profiles import TimeZoneForm
from agents_admin.selectors.accounts import user_time_zone
from agents_admin.services.accounts import TIME_ZONE, user_time_zone_set
from agents_admin.views.access import signed_in
from agents_admin.views.common import HtmxHttpRequest, render_page


@require_http_methods(["GET", "POST"])
@signed_in
def time_zone_edit(request: HtmxHttpRequest) -> HttpResponse:
    initial = {"time_zone": user_time_zone(request.user)}
    form = TimeZoneForm(data=request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            profile = user_time_zone_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
        except ServiceError as error:
            form.add_service_error(error)
        else:
            request.session[TIME_ZONE] = profile.time_zone
            messages.success(request, f"Times now show in {profile.time_zone or 'your browser’s time zone'}.")
            return redirect("agents_admin:time_zone")
    return render_page(request, "agents_admin/profile_time_zone.html", {"form": form}, partial="form")
