"""Problem collection while reading one repository for BMAD detection.

`Scan` reads files through `detect_read` (no symlinks, capped sizes) and turns whatever
goes wrong into warnings, so detection itself never raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from provisioning.engine import detect_read as rd
from provisioning.engine.types import Finding, Severity


@dataclass
class Scan:
    """Problems collected while reading one repository."""

    root: Path
    problems: list[Finding] = field(default_factory=list)

    def add(
        self, code: str, title: str, explanation: str, recommendation: str, *paths: str
    ) -> None:
        self.problems.append(
            Finding(code, Severity.WARNING, title, explanation, recommendation, False, paths)
        )

    def read(self, rel: str, what: str) -> bytes | None:
        """File bytes, or None with a problem recorded (a missing file records nothing)."""
        res = rd.read_capped(self.root, rel)
        if res.symlink is not None:
            self.add(
                "BMAD_SYMLINK_NOT_FOLLOWED",
                f"The {what} is reached through a symbolic link",
                f"{res.symlink} is a symbolic link. bmadweb never follows links inside a "
                "repository, so it ignored this file.",
                f"Replace {res.symlink} with the real file.",
                rel,
            )
        elif res.problem is not None:
            self.damaged(rel, what, res.problem)
        return res.data

    def damaged(self, rel: str, what: str, why: str) -> None:
        code = "BMAD_FILES_MANIFEST_DAMAGED" if rel.endswith(".csv") else "BMAD_MANIFEST_DAMAGED"
        self.add(
            code,
            f"The {what} cannot be read",
            f"{rel} {why}. What bmadweb reports about this install may be incomplete.",
            "Re-run the BMAD installer to regenerate it, or restore it from git history.",
            rel,
        )
