"""One plain sentence per audit event, for the project's audit tab (presentation only)."""

from __future__ import annotations

from typing import Any

from projects.models import SECRET_FIELDS

# Actions offered in the audit tab's filter, in the order people look for them.
ACTION_CHOICES = [
    ("project.", "Project settings"),
    ("manifest.", "Manifest"),
    ("run.", "Runs"),
    ("role.", "Members"),
    ("credential.", "Credentials"),
    ("webhook.", "Webhook"),
    ("notification.", "Notifications"),
]

_RUN_WORDS = {
    "create": "started",
    "start": "was picked up by a worker",
    "awaiting_approval": "is waiting for an approver",
    "approve": "was approved",
    "cancel": "was cancelled",
    "succeeded": "succeeded",
    "pushed": "pushed its changes",
    "no_changes": "found nothing to change",
    "failed": "failed",
    "errored": "stopped on an unexpected error",
    "cancelled": "was cancelled",
}


def _get(payload: dict[str, Any], key: str, default: str = "") -> str:
    value = payload.get(key, default)
    return default if value is None else str(value)


def _run(action: str, who: str, p: dict[str, Any]) -> str:
    step = action.removeprefix("run.")
    kind = _get(p, "kind", "run")
    number = _get(p, "run", "?")
    if step == "create":
        trigger = _get(p, "trigger")
        via = f" (from {trigger.replace('_', ' ')})" if trigger and trigger != "manual" else ""
        return f"{who} started {kind} run #{number}{via}."
    if step in ("approve", "cancel"):
        return f"{who} {'approved' if step == 'approve' else 'cancelled'} {kind} run #{number}."
    words = _RUN_WORDS.get(step, step.replace("_", " "))
    reason = _get(p, "reason")
    return f"{kind.capitalize()} run #{number} {words}" + (f": {reason}" if reason else ".")


def _changes(p: dict[str, Any]) -> str:
    changes = p.get("changes")
    if not isinstance(changes, dict) or not changes:
        return "the settings"
    parts = []
    for field, change in list(changes.items())[:6]:
        label = str(field).replace("_", " ")
        if isinstance(change, dict):
            parts.append(f"{label} from “{change.get('from')}” to “{change.get('to')}”")
        else:
            parts.append(label)
    return ", ".join(parts)


def _target(p: dict[str, Any]) -> str:
    """A notification target as the audit names it: its name and redacted URL."""
    return f"“{_get(p, 'name')}” ({_get(p, 'url')})"


def audit_sentence(action: str, actor: str, payload: dict[str, Any] | None) -> str:
    """The event in words; unknown actions fall back to the action name."""
    who = actor or "bmadweb"
    p = payload if isinstance(payload, dict) else {}
    if "error" in p and len(p) == 1:
        return f"{action} by {who} (the details cannot be decrypted)."
    field = _get(p, "field")
    field_label = SECRET_FIELDS.get(field, field.replace("_", " ")) or "a credential"
    member = _get(p, "user") or (f"team {_get(p, 'group')}" if p.get("group") else "someone")
    simple = {
        "project.create": f"{who} registered the project ({_get(p, 'repo_url')}).",
        "project.update": f"{who} changed {_changes(p)}.",
        "project.delete": f"{who} deleted the project.",
        "credential.set": f"{who} set the {field_label}.",
        "credential.clear": f"{who} removed the {field_label}.",
        "webhook.secret_regenerate": f"{who} generated a new webhook secret.",
        "role.grant": f"{who} made {member} {_get(p, 'role')}.",
        "role.revoke": f"{who} removed the {_get(p, 'role')} role from {member}.",
        "notification.create": f"{who} added the notification target {_target(p)}.",
        "notification.update": f"{who} changed the notification target {_target(p)}.",
        "notification.delete": f"{who} deleted the notification target {_target(p)}.",
        "notification.test": f"{who} sent a test message to {_target(p)}.",
        "notification.retry": f"{who} retried a failed message to {_target(p)}.",
    }
    if action in simple:
        return simple[action]
    if action == "manifest.save":
        message = _get(p, "message")
        note = f": “{message}”" if message else "."
        return f"{who} saved manifest revision {_get(p, 'revision', '?')}{note}"
    if action.startswith("run."):
        return _run(action, who, p)
    if action.startswith("webhook."):
        outcome = action.removeprefix("webhook.")
        event = _get(p, "event") or "delivery"
        detail = _get(p, "detail")
        head = f"A {_get(p, 'provider')} {event} delivery was {outcome}".replace("  ", " ")
        return head + (f": {detail}" if detail else ".")
    return f"{action.replace('.', ' ').replace('_', ' ')} by {who}."
