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
        ),
        f"Previewing for the BMAD {bmad.get('version') or ''} install found by the last analysis.",
    )


def preview_files(
    manifest: Manifest, report: dict[str, Any] | None
) -> tuple[list[dict[str, str]], list[str]]:
    install, note = _install_from(report)
    generated = generate(manifest, install)
    files = [{"path": f.path, "kind": f.kind, "content": f.render(None)} for f in generated.files]
    return files, [note, *generated.notes]
