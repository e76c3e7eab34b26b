"""Audit log storage: an append-only, encrypted, HMAC-chained record of actions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class AuditRecord(models.Model):
    """One audited action. Actor and project are copied so history survives deletions.

    `payload_enc` is a Fernet token of the JSON payload bound to this record's `seq`.
    `mac` = HMAC(audit key `mac_key_id`, previous mac | seq | canonical plaintext), so
    editing, deleting, swapping or forging a row breaks the chain (bmadweb.audit).
    """

    seq = models.PositiveBigIntegerField(unique=True)
    created = models.DateTimeField()
    action = models.CharField(max_length=64, db_index=True)
    # The MAC signs actor_id and project_id as written: deleting the user or the project
    # must leave them as they are (no SET_NULL, no database constraint), or the chain breaks.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True)
    project = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="audit_records",
    )
    project_slug = models.CharField(max_length=64, blank=True, db_index=True)
    payload_enc = models.TextField()
    mac_key_id = models.CharField(max_length=32)
    prev_mac = models.CharField(max_length=64)
    mac = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        indexes = [models.Index(fields=["project", "-seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name or 'system'}"


class AuditHead(models.Model):
    """The single row that serialises audit writers and remembers the chain's tip.

    Writers lock it (SELECT ... FOR UPDATE), so two concurrent actions cannot take the
    same sequence number; comparing it with the last record also reveals a deleted tail.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    mac = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"audit head at #{self.seq}"


class ApiToken(models.Model):
    """A personal API token (docs/architecture.md#api, docs/security.md#s24).

    Only the SHA-256 of the token is stored (tokens are high-entropy, so no slow KDF is
    needed); `prefix` is its first characters, shown so a person can tell tokens apart.
    Every token expires; a revoked token stays listed, but authenticates nothing.
    """

    SCOPES = ("read", "write", "run")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    token_hash = models.CharField(max_length=64, unique=True)
    scope_read = models.BooleanField(default=True)
    scope_write = models.BooleanField(default=False)
    scope_run = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    last_used = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["user", "-created"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scopes(self) -> list[str]:
        return [scope for scope in self.SCOPES if getattr(self, f"scope_{scope}")]

    def has_scope(self, scope: str) -> bool:
        return scope in self.SCOPES and bool(getattr(self, f"scope_{scope}"))


class OidcIdentity(models.Model):
    """The account an identity provider's subject signs in as (docs/security.md#s23).

    Single sign-on links by (issuer, subject), never by e-mail address, so an identity
    provider account cannot take over a local (break-glass) account that happens to share
    an address."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
