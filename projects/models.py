"""Projects (one git repository each), their manifest revisions and their members."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from bmadweb import crypto
from projects.roles import Role
from projects.validators import validate_forge_api_url, validate_repo_url

BRANCH_VALIDATOR = RegexValidator(
    r"^(?!-)(?!.*\.\.)(?!.*\.lock$)[A-Za-z0-9._/-]{1,100}(?<![/.])$",
    "A branch name: letters, digits, '.', '_', '-' and '/', not starting with '-', "
    "without '..' and not ending in '.lock'.",
)


MAX_DRIFT_CHECK_HOURS = 24 * 90


class ForgeKind(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GITEA = "gitea", "Gitea / Forgejo"
    OTHER = "other", "Other (no pull requests)"


class PushMode(models.TextChoices):
    PULL_REQUEST = "pull_request", "Open a pull/merge request"
    BRANCH = "branch", "Push the branch only"
    DIRECT = "direct", "Push to the default branch (needs approval)"


class SyncStatus(models.TextChoices):
    NEVER = "never", "Never analysed"
    IN_SYNC = "in_sync", "In sync"
    DRIFT = "drift", "Drift"
    CONFLICT = "conflict", "Conflict"
    ERROR = "error", "Error"


# Encrypted fields and what they hold. Values are write-only in every UI.
SECRET_FIELDS = {
    "clone_token": "HTTPS token used to clone and push",
    "ssh_private_key": "SSH private key used to clone and push",
    "forge_token": "API token used to open pull/merge requests",
    "webhook_secret": "secret that signs webhook deliveries",
    "webhook_secret_previous": "previous webhook secret, accepted during rotation",
}


class Project(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=64, unique=True)
    repo_url = models.CharField(
        "repository URL",
        max_length=500,
        validators=[validate_repo_url],
        help_text="https://host/org/repo.git or git@host:org/repo.git",
    )
    default_branch = models.CharField(max_length=100, default="main", validators=[BRANCH_VALIDATOR])
    forge_kind = models.CharField(max_length=16, choices=ForgeKind, default=ForgeKind.GITHUB)
    forge_api_url = models.URLField(
        "forge API URL",
        blank=True,
        validators=[validate_forge_api_url],
        help_text="Only for self-hosted GitLab/Gitea; empty uses the public service.",
    )
    push_mode = models.CharField(max_length=16, choices=PushMode, default=PushMode.PULL_REQUEST)
    require_approval = models.BooleanField(
        default=False, help_text="Every provisioning plan waits for an approver."
    )
    upgrades_skip_approval = models.BooleanField(
        "apply BMAD upgrades without approval",
        default=False,
        help_text="Upgrade runs wait for an approver unless this is set.",
    )
    clone_token_enc = models.TextField(blank=True, editable=False)
    ssh_private_key_enc = models.TextField(blank=True, editable=False)
    forge_token_enc = models.TextField(blank=True, editable=False)
    webhook_secret_enc = models.TextField(blank=True, editable=False)
    webhook_secret_previous_enc = models.TextField(blank=True, editable=False)

    sync_status = models.CharField(
        max_length=16, choices=SyncStatus, default=SyncStatus.NEVER, db_index=True
    )
    bmad_version = models.CharField(max_length=40, blank=True)
    bmad_generation = models.CharField(max_length=16, blank=True)
    last_analyzed_at = models.DateTimeField(null=True, blank=True)
    # The state of the project's newest pull request: that of its newest run (by created,
    # then id) that has one, or "" if none has. Written only by provisioning, whenever a
    # run's state moves or runs are deleted (provisioning.runs.lifecycle), so that the
    # fleet view counts it with the statuses in one pass (docs/performance.md#pages).
    pr_state = models.CharField(
        "newest pull request state", max_length=16, blank=True, editable=False
    )
    last_push_at = models.DateTimeField("last push seen", null=True, blank=True)
    last_push_sha = models.CharField(max_length=64, blank=True)
    drift_check_hours = models.PositiveSmallIntegerField(
        "drift check every (hours)",
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_DRIFT_CHECK_HOURS)],
        help_text="Scheduled analysis every this many hours. Empty uses the platform "
        "default; 0 turns scheduled checks off for this project.",
    )
    # When the scheduler starts the next check (None: computed at its next tick).
    next_drift_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        # The dashboard's order: its first page reads 25 rows of this index, not every
        # project (docs/performance.md#pages).
        # The fleet view counts by (sync_status, bmad_version, pr_state) from the second
        # index alone.
        indexes = [
            models.Index(fields=["name", "id"], name="project_name_id"),
            models.Index(
                fields=["sync_status", "bmad_version", "pr_state"],
                name="project_status_version_pr",
            ),
        ]
        permissions = [
            ("edit_manifest", "Can edit the manifest"),
            ("analyze_project", "Can run an analysis"),
            ("provision_project", "Can start provisioning"),
            ("approve_run", "Can approve or cancel plans"),
            ("manage_project", "Can change settings, credentials, webhooks and members"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("projects:project-detail", kwargs={"slug": self.slug})

    # Secrets are bound to this row and field: a ciphertext copied elsewhere is refused.
    def _secret_context(self, field: str) -> str:
        return f"project:{self.uid}:{field}"

    def set_secret(self, field: str, value: str) -> None:
        if field not in SECRET_FIELDS:
            raise ValueError(f"unknown secret field {field!r}")
        stored = crypto.encrypt(value, context=self._secret_context(field)) if value else ""
        setattr(self, f"{field}_enc", stored)

    def get_secret(self, field: str) -> str:
        token = getattr(self, f"{field}_enc")
        return crypto.decrypt(token, context=self._secret_context(field)) if token else ""

    def has_secret(self, field: str) -> bool:
        return bool(getattr(self, f"{field}_enc"))


class Revision(models.Model):
    """What every manifest revision holds, a project's or a base's: an immutable text
    with its number, hash, author and message."""

    number = models.PositiveIntegerField()
    yaml_text = models.TextField()
    sha256 = models.CharField(max_length=64)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=150, blank=True)
    message = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-number"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Integrity, not business logic: revisions are history and never change.
        if self.pk is not None:
            raise ValueError(
                f"{self._meta.verbose_name_plural} are immutable; save a new revision instead"
            )
        super().save(*args, **kwargs)


class ManifestRevision(Revision):
    """An immutable revision of a project's manifest."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="revisions")

    class Meta(Revision.Meta):
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.project.slug} r{self.number}"


