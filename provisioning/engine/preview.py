"""Preview of the files a manifest generates, for the manifest editor."""

from __future__ import annotations

from typing import Any

from provisioning.engine.generator import generate
from provisioning.engine.manifest import Manifest
from provisioning.engine.types import BmadInstall, Generation


def _install_from(report: dict[str, Any] | None) -> tuple[BmadInstall, str]:
    bmad = (report or {}).get("bmad") or {}
    try:
        generation = Generation(bmad.get("generation", ""))
    except ValueError:
        generation = Generation.V6_4
    if generation is Generation.NONE or not report:
        return (
            BmadInstall(generation=Generation.V6_4),
            "Not analysed yet: previewing for a BMAD 6.4+ layout.",
        )
    return (
        BmadInstall(
            generation=generation,
            version=bmad.get("version"),
            modules=tuple(bmad.get("modules", ())),
            tools=tuple(bmad.get("tools", ())),
            tools_recorded=bmad.get("tools_recorded") is True,
            agents=_agents(bmad.get("agents")),
        ),
        f"Previewing for the BMAD {bmad.get('version') or ''} install found by the last analysis.",
    )


def _agents(value: object) -> tuple[tuple[str, str], ...]:
    """(module, agent) pairs as the report stores them; anything else is dropped."""
    if not isinstance(value, list):
        return ()
    return tuple(
        (item[0], item[1])
        for item in value
        if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)
    )


def preview_files(
    manifest: Manifest, report: dict[str, Any] | None
) -> tuple[list[dict[str, str]], list[str]]:
    install, note = _install_from(report)
    generated = generate(manifest, install)
    files = [{"path": f.path, "kind": f.kind, "content": f.render(None)} for f in generated.files]
    return files, [note, *generated.notes]
