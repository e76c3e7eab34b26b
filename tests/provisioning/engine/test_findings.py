"""Tests for provisioning.engine.findings: each code from a builder scenario, none when clean."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from provisioning.engine.detect import detect_install
from provisioning.engine.findings import FINDING_CODES, installation_findings
from provisioning.engine.findings_files import is_ignored
from provisioning.engine.types import Finding, Severity
from tests.provisioning.engine.builders import (
    add_orphaned_customize_yaml,
    add_stale_command_wrappers,
    build_v4,
    build_v6_alpha,
    build_v60,
    build_v61,
    build_v63,
    build_v64,
    edit_file,
    write_file,
)


def findings_for(
    root: Path,
    *,
    version: str | None = ">=6.4,<7",
    modules: Sequence[str] = ("core", "bmm"),
    tools: Sequence[str] = ("claude-code", "cursor"),
) -> list[Finding]:
    install = detect_install(root)
    return installation_findings(
        install, root=root, required_version=version, required_modules=modules, required_tools=tools
    )


def by_code(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_clean_v64_install_has_no_findings(tmp_path: Path) -> None:
    build_v64(tmp_path, skills=12)
    assert findings_for(tmp_path) == []


def test_no_install(tmp_path: Path) -> None:
    (finding,) = findings_for(tmp_path)
    assert finding.code == "BMAD_NOT_INSTALLED"
    assert finding.severity is Severity.ERROR


@pytest.mark.parametrize("builder", [build_v4, build_v6_alpha, build_v63])
def test_layouts_bmadweb_cannot_provision_are_unsupported(tmp_path: Path, builder) -> None:
    builder(tmp_path)
    found = findings_for(tmp_path, version=None)
    (finding,) = by_code(found, "BMAD_GENERATION_UNSUPPORTED")
    assert "6.4" in finding.recommendation
    assert finding.severity is Severity.ERROR
    assert by_code(found, "BMAD_GENERATION_LEGACY") == []


@pytest.mark.parametrize("builder", [build_v60, build_v61])
def test_60_to_62_are_provisioned_but_flagged_as_legacy(tmp_path: Path, builder) -> None:
    builder(tmp_path)
    found = findings_for(tmp_path, version=None)
    (finding,) = by_code(found, "BMAD_GENERATION_LEGACY")
    assert finding.severity is Severity.WARNING
    assert "customize.yaml" in finding.explanation
    assert by_code(found, "BMAD_GENERATION_UNSUPPORTED") == []


def test_version_outside_range(tmp_path: Path) -> None:
    build_v64(tmp_path, version="6.12.0")
    (finding,) = findings_for(tmp_path, version=">=6.4,<6.10")
    assert finding.code == "BMAD_VERSION_OUT_OF_RANGE"
    assert "6.12.0" in finding.title


@pytest.mark.parametrize(
    ("installed", "required"),
    [("6.13.0-beta.1", ">=6.4,<7"), ("6.12.0", "6.12.0"), ("6.12.0", "~=6.12"), ("6.5.0", "")],
)
def test_versions_in_range_including_prereleases(
    tmp_path: Path, installed: str, required: str
) -> None:
    build_v64(tmp_path, version=installed)
    assert findings_for(tmp_path, version=required) == []


def test_invalid_required_range(tmp_path: Path) -> None:
    build_v64(tmp_path)
    assert codes(findings_for(tmp_path, version="six or later")) == {
        "BMAD_REQUIRED_VERSION_INVALID"
    }


def test_unknown_version(tmp_path: Path) -> None:
    build_v64(tmp_path)
    (tmp_path / "_bmad/_config/manifest.yaml").unlink()
    found = findings_for(tmp_path, modules=())
    assert codes(found) == {"BMAD_VERSION_UNKNOWN", "BMAD_MANIFEST_MISSING"}
    assert by_code(found, "BMAD_VERSION_UNKNOWN")[0].severity is Severity.WARNING


def test_missing_module(tmp_path: Path) -> None:
    build_v64(tmp_path, modules=("core", "bmm"))
    found = findings_for(tmp_path, modules=("core", "bmm", "cis"))
    (finding,) = found
    assert finding.code == "BMAD_MODULE_MISSING"
    assert "'cis'" in finding.title


def test_missing_tool_folder_names_the_shared_agents_folder(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code",))
    (finding,) = findings_for(tmp_path, tools=("claude-code", "codex"))
    assert finding.code == "BMAD_TOOL_FOLDER_MISSING"
    assert finding.paths == (".agents/skills",)


def test_missing_tool_before_skills_uses_recorded_tools(tmp_path: Path) -> None:
    build_v60(tmp_path, tools=("claude-code",))
    found = findings_for(tmp_path, version=None, tools=("claude-code", "cursor"))
    (finding,) = by_code(found, "BMAD_TOOL_FOLDER_MISSING")
    assert "cursor" in finding.title


def test_unknown_tool(tmp_path: Path) -> None:
    build_v64(tmp_path)
    assert codes(findings_for(tmp_path, tools=("claude-code", "vim"))) == {"BMAD_TOOL_UNKNOWN"}


def test_v4_beside_v6_is_a_reported_leftover(tmp_path: Path) -> None:
    build_v4(tmp_path, ides=("claude-code", "cursor"))
    build_v64(tmp_path)
    (finding,) = findings_for(tmp_path)
    assert finding.code == "BMAD_LEGACY_V4_LEFTOVER"
    assert not finding.fixable  # reported; provisioning does not remove or move these
    assert set(finding.paths) == {".bmad-core", ".claude/commands/BMad", ".cursor/rules/bmad"}


def test_stale_command_wrappers_after_61(tmp_path: Path) -> None:
    build_v64(tmp_path)
    written = add_stale_command_wrappers(tmp_path)
    (finding,) = findings_for(tmp_path)
    assert finding.code == "BMAD_STALE_COMMAND_WRAPPERS"
    assert set(finding.paths) == set(written)
    assert finding.fixable


def test_command_wrappers_of_60_are_not_stale(tmp_path: Path) -> None:
    build_v60(tmp_path)
    assert "BMAD_STALE_COMMAND_WRAPPERS" not in codes(findings_for(tmp_path, version=None))


def test_alpha22_nested_wrappers_are_stale_after_upgrade(tmp_path: Path) -> None:
    build_v60(tmp_path, version="6.0.0-alpha.22", tools=("claude-code",))
    build_v64(tmp_path)
    (finding,) = by_code(findings_for(tmp_path), "BMAD_STALE_COMMAND_WRAPPERS")
    assert finding.paths == (".claude/commands/bmad",)


def test_orphaned_customize_yaml_after_64(tmp_path: Path) -> None:
    build_v64(tmp_path)
    customized, template = add_orphaned_customize_yaml(tmp_path)
    (finding,) = findings_for(tmp_path)
    assert finding.code == "BMAD_ORPHANED_CUSTOMIZE_YAML"
    assert finding.paths == (customized, template)  # the one carrying changes first
    assert not finding.fixable  # reported; provisioning does not remove or move these
    assert finding.severity is Severity.ERROR
    assert "_bmad/custom/" in finding.recommendation
    assert "no longer apply" in finding.title


def test_orphaned_template_only_customize_yaml_is_a_warning(tmp_path: Path) -> None:
    build_v64(tmp_path)
    add_orphaned_customize_yaml(tmp_path, customized=False)
    (finding,) = findings_for(tmp_path)
    assert finding.severity is Severity.WARNING


def test_upgrade_from_60_leaves_wrappers_and_customize_yaml(tmp_path: Path) -> None:
    build_v60(tmp_path)
    build_v64(tmp_path)
    assert codes(findings_for(tmp_path)) == {
        "BMAD_STALE_COMMAND_WRAPPERS",
        "BMAD_ORPHANED_CUSTOMIZE_YAML",
    }


def test_hand_edited_skill_copy_is_reported_per_skill(tmp_path: Path) -> None:
    built = build_v64(tmp_path)
    assert built.sample_skill_file == ".claude/skills/bmad-agent-pm/SKILL.md"
    edit_file(tmp_path, built.sample_skill_file)
    edit_file(tmp_path, ".agents/skills/bmad-agent-pm/customize.toml", "\n# tweak\n")
    (finding,) = findings_for(tmp_path)
    assert finding.code == "BMAD_MANAGED_FILE_EDITED"
    assert set(finding.paths) == {
        ".claude/skills/bmad-agent-pm/SKILL.md",
        ".agents/skills/bmad-agent-pm/customize.toml",
    }
    assert "_bmad/custom/bmad-agent-pm.toml" in finding.recommendation
    assert "overwrites" in finding.explanation


def test_hand_edited_bmad_config_is_its_own_finding(tmp_path: Path) -> None:
    built = build_v64(tmp_path)
    edit_file(tmp_path, "_bmad/config.toml", "\n[core]\nx = 1\n")
    edit_file(tmp_path, built.sample_skill_file or "")
    found = by_code(findings_for(tmp_path), "BMAD_MANAGED_FILE_EDITED")
    assert sorted(f.paths for f in found) == [
        (".claude/skills/bmad-agent-pm/SKILL.md",),
        ("_bmad/config.toml",),
    ]


def test_deleted_managed_file_is_not_an_edit(tmp_path: Path) -> None:
    built = build_v64(tmp_path)
    (tmp_path / (built.sample_skill_file or "")).unlink()
    assert "BMAD_MANAGED_FILE_EDITED" not in codes(findings_for(tmp_path))


@pytest.mark.parametrize("builder", [build_v4, build_v60, build_v61])
def test_hand_edits_in_older_generations(tmp_path: Path, builder) -> None:
    rel = builder(tmp_path).sample_managed_file
    edit_file(tmp_path, rel)
    (finding,) = by_code(findings_for(tmp_path, version=None), "BMAD_MANAGED_FILE_EDITED")
    assert finding.paths == (rel,)


def test_many_files_with_one_edit(tmp_path: Path) -> None:
    build_v64(tmp_path, skills=120, extra_files=2000)
    edit_file(tmp_path, ".agents/skills/bmad-wf-050/references/guide.md")
    (finding,) = findings_for(tmp_path)
    assert finding.paths == (".agents/skills/bmad-wf-050/references/guide.md",)


def test_personal_config_not_ignored_is_reported(tmp_path: Path) -> None:
    build_v64(tmp_path, ignore_user_config=False)
    write_file(tmp_path, "_bmad/custom/bmad-agent-pm.user.toml", "[agent]\nicon = 'x'\n")
    (finding,) = findings_for(tmp_path)
    assert finding.code == "BMAD_PERSONAL_FILE_COMMITTED"
    assert finding.paths == ("_bmad/config.user.toml",)
    assert not finding.fixable  # reported; provisioning does not remove or move these


def test_personal_overrides_reported_when_custom_gitignore_lost(tmp_path: Path) -> None:
    build_v64(tmp_path)
    write_file(tmp_path, "_bmad/custom/.gitignore", "# emptied\n")
    (finding,) = findings_for(tmp_path)
    assert finding.paths == ("_bmad/custom/config.user.toml",)


def test_gitignore_rules(tmp_path: Path) -> None:
    write_file(tmp_path, ".gitignore", "/_bmad/config.user.toml\nbuild/\n")
    write_file(tmp_path, "_bmad/custom/.gitignore", "*.user.toml\n!keep.user.toml\n")
    assert is_ignored(tmp_path, "_bmad/config.user.toml")
    assert is_ignored(tmp_path, "_bmad/custom/a.user.toml")
    assert not is_ignored(tmp_path, "_bmad/custom/keep.user.toml")
    assert is_ignored(tmp_path, "x/build/out.txt")
    assert not is_ignored(tmp_path, "_bmad/x/config.user.toml")


def test_reading_problems_become_findings(tmp_path: Path) -> None:
    build_v64(tmp_path)
    manifest = tmp_path / "_bmad/_config/manifest.yaml"
    manifest.unlink()
    manifest.symlink_to("/etc/passwd")
    found = findings_for(tmp_path, modules=())
    assert {"BMAD_SYMLINK_NOT_FOLLOWED", "BMAD_VERSION_UNKNOWN"} <= codes(found)


def test_every_finding_is_complete_and_registered(tmp_path: Path) -> None:
    build_v4(tmp_path)
    build_v60(tmp_path)
    build_v64(tmp_path, tools=("claude-code",), ignore_user_config=False)
    add_orphaned_customize_yaml(tmp_path)
    edit_file(tmp_path, ".claude/skills/bmad-prd/SKILL.md")
    found = findings_for(tmp_path, version="<6", modules=("cis",), tools=("cursor", "vim"))
    assert len(codes(found)) >= 9
    for finding in found:
        assert finding.code in FINDING_CODES
        assert finding.title
        assert finding.explanation
        assert finding.recommendation
