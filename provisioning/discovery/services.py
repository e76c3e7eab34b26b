"""Discovery: list an organisation's repositories with their BMAD probe, and register the
chosen ones in bulk as projects whose manifest extends a base manifest (staff only)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, fields, replace
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from bmadweb.audit import audit_record
from projects import services as project_services
from projects.models import Project
from projects.validators import is_loopback_host, validate_forge_api_url
from provisioning import forges, queue
from provisioning.git_ops import urlpolicy
from provisioning.models import ForgeSource
from provisioning.webhooks.checks import repo_key

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    Actor = User | AnonymousUser

MANIFEST = """\
apiVersion: bmadweb/v1
extends: [{base}]
project:
  name: {name}
"""


# A listing claim older than this belongs to a job that was lost (a killed worker): the
# next visit may start another (docs/architecture.md#discovery).
LISTING_STALE_AFTER = timedelta(minutes=10)
_REPO_FIELDS = tuple(field.name for field in fields(forges.DiscoveredRepo))


class DiscoveryError(Exception):
    """A plain sentence for the page."""


def _org(source: ForgeSource) -> forges.ForgeOrg:
    try:  # the token goes there: today's address policy, as for pull requests
        validate_forge_api_url(source.api_url)
        org = forges.forge_org_from_url(source.org_url, source.kind, source.api_url)
    except ValidationError as exc:
        raise DiscoveryError(f"the forge API URL is not allowed: {exc.messages[0]}") from None
    except forges.ForgeError as exc:
        raise DiscoveryError(exc.message) from None
    # Connect to the addresses that passed the policy only (docs/security.md#s14); a
    # loopback forge (development and tests, local repositories allowed) is not pinned.
    host = urlsplit(org.api_base).hostname or ""
    if settings.ALLOW_LOCAL_REPOS and is_loopback_host(host):
        return org
    try:
        addresses = urlpolicy.check_api_host(host, resolve=urlpolicy.resolve_host)
    except urlpolicy.UrlPolicyError as exc:
        raise DiscoveryError(f"the forge API URL is not allowed: {exc.message}") from None
    return replace(org, addresses=addresses)


@transaction.atomic
def forge_source_create(
    *, actor: Actor, kind: str, org_url: str, api_url: str, token: str
) -> ForgeSource:
    source = ForgeSource(kind=kind, org_url=org_url.strip(), api_url=api_url.strip())
    _org(source)  # refuse a bad URL before anything is stored
    if actor.is_authenticated:
        source.created_by = actor
    source.save()
    source.set_token(token)
    source.save(update_fields=["token_enc"])
    audit_record(  # the token never goes into the chain, only whether one was given
        action="discovery.source_create",
        actor=actor,
        payload={
            "source": source.pk,
            "kind": source.kind,
            "org_url": source.org_url,
            "api_url": source.api_url,
            "token": bool(token),
        },
    )
    return source


def forge_source_repos(*, source: ForgeSource, probe: bool = True) -> list[forges.DiscoveredRepo]:
    """The organisation's repositories, with their BMAD probe (one forge call per probe)
    unless `probe` is False."""
    try:
        return forges.discover_org(
            _org(source), token=source.get_token(), timeout_s=settings.GIT_TIMEOUT_S, probe=probe
        )
    except forges.ForgeError as exc:
        raise DiscoveryError(exc.message) from None


def forge_source_list_start(*, source: ForgeSource) -> bool:
    """Queue a listing of the source's repositories unless one is queued or running.
    The claim is a compare-and-set on the row, so two page views start one job. False
    when none was started (one runs already, or the queue cannot be reached: then the
    source's listing error says so)."""
    now = timezone.now()
    job_id = f"discover-{source.pk}-{uuid.uuid4().hex[:12]}"
    claimed = (
        ForgeSource.objects.filter(pk=source.pk)
        .filter(Q(listing_job="") | Q(listing_started__lt=now - LISTING_STALE_AFTER))
        .update(listing_job=job_id, listing_started=now)
    )
    if not claimed:
        return False
    if not queue.discovery_enqueue(source_id=source.pk, job_id=job_id):
        ForgeSource.objects.filter(pk=source.pk, listing_job=job_id).update(
            listing_job="",
            listing_error="The job queue cannot be reached right now: try again in a minute.",
        )
        return False
    return True


def forge_source_list(*, source_id: int, job_id: str) -> int:
    """The listing job's work: list and probe, keep the result (or the reason it failed)
    on the source, and release the claim. Returns how many repositories were listed."""
    source = ForgeSource.objects.filter(pk=source_id).first()
    if source is None:
        return 0
    result: dict[str, object] = {
        "listing_error": "The listing stopped on an unexpected error: try again, or ask "
        "your platform team to look at the worker's log."
    }
    try:
        repos = forge_source_repos(source=source)
        result = {"listing": [asdict(repo) for repo in repos], "listing_error": ""}
        return len(repos)
    except DiscoveryError as exc:
        result = {"listing_error": str(exc)[:500]}
        return 0
    finally:  # a result is kept whichever job made it; only its own claim is released
        ForgeSource.objects.filter(pk=source_id).update(listed_at=timezone.now(), **result)
        ForgeSource.objects.filter(pk=source_id, listing_job=job_id).update(listing_job="")


def forge_source_listing(source: ForgeSource) -> list[forges.DiscoveredRepo]:
    """The repositories of the source's last listing (entries that do not read as one,
    e.g. from an older layout, are left out)."""
    repos = []
    for item in source.listing if isinstance(source.listing, list) else []:
        if isinstance(item, dict) and all(name in item for name in _REPO_FIELDS):
            repos.append(forges.DiscoveredRepo(**{name: item[name] for name in _REPO_FIELDS}))
    return repos


def forge_source_rows(source: ForgeSource) -> list[tuple[forges.DiscoveredRepo, bool]]:
    """The last listing for the page, each repository with whether it is registered."""
    repos = forge_source_listing(source)
    if not repos:
        return []
    registered = {_same_repo(url) for url in Project.objects.values_list("repo_url", flat=True)}
    return [(repo, _same_repo(repo.clone_url) in registered) for repo in repos]


def _slug_for(path: str, taken: set[str]) -> str:
    base = slugify(path.replace("/", "-"))[:56] or "project"
    slug, number = base, 2
    while slug in taken:
        slug, number = f"{base}-{number}", number + 1
    taken.add(slug)
    return slug


def _same_repo(url: str) -> object:
    """What identifies a repository address: the webhook receiver's (host, path) key,
    or the address itself where it has none (a local path in development)."""
    return repo_key(url) or url.strip()


def forge_source_register(
    *, actor: Actor, source: ForgeSource, paths: list[str], base: str
) -> tuple[list[Project], list[str]]:
    """Register the chosen repositories (by path) as projects extending `base`.

    Repositories already registered (same clone URL) or refused (URL policy, manifest)
    are skipped with a sentence each; every registration commits on its own. The
    source's token becomes each project's clone and forge token (stored encrypted).
    """
    wanted = set(paths)
    # Registering needs no probe: only the path, clone URL and branch are used.
    repos = [r for r in forge_source_repos(source=source, probe=False) if r.path in wanted]
    token = source.get_token()
    created: list[Project] = []
    skipped: list[str] = []
    # Read once: the registered repositories (as the webhook receiver matches them:
    # letter case, scheme and .git aside) and the slugs in use.
    registered = {_same_repo(url) for url in Project.objects.values_list("repo_url", flat=True)}
    taken = set(Project.objects.values_list("slug", flat=True))
    for repo in repos:
        key = _same_repo(repo.clone_url)
        if key in registered:
            skipped.append(f"{repo.path}: already registered")
            continue
        try:
            created.append(_register(actor, source, repo, base, token, taken))
            registered.add(key)
        except ValidationError as exc:
            reason = "; ".join(exc.messages)
            skipped.append(f"{repo.path}: {reason[:200]}")
        except project_services.ManifestInvalid as exc:
            reason = "; ".join(str(getattr(e, "message", e)) for e in exc.errors)
            skipped.append(f"{repo.path}: {reason[:200]}")
    audit_record(  # each project's own creation is audited too (project.create)
        action="discovery.register",
        actor=actor,
        payload={
            "source": source.pk,
            "base": base,
            "registered": [project.slug for project in created],
            "skipped": len(skipped),
        },
    )
    return created, skipped


@transaction.atomic
def _register(
    actor: Actor,
    source: ForgeSource,
    repo: forges.DiscoveredRepo,
    base: str,
    token: str,
    taken: set[str],
) -> Project:
    name = repo.path.rsplit("/", 1)[-1]
    slug = _slug_for(repo.path, taken)
    project = project_services.project_create(
        actor=actor,
        name=repo.path[:100],
        slug=slug,
        repo_url=repo.clone_url,
        default_branch=repo.default_branch,
        forge_kind=source.kind,
        forge_api_url=source.api_url,
        secrets={"clone_token": token, "forge_token": token},
    )
    project_services.manifest_save(
        actor=actor,
        project=project,
        yaml_text=MANIFEST.format(base=base, name=slugify(name) or slug),
        message=f"registered from {urlsplit(source.org_url).path.strip('/')}",
    )
    return project
