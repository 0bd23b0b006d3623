"""The confirmation token of a destructive action.

The confirmation page carries a token signed for (action, target, person); the POST that acts must send it
back. Without it, with another action's, another object's or another person's token, or after
``CONFIRM_MAX_AGE``, the view shows the confirmation page again and changes nothing, so a crafted or replayed
POST cannot skip the step the page asks for.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core import signing

CONFIRM_MAX_AGE = 15 * 60
SALT = "agents_admin.confirm"


class ConfirmForm(forms.Form):
    confirm = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, data: Any = None, *, action: str, target: object, user_id: int | None) -> None:
        self.expected = {"a": action, "t": str(target), "u": user_id}
        super().__init__(data, initial={"confirm": signing.dumps(self.expected, salt=SALT)})

    def clean_confirm(self) -> str:
        token = self.cleaned_data.get("confirm") or ""
        if not token:
            raise forms.ValidationError("Confirm on this page first.")
        try:
            value = signing.loads(token, salt=SALT, max_age=CONFIRM_MAX_AGE)
        except signing.BadSignature:  # SignatureExpired included
            raise forms.ValidationError("This confirmation expired or is not valid; confirm again.") from None
        if value != self.expected:
            raise forms.ValidationError("This confirmation is for another action; confirm again.")
        return token

    def fresh(self) -> ConfirmForm:
        """An unbound copy carrying a new token, for showing the page again."""
        return ConfirmForm(action=self.expected["a"], target=self.expected["t"], user_id=self.expected["u"])
