"""Runs (analyze / provision jobs) and their log entries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from bmadweb import crypto


class RunKind(models.TextChoices):
    ANALYZE = "analyze", "Analyze"
    PROVISION = "provision", "Provision"
    # Runs BMAD's official installer for a newer version, then re-applies the manifest.
    UPGRADE = "upgrade", "Upgrade"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPLYING = "applying", "Applying"
    PUSHED = "pushed", "Pushed"
    NO_CHANGES = "no_changes", "No changes"
    # Finished, but the plan left conflicts the team must resolve (what could be written
    # was pushed): never "in sync".
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ERRORED = "errored", "Errored"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.AWAITING_APPROVAL,
    RunStatus.APPLYING,
)
FINISHED_STATUSES = tuple(s for s in RunStatus if s not in ACTIVE_STATUSES)


class RunTrigger(models.TextChoices):
    MANUAL = "manual", "Web page"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    API = "api", "API"
    CLI = "cli", "Command line"
    CAMPAIGN = "campaign", "Campaign"


class PullRequestState(models.TextChoices):
    """What the forge last told us (webhooks) about a run's pull request."""

    OPEN = "open", "Open"
    MERGED = "merged", "Merged"
    CLOSED = "closed", "Closed"


class Run(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=16, choices=RunKind)
    status = models.CharField(
        max_length=24, choices=RunStatus, default=RunStatus.QUEUED, db_index=True
    )
    trigger = models.CharField(max_length=16, choices=RunTrigger, default=RunTrigger.MANUAL)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    manifest_revision = models.ForeignKey(
        "projects.ManifestRevision",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat = models.DateTimeField(null=True, blank=True)  # last sign of progress
    # Upgrade runs: the exact BMAD version the official installer is pinned to.
    target_version = models.CharField("target BMAD version", max_length=40, blank=True)
    # Results
    base_sha = models.CharField(
        "default branch commit the plan was made on", max_length=64, blank=True
    )
    source_branch = models.CharField(
        "branch analysed", max_length=100, blank=True, help_text="The default branch then."
    )
    report = models.JSONField(null=True, blank=True)  # gap report
    plan = models.JSONField(null=True, blank=True)  # file operations with reasons
    diff = models.TextField(blank=True)
    needs_approval = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    branch = models.CharField(max_length=200, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    pr_url = models.URLField(blank=True)
    pr_note = models.CharField(
        "why no pull request was opened", max_length=300, blank=True, default=""
    )
    failure_reason = models.TextField(blank=True)
    # Base manifests the run resolved `extends` with: {name: revision number}.
    base_revisions = models.JSONField(default=dict, blank=True)
    pr_state = models.CharField(
        "pull request state", max_length=16, choices=PullRequestState, blank=True
    )
    pr_state_at = models.DateTimeField(null=True, blank=True)
    campaign = models.ForeignKey(
        "provisioning.Campaign",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="runs",
    )

    # Set while executing (not stored): the effective manifest's revision id.
    effective_sha: str = ""

    class Meta:
        ordering = ["-created"]
        constraints = [
            # At most one active run per project, enforced by the database.
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(status__in=ACTIVE_STATUSES),
                name="one_active_run_per_project",
            )
        ]
        indexes = [
            models.Index(fields=["project", "-created"]),
            # Each project's newest pull request, one probe per project on the dashboard
            # and the fleet view (docs/performance.md#pages).
            models.Index(
                fields=["project", "-created"],
                condition=~models.Q(pr_state=""),
                name="run_project_pr_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse(
            "provisioning:run-detail", kwargs={"slug": self.project.slug, "run_id": self.pk}
        )

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish, once the run has ended."""
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


# A run's large results (a gap report, a plan with its diffs, the patch): deferred where
# only its status and ids matter.
RUN_RESULT_FIELDS = ("report", "plan", "diff")


class LogLevel(models.TextChoices):
    DEBUG = "debug", "Debug"
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class RunLogEntry(models.Model):
    """One line of a run's log (secrets scrubbed before they are stored)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="log_entries")
    at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, choices=LogLevel, default=LogLevel.INFO)
    message = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message[:60]}"


