"""Settings come from the environment only; bad values stop start-up with a name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "BMADWEB_", "DATABASE_URL"))
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        text=True,
        capture_output=True,
        env={**base, **env},
        timeout=120,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DJANGO_DEBUG", "maybe"),
        ("BMADWEB_JOB_TIMEOUT", "ten"),
        ("BMADWEB_ENV", "staging"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("DATABASE_URL", "nosuchdb://x"),
        ("BMADWEB_TRUSTED_PROXIES", "10.0.0.1/99"),
        # An issuer without the client id and secret it needs.
        ("BMADWEB_OIDC_ISSUER", "https://idp.example.org"),
        ("BMADWEB_OIDC_SIGN_ALGO", "none"),
        ("BMADWEB_DRIFT_CHECK_HOURS", "-1"),
    ],
)
def test_bad_environment_value_stops_start_up_naming_the_variable(tmp_path, name, value):
    result = _django({"BMADWEB_VAR_DIR": str(tmp_path), name: value}, "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr


def test_production_refuses_to_start_without_secrets(tmp_path):
    result = _django({"BMADWEB_ENV": "production", "BMADWEB_VAR_DIR": str(tmp_path)}, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def _production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "BMADWEB_ENV": "production",
        "BMADWEB_VAR_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
        "BMADWEB_FERNET_KEYS": Fernet.generate_key().decode(),
        "BMADWEB_AUDIT_KEYS": "k1:" + "a" * 48,
        "DJANGO_ALLOWED_HOSTS": "bmadweb.example.com",
    }


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    result = _django(_production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_local_repositories_with_debug_off_fail_the_system_check(tmp_path):
    env = {**_production_env(tmp_path), "BMADWEB_ALLOW_LOCAL_REPOS": "1"}
    result = _django(env, "check")
    assert result.returncode != 0
    assert "bmadweb.E001" in result.stderr


def test_development_keys_are_generated_once_under_var(tmp_path):
    first = _django({"BMADWEB_VAR_DIR": str(tmp_path)}, "check")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "keys" / "fernet_key"
    key = key_file.read_text()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    _django({"BMADWEB_VAR_DIR": str(tmp_path)}, "check")
    assert key_file.read_text() == key


def test_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-secret-value-0123456789-abcdefghijkl\n")
    env = {**_production_env(tmp_path), "DJANGO_SECRET_KEY_FILE": str(secret_file)}
    env.pop("DJANGO_SECRET_KEY")
    assert _django(env, "check").returncode == 0
    env["DJANGO_SECRET_KEY_FILE"] = str(tmp_path / "missing")
    result = _django(env, "check")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY_FILE" in result.stderr