class Membership(models.Model):
    """A role on a project, held by a user or by a group (team). Guardian's object
    permissions are derived from these rows by `projects.services.role_grant`."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="project_memberships",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="project_memberships"
    )
    role = models.CharField(max_length=16, choices=[(r.value, r.value.title()) for r in Role])
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, group__isnull=True)
                    | models.Q(user__isnull=True, group__isnull=False)
                ),
                name="membership_user_xor_group",
            ),
            models.UniqueConstraint(
                fields=["project", "user", "role"], name="membership_user_role_unique"
            ),
            models.UniqueConstraint(
                fields=["project", "group", "role"], name="membership_group_role_unique"
            ),
        ]

    def __str__(self) -> str:
        who = self.user or self.group
        return f"{who} is {self.role} of {self.project}"


class BaseManifest(models.Model):
    """A named base manifest that project manifests list under `extends` (staff keep it)."""

    name = models.SlugField(
        max_length=63, unique=True, help_text="The name manifests write under extends."
    )
    description = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("projects:base-edit", kwargs={"name": self.name})


class BaseManifestRevision(Revision):
    """An immutable revision of a base manifest."""

    base = models.ForeignKey(BaseManifest, on_delete=models.CASCADE, related_name="revisions")

    class Meta(Revision.Meta):
        constraints = [
            models.UniqueConstraint(fields=["base", "number"], name="base_revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.base.name} r{self.number}"
