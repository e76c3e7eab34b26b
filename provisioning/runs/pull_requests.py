"""Open or update the pull/merge request of a provisioning or upgrade run (through forges.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from projects.models import ForgeKind, Project, PushMode
from projects.validators import is_loopback_host, validate_forge_api_url
from provisioning import forges
from provisioning.git_ops import urlpolicy
from provisioning.models import Run, RunKind
from provisioning.runs.lifecycle import RunFailed, RunRetry
from provisioning.runs.repo_access import forge_token_for
from provisioning.runs.runlog import run_log


def _title(run: Run) -> str:
    if run.kind == RunKind.UPGRADE:
        return f"bmadweb: upgrade BMAD to {run.target_version} in {run.project.name}"
    return f"bmadweb: provision {run.project.name}"


def _upgrade_lines(upgrade: dict[str, Any]) -> list[str]:
    """What the installer changed (counts per folder) and what bmadweb migrated."""
    installer = upgrade.get("installer", {})
    lines = [
        f"BMAD's official installer upgraded BMAD **{upgrade.get('from')}** to "
        f"**{upgrade.get('to')}** (added {installer.get('added', 0)}, changed "
        f"{installer.get('changed', 0)}, deleted {installer.get('deleted', 0)} files):",
        "",
        "| folder | added | changed | deleted |",
        "|---|---|---|---|",
    ]
    for f in installer.get("folders", []):
        lines.append(f"| `{f['folder']}` | {f['added']} | {f['changed']} | {f['deleted']} |")
    agents = upgrade.get("migrated", {}).get("agents", [])
    moved = [a for a in agents if a.get("skill")]
    count = sum(1 for a in agents if a.get("removed"))
    removed = f" and removed {count} `*.customize.yaml` file(s)" if count else ""
    lines += [
        "",
        f"bmadweb migrated {len(moved)} customization file(s) to BMAD 6.4+ overrides{removed}.",
    ]
    lines += [f"- `{a['source']}` → `{a['target']}` ({', '.join(a['keys'])})" for a in moved]
    rescued = upgrade.get("rescued", [])
    if rescued:
        again = [r for r in rescued if r.get("reapplied")]
        lines += [
            "",
            f"Hand edits to {len(rescued)} installer file(s) were saved as patches in "
            f"`_bmad/custom/rescued/`; {len(again)} re-applied to the new version:",
        ]
        lines += [
            f"- `{r['path']}`: {'re-applied' if r.get('reapplied') else 'saved, not re-applied'}"
            for r in rescued
        ]
    return [*lines, ""]


def _body(run: Run) -> str:
    plan = run.plan or {}
    what = "upgrade" if run.kind == RunKind.UPGRADE else "provisioning"
    lines = [f"bmadweb {what} run #{run.pk} for **{run.project.name}**.", ""]
    if isinstance(plan.get("upgrade"), dict):
        lines += _upgrade_lines(plan["upgrade"])
    lines += [
        "| action | file | why |",
        "|---|---|---|",
    ]
    for op in plan.get("operations", []):
        if op["action"] != "skip":
            lines.append(f"| {op['action']} | `{op['path']}` | {op['reason']} |")
    for conflict in plan.get("conflicts", []):
        lines.append(f"| conflict (left alone) | `{conflict['path']}` | {conflict['reason']} |")
    lines += ["", "Files edited by your team were kept; see the run log in bmadweb."]
    return "\n".join(lines)


def _forge_repo(project: Project) -> forges.ForgeRepo:
    """The project's repository on its forge.

    A local repository (development and tests, only where local paths are allowed) has
    no owner/name in its URL: it needs the forge API URL, and its last two folders name
    it there (``/srv/git/team/app.git`` → ``team/app``).
    """
    try:  # checked again now: the address a token goes to must pass today's policy
        validate_forge_api_url(project.forge_api_url)
    except ValidationError as exc:
        raise forges.ForgeError(f"the forge API URL is not allowed: {exc.messages[0]}") from None
    url = project.repo_url
    if settings.ALLOW_LOCAL_REPOS and url.startswith(("/", "file:///")):
        if not project.forge_api_url:
            raise forges.ForgeError("a local repository needs the forge API URL to be set")
        path = PurePosixPath(url.removeprefix("file://"))
        return _pinned(
            forges.ForgeRepo(
                kind=cast("forges.ForgeKind", project.forge_kind),
                api_base=project.forge_api_url.rstrip("/"),
                owner_path=f"{path.parent.name}/{path.name.removesuffix('.git')}",
            )
        )
    return _pinned(forges.forge_repo_from_url(url, project.forge_kind, project.forge_api_url))


def _pinned(repo: forges.ForgeRepo) -> forges.ForgeRepo:
    """The repository with the API host's checked addresses: the forge door connects to
    those only (docs/security.md#s14). A loopback forge (development and tests, where
    local repositories are allowed) is not pinned."""
    host = urlsplit(repo.api_base).hostname or ""
    if settings.ALLOW_LOCAL_REPOS and is_loopback_host(host):
        return repo
    try:
        addresses = urlpolicy.check_api_host(host, resolve=urlpolicy.resolve_host)
    except urlpolicy.UrlPolicyError as exc:
        raise forges.ForgeError(f"the forge API URL is not allowed: {exc.message}") from None
    return replace(repo, addresses=addresses)


def pull_request_skip_reason(project: Project) -> str:
    """Why a pushed run opens no pull request, in the person's words ("" when it will)."""
    if project.push_mode == PushMode.DIRECT:
        return f"push mode “push to the default branch”: the commit is on {project.default_branch}"
    if project.push_mode == PushMode.BRANCH:
        return (
            "push mode “push the branch only”: open the pull request from the branch on "
            "your forge, or change the push mode in Settings"
        )
    if project.forge_kind == ForgeKind.OTHER:
        return (
            "the forge is “Other”, which has no pull request API: open it by hand, or "
            "choose the forge in Settings"
        )
    if not project.has_secret("forge_token"):
        return "no forge token: add one under Credentials"
    return ""


