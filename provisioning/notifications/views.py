"""The notifications pages of a project (its managers) and of a base manifest (staff):
targets, recent deliveries with their errors, "send test" and "retry"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from projects.permissions import get_project_for_user, methods_after_lookup
from projects.roles import Perm
from projects.selectors import base_get
from provisioning.notifications import services
from provisioning.notifications.forms import TargetCreateForm, TargetEditForm
from provisioning.notifications.models import NotificationKind, NotificationTarget
from provisioning.notifications.selectors import (
    notification_delivery_get,
    notification_delivery_list_for,
    notification_target_get,
    notification_target_list_for,
)

if TYPE_CHECKING:
    from projects.models import BaseManifest, Project

SHOW_ONCE_SLOT = "new-notification-secret-{pk}"


@dataclass(frozen=True)
class Owner:
    project: Project | None = None
    base: BaseManifest | None = None

    @property
    def of(self) -> dict[str, Any]:
        return {"project": self.project} if self.project is not None else {"base": self.base}

    def page(self) -> str:
        if self.project is not None:
            return reverse("notifications:project-notifications", args=[self.project.slug])
        assert self.base is not None
        return reverse("notifications:base-notifications", args=[self.base.name])

    def action(self, name: str, object_id: int) -> str:
        if self.project is not None:
            return reverse(f"notifications:project-{name}", args=[self.project.slug, object_id])
        assert self.base is not None
        return reverse(f"notifications:base-{name}", args=[self.base.name, object_id])


def _project(request: HttpRequest, slug: str) -> Owner:
    return Owner(project=get_project_for_user(request.user, slug, Perm.MANAGE))


def _base(request: HttpRequest, name: str) -> Owner:
    if not request.user.is_staff:
        raise PermissionDenied("Only platform staff keep base manifests.")
    base = base_get(name)
    if base is None:
        raise Http404("No such base manifest.")
    return Owner(base=base)


def _target(owner: Owner, target_id: int) -> NotificationTarget:
    target = notification_target_get(target_id=target_id, **owner.of)
    if target is None:
        raise Http404("No such notification target.")
    return target


def _page(request: HttpRequest, owner: Owner) -> HttpResponse:
    form = TargetCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            target, secret = services.notification_target_create(
                actor=request.user,
                name=data["name"],
                kind=data["kind"],
                url=data["url"],
                events=data["events"],
                enabled=data["enabled"],
                **owner.of,
            )
        except (services.NotificationError, ValueError) as exc:
            form.add_error("url", str(exc))
        else:
            if secret:  # shown once, on the next page, then gone from the session
                request.session[SHOW_ONCE_SLOT.format(pk=target.pk)] = secret
            messages.success(request, f"Added {target.name}.")
            return redirect(owner.page())
    targets = notification_target_list_for(**owner.of)
    shown = {}
    for target in targets:
        secret = request.session.pop(SHOW_ONCE_SLOT.format(pk=target.pk), None)
        if secret:
            shown[target.pk] = secret
    rows = [
        {
            "target": target,
            "form": TargetEditForm(
                initial={"name": target.name, "events": target.events, "enabled": target.enabled},
                prefix=f"t{target.pk}",
            ),
            "new_secret": shown.get(target.pk, ""),
            "update_url": owner.action("notification-update", target.pk),
            "delete_url": owner.action("notification-delete", target.pk),
            "test_url": owner.action("notification-test", target.pk),
        }
        for target in targets
    ]
    deliveries = [
        {"delivery": d, "retry_url": owner.action("notification-retry", d.pk)}
        for d in notification_delivery_list_for(**owner.of)
    ]
    return render(
        request,
        "provisioning/notifications.html",
        {
            "project": owner.project,
            "base": owner.base,
            "form": form,
            "rows": rows,
            "deliveries": deliveries,
            "webhook_kind": NotificationKind.WEBHOOK,
            "tab": "notifications",
            "can_manage": True,
        },
    )


def _update(request: HttpRequest, owner: Owner, target_id: int) -> HttpResponse:
    target = _target(owner, target_id)
    form = TargetEditForm(request.POST, prefix=f"t{target.pk}")
    if form.is_valid():
        services.notification_target_update(
            actor=request.user,
            target=target,
            name=form.cleaned_data["name"],
            events=form.cleaned_data["events"],
            enabled=form.cleaned_data["enabled"],
        )
        messages.success(request, f"Saved {target.name}.")
    else:
        messages.error(
            request, "Not saved: " + " ".join(str(e) for errs in form.errors.values() for e in errs)
        )
    return redirect(owner.page())


def _delete(request: HttpRequest, owner: Owner, target_id: int) -> HttpResponse:
    target = _target(owner, target_id)
    services.notification_target_delete(actor=request.user, target=target)
    messages.success(request, f"Deleted {target.name}.")
    return redirect(owner.page())


def _test(request: HttpRequest, owner: Owner, target_id: int) -> HttpResponse:
    target = _target(owner, target_id)
    services.notification_test_send(actor=request.user, target=target)
    messages.success(request, f"A test message to {target.name} is queued; its result shows below.")
    return redirect(owner.page())


def _retry(request: HttpRequest, owner: Owner, notification_id: int) -> HttpResponse:
    delivery = notification_delivery_get(delivery_id=notification_id, **owner.of)
    if delivery is None:
        raise Http404("No such notification.")
    if services.notification_delivery_retry(actor=request.user, delivery=delivery):
        messages.success(request, "The notification is queued again.")
    else:
        messages.info(request, "Only a failed notification can be retried.")
    return redirect(owner.page())


# --- Project routes: whoever may change the project's settings ---------------------------


@login_required
@methods_after_lookup("GET", "POST")
def project_notifications(request: HttpRequest, slug: str) -> HttpResponse:
    return _page(request, _project(request, slug))


@login_required
@methods_after_lookup("POST")
def project_notification_update(request: HttpRequest, slug: str, target_id: int) -> HttpResponse:
    return _update(request, _project(request, slug), target_id)


@login_required
@methods_after_lookup("POST")
def project_notification_delete(request: HttpRequest, slug: str, target_id: int) -> HttpResponse:
    return _delete(request, _project(request, slug), target_id)


@login_required
@methods_after_lookup("POST")
def project_notification_test(request: HttpRequest, slug: str, target_id: int) -> HttpResponse:
    return _test(request, _project(request, slug), target_id)


@login_required
@methods_after_lookup("POST")
def project_notification_retry(
    request: HttpRequest, slug: str, notification_id: int
) -> HttpResponse:
    return _retry(request, _project(request, slug), notification_id)


# --- Base manifest routes: platform staff --------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def base_notifications(request: HttpRequest, name: str) -> HttpResponse:
    return _page(request, _base(request, name))


@login_required
@require_POST
def base_notification_update(request: HttpRequest, name: str, target_id: int) -> HttpResponse:
    return _update(request, _base(request, name), target_id)


@login_required
@require_POST
def base_notification_delete(request: HttpRequest, name: str, target_id: int) -> HttpResponse:
    return _delete(request, _base(request, name), target_id)


@login_required
@require_POST
def base_notification_test(request: HttpRequest, name: str, target_id: int) -> HttpResponse:
    return _test(request, _base(request, name), target_id)


@login_required
@require_POST
def base_notification_retry(request: HttpRequest, name: str, notification_id: int) -> HttpResponse:
    return _retry(request, _base(request, name), notification_id)
