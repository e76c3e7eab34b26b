"""Sign-in and sign-out, with audit records and a brute-force lockout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from bmadweb.audit import audit_record
from bmadweb.models import LoginThrottle


def _keys(request: HttpRequest, username: str) -> list[str]:
    # REMOTE_ADDR comes from the socket (or a trusted proxy setting), unlike
    # X-Forwarded-For, which any client can forge to dodge a per-address limit.
    return [f"user:{username.strip().lower()[:150]}", f"addr:{request.META.get('REMOTE_ADDR', '')}"]


def login_locked(request: HttpRequest, username: str) -> bool:
    now = timezone.now()
    return LoginThrottle.objects.filter(
        key__in=_keys(request, username), locked_until__gt=now
    ).exists()


@transaction.atomic
def login_failure_note(request: HttpRequest, username: str) -> None:
    now = timezone.now()
    window = timedelta(seconds=settings.LOGIN_LOCKOUT_SECONDS)
    for key in _keys(request, username):
        row, _ = LoginThrottle.objects.select_for_update().get_or_create(
            key=key, defaults={"first_failure": now}
        )
        if row.first_failure < now - window:
            row.failures, row.first_failure, row.locked_until = 0, now, None
        row.failures = F("failures") + 1
        row.save()
        row.refresh_from_db()
        if row.failures >= settings.LOGIN_FAILURE_LIMIT:
            row.locked_until = now + window
            row.save(update_fields=["locked_until"])


class ThrottledAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": "Too many failed sign-ins. Wait %(minutes)s minutes, or ask a platform "
        "owner to reset your password.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.data.get("username", "")
        if self.request is not None and login_locked(self.request, username):
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
        LoginThrottle.objects.filter(
            key__in=_keys(self.request, form.get_user().get_username())
        ).delete()
        audit_record(action="auth.login", actor=form.get_user())
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        username = str(form.data.get("username", ""))[:150]
        if not form.has_error("__all__", "locked"):
            login_failure_note(self.request, username)
        audit_record(
            action="auth.login_failed",
            payload={"username": username, "address": self.request.META.get("REMOTE_ADDR", "")},
        )
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.user.is_authenticated:
            audit_record(action="auth.logout", actor=request.user)
        return super().post(request, *args, **kwargs)
