from __future__ import annotations

from django import forms

from provisioning.forges import FORGE_KINDS


class SourceForm(forms.Form):
    kind = forms.ChoiceField(choices=[(k, k.title()) for k in FORGE_KINDS])
    org_url = forms.CharField(
        label="Organisation or group URL",
        max_length=500,
        help_text="e.g. https://github.com/acme or https://gitlab.example.com/platform/apps",
    )
    api_url = forms.CharField(
        label="Forge API URL",
        max_length=500,
        required=False,
        help_text="Only for self-hosted forges; empty uses the public service.",
    )
    token = forms.CharField(
        widget=forms.PasswordInput, max_length=500, help_text="Stored encrypted."
    )
