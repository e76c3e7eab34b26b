"""The editor's preview generates what a run would, from the stored report alone."""

from __future__ import annotations

from pathlib import Path

from provisioning.engine.manifest import Manifest
from provisioning.engine.pipeline import analyze_repo, report_to_dict
from provisioning.engine.preview import preview_files
from tests.provisioning.engine.builders import build_v60, build_v64


def _manifest(tools: list[str]) -> Manifest:
    return Manifest.model_validate(
        {
            "apiVersion": "bmadweb/v1",
            "project": {"name": "p", "bmad_version": ">=6", "tools": tools},
            "leaders": [{"id": "dev-leader", "name": "Dev", "domain": "engineering"}],
            "customizations": {"bmad-agent-pm": {"principles": ["Short PRDs."]}},
        }
    )


def _paths(manifest: Manifest, report: dict | None) -> set[str]:
    files, _notes = preview_files(manifest, report)
    return {f["path"] for f in files}


def test_preview_matches_the_run_for_tools_and_agent_files(tmp_path: Path) -> None:
    build_v64(tmp_path / "new", tools=("claude-code",))
    manifest = _manifest(["claude-code", "cline"])
    analysis = analyze_repo(tmp_path / "new", manifest)
    report = report_to_dict(analysis.report)
    assert report["bmad"]["tools_recorded"] is True
    assert _paths(manifest, report) == {f.path for f in analysis.generated.files}
    assert not any(p.startswith(".cline/") for p in _paths(manifest, report))

    build_v60(tmp_path / "old")
    old = analyze_repo(tmp_path / "old", manifest)
    old_report = report_to_dict(old.report)
    assert ["bmm", "pm"] in old_report["bmad"]["agents"]
    assert _paths(manifest, old_report) == {"_bmad/_config/agents/bmm-pm.customize.yaml"}


def test_preview_before_any_analysis_uses_the_declared_tools() -> None:
    paths = _paths(_manifest(["claude-code", "cline"]), None)
    assert ".cline/skills/dev-leader/SKILL.md" in paths
    assert ".claude/skills/dev-leader/SKILL.md" in paths


def test_preview_ignores_a_malformed_agent_list() -> None:
    report = {"bmad": {"generation": "6.0", "agents": [["bmm"], "pm", [1, 2], ["bmm", "pm"]]}}
    assert _paths(_manifest([]), report) == {"_bmad/_config/agents/bmm-pm.customize.yaml"}