# --- Webhook deliveries ------------------------------------------------------------------


class WebhookProvider(models.TextChoices):
    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GITEA = "gitea", "Gitea / Forgejo"


class WebhookOutcome(models.TextChoices):
    """A small fixed set: /metrics counts deliveries by these values."""

    ACCEPTED = "accepted", "Accepted"  # ping answered, or an analysis queued / coalesced
    QUEUED = "queued", "Queued"  # a default-branch push, its analysis about to be started
    IGNORED = "ignored", "Ignored"  # another event, branch or a branch deletion
    REJECTED = "rejected", "Rejected"  # bad signature, too large, malformed, other repository
    DUPLICATE = "duplicate", "Duplicate"  # this delivery was already processed
    BUSY = "busy", "Busy"  # the project has another run active; nothing started
    ERROR = "error", "Error"  # the push could not start an analysis (reason in detail)


class WebhookDelivery(models.Model):
    """One request received on a project's webhook URL: the ledger.

    Every request is recorded, duplicates and forgeries included. The row that processed
    a delivery first holds `first=True`; a partial unique index on (project, provider,
    delivery id) over those rows is what makes a delivery start at most one run, even
    when many copies arrive at once. The body is kept only for requests whose signature
    held (replay skips the signature check, so a forged body must never be replayable).

    The request writes the row and nothing else; `pending` rows still owe their audit
    record and, for a queued push, the analysis. The worker settles them in batches
    (provisioning.webhooks.webhooks_drain), and the reconciler catches any left behind.
    """

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    provider = models.CharField(max_length=16, choices=WebhookProvider)
    delivery_id = models.CharField(max_length=200)
    event = models.CharField(max_length=64, blank=True)
    signature_ok = models.BooleanField(default=False)
    duplicate = models.BooleanField(default=False)
    first = models.BooleanField(
        default=False, help_text="The copy that processed this delivery id (at most one)."
    )
    outcome = models.CharField(max_length=16, choices=WebhookOutcome, db_index=True)
    detail = models.TextField(blank=True)
    status_code = models.PositiveSmallIntegerField(default=200)
    ref = models.CharField(max_length=255, blank=True)
    after_sha = models.CharField(max_length=64, blank=True)
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_deliveries"
    )
    received = models.DateTimeField(default=timezone.now, db_index=True)
    body_sha256 = models.CharField(max_length=64, blank=True)
    body = models.BinaryField(null=True, blank=True, editable=False)
    headers = models.JSONField(default=dict, blank=True)  # delivery/event headers, no secrets
    replay_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replays"
    )
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pending = models.BooleanField(
        default=False, help_text="Audit record (and, for a queued push, the analysis) not done yet."
    )

    class Meta:
        ordering = ["-received", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "provider", "delivery_id"],
                condition=models.Q(first=True),
                name="webhook_delivery_processed_once",
            ),
            models.CheckConstraint(
                condition=~models.Q(first=True, duplicate=True),
                name="webhook_delivery_first_is_not_duplicate",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "-received"]),
            models.Index(
                fields=["project", "id"],
                condition=models.Q(pending=True),
                name="webhook_delivery_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event or '?'} {self.delivery_id[:12]} ({self.outcome})"

    @property
    def replayable(self) -> bool:
        return self.signature_ok and self.body is not None


class WebhookRefusal(models.Model):
    """Deliveries that proved nothing (signature did not verify, body too large), counted
    per project, provider, source address and ten-minute window (docs/security.md#s11).

    The ledger keeps a row for at most BMADWEB_WEBHOOK_REFUSED_LIMIT of them per source and
    window; the rest are answered 429 and only counted here (`dropped`), so a flood of
    forgeries can neither fill the ledger nor push genuine deliveries off the page. Their
    audit is one record per row and drain (`audited` is how many it covered so far), not
    one per request.
    """

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="webhook_refusals"
    )
    provider = models.CharField(max_length=16, choices=WebhookProvider)
    source = models.CharField(max_length=64, blank=True)
    window_start = models.DateTimeField()
    refused = models.PositiveIntegerField(default=0)
    dropped = models.PositiveIntegerField(default=0)
    audited = models.PositiveIntegerField(default=0)
    last_reason = models.CharField(max_length=200, blank=True)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "provider", "source", "window_start"],
                name="webhook_refusal_one_row_per_window",
            )
        ]
        indexes = [models.Index(fields=["project", "-last_at"])]

    def __str__(self) -> str:
        return f"{self.refused} refused from {self.source or '?'} ({self.provider})"


