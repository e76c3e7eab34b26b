"""Forms of the notifications page. The URL field is write-only: it is never rendered
back, not even after an error (docs/security.md#notifications)."""

from __future__ import annotations

from typing import Any

from django import forms

from provisioning.notifications.models import SUBSCRIBABLE_EVENTS, NotificationKind
from provisioning.notifications.services import NotificationError, target_url_check
from provisioning.notifications.urlcheck import MAX_URL_LENGTH, TargetUrlError

EVENT_CHOICES = [(e.value, e.label) for e in SUBSCRIBABLE_EVENTS]


class TargetEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if any(not ch.isprintable() for ch in name):
            raise forms.ValidationError("The name may contain printable characters only.")
        return name


class TargetCreateForm(TargetEditForm):
    kind = forms.ChoiceField(choices=NotificationKind.choices, initial=NotificationKind.WEBHOOK)
    url = forms.CharField(
        label="URL",
        max_length=MAX_URL_LENGTH,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Signed webhook: https://… · Apprise: slack://…, discord://…, "
        "workflows://… (Teams), matrixs://…, mailtos://…, jsons://…, forms://…. "
        "Stored encrypted and never shown again.",
    )

    field_order = ["name", "kind", "url", "events", "enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, url = data.get("kind"), data.get("url")
        if kind and url:
            try:
                target_url_check(kind=kind, url=url)
            except (TargetUrlError, NotificationError) as exc:
                self.add_error("url", str(exc))
        return data
