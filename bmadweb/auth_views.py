"""Sign-in and sign-out, with audit records. The brute-force lockout is django-axes,
configured in bmadweb.lockout (docs/security.md#s23)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse

from bmadweb.audit import audit_record
from bmadweb.proxies import client_address


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        if settings.OIDC_ISSUER:  # single sign-on (bmadweb.oidc)
            context["sso_name"] = settings.OIDC_PROVIDER_NAME
            context["sso_failed"] = self.request.GET.get("sso") == "failed"
        return context

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        audit_record(action="auth.login", actor=form.get_user())
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        username = str(form.data.get("username", ""))[:150]
        audit_record(
            action="auth.login_failed",
            payload={"username": username, "address": client_address(self.request)},
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.is_authenticated:
            audit_record(action="auth.logout", actor=request.user)
        return super().post(request, *args, **kwargs)
