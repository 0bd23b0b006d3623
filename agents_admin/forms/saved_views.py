"""Forms for saved views: save the page's current filters under a name, rename, share."""

from __future__ import annotations

from django import forms

from agents_admin.forms.common import ServiceErrorMixin
from agents_admin.models import SavedView


class SavedViewForm(ServiceErrorMixin, forms.Form):
    name = forms.CharField(label="Name", max_length=80)
    shared = forms.BooleanField(label="Shared with everyone", required=False)


class SavedViewCreateForm(SavedViewForm):
    """Sent from the Threads or Search page: ``query`` is the page's query string when the person saved it."""

    page = forms.ChoiceField(choices=SavedView.Page.choices, widget=forms.HiddenInput)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
