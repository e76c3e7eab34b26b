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
    add_shims,
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
    integrations: Sequence[str] = (),
    customizations: Sequence[str] = (),
    own: Sequence[str] = (),
) -> list[Finding]:
    install = detect_install(root)
    return installation_findings(
        install,
        root=root,
        required_version=version,
        required_modules=modules,
        required_tools=tools,
        integrations=integrations,
        customizations=customizations,
        own_skills=own,
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


@pytest.mark.parametrize("builder", [build_v4, build_v6_alpha])
def test_layouts_bmadweb_cannot_provision_are_unsupported(tmp_path: Path, builder) -> None:
    builder(tmp_path)
    found = findings_for(tmp_path, version=None, tools=("claude-code",))
    (finding,) = by_code(found, "BMAD_GENERATION_UNSUPPORTED")
    assert "npx bmad-method@latest install --modules bmm --tools claude-code" in (
        finding.recommendation
    )
    # a warning: only the version range makes a generation an error
    assert finding.severity is Severity.WARNING
    assert by_code(found, "BMAD_GENERATION_LEGACY") == []


@pytest.mark.parametrize("builder", [build_v60, build_v61])
def test_60_to_62_are_provisioned_but_flagged_as_legacy(tmp_path: Path, builder) -> None:
    builder(tmp_path)
    found = findings_for(tmp_path, version=None)
    (finding,) = by_code(found, "BMAD_GENERATION_LEGACY")
    assert finding.severity is Severity.WARNING
    assert "customize.yaml" in finding.explanation
    assert by_code(found, "BMAD_GENERATION_UNSUPPORTED") == []


def test_63_is_provisioned_with_skills_and_says_what_needs_64(tmp_path: Path) -> None:
    build_v63(tmp_path)
    (finding,) = findings_for(tmp_path, version=">=6")
    assert (finding.code, finding.severity) == ("BMAD_GENERATION_LEGACY", Severity.WARNING)
    assert "writes the custom skills" in finding.explanation
    assert "customizations, integrations and agent registration need 6.4" in finding.explanation


@pytest.mark.parametrize(
    ("builder", "required"),
    [
        (build_v4, ">=4"),
        (build_v60, ">=6"),
        (build_v61, ">=6"),
        (build_v63, ">=6"),
        (build_v64, ">=6"),
    ],
)
def test_a_clean_install_in_a_permissive_range_is_never_an_error(
    tmp_path: Path, builder, required: str
) -> None:
    builder(tmp_path)
    found = findings_for(tmp_path, version=required, tools=("claude-code",))
    assert [f.code for f in found if f.severity is Severity.ERROR] == []


def test_v4_advice_is_what_the_v4_installer_accepts(tmp_path: Path) -> None:
    build_v4(tmp_path, ides=("claude-code", "cursor"))
    found = findings_for(tmp_path, version=">=4", tools=("claude-code", "qwen", "cursor"))
    (generation,) = by_code(found, "BMAD_GENERATION_UNSUPPORTED")
    assert "does not migrate" in generation.explanation
    assert "npx bmad-method@4.44.3 install --full --ide claude-code cursor" in (
        generation.recommendation
    )
    (tool,) = by_code(found, "BMAD_TOOL_NOT_INSTALLED")
    # v4 names the tool qwen-code and takes the IDEs space-separated
    assert "--full --ide claude-code cursor qwen-code`" in tool.recommendation
    assert tool.paths == (".bmad-core/install-manifest.yaml",)


def test_v4_covers_core_and_bmm_and_explains_other_modules(tmp_path: Path) -> None:
    build_v4(tmp_path)
    found = findings_for(tmp_path, version=">=4", modules=("core", "bmm", "cis"), tools=())
    (finding,) = by_code(found, "BMAD_MODULE_MISSING")
    assert "'cis'" in finding.title
    assert "expansion packs" in finding.explanation
    assert "--modules bmm,cis" in finding.recommendation


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
    assert "install --action update --modules core,bmm,cis" in finding.recommendation


def test_tool_the_install_does_not_list_is_not_installed(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code",))
    (finding,) = findings_for(tmp_path, tools=("claude-code", "codex"))
    assert (finding.code, finding.severity) == ("BMAD_TOOL_NOT_INSTALLED", Severity.ERROR)
    assert finding.paths == ("_bmad/_config/manifest.yaml",)
    assert "npx bmad-method@6.12.0 install --action update --tools claude-code,codex" in (
        finding.recommendation
    )


def test_bmadwebs_own_skills_in_a_tool_folder_do_not_make_it_installed(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code", "cursor"))
    write_file(tmp_path, ".cline/skills/dev-leader/SKILL.md", "---\nname: dev-leader\n---\n")
    (finding,) = findings_for(tmp_path, tools=("claude-code", "cline"))
    assert finding.code == "BMAD_TOOL_NOT_INSTALLED"
    assert ".cline/skills/" in finding.explanation
    assert "--tools claude-code,cursor,cline" in finding.recommendation


def test_listed_tool_whose_folder_lost_bmads_skills(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code", "cline"))
    for skill in (tmp_path / ".cline/skills").iterdir():
        for file in sorted(skill.rglob("*"), reverse=True):
            file.unlink() if file.is_file() else file.rmdir()
        skill.rmdir()
    write_file(tmp_path, ".cline/skills/dev-leader/SKILL.md", "---\nname: dev-leader\n---\n")
    (finding,) = findings_for(tmp_path, tools=("claude-code", "cline"))
    assert finding.code == "BMAD_TOOL_FOLDER_MISSING"
    assert finding.paths == (".cline/skills",)
    assert ".gitignore" in finding.recommendation


def test_without_a_readable_record_bmads_skills_on_disk_count(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code", "cursor"))
    (tmp_path / "_bmad/_config/manifest.yaml").unlink()
    install = detect_install(tmp_path)
    assert not install.tools_recorded
    found = findings_for(tmp_path, modules=(), tools=("claude-code", "cursor", "kiro"))
    (finding,) = by_code(found, "BMAD_TOOL_NOT_INSTALLED")
    assert "kiro" in finding.title


def test_tool_before_skills_uses_recorded_tools(tmp_path: Path) -> None:
    build_v60(tmp_path, tools=("claude-code",))
    found = findings_for(tmp_path, version=None, tools=("claude-code", "cursor"))
    (finding,) = by_code(found, "BMAD_TOOL_NOT_INSTALLED")
    assert "cursor" in finding.title
    assert "npx bmad-method@6.0.4 install --action update --tools claude-code,cursor" in (
        finding.recommendation
    )


def test_tool_a_63_installer_cannot_set_up_needs_an_upgrade(tmp_path: Path) -> None:
    build_v63(tmp_path)
    (finding,) = by_code(
        findings_for(tmp_path, version=">=6", tools=("bob",)), "BMAD_TOOL_NOT_INSTALLED"
    )
    assert "has no skill folder for bob" in finding.recommendation
    assert "6.4" in finding.recommendation


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


# ---------------------------------------------------------------- targets (skills, agents)


def test_targets_the_install_has_are_fine(tmp_path: Path) -> None:
    build_v64(tmp_path)
    found = findings_for(
        tmp_path,
        integrations=("bmad-prd", "bmad-prd"),
        customizations=("bmad-agent-pm", "dev-leader"),
        own=("dev-leader",),
    )
    assert found == []


def test_integration_into_a_renamed_workflow_names_the_new_id(tmp_path: Path) -> None:
    build_v64(tmp_path)
    add_shims(tmp_path, {"bmad-create-prd": "bmad-prd", "bmad-create-story": ""})
    (finding,) = findings_for(tmp_path, integrations=("bmad-create-prd",))
    assert (finding.code, finding.severity) == ("BMAD_SKILL_RENAMED", Severity.ERROR)
    assert finding.title == "bmad-create-prd was renamed to bmad-prd in this install"
    assert finding.recommendation.startswith("Change the manifest's workflow to bmad-prd.")
    assert "--shims" in finding.recommendation
    # what the generator does about it is said, not left to guess
    assert "keeps writing _bmad/custom/bmad-create-prd.toml" in finding.explanation
    assert "does not move the integration hooks to bmad-prd" in finding.explanation
    assert finding.paths == ("_bmad/custom/bmad-create-prd.toml",)


def test_customization_of_an_installed_shim_is_a_warning(tmp_path: Path) -> None:
    build_v64(tmp_path)
    add_shims(tmp_path, {"bmad-create-prd": "bmad-prd"}, installed=True)
    (finding,) = findings_for(tmp_path, customizations=("bmad-create-prd",))
    assert (finding.code, finding.severity) == ("BMAD_SKILL_RENAMED", Severity.WARNING)
    assert "forwards to bmad-prd" in finding.explanation
    assert "customization key to bmad-prd" in finding.recommendation


def test_shim_left_out_of_the_install_without_a_replacement(tmp_path: Path) -> None:
    build_v64(tmp_path)
    add_shims(tmp_path, {"bmad-create-story": ""})
    (finding,) = findings_for(tmp_path, integrations=("bmad-create-story",))
    assert finding.code == "BMAD_SKILL_NOT_INSTALLED"
    assert "--action update --tools claude-code,cursor --shims" in finding.recommendation


def test_integration_into_a_removed_workflow(tmp_path: Path) -> None:
    build_v64(tmp_path)
    (finding,) = findings_for(tmp_path, integrations=("bmad-create-ux-design",))
    assert finding.code == "BMAD_SKILL_NOT_INSTALLED"
    assert "removed or renamed" in finding.explanation


def test_integration_into_an_unknown_workflow_suggests_close_ids(tmp_path: Path) -> None:
    build_v64(tmp_path)
    (finding,) = findings_for(tmp_path, integrations=("bmad-prdd",))
    assert (finding.code, finding.severity) == ("BMAD_SKILL_NOT_INSTALLED", Severity.ERROR)
    assert "Did you mean bmad-prd?" in finding.recommendation


def test_targets_are_not_checked_without_a_skill_manifest(tmp_path: Path) -> None:
    build_v64(tmp_path)
    (tmp_path / "_bmad/_config/skill-manifest.csv").unlink()
    found = findings_for(tmp_path, integrations=("bmad-nothing",))
    assert by_code(found, "BMAD_SKILL_NOT_INSTALLED") == []


@pytest.mark.parametrize("key", ["bmad-agent-pm", "bmm-pm", "bmad-agent-bmm-pm", "pm"])
def test_legacy_customization_keys_that_name_an_agent(tmp_path: Path, key: str) -> None:
    build_v60(tmp_path)
    found = findings_for(tmp_path, version=">=6", customizations=(key,))
    assert by_code(found, "BMAD_AGENT_NOT_INSTALLED") == []


def test_legacy_customization_of_an_unknown_agent_lists_the_agents(tmp_path: Path) -> None:
    build_v61(tmp_path)
    found = findings_for(tmp_path, version=">=6", customizations=("bmad-agent-sm",))
    (finding,) = by_code(found, "BMAD_AGENT_NOT_INSTALLED")
    assert finding.severity is Severity.ERROR
    assert "bmm-pm, bmm-architect, bmm-dev" in finding.explanation
    assert "<module>-<agent>.customize.yaml" in finding.explanation
