"""Values and errors of the git door: policy, credentials, identity, results."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from provisioning.git_ops.urlpolicy import Resolver, resolve_host

StrPath = str | os.PathLike[str]


_FORBIDDEN_IDENTITY_CHARS = re.compile(r"[\x00-\x1f\x7f<>]")


class GitOpsError(Exception):
    """Base of every error raised here; messages are already scrubbed of secrets."""


class GitCommandFailed(GitOpsError):
    """A git step exited with an unexpected status."""

    def __init__(self, step: str, returncode: int, stderr: str) -> None:
        super().__init__(f"git {step} failed (exit {returncode}): {stderr}".rstrip(": "))
        self.step = step
        self.returncode = returncode
        self.stderr = stderr


class GitTimeout(GitOpsError):
    """A git step ran past its time budget and was killed with its process group."""


class GitLimitExceeded(GitOpsError):
    """A clone went over the disk budget; it was stopped and removed."""


class GitDiverged(GitOpsError):
    """The remote branch holds a commit bmadweb did not expect; nothing was pushed."""


class NothingToCommit(GitOpsError):
    """The work tree has no change to commit."""


class InvalidInput(GitOpsError, ValueError):
    """A branch name, identity, sha, run id or message that git must never see."""


@dataclass(frozen=True, slots=True)
class GitPolicy:
    """Operator settings for every git call (built from Django settings by the caller)."""

    allow_local: bool = False
    # Local repositories must lie under this folder (None: anywhere; the app always sets
    # it from BMADWEB_LOCAL_REPOS_ROOT).
    local_root: Path | None = None
    max_repo_bytes: int = 256 * 1024 * 1024
    max_repo_files: int = 20_000
    timeout_s: float = 300.0
    temp_base: Path | None = None
    git_binary: str = "git"
    ssh_program: str = "ssh"
    resolve: Resolver = resolve_host

    def __post_init__(self) -> None:
        if self.max_repo_bytes <= 0 or self.timeout_s <= 0 or self.max_repo_files <= 0:
            raise ValueError("max_repo_bytes, max_repo_files and timeout_s must be positive")
        # git_binary follows ``env -u ... --`` on the command line (process.run_git):
        # a leading '-' or an '=' would be read by env, not run.
        if not self.git_binary or self.git_binary.startswith("-") or "=" in self.git_binary:
            raise ValueError("git_binary must be a program name or path")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Secrets for one remote. ``repr`` never shows them."""

    https_token: str | None = field(default=None, repr=False)
    https_username: str = "x-access-token"
    ssh_private_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # A newline would let the askpass script answer a second prompt with garbage.
        for value in (self.https_token, self.https_username):
            if value is not None and (not value or _has_control_chars(value)):
                raise InvalidInput("credentials must be non-empty single-line text")
        if self.ssh_private_key is not None and "\x00" in self.ssh_private_key:
            raise InvalidInput("the ssh private key must be text")

    def __repr__(self) -> str:
        token = "***" if self.https_token else None
        key = "***" if self.ssh_private_key else None
        return f"Credentials(https_token={token}, ssh_private_key={key})"

    __str__ = __repr__

    def secrets(self) -> tuple[str, ...]:
        """Every string that must never appear in a log line or an error."""
        found = [self.https_token or ""]
        if self.ssh_private_key:
            found.append(self.ssh_private_key.strip())
            found.extend(line for line in self.ssh_private_key.splitlines() if len(line) >= 16)
        return tuple(s for s in found if s)


@dataclass(frozen=True, slots=True)
class Identity:
    """Author and committer of bmadweb's commits; values that could inject config or
    headers (CR, LF, NUL, other control characters, ``<``, ``>``) are refused."""

    name: str
    email: str

    def __post_init__(self) -> None:
        for what, value in (("author name", self.name), ("author email", self.email)):
            if not isinstance(value, str) or not value.strip() or len(value) > 256:
                raise InvalidInput(f"{what} must be 1-256 characters")
            if _FORBIDDEN_IDENTITY_CHARS.search(value):
                raise InvalidInput(f"{what} must not contain control characters, '<' or '>'")


# The tip's tree as ``git ls-tree -r`` lists it: path -> (mode, object id).
TreeListing = Mapping[str, tuple[str, str]]

SYMLINK_MODE = "120000"
GITLINK_MODE = "160000"


@dataclass(frozen=True, slots=True)
class ClonedRepo:
    path: Path
    branch: str
    head_sha: str
    # What the clone checked out (empty when unknown): the size check before the checkout
    # reads it anyway, and it tells which paths git records as symlinks or submodules and
    # which blobs git already hashed.
    tree: TreeListing = field(default_factory=dict, repr=False, compare=False)

    @property
    def tracked_symlinks(self) -> frozenset[str]:
        """Paths the checked-out tip records as symlinks (mode 120000)."""
        return frozenset(path for path, (mode, _) in self.tree.items() if mode == SYMLINK_MODE)

    @property
    def tracked_submodules(self) -> frozenset[str]:
        """Paths the checked-out tip records as submodules (gitlinks, mode 160000)."""
        return frozenset(path for path, (mode, _) in self.tree.items() if mode == GITLINK_MODE)


@dataclass(frozen=True, slots=True)
class PushResult:
    status: Literal["pushed", "already_pushed"]
    branch: str
    sha: str

    @property
    def message(self) -> str:
        return "already pushed" if self.status == "already_pushed" else "pushed"


def _has_control_chars(value: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
