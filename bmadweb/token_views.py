"""Pages where a person manages their own API tokens. Views speak HTTP only."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST

from bmadweb.models import ApiToken
from bmadweb.tokens import TokenError, token_create, token_for_owner, token_revoke, tokens_for_user

SCOPE_CHOICES = [
    ("read", "read — list and read projects, manifests, runs and reports"),
    ("write", "write — validate and save manifests"),
    ("run", "run — start, approve and cancel runs"),
]


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, strip=True)
    scopes = forms.MultipleChoiceField(
        choices=SCOPE_CHOICES, widget=forms.CheckboxSelectMultiple, initial=["read"]
    )
    expires_in_days = forms.IntegerField(min_value=1, initial=90)

    def clean_expires_in_days(self) -> int:
        days = int(self.cleaned_data["expires_in_days"])
        if days > settings.API_TOKEN_MAX_DAYS:
            raise forms.ValidationError(
                f"A token lives at most {settings.API_TOKEN_MAX_DAYS} days."
            )
        return days


def _list_page(request: HttpRequest, form: TokenForm, status: int = 200) -> HttpResponse:
    context = {
        "tokens": tokens_for_user(request.user),
        "form": form,
        "max_days": settings.API_TOKEN_MAX_DAYS,
        "now": timezone.now(),
    }
    return render(request, "account/token_list.html", context, status=status)


@login_required
@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request, TokenForm())


@login_required
@require_POST
def token_create_view(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        token, plaintext = token_create(
            user=request.user,  # type: ignore[arg-type]
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except TokenError as exc:
        form.add_error(None, str(exc))
        return _list_page(request, form, status=400)
    # Rendered, never redirected: the plaintext lives only in this one response.
    response = render(
        request, "account/token_created.html", {"token": token, "plaintext": plaintext}
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token: ApiToken | None = token_for_owner(request.user, token_id)
    if token is None:
        raise Http404("No such token.")
    token_revoke(token=token, actor=request.user)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked.")
    return redirect("account:token-list")
