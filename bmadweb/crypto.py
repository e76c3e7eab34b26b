"""All encryption and MACs in one place (docs/architecture.md#doors).

Values at rest are Fernet tokens from a MultiFernet key ring: the first key encrypts,
every key decrypts, so keys rotate without downtime. Each ciphertext is bound to the
row and field it belongs to: the encrypted envelope carries a context string, and a
ciphertext copied to another row or field fails to decrypt (docs/security.md#s20).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CryptoError(Exception):
    """A value could not be decrypted. The message never contains key material."""


class KeyConfigError(CryptoError):
    """The configured keys are unusable (bad format, empty ring)."""


@lru_cache(maxsize=8)
def _ring(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise KeyConfigError("BMADWEB_FERNET_KEYS is empty: at least one key is needed")
    fernets = []
    for index, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            # Name the position only: the key itself must never reach a log.
            raise KeyConfigError(
                f"BMADWEB_FERNET_KEYS: key #{index} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from None
    return MultiFernet(fernets)


def key_ring() -> MultiFernet:
    return _ring(tuple(settings.FERNET_KEYS))


def encrypt(value: str, *, context: str) -> str:
    """Encrypt `value` for the row/field named by `context` (e.g. "project:<uid>:token")."""
    envelope = json.dumps({"c": context, "v": value}, separators=(",", ":"))
    return key_ring().encrypt(envelope.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, context: str) -> str:
    """Decrypt a value written by `encrypt` for the same context; fail closed otherwise."""
    try:
        raw = key_ring().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise CryptoError(
            "cannot decrypt a stored value: it was damaged or written with a key that is "
            "not in BMADWEB_FERNET_KEYS"
        ) from None
    envelope = json.loads(raw)
    if envelope.get("c") != context:
        raise CryptoError("a stored value belongs to another record and was refused")
    return str(envelope["v"])


def rotate(token: str) -> str:
    """Re-encrypt a token with the first key of the ring (idempotent)."""
    try:
        return key_ring().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise CryptoError("cannot re-encrypt a stored value: no key in the ring opens it") from None


def keys_usable() -> bool:
    """True when the key ring loads and round-trips a value (readiness check)."""
    try:
        return decrypt(encrypt("ping", context="health"), context="health") == "ping"
    except CryptoError:
        return False


# --- HMAC for the audit chain -----------------------------------------------------------


def _audit_keys() -> dict[str, bytes]:
    ring: dict[str, bytes] = {}
    for index, item in enumerate(settings.AUDIT_KEYS, start=1):
        key_id, sep, secret = item.partition(":")
        if not sep or not key_id or len(secret) < 32:
            raise KeyConfigError(
                f"BMADWEB_AUDIT_KEYS: entry #{index} must be 'id:secret' with a secret of "
                "at least 32 characters"
            )
        ring[key_id] = secret.encode("utf-8")
    if not ring:
        raise KeyConfigError("BMADWEB_AUDIT_KEYS is empty")
    return ring


def audit_signing_key_id() -> str:
    return next(iter(_audit_keys()))


def audit_mac(key_id: str, message: bytes) -> str:
    """HMAC-SHA256 of `message` with the audit key `key_id` (hex)."""
    try:
        key = _audit_keys()[key_id]
    except KeyError:
        raise KeyConfigError(f"audit key {key_id!r} is not in BMADWEB_AUDIT_KEYS") from None
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    if isinstance(a, str):
        a = a.encode("utf-8")
    if isinstance(b, str):
        b = b.encode("utf-8")
    return hmac.compare_digest(a, b)


def hmac_sha256_hex(secret: bytes, body: bytes) -> str:
    """Hex HMAC-SHA256, as GitHub and Gitea sign webhook bodies."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Hash of an API token for storage (tokens are high-entropy: no slow KDF needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
