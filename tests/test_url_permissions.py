"""Every URL in the urlconf against the permission rules (docs/security.md#s22, #s23).

The routes are read from the root urlconf, included modules and all, so a new route is
checked the day it lands: a route taking an object identifier must have a value mapped
below (a foreign object, and the permission each method needs), and a route without one
must be allowlisted with a reason. Anything else fails the test, naming the route.

The rule for outsiders: a request naming an object they cannot see is answered exactly
as a request naming an object that does not exist, and that answer is 404 — or 405 for
a method the route does not serve at all (`Allow` does not list it), which the view
refuses before any lookup and which says nothing about the object.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from projects.roles import Perm, Role

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Routes without object identifiers, each with the reason it needs no object check.
ALLOWLIST_EXACT = {
    "login/": "the sign-in form, anonymous by design",
    "favicon.ico": "a redirect to the public icon",
    "logout/": "acts only on the caller's own session",
    "oidc/authenticate/": "starts single sign-on, anonymous by design (404 when it is off)",
    "oidc/callback/": "single sign-on's return: state, nonce and PKCE checked (test_oidc)",
    "": "the dashboard: lists only permitted projects (test_lists_never_show_foreign_objects)",
    "projects/new/": "registers a new project that the caller then owns; needs the "
    "project creator permission (test_registering_needs_the_project_creator_permission)",
    "fleet/": "counts, lists and approvals of permitted projects only "
    "(test_lists_never_show_foreign_objects, tests/provisioning/campaigns/test_fleet.py)",
    "schema/manifest-v1.json": "the public JSON Schema of manifests",
    "health": "liveness, no data",
    "health/ready": "readiness, no data",
    "metrics": "token or internal address only, tested with the operations views",
    "audit": "JSON filtered by permission (test_lists_never_show_foreign_objects)",
    "audit/verify": "reports only whether the chain holds",
    "account/tokens/": "the caller's own API tokens only (test_lists_never_show_foreign_objects)",
    "account/tokens/new/": "creates a token for the caller",
}
ALLOWLIST_PREFIXES = {
    "admin/": "platform owners only (Django admin and RQ dashboard: staff_member_required)",
    "api/": "the REST API: token authentication and its own permission tests",
    "bases/": "base manifests and their notification targets: platform staff only (403 for "
    "everyone else, test_bases.py and tests/provisioning/notifications/test_pages.py)",
    "campaigns/": "campaigns: listed and shown only where a project is visible, every run "
    "checked per project (tests/provisioning/campaigns)",
    "discover/": "repository discovery: platform staff only (403 for everyone else, "
    "tests/provisioning/discovery)",
    "hooks/": "webhook receivers: authenticated by the forge's signature, tested there",
}

# Object routes: the permission each method needs. Methods not listed are not served.
ROUTE_PERMS: dict[str, dict[str, Perm]] = {
    "projects:project-detail": {"GET": Perm.VIEW},
    "projects:project-settings": {"GET": Perm.MANAGE, "POST": Perm.MANAGE},
    "projects:project-credentials": {"GET": Perm.MANAGE, "POST": Perm.MANAGE},
    "projects:project-webhook": {"GET": Perm.MANAGE},
    "projects:webhook-regenerate": {"POST": Perm.MANAGE},
    "projects:member-list": {"GET": Perm.MANAGE, "POST": Perm.MANAGE},
    "projects:member-remove": {"POST": Perm.MANAGE},
    "projects:project-delete": {"GET": Perm.MANAGE, "POST": Perm.MANAGE},
    "projects:project-audit": {"GET": Perm.MANAGE},
    "projects:manifest-edit": {"GET": Perm.VIEW, "POST": Perm.EDIT_MANIFEST},
    "projects:manifest-validate": {"POST": Perm.VIEW},
    "projects:manifest-preview": {"POST": Perm.VIEW},
    "projects:manifest-history": {"GET": Perm.VIEW},
    "projects:manifest-compare": {"GET": Perm.VIEW},
    "projects:manifest-restore": {"POST": Perm.EDIT_MANIFEST},
    "projects:project-skills": {"GET": Perm.VIEW},
    "provisioning:run-list": {"GET": Perm.VIEW},
    "provisioning:run-create": {"POST": Perm.ANALYZE},  # kind=analyze; provision below
    "provisioning:run-detail": {"GET": Perm.VIEW},
    "provisioning:run-live": {"GET": Perm.VIEW},
    "provisioning:run-approve": {"POST": Perm.APPROVE},
    "provisioning:run-cancel": {"POST": Perm.APPROVE},
    "deliveries:delivery-replay": {"POST": Perm.MANAGE},
    "notifications:project-notifications": {"GET": Perm.MANAGE, "POST": Perm.MANAGE},
    "notifications:project-notification-update": {"POST": Perm.MANAGE},
    "notifications:project-notification-delete": {"POST": Perm.MANAGE},
    "notifications:project-notification-test": {"POST": Perm.MANAGE},
    "notifications:project-notification-retry": {"POST": Perm.MANAGE},
}
# Object routes whose objects belong to a user rather than to a project.
USER_OBJECT_ROUTES = {
    "account:token-revoke": "API tokens belong to the user who made them",
}
QUERY = {"projects:manifest-compare": "?a=1&b=2"}
POST_DATA = {
    "provisioning:run-create": {"kind": "analyze"},
    "projects:manifest-restore": {"revision": "1"},
}
MISSING_SLUG = "no-such-project"
MISSING_ID = 2_000_000_000


@dataclass(frozen=True)
class Route:
    route: str  # the route string, e.g. "p/<slug:slug>/runs/<int:run_id>/"
    name: str | None  # "namespace:name"
    kwargs: tuple[str, ...]
    plain: bool  # built only from path() routes, so it can be filled in

    def path(self, values: dict[str, object], query: str = "") -> str:
        # Identifiers outside the matrix (the admin's object ids) get a harmless "1".
        filled = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values.get(m.group(1), "1")), self.route)
        return "/" + filled + query


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = "", plain: bool = True
) -> Iterator[Route]:
    for entry in patterns:
        is_route = isinstance(entry.pattern, RoutePattern)
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            inner = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(entry.url_patterns, route, inner, plain and is_route)
        elif isinstance(entry, URLPattern):
            kwargs = re.findall(r"<(?:\w+:)?(\w+)>", route) if plain and is_route else []
            if not (plain and is_route):
                kwargs = list(entry.pattern.regex.groupindex)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(route, name, tuple(kwargs), plain and is_route)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def _allowlisted(route: Route) -> bool:
    return route.route in ALLOWLIST_EXACT or route.route.startswith(tuple(ALLOWLIST_PREFIXES))


def object_routes() -> list[Route]:
    return [r for r in all_routes() if not _allowlisted(r)]


# --- The world: a project the outsider cannot see, and one they own --------------------


@dataclass
class World:
    foreign: dict[str, object]  # kwargs naming objects of a project the outsider can't see
    own: dict[str, object]  # the outsider's own project, with the other ids still foreign
    missing: dict[str, object]  # identifiers of nothing at all
    token_prefix: str  # the visible prefix of the project owner's API token


def _project_objects(project: Any, actor: Any, member: Any) -> dict[str, object]:
    from projects import services
    from provisioning.models import Run, RunKind, RunStatus, WebhookDelivery, WebhookOutcome
    from provisioning.notifications.services import notification_target_create
    from tests.repos import DEMO_MANIFEST

    services.manifest_save(actor=actor, project=project, yaml_text=DEMO_MANIFEST, message="one")
    services.manifest_save(
        actor=actor, project=project, yaml_text=DEMO_MANIFEST + "# two\n", message="two"
    )
    run = Run.objects.create(project=project, kind=RunKind.ANALYZE, status=RunStatus.SUCCEEDED)
    delivery = WebhookDelivery.objects.create(
        project=project, provider="github", delivery_id="d-1", outcome=WebhookOutcome.IGNORED
    )
    membership = project.memberships.get(user=member)
    target, _ = notification_target_create(
        actor=actor,
        project=project,
        name="ops",
        kind="webhook",
        url="http://127.0.0.1:9/hook",
        events=["run_failed"],
    )
    notification = target.deliveries.create(event="test", status="failed")
    return {
        "slug": project.slug,
        "run_id": run.pk,
        "delivery_id": delivery.pk,
        "membership_id": membership.pk,
        "target_id": target.pk,
        "notification_id": notification.pk,
    }


@pytest.fixture
def world(project, owner, viewer, outsider, make_project) -> World:  # type: ignore[no-untyped-def]
    foreign = _project_objects(project, owner, viewer)
    token_prefix = "no-token-routes"
    if any("token_id" in route.kwargs for route in all_routes()):
        from bmadweb.tokens import token_create

        token, _ = token_create(user=owner, name="ci", scopes=["read"], expires_in_days=30)
        foreign["token_id"], token_prefix = token.pk, token.prefix
    mine = make_project(actor=outsider, name="Mine", slug="mine")
    own = {**foreign, "slug": mine.slug}
    missing = {key: MISSING_ID for key in foreign} | {"slug": MISSING_SLUG}
    return World(foreign=foreign, own=own, missing=missing, token_prefix=token_prefix)


def _request(client: Client, method: str, path: str, data: dict[str, str] | None = None) -> Any:
    if method == "POST":
        return client.post(path, data or {})
    return client.generic(method, path)


def _check_unseen(
    client: Client, route: Route, method: str, seen: str, unseen: str, *, strict: bool = True
) -> str:
    """'' when the object is answered exactly as a missing one, else the problem.

    strict: the answer must be 404 (or 405 for a method the route does not serve);
    otherwise a redirect is accepted too (a form's "that no longer exists" message)."""
    data = POST_DATA.get(route.name or "")
    got = _request(client, method, seen, data)
    missing = _request(client, method, unseen, data)
    # A 405 that a missing object gets too reveals nothing outside a project
    # (/account/tokens/<id>/revoke/) or inside the caller's own project (strict=False);
    # under someone else's /p/<slug>/ the project lookup comes first: always 404.
    not_served = (
        got.status_code == 405
        and method not in got.get("Allow", "")
        and ("slug" not in route.kwargs or not strict)
    )
    allowed = {404} if strict else {404, 302}
    if got.status_code != missing.status_code:
        return f"{method} {seen} → {got.status_code}, but a missing object → {missing.status_code}"
    if got.status_code not in allowed and not not_served:
        return f"{method} {seen} → {got.status_code} (expected 404)"
    return ""


def _foreign_untouched(world: World) -> None:
    from projects.models import Membership, Project
    from provisioning.models import (
        NotificationDelivery,
        NotificationTarget,
        Run,
        RunStatus,
        WebhookDelivery,
    )

    assert Project.objects.filter(slug=world.foreign["slug"]).exists()
    assert Membership.objects.filter(pk=world.foreign["membership_id"]).exists()
    assert Run.objects.get(pk=world.foreign["run_id"]).status == RunStatus.SUCCEEDED
    assert Run.objects.count() == 1
    assert WebhookDelivery.objects.filter(pk=world.foreign["delivery_id"]).exists()
    target = NotificationTarget.objects.get(pk=world.foreign["target_id"])
    assert (target.name, target.enabled) == ("ops", True)
    notification = NotificationDelivery.objects.get(pk=world.foreign["notification_id"])
    assert notification.status == "failed"  # not retried
    assert NotificationDelivery.objects.count() == 1  # no test message queued


# --- The matrix is complete -------------------------------------------------------------


def test_every_route_is_either_an_object_route_in_the_matrix_or_allowlisted() -> None:
    known_kwargs = {
        "slug", "run_id", "delivery_id", "membership_id", "token_id", "target_id",
        "notification_id",
    }  # fmt: skip
    problems = []
    for route in object_routes():
        if not route.kwargs:
            problems.append(
                f"/{route.route} ({route.name}) takes no object identifier: add it to "
                "ALLOWLIST_EXACT with the reason it needs no permission check"
            )
        elif route.name not in ROUTE_PERMS and route.name not in USER_OBJECT_ROUTES:
            problems.append(
                f"/{route.route} ({route.name}) is not in ROUTE_PERMS: say which "
                "permission each method needs"
            )
        if unknown := set(route.kwargs) - known_kwargs:
            problems.append(
                f"/{route.route} takes {sorted(unknown)}: map them to foreign objects in `world`"
            )
        if not route.plain:
            problems.append(f"{route.route} is a regex route: use path() so it can be checked")
    assert not problems, "\n".join(problems)


def test_matrix_names_only_routes_that_exist() -> None:
    names = {r.name for r in all_routes()}
    assert set(ROUTE_PERMS) - names == set()
    assert set(USER_OBJECT_ROUTES) - names == set()


# --- Outsiders: 404, whatever the method -------------------------------------------------


def test_outsider_gets_404_on_every_object_route_for_every_method(world, outsider) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(outsider)
    problems = []
    for route in object_routes():
        query = QUERY.get(route.name or "", "")
        seen, unseen = route.path(world.foreign, query), route.path(world.missing, query)
        for method in METHODS:
            problems.append(_check_unseen(client, route, method, seen, unseen))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)
    _foreign_untouched(world)


