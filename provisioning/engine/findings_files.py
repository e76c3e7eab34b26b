"""File-level installation findings: hand-edited installer files and committed personal files.

Kept apart from `findings.py` because both read many files: only files the installer's
manifests list are hashed (streamed, a few threads for large installs), and `.gitignore`
files are matched with a small, documented approximation of git's rules.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from provisioning.engine import detect_read as rd
from provisioning.engine.detect_managed import skill_folders
from provisioning.engine.types import BmadInstall, Finding, Generation, Severity

_PARALLEL_FROM = 256


def edited_files(install: BmadInstall, root: Path) -> list[str]:
    """Managed files whose content no longer matches the installer's recorded hash.

    Missing files are skipped (the installer itself leaves some rows uncopied); v4 records
    16-hex prefixes, compared as prefixes."""
    items = sorted(install.managed_hashes.items())

    def changed(item: tuple[str, str]) -> bool:
        rel, expected = item
        actual = rd.sha256_of(root, rel)
        return actual is not None and actual[: len(expected)] != expected

    if len(items) < _PARALLEL_FROM:
        flags = [changed(item) for item in items]
    else:
        with ThreadPoolExecutor(max_workers=8) as pool:
            flags = list(pool.map(changed, items, chunksize=64))
    return [rel for (rel, _), flag in zip(items, flags, strict=True) if flag]


def skill_of(rel: str, folders: Iterable[str]) -> str | None:
    """The skill a repo-relative path belongs to: the folder right under one of the tool
    skill `folders` (e.g. `.claude/skills/<skill>/…`), None for any other path."""
    for folder in folders:
        if rel.startswith(folder + "/"):
            return rel[len(folder) + 1 :].split("/", 1)[0]
    return None


def edited_file_findings(install: BmadInstall, root: Path) -> list[Finding]:
    """One finding per skill (and one for other BMAD files) with hand-edited files."""
    edited = edited_files(install, root)
    folders = skill_folders(root, install.generation)
    groups: dict[str | None, list[str]] = {}
    for rel in edited:
        groups.setdefault(skill_of(rel, folders), []).append(rel)
    return [_edited_finding(install, skill, paths) for skill, paths in groups.items()]


def _edited_finding(install: BmadInstall, skill: str | None, paths: list[str]) -> Finding:
    what = f"skill {skill}" if skill else f"the {install.bmad_dir}/ folder"
    if install.generation is Generation.V6_4 and skill:
        advice = (
            f"Move the change into _bmad/custom/{skill}.toml (team, committed) or "
            f"_bmad/custom/{skill}.user.toml (personal), then restore the original file."
        )
    elif install.generation is Generation.V6_4:
        advice = (
            "Put configuration changes in _bmad/custom/config.toml, which the installer "
            "never touches, then restore the original file."
        )
    else:
        advice = (
            "Upgrade to BMAD 6.4 or later and move the change into _bmad/custom/<skill>.toml, "
            "where updates keep it."
        )
    return Finding(
        code="BMAD_MANAGED_FILE_EDITED",
        severity=Severity.WARNING,
        title=f"Installer-managed files of {what} were edited by hand",
        explanation=(
            f"{len(paths)} file(s) differ from the hashes the BMAD installer recorded. The "
            "next BMAD update overwrites them silently and the edit is lost."
        ),
        recommendation=advice,
        fixable=False,
        paths=tuple(paths),
    )


# ---------------------------------------------------------------- personal files


def personal_files(root: Path, bmad: str = "_bmad") -> list[str]:
    """`*.user.toml` files under the BMAD folder and its custom/ folder."""
    found: list[str] = []
    for folder in (bmad, f"{bmad}/custom"):
        for name, is_dir in rd.list_dir(root, folder):
            if not is_dir and name.endswith(".user.toml"):
                found.append(f"{folder}/{name}")
    return found


def personal_file_findings(install: BmadInstall, root: Path) -> list[Finding]:
    bmad = install.bmad_dir or "_bmad"
    exposed = [rel for rel in personal_files(root, bmad) if not is_ignored(root, rel)]
    if not exposed:
        return []
    return [
        Finding(
            code="BMAD_PERSONAL_FILE_COMMITTED",
            severity=Severity.WARNING,
            title="Personal BMAD settings are not ignored by git",
            explanation=(
                "These files hold one person's settings (user name, language, personal "
                "overrides) and no .gitignore excludes them, so they get committed and "
                "overwrite each teammate's own settings."
            ),
            recommendation=(
                "Add `*.user.toml` to _bmad/custom/.gitignore and `_bmad/config.user.toml` to "
                "the repository's .gitignore, then remove the files from git (git rm --cached)."
            ),
            fixable=False,
            paths=tuple(exposed),
        )
    ]


# ---------------------------------------------------------------- .gitignore


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: str
    negate: bool
    dir_only: bool
    anchored: bool

    def matches(self, sub: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.anchored:
            return fnmatch.fnmatchcase(sub, self.pattern) or fnmatch.fnmatchcase(
                sub, self.pattern.replace("**/", "")
            )
        return fnmatch.fnmatchcase(sub.rsplit("/", 1)[-1], self.pattern)


def _rules(root: Path, base: str) -> list[_Rule]:
    rel = f"{base}/.gitignore" if base else ".gitignore"
    res = rd.read_capped(root, rel, cap=256 * 1024)
    text = rd.decode_text(res.data) if res.data is not None else None
    return list(_parse_rules(text or ""))


def _parse_rules(text: str) -> Iterator[_Rule]:
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        if line:
            yield _Rule(line.lstrip("/"), negate, dir_only, anchored)


def _decide(root: Path, rel: str, is_dir: bool, cache: dict[str, list[_Rule]]) -> bool:
    ignored = False
    parts = rel.split("/")
    for depth in range(len(parts)):
        base = "/".join(parts[:depth])
        rules = cache.get(base)
        if rules is None:
            rules = cache[base] = list(_rules(root, base))
        sub = "/".join(parts[depth:])
        for rule in rules:
            if rule.matches(sub, is_dir):
                ignored = not rule.negate
    return ignored


def is_ignored(root: Path, rel: str) -> bool:
    """Whether .gitignore files in `rel`'s ancestor folders ignore it.

    Approximates git: last matching rule wins, a pattern with a slash is anchored to its
    .gitignore's folder, a trailing slash matches folders only, and an ignored folder
    ignores everything below it. Global excludes and `.git/info/exclude` are not read."""
    cache: dict[str, list[_Rule]] = {}
    parts = rel.split("/")
    for i in range(1, len(parts)):
        if _decide(root, "/".join(parts[:i]), True, cache):
            return True
    return _decide(root, rel, False, cache)
