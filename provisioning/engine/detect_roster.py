"""What a 6.x install offers by name, read from its own files (docs/bmad.md#detection).

- BMAD's skill ids and their source folders: `<bmad>/<cfg>/skill-manifest.csv` (6.1+).
- Deprecated compatibility skills ("shims") and what each forwards to: the table in each
  module's `v6-shims/README.md`, and skill-manifest rows whose description opens with
  "Deprecated" (the signal BMAD's own installer uses).
- The agent roster up to 6.3: `<bmad>/<cfg>/agent-manifest.csv` (`name`, `module`).

Everything is read leniently through `Scan`: damage is reported, never raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from provisioning.engine import detect_read as rd
from provisioning.engine.bmad_facts import SHIMS_FOLDER
from provisioning.engine.detect_scan import Scan
from provisioning.engine.paths import is_valid_id

_SKILLS_COLUMNS = ("canonicalid", "name", "description", "module", "path")
_AGENTS_COLUMNS = (
    "name",
    "displayname",
    "title",
    "icon",
    "capabilities",
    "role",
    "identity",
    "communicationstyle",
    "principles",
    "module",
    "path",
)
_README_CAP = 256 * 1024
_MAX_NAMES = 5000
_QUOTED_ID = re.compile(r"`([a-z0-9][a-z0-9-]{0,62})`")
_WORD_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_DEPRECATED = re.compile(r"^\s*deprecated\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Roster:
    skills: tuple[str, ...] = ()
    bases: dict[str, str] = field(default_factory=dict)  # source folder -> skill id
    shims: dict[str, str] = field(default_factory=dict)  # shim id -> replacement ("" = none)
    agents: tuple[tuple[str, str], ...] = ()  # (module, agent name)


def read_roster(scan: Scan, bmad: str, cfg: str) -> Roster:
    rows = _rows(scan, f"{bmad}/{cfg}/skill-manifest.csv", "skill manifest", _SKILLS_COLUMNS)
    bases: dict[str, str] = {}
    skills: list[str] = []
    described: dict[str, str] = {}
    for row in rows:
        skill_id = (row.get("canonicalid") or row.get("name") or "").strip()
        if not skill_id or not rd.is_safe_relpath(skill_id):
            continue
        path = row.get("path", "").strip().removeprefix(f"{bmad}/")
        base = path.rpartition("/")[0] if path.endswith(".md") else path
        if rd.is_safe_relpath(base):
            bases[base] = skill_id
        if skill_id not in described:
            skills.append(skill_id)
        described[skill_id] = row.get("description", "")
    return Roster(
        skills=tuple(skills[:_MAX_NAMES]),
        bases=bases,
        shims=_shims(scan, bmad, described),
        agents=_agents(scan, f"{bmad}/{cfg}/agent-manifest.csv"),
    )


def _rows(scan: Scan, rel: str, what: str, columns: tuple[str, ...]) -> tuple[dict[str, str], ...]:
    data = scan.read(rel, what)
    if data is None:
        return ()
    table = rd.read_csv_table(data, columns)
    if table.problem:
        scan.damaged(rel, what, table.problem)
    return table.rows


def _agents(scan: Scan, rel: str) -> tuple[tuple[str, str], ...]:
    pairs: dict[tuple[str, str], None] = {}
    for row in _rows(scan, rel, "agent manifest", _AGENTS_COLUMNS):
        module, name = row.get("module", "").strip(), row.get("name", "").strip()
        if is_valid_id(module) and is_valid_id(name):
            pairs[(module, name)] = None
        if len(pairs) >= _MAX_NAMES:
            break
    return tuple(pairs)


def _shims(scan: Scan, bmad: str, described: dict[str, str]) -> dict[str, str]:
    """Deprecated skills and their replacements: the README tables first, then the
    deprecated rows of skill-manifest.csv for shims the tables do not name."""
    shims: dict[str, str] = {}
    for module, is_dir in rd.list_dir(scan.root, bmad):
        rel = f"{bmad}/{module}/{SHIMS_FOLDER}/README.md"
        if is_dir and not module.startswith((".", "_")) and rd.is_file(scan.root, rel):
            res = rd.read_capped(scan.root, rel, cap=_README_CAP)
            text = rd.decode_text(res.data) if res.data is not None else None
            for old, new in shim_table(text or ""):
                shims.setdefault(old, new)
    for skill_id, description in described.items():
        if _DEPRECATED.match(description) and not shims.get(skill_id):
            words = _WORD_ID.findall(description.lower())
            target = next((w for w in words if w != skill_id and w in described), "")
            shims[skill_id] = target
    return shims


def shim_table(text: str) -> list[tuple[str, str]]:
    """(shim id, replacement id or "") from a markdown table whose first cell quotes the
    shim's id in backticks and whose second cell quotes what it forwards to, if anything."""
    found: list[tuple[str, str]] = []
    for line in text.splitlines()[:_MAX_NAMES]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or len(cells) < 2:
            continue
        old = _QUOTED_ID.search(cells[0])
        if old is None or not is_valid_id(old.group(1)):
            continue
        new = _QUOTED_ID.search(cells[1])
        replacement = new.group(1) if new and is_valid_id(new.group(1)) else ""
        found.append((old.group(1), replacement))
    return found