def open_for_run(run: Run, branch: str) -> str:
    """The pull request URL, or "" when none is opened (pull_request_skip_reason says why)."""
    project = run.project
    if skipped := pull_request_skip_reason(project):
        run_log(run, f"No pull request: {skipped}.", "warning" if "token" in skipped else "info")
        return ""
    token = forge_token_for(project)
    if not token:
        run_log(run, "No pull request: the forge token could not be read.", "warning")
        return ""
    try:
        repo = _forge_repo(project)
        pr = forges.open_or_update_pull_request(
            repo,
            token=token,
            head_branch=branch,
            base_branch=project.default_branch,
            title=_title(run),
            body=_body(run),
        )
    except forges.ForgeTransientError as exc:
        raise RunRetry(f"The forge did not answer: {exc}") from None
    except forges.ForgeError as exc:
        raise RunFailed(f"Pushed {branch}, but the pull request failed: {exc}") from None
    run_log(run, f"{'Opened' if pr.created else 'Updated'} pull request {pr.url}.")
    _close_superseded(run, repo, token, branch, pr.url)
    return pr.url


def _close_superseded(run: Run, repo: forges.ForgeRepo, token: str, branch: str, url: str) -> None:
    """Close the project's older bmadweb pull requests that are still open.

    Best effort: the run's own pull request is open, so a failure here is a warning in
    the run log, not a failed run (the next run tries again).
    """
    project = run.project
    try:
        closed = forges.close_superseded_pull_requests(
            repo,
            token=token,
            branch_prefix=f"bmadweb/{project.slug}/",
            keep_branch=branch,
            base_branch=project.default_branch,
            comment=f"Superseded by {url} (bmadweb run #{run.pk}).",
        )
    except forges.ForgeError as exc:  # ForgeTransientError included: no retry for this
        run_log(run, f"Could not close the older pull requests: {exc}", "warning")
        return
    for pull in closed:
        run_log(run, f"Closed superseded pull request {pull.url}.")
