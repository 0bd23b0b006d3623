"""Forms for support review: internal notes and flags on a thread, comments on a message."""

from __future__ import annotations

from django import forms

from agents_admin.validation import FLAG_NAME


class NoteForm(forms.Form):
    body = forms.CharField(label="Add a note", max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}))


class FlagForm(forms.Form):
    name = forms.CharField(max_length=40)
    on = forms.BooleanField(required=False)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip().lower()
        if not FLAG_NAME.match(name):
            raise forms.ValidationError("A flag is lower-case letters, digits and '-'.")
        return name


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", max_length=5_000, widget=forms.Textarea(attrs={"rows": 2}))
