"""Secrets are scrubbed in the spellings a hostile remote may echo them in
(docs/security.md#s8): case changes, URL-encoding (whole or partial), whitespace or line
breaks between the characters, and base64 (alone or inside a longer base64 text such as
an Authorization: Basic value), from log lines, the git door's errors, run failure
reasons and run logs, and audit details."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from bmadweb.logscrub import REDACTED, register_secret, scrub, scrub_values
from provisioning.git_ops.process import scrub as git_scrub

SECRET = "ghp_Zq7Lm3Xv9Rt2Wp5Nc8Kd1Hf4Bj6Gs0Ya2Ue"  # token-shaped, but see OPAQUE
OPAQUE = "s3cr3t-Opaque_Value.42"  # no known shape: only the registered value helps


def variants(secret: str) -> dict[str, str]:
    raw = secret.encode()
    return {
        "upper": secret.upper(),
        "lower": secret.lower(),
        "swapcase": secret.swapcase(),
        "url-encoded": urllib.parse.quote(secret, safe=""),
        "fully percent-encoded": "".join(f"%{b:02X}" for b in raw),
        "percent-encoded, lower hex": "".join(f"%{b:02x}" for b in raw),
        "partly percent-encoded": secret[:5] + "".join(f"%{b:02x}" for b in raw[5:9]) + secret[9:],
        "spaced": " ".join(secret),
        "split over lines": secret[:7] + "\n" + secret[7:15] + "\r\n  " + secret[15:],
        "split over git remote lines": secret[:8] + "\nremote: " + secret[8:],
        "base64": base64.b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "base64 url-safe": base64.urlsafe_b64encode(b"\xfb\xff" + raw).decode(),
        "basic auth": base64.b64encode(b"x-access-token:" + raw).decode(),
        "basic auth, other alignment": base64.b64encode(b"oauth2:" + raw).decode(),
    }


def leaked(secret: str, text: str) -> list[str]:
    return [name for name, form in variants(secret).items() if form in text]


@pytest.fixture(autouse=True)
def _registered() -> None:
    register_secret(SECRET)
    register_secret(OPAQUE)


@pytest.mark.parametrize("name", sorted(variants(OPAQUE)))
def test_every_spelling_of_a_registered_secret_is_scrubbed(name):
    text = f"remote: rejected, your credentials were {variants(OPAQUE)[name]} (bye)"
    out = scrub(text)
    assert REDACTED in out
    assert leaked(OPAQUE, out) == []
    assert out.startswith("remote: rejected, your credentials were ")


@pytest.mark.parametrize("name", sorted(variants(SECRET)))
def test_the_git_door_scrubs_every_spelling_of_its_session_secrets(name):
    text = f"fatal: remote error: access denied for {variants(OPAQUE)[name]}"
    out = git_scrub(text, [OPAQUE])
    assert leaked(OPAQUE, out) == []


def test_unregistered_secrets_are_scrubbed_by_value_too():
    value = "never-registered-" + "Q" * 12
    encoded = base64.b64encode(value.encode()).decode()
    out = scrub_values("echo " + encoded, [value])
    # The last characters also encode what follows the value (here: nothing, "E=").
    assert out.startswith(f"echo {REDACTED}")
    assert len(out) <= len(f"echo {REDACTED}") + 3


def test_ordinary_text_is_left_alone():
    text = "Cloning into 'repo'... done. 42 files, sha 5f3a9c1e2b4d, aGVsbG8gd29ybGQ="
    assert scrub(text) == text


@pytest.mark.django_db
def test_audit_details_are_scrubbed_in_every_spelling():
    from bmadweb.audit import audit_payload, audit_record

    echoes = variants(OPAQUE)
    record = audit_record(action="test.echo", payload={"detail": list(echoes.values())})
    assert leaked(OPAQUE, str(audit_payload(record))) == []


@pytest.mark.django_db
def test_run_failure_reasons_and_logs_are_scrubbed_in_every_spelling(project):
    from provisioning.models import Run, RunKind, RunLogEntry, RunStatus
    from provisioning.runs.lifecycle import run_finish

    run = Run.objects.create(project=project, kind=RunKind.ANALYZE, status=RunStatus.RUNNING)
    reason = "Push rejected: " + " / ".join(variants(OPAQUE).values())
    run_finish(run, RunStatus.FAILED, reason=reason)
    run.refresh_from_db()
    assert leaked(OPAQUE, run.failure_reason) == []
    lines = " ".join(RunLogEntry.objects.filter(run=run).values_list("message", flat=True))
    assert leaked(OPAQUE, lines) == []
