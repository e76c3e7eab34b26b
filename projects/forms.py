"""Forms for the team lead's pages. Validation errors say what to do."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from projects.models import SECRET_FIELDS, Project
from projects.roles import ROLE_HELP, Role
from projects.services import EDITABLE_FIELDS, TYPED_SECRET_FIELDS


class ProjectCreateForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "name",
            "slug",
            "repo_url",
            "default_branch",
            "forge_kind",
            "push_mode",
            "require_approval",
        ]
        help_texts = {
            "slug": "Short name used in URLs and branch names: lowercase letters, digits, hyphens.",
            "forge_kind": "GitHub, GitLab and Gitea pull requests need a forge API token: add "
            "it under Credentials once the repository is registered.",
        }
        widgets = {
            "repo_url": forms.TextInput(
                attrs={
                    "placeholder": "https://github.com/org/repo.git",
                    "spellcheck": "false",
                    "autocomplete": "off",
                }
            )
        }


class ProjectSettingsForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = list(EDITABLE_FIELDS)
        widgets = {"repo_url": forms.TextInput(attrs={"spellcheck": "false"})}


class CredentialsForm(forms.Form):
    """Write-only: an empty field keeps the stored value; "clear" removes it."""

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field, label in SECRET_FIELDS.items():
            if field not in TYPED_SECRET_FIELDS:
                continue  # webhook secrets are generated, never typed in
            widget: forms.Widget = (
                forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"})
                if field == "ssh_private_key"
                else forms.PasswordInput(attrs={"autocomplete": "new-password"})
            )
            self.fields[field] = forms.CharField(
                label=label[0].upper() + label[1:], required=False, widget=widget, max_length=20000
            )
            self.fields[f"clear_{field}"] = forms.BooleanField(
                required=False, label="Remove the stored value"
            )
        self.project = project

    def changes(self) -> dict[str, str]:
        """Field → new value ("" clears) for the fields the person touched."""
        out: dict[str, str] = {}
        for field in SECRET_FIELDS:
            if field not in self.fields:
                continue
            if self.cleaned_data.get(f"clear_{field}"):
                out[field] = ""
            elif self.cleaned_data.get(field):
                out[field] = self.cleaned_data[field].strip()
        return out


class ManifestForm(forms.Form):
    yaml_text = forms.CharField(
        label="Manifest (YAML)",
        max_length=256 * 1024,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 28, "spellcheck": "false", "autocomplete": "off", "class": "code-editor"}
        ),
    )
    message = forms.CharField(
        label="What changed?",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Add the QA leader"}),
    )


class MemberForm(forms.Form):
    who = forms.CharField(label="User or team name", max_length=150)
    kind = forms.ChoiceField(choices=[("user", "User"), ("group", "Team")], initial="user")
    role = forms.ChoiceField(
        choices=[(r.value, f"{r.value.title()} — {ROLE_HELP[r]}") for r in Role]
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        who, kind = data.get("who", "").strip(), data.get("kind")
        if who and kind == "user":
            data["user"] = get_user_model().objects.filter(username=who).first()
            if data["user"] is None:
                self.add_error(
                    "who",
                    f"No user named “{who}”. Check the spelling, or ask a "
                    "platform owner to create the account.",
                )
        elif who and kind == "group":
            data["group"] = Group.objects.filter(name=who).first()
            if data["group"] is None:
                self.add_error(
                    "who", f"No team named “{who}”. Platform owners create teams in the admin."
                )
        return data


class ConfirmDeleteForm(forms.Form):
    confirm_slug = forms.CharField(label="Type the project's slug to confirm", max_length=64)

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_confirm_slug(self) -> str:
        value = self.cleaned_data["confirm_slug"].strip()
        if value != self.project.slug:
            raise forms.ValidationError(f"Type “{self.project.slug}” exactly to delete.")
        return value
