"""Sign-in and sign-out, with audit records and a brute-force lockout."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse

from bmadweb.selectors import login_locked
from bmadweb.services import (
    auth_login_failure_record,
    auth_login_record,
    auth_logout_record,
)


def _address(request: HttpRequest) -> str:
    # REMOTE_ADDR comes from the socket (or a trusted proxy setting), unlike
    # X-Forwarded-For, which any client can forge to dodge a per-address limit.
    return str(request.META.get("REMOTE_ADDR", ""))


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": "Too many failed sign-ins. Wait %(minutes)s minutes, or ask a platform "
        "owner to reset your password.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.data.get("username", "")
        if self.request is not None and login_locked(
            username=username, address=_address(self.request)
        ):
            from django.core.exceptions import ValidationError

            raise ValidationError(
                self.error_messages["locked"],
                code="locked",
                params={"minutes": settings.LOGIN_LOCKOUT_SECONDS // 60},
            )
        return super().clean()


class LoginView(auth_views.LoginView):
    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        auth_login_record(user=form.get_user(), address=_address(self.request))
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        auth_login_failure_record(
            username=str(form.data.get("username", "")),
            address=_address(self.request),
            already_locked=form.has_error("__all__", "locked"),
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        auth_logout_record(user=request.user)
        return super().post(request, *args, **kwargs)
