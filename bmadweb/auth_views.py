"""Sign-in and sign-out, audited through bmadweb.services. The brute-force lockout is
django-axes, configured in bmadweb.lockout (docs/security.md#s23); the services audit
what it decided."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse

from bmadweb.lockout import lockout_decision
from bmadweb.proxies import client_address
from bmadweb.services import (
    auth_login_failure_record,
    auth_login_record,
    auth_logout_record,
)


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
        auth_login_record(user=form.get_user(), address=client_address(self.request))
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        decision = lockout_decision(self.request)
        auth_login_failure_record(
            username=str(form.data.get("username", "")),
            address=client_address(self.request),
            already_locked=decision.already_locked,
            locked=decision.locked,
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        auth_logout_record(user=request.user)
        return super().post(request, *args, **kwargs)