# --- Campaigns ---------------------------------------------------------------------------


class CampaignStatus(models.TextChoices):
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    CANCELLED = "cancelled", "Cancelled"


class CampaignItemState(models.TextChoices):
    PENDING = "pending", "Waiting to start"
    ACTIVE = "active", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Campaign(models.Model):
    """One kind of run (analyze, provision or upgrade) over many projects, at most
    `concurrency` at a time; one approval may cover all of them."""

    name = models.CharField(max_length=120)
    # Any RunKind value; a CharField so that new kinds need no migration here.
    kind = models.CharField(max_length=16)
    target_version = models.CharField(max_length=40, blank=True)  # upgrade campaigns
    status = models.CharField(
        max_length=16, choices=CampaignStatus, default=CampaignStatus.RUNNING, db_index=True
    )
    concurrency = models.PositiveSmallIntegerField(default=4)
    selection = models.JSONField(default=dict, blank=True)  # how the projects were chosen
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}, {self.status})"

    def get_absolute_url(self) -> str:
        return reverse("campaigns:campaign-detail", kwargs={"campaign_id": self.pk})


class CampaignItem(models.Model):
    """One project of a campaign, and its latest run."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="items")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    state = models.CharField(
        max_length=16, choices=CampaignItemState, default=CampaignItemState.PENDING, db_index=True
    )
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="campaign_items"
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "project"], name="campaign_project_once")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.project_id} ({self.state})"


class ForgeSource(models.Model):
    """An organisation or group whose repositories staff discover and register in bulk.

    Its API token is stored encrypted, bound to this row (bmadweb.crypto); new projects
    registered from it receive the same token as their clone and forge token.
    """

    kind = models.CharField(max_length=16)
    org_url = models.CharField("organisation or group URL", max_length=500)
    api_url = models.CharField("forge API URL", max_length=500, blank=True)
    token_enc = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    # The last listing of the organisation, made by a job (a large organisation takes one
    # forge call per repository to probe): the repositories as plain dicts, when, and
    # why it failed. `listing_job` is set while a listing is queued or running.
    listing = models.JSONField(default=list, blank=True, editable=False)
    listed_at = models.DateTimeField(null=True, blank=True, editable=False)
    listing_error = models.CharField(max_length=500, blank=True, editable=False)
    listing_job = models.CharField(max_length=64, blank=True, editable=False)
    listing_started = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.org_url} ({self.kind})"

    def _context(self) -> str:
        return f"forge-source:{self.pk}:token"

    def set_token(self, value: str) -> None:
        """Needs a saved row (the ciphertext is bound to its id)."""
        self.token_enc = crypto.encrypt(value, context=self._context()) if value else ""

    def get_token(self) -> str:
        return crypto.decrypt(self.token_enc, context=self._context()) if self.token_enc else ""


# Notification targets and deliveries live in their sub-package
# (docs/architecture.md#notifications); imported here so that Django registers them.
from provisioning.notifications.models import (  # noqa: E402
    NotificationDelivery as NotificationDelivery,
)
from provisioning.notifications.models import (  # noqa: E402
    NotificationEvent as NotificationEvent,
)
from provisioning.notifications.models import (  # noqa: E402
    NotificationKind as NotificationKind,
)
from provisioning.notifications.models import (  # noqa: E402
    NotificationStatus as NotificationStatus,
)
from provisioning.notifications.models import (  # noqa: E402
    NotificationTarget as NotificationTarget,
)
