"""Runs (analyze / provision jobs) and their log entries."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse


class RunKind(models.TextChoices):
    ANALYZE = "analyze", "Analyze"
    PROVISION = "provision", "Provision"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPLYING = "applying", "Applying"
    PUSHED = "pushed", "Pushed"
    NO_CHANGES = "no_changes", "No changes"
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
    MANUAL = "manual", "Button"
    WEBHOOK = "webhook", "Webhook"
    SCHEDULE = "schedule", "Schedule"
    API = "api", "API"
    CLI = "cli", "Command line"


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
    # Results
    base_sha = models.CharField(
        "default branch commit the plan was made on", max_length=64, blank=True
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
    failure_reason = models.TextField(blank=True)

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
        indexes = [models.Index(fields=["project", "-created"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse(
            "provisioning:run-detail", kwargs={"slug": self.project.slug, "run_id": self.pk}
        )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


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