def test_outsider_cannot_reach_foreign_objects_through_their_own_project(world, outsider) -> None:  # type: ignore[no-untyped-def]
    """/p/<mine>/runs/<someone else's run>/ and the like: ids are looked up per project."""
    client = Client()
    client.force_login(outsider)
    problems = []
    own_missing = {**world.missing, "slug": world.own["slug"]}
    for route in object_routes():
        if "slug" not in route.kwargs or len(route.kwargs) < 2:
            continue
        seen, unseen = route.path(world.own), route.path(own_missing)
        for method in METHODS:
            problems.append(_check_unseen(client, route, method, seen, unseen, strict=False))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)
    _foreign_untouched(world)


def test_anonymous_visitor_is_sent_to_sign_in_on_every_object_route(world) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    problems = []
    for route in object_routes():
        path = route.path(world.foreign, QUERY.get(route.name or "", ""))
        for method in ("GET", "POST"):
            response = _request(client, method, path)
            redirected = response.status_code == 302 and "/login/" in response["Location"]
            if not redirected:
                problems.append(f"anonymous {method} {path} → {response.status_code}")
    assert not problems, "\n".join(problems)


def _page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, f"GET {path} → {response.status_code}"
    return response.content.decode()


def test_lists_never_show_foreign_objects(world, outsider, owner) -> None:  # type: ignore[no-untyped-def]
    lists = ("/", "/?q=health", "/audit", "/account/tokens/", "/fleet/?status=never")
    # The owner sees the objects in every list, so their absence below is meaningful.
    as_owner = Client()
    as_owner.force_login(owner)
    for path, shown in zip(
        lists, ("Health AI", "healthai", "healthai", world.token_prefix, "Health AI"), strict=True
    ):
        assert shown in _page(as_owner, path), path

    client = Client()
    client.force_login(outsider)
    dashboard, search, audit, tokens, fleet = (_page(client, path) for path in lists)
    assert "Mine" in dashboard
    assert "Health AI" not in dashboard
    assert "Mine" in fleet
    assert "Health AI" not in fleet
    assert "healthai" not in search
    assert "healthai" not in audit
    assert client.get("/audit?project=healthai").status_code == 404
    assert world.token_prefix not in tokens


