"""The signed-in person's own account: the six-digit code of the second factor (the password change uses Django's
own ``PasswordChangeForm``: the old password, the new one twice, the configured validators)."""

from __future__ import annotations

from django import forms


class TotpCodeForm(forms.Form):
    token = forms.CharField(
        label="Code from your authenticator app",
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "size": 8}
        ),
    )

    def clean_token(self) -> str:
        token = "".join(self.cleaned_data["token"].split())
        if not (token.isdigit() and len(token) == 6):
            raise forms.ValidationError("Enter the 6 digits your app shows.")
        return token
