"""Notification targets and their deliveries (app label ``provisioning``; the classes are
imported by :mod:`provisioning.models`, where Django finds them).

A target belongs to a project or to a base manifest (a base's targets hear about every
project whose run resolved that base). Its URL, and a webhook's signing secret, are stored
encrypted and bound to the row (bmadweb.crypto, docs/security.md#s20); pages show only
`url_redacted` (docs/security.md#notifications).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from bmadweb import crypto


class NotificationKind(models.TextChoices):
    WEBHOOK = "webhook", "Signed webhook"
    APPRISE = "apprise", "Chat or e-mail (Apprise URL)"


class NotificationEvent(models.TextChoices):
    DRIFT_FOUND = "drift_found", "Drift found"
    RUN_FAILED = "run_failed", "Run failed"
    APPROVAL_NEEDED = "approval_needed", "Approval needed"
    CAMPAIGN_FINISHED = "campaign_finished", "Campaign finished"
    # Only the "send test" button sends this one; targets do not subscribe to it.
    TEST = "test", "Test"


SUBSCRIBABLE_EVENTS = tuple(e for e in NotificationEvent if e is not NotificationEvent.TEST)


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class NotificationTarget(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_targets",
    )
    base = models.ForeignKey(
        "projects.BaseManifest",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_targets",
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=NotificationKind)
    url_enc = models.TextField(editable=False)
    url_redacted = models.CharField(max_length=300, editable=False)
    secret_enc = models.TextField(blank=True, editable=False)  # webhooks: the signing key
    events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(project__isnull=False, base__isnull=True)
                    | models.Q(project__isnull=True, base__isnull=False)
                ),
                name="notification_target_project_xor_base",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def _context(self, field: str) -> str:
        return f"notification-target:{self.uid}:{field}"

    def set_url(self, value: str, redacted: str) -> None:
        self.url_enc = crypto.encrypt(value, context=self._context("url"))
        self.url_redacted = redacted[:300]

    def get_url(self) -> str:
        return crypto.decrypt(self.url_enc, context=self._context("url"))

    def set_secret(self, value: str) -> None:
        self.secret_enc = crypto.encrypt(value, context=self._context("secret")) if value else ""

    def get_secret(self) -> str:
        if not self.secret_enc:
            return ""
        return crypto.decrypt(self.secret_enc, context=self._context("secret"))

    @property
    def owner_label(self) -> str:
        return f"project {self.project}" if self.project_id else f"base {self.base}"


class NotificationDelivery(models.Model):
    """One notification to one target: what was sent, how it went, and why it failed
    (the error is scrubbed of the target's secrets before it is stored)."""

    target = models.ForeignKey(
        NotificationTarget, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=32, choices=NotificationEvent)
    project = models.ForeignKey(
        "projects.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    run = models.ForeignKey(
        "provisioning.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.ForeignKey(
        "provisioning.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(default=dict)  # the message itself, never a secret
    status = models.CharField(
        max_length=16, choices=NotificationStatus, default=NotificationStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "notification deliveries"
        indexes = [
            models.Index(fields=["target", "-created"]),
            models.Index(
                fields=["created"],
                condition=models.Q(status="queued"),
                name="notification_queued",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.target_id} ({self.status})"
