"""Development keys, generated once and kept under `var/keys/`.

Only used when BMADWEB_ENV=development (the default). Production refuses to start
without keys from the environment (see settings.py).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def _new_key() -> str:
    # A Fernet key is 32 random bytes, url-safe base64 encoded.
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def dev_key(var_dir: Path, name: str) -> str:
    """Return the development key `name`, creating it (0600) on first use."""
    keys_dir = var_dir / "keys"
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys_dir / name
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    key = _new_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key
