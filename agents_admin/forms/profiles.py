"""The signed-in person's own settings."""

from __future__ import annotations

import zoneinfo

from django import forms

from agents_admin.forms.common import ServiceErrorMixin

BROWSER_ZONE = ""


def _zone_choices() -> list[tuple[str, str]]:
    return [
        (BROWSER_ZONE, "Your browser's time zone"),
        *((name, name) for name in sorted(zoneinfo.available_timezones())),
    ]


class TimeZoneForm(ServiceErrorMixin, forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        choices=_zone_choices,
        help_text="Times read relative (“5 minutes ago”); hovering one shows the date and time in this zone.",
    )
