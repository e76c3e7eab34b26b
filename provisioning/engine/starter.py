"""A starter manifest built from what a repository already has installed.

After an install audit (an analysis without a manifest), the editor opens on this text:
the modules and tools BMAD has installed, a version range around the installed version,
and one example leader to rename. The result always loads without errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from packaging.version import InvalidVersion, Version

from provisioning.engine.paths import ID_PATTERN
from provisioning.engine.types import KNOWN_TOOLS

DEFAULT_RANGE = ">=6.4,<7"
DEFAULT_MODULES = ("core", "bmm")
DEFAULT_TOOLS = ("claude-code",)
_ID = re.compile(ID_PATTERN)


def version_range(version: str | None) -> str:
    """ ">=6.12,<7" for "6.12.0"; the default range when the version is unknown."""
    try:
        parsed = Version(version or "")
    except InvalidVersion:
        return DEFAULT_RANGE
    return f">={parsed.major}.{parsed.minor},<{parsed.major + 1}"


def _flow(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(v) if not _ID.match(v) else v for v in values) + "]"


def starter_manifest(
    *,
    name: str,
    version: str | None = None,
    modules: Sequence[str] | None = None,
    tools: Sequence[str] | None = None,
) -> str:
    """The YAML text of a starter manifest. Unknown tools and ids that are not manifest
    ids are left out; nothing installed falls back to the usual defaults."""
    kept_modules = [m for m in (modules or ()) if isinstance(m, str) and _ID.match(m)]
    kept_tools = [t for t in (tools or ()) if t in KNOWN_TOOLS]
    from_install = modules is not None or tools is not None
    header = (
        "# Built from what is installed: its modules and tools. Rename the example leader\n"
        "# and add your specialists, customizations and workflow hooks.\n"
        if from_install
        else ""
    )
    return (
        f"{header}apiVersion: bmadweb/v1\n"
        "project:\n"
        f"  name: {json.dumps(name[:200])}\n"
        f'  bmad_version: "{version_range(version)}"\n'
        f"  modules: {_flow(kept_modules or list(DEFAULT_MODULES))}\n"
        f"  tools: {_flow(kept_tools or list(DEFAULT_TOOLS))}\n"
        "leaders:\n"
        "  - id: dev-leader\n"
        "    name: Dev Leader\n"
        "    domain: engineering\n"
        "    phase: implementation\n"
        "    description: Routes engineering requests to the right specialist.\n"
        "    specialists: []\n"
    )