def test_admin_and_rq_dashboard_refuse_signed_in_non_staff(outsider) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(outsider)
    for path in ("/admin/", "/admin/projects/project/", "/admin/rq/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path


# --- Members without the needed permission: 403 ------------------------------------------


def _grant(project: Any, owner: Any, user: Any, *roles: Role) -> None:
    from projects import services

    for role in roles:
        services.role_grant(actor=owner, project=project, role=role, user=user)


def _refusals(client: Client, world: World, lacking: Callable[[Perm], bool]) -> list[str]:
    problems = []
    for route in object_routes():
        for method, perm in ROUTE_PERMS.get(route.name or "", {}).items():
            if not lacking(perm):
                continue
            path = route.path(world.foreign, QUERY.get(route.name or "", ""))
            response = _request(client, method, path, POST_DATA.get(route.name or ""))
            if response.status_code != 403:
                problems.append(f"{method} {path} → {response.status_code}, expected 403")
    return problems


def test_viewer_is_refused_403_wherever_more_than_view_is_needed(world, viewer) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(viewer)
    problems = _refusals(client, world, lambda perm: perm is not Perm.VIEW)
    assert not problems, "\n".join(problems)


def test_viewer_can_open_every_page_that_needs_only_view(world, viewer) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(viewer)
    problems = []
    for route in object_routes():
        if ROUTE_PERMS.get(route.name or "", {}).get("GET") is Perm.VIEW:
            path = route.path(world.foreign, QUERY.get(route.name or "", ""))
            if (status := client.get(path).status_code) != 200:
                problems.append(f"GET {path} → {status}")
    assert not problems, "\n".join(problems)


def test_operator_cannot_approve_or_cancel_unless_also_approver(
    world, project, owner, django_user_model
) -> None:  # type: ignore[no-untyped-def]
    from provisioning.models import Run, RunKind, RunStatus

    operator = django_user_model.objects.create_user("otto", password="otto-pass-12345")
    _grant(project, owner, operator, Role.OPERATOR)
    client = Client()
    client.force_login(operator)
    problems = _refusals(client, world, lambda perm: perm in (Perm.APPROVE, Perm.MANAGE))
    assert not problems, "\n".join(problems)

    run = Run.objects.create(
        project=project, kind=RunKind.PROVISION, status=RunStatus.AWAITING_APPROVAL
    )
    cancel = f"/p/{project.slug}/runs/{run.pk}/cancel/"
    assert client.post(cancel).status_code == 403
    _grant(project, owner, operator, Role.APPROVER)
    assert client.post(cancel).status_code == 302
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED


def test_editor_may_analyze_but_not_provision(world, project, owner, django_user_model) -> None:  # type: ignore[no-untyped-def]
    editor = django_user_model.objects.create_user("edna", password="edna-pass-12345")
    _grant(project, owner, editor, Role.EDITOR)
    client = Client()
    client.force_login(editor)
    start = f"/p/{project.slug}/runs/new/"
    assert client.post(start, {"kind": "provision"}).status_code == 403
    assert client.post(start, {"kind": "analyze"}).status_code == 302
    assert project.runs.filter(kind="analyze", status="queued").count() == 1


# --- CSRF on every form and HTMX request ---------------------------------------------------


def test_every_post_without_a_csrf_token_is_refused(world, owner) -> None:  # type: ignore[no-untyped-def]
    """Signed in as the owner, who may do everything: a 403 can only be CSRF's."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    problems = []
    routes = [r for r in all_routes() if r.plain and not r.route.startswith(("hooks/", "api/"))]
    for route in routes:
        path = route.path(world.foreign, QUERY.get(route.name or "", ""))
        response = client.post(path, POST_DATA.get(route.name or "", {}))
        if response.status_code != 403 or b"CSRF" not in response.content:
            problems.append(f"POST {path} → {response.status_code} without a CSRF token")
    assert not problems, "\n".join(problems)
