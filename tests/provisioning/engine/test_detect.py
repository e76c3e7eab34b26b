"""Tests for provisioning.engine.detect: every generation, and damaged installs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.engine.detect import detect_install, generation_for_version
from provisioning.engine.detect_read import normalize_version, read_csv_table
from provisioning.engine.detect_roster import shim_table
from provisioning.engine.types import Generation
from tests.provisioning.engine.builders import (
    add_shims,
    build_v4,
    build_v6_alpha,
    build_v60,
    build_v61,
    build_v63,
    build_v64,
    write_file,
)


def codes(install) -> set[str]:
    return {p.code for p in install.problems}


def test_empty_repo_has_no_install(tmp_path: Path) -> None:
    install = detect_install(tmp_path)
    assert install.generation is Generation.NONE
    assert install.problems == ()


def test_missing_root_is_no_install(tmp_path: Path) -> None:
    assert detect_install(tmp_path / "absent").generation is Generation.NONE


def test_v4_is_detected_with_version_tools_and_short_hashes(tmp_path: Path) -> None:
    build_v4(tmp_path, version="4.44.3", ides=("claude-code", "cursor"))
    install = detect_install(tmp_path)
    assert install.generation is Generation.V4
    assert install.version == "4.44.3"
    assert install.bmad_dir == ".bmad-core"
    assert install.tools == ("claude-code", "cursor")
    assert install.customization_style == "in-place"
    assert len(install.managed_hashes[".bmad-core/agents/pm.md"]) == 16
    assert install.problems == ()


@pytest.mark.parametrize("dot", [False, True])
def test_early_alpha_is_detected_in_bmad_or_dot_bmad(tmp_path: Path, dot: bool) -> None:
    build_v6_alpha(tmp_path, dot=dot)
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_ALPHA
    assert install.bmad_dir == (".bmad" if dot else "bmad")
    assert install.version == "6.0.0-alpha.7"
    assert install.modules == ("core", "bmm")
    assert install.customization_style == "customize-yaml"


def test_v60_is_detected_with_command_wrappers_as_tools(tmp_path: Path) -> None:
    build_v60(tmp_path, version="6.0.4", modules=("core", "bmm"))
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_0
    assert install.version == "6.0.4"
    assert install.modules == ("core", "bmm")
    assert install.tools == ("claude-code", "cursor")
    assert install.customization_style == "customize-yaml"
    assert "_bmad/bmm/workflows/2-plan-workflows/create-prd/workflow.md" in install.managed_hashes
    assert "_bmad/bmm/agents/pm.md" not in install.managed_hashes  # not hashed by BMAD either
    assert install.problems == ()


def test_alpha22_modules_as_strings_parse(tmp_path: Path) -> None:
    build_v60(tmp_path, version="6.0.0-alpha.22", tools=("claude-code",))
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_0
    assert install.version == "6.0.0-alpha.22"
    assert install.modules == ("core", "bmm")
    assert install.tools == ("claude-code",)


def test_v61_has_agents_in_bmad_and_native_skills(tmp_path: Path) -> None:
    built = build_v61(tmp_path, version="6.2.0")
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_1
    assert install.version == "6.2.0"
    assert install.customization_style == "customize-yaml"
    assert built.sample_skill_file in install.managed_hashes
    assert ".cursor/skills/bmad-agent-pm/SKILL.md" in install.managed_hashes


def test_v63_skills_without_customization(tmp_path: Path) -> None:
    build_v63(tmp_path, tools=("claude-code", "cursor"))
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_3
    assert install.version == "6.3.0"
    assert install.tools == ("claude-code", "cursor")
    assert install.customization_style == "none"
    assert ".cursor/skills/bmad-prd/SKILL.md" in install.managed_hashes


def test_v64_maps_manifest_rows_to_every_tool_folder_copy(tmp_path: Path) -> None:
    built = build_v64(tmp_path, version="6.12.0", tools=("claude-code", "cursor"), skills=10)
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_4
    assert install.version == "6.12.0"
    assert install.modules == ("core", "bmm")
    assert install.tools == ("claude-code", "cursor")
    assert install.customization_style == "toml"
    claude = install.managed_hashes[".claude/skills/bmad-prd/customize.toml"]
    assert claude == install.managed_hashes[".agents/skills/bmad-prd/customize.toml"]
    assert "_bmad/bmm/plan/bmad-prd/customize.toml" not in install.managed_hashes
    assert "_bmad/config.toml" in install.managed_hashes
    assert built.skill_dirs == (".claude/skills", ".agents/skills")
    assert install.problems == ()


def test_v64_team_and_personal_rows_are_not_installer_managed(tmp_path: Path) -> None:
    build_v64(tmp_path)
    managed = detect_install(tmp_path).managed_hashes
    assert "_bmad/custom/.gitignore" not in managed
    assert "_bmad/config.user.toml" not in managed


def test_v64_claude_only_install_reports_one_tool(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code",))
    install = detect_install(tmp_path)
    assert install.tools == ("claude-code",)
    assert not any(p.startswith(".agents/") for p in install.managed_hashes)


def test_tools_are_what_bmads_record_lists_not_what_sits_in_folders(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code",))
    write_file(tmp_path, ".cline/skills/dev-leader/SKILL.md", "---\nname: dev-leader\n---\n")
    write_file(tmp_path, ".kiro/skills/bmad-help/SKILL.md", "---\nname: bmad-help\n---\n")
    install = detect_install(tmp_path)
    assert install.tools == ("claude-code",)
    assert install.tools_recorded


def test_without_a_record_only_bmads_own_skills_on_disk_name_tools(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=("claude-code", "kiro"))
    write_file(tmp_path, ".cline/skills/dev-leader/SKILL.md", "---\nname: dev-leader\n---\n")
    (tmp_path / "_bmad/_config/manifest.yaml").unlink()
    install = detect_install(tmp_path)
    assert not install.tools_recorded
    # .agents/skills is shared by many tools, so it names none of them
    assert install.tools == ("claude-code", "kiro")


def test_an_empty_record_means_no_tools(tmp_path: Path) -> None:
    build_v64(tmp_path, tools=())
    install = detect_install(tmp_path)
    assert (install.tools, install.tools_recorded) == ((), True)


def test_v4_ide_names_become_platform_codes(tmp_path: Path) -> None:
    build_v4(tmp_path, ides=("claude-code", "qwen-code", "auggie-cli"))
    install = detect_install(tmp_path)
    assert install.tools == ("claude-code", "qwen", "auggie")
    assert install.tools_recorded


def test_roster_skills_and_agents(tmp_path: Path) -> None:
    build_v64(tmp_path / "new", skills=10)
    new = detect_install(tmp_path / "new")
    assert "bmad-prd" in new.skills
    assert "bmad-wf-001" in new.skills
    assert new.agents == ()
    build_v60(tmp_path / "old")
    old = detect_install(tmp_path / "old")
    assert old.agents == (
        ("core", "bmad-master"),
        ("bmm", "pm"),
        ("bmm", "architect"),
        ("bmm", "dev"),
    )
    assert old.skills == ()


def test_shims_come_from_the_installs_own_tables_and_deprecated_rows(tmp_path: Path) -> None:
    build_v64(tmp_path)
    add_shims(tmp_path, {"bmad-create-prd": "bmad-prd", "bmad-create-story": ""})
    add_shims(tmp_path, {"bmad-old-help": "bmad-help"}, module="core", installed=True)
    install = detect_install(tmp_path)
    assert install.shims == {
        "bmad-old-help": "bmad-help",
        "bmad-create-prd": "bmad-prd",
        "bmad-create-story": "",
    }
    assert "bmad-old-help" in install.skills


def test_agent_roster_rows_with_unsafe_names_are_dropped(tmp_path: Path) -> None:
    build_v60(tmp_path)
    write_file(
        tmp_path,
        "_bmad/_config/agent-manifest.csv",
        'name,module,path\n"pm","bmm","x"\n"../x","bmm","y"\n"dev","BMM","z"\n',
    )
    assert detect_install(tmp_path).agents == (("bmm", "pm"),)


@given(st.text(max_size=600))
def test_shim_table_reader_never_raises_and_returns_ids(text: str) -> None:
    for old, new in shim_table(text):
        assert old
        assert all(c.islower() or c.isdigit() or c == "-" for c in old + new)


def test_shim_table_reads_only_quoted_ids() -> None:
    text = "| a | b |\n|---|---|\n| `bmad-x` | `bmad-y` (one intent) |\n| `Bad Id` | `z` |\n"
    assert shim_table(text) == [("bmad-x", "bmad-y")]


def test_bmadwebs_lock_file_alone_does_not_make_an_install_64(tmp_path: Path) -> None:
    build_v63(tmp_path)
    write_file(tmp_path, "_bmad/custom/bmadweb.lock.json", "{}\n")
    assert detect_install(tmp_path).generation is Generation.V6_3
    write_file(tmp_path, "_bmad/custom/bmad-agent-pm.toml", "[agent]\n")
    assert detect_install(tmp_path).generation is Generation.V6_4


def test_v64_disk_evidence_wins_over_missing_manifest(tmp_path: Path) -> None:
    build_v64(tmp_path)
    (tmp_path / "_bmad/_config/manifest.yaml").unlink()
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_4
    assert install.version is None
    assert install.modules == ("bmm", "core")  # read from module folders
    assert "BMAD_MANIFEST_MISSING" in codes(install)


def test_v6_layout_that_disagrees_with_version_is_reported(tmp_path: Path) -> None:
    build_v60(tmp_path, version="6.0.4")
    manifest = tmp_path / "_bmad/_config/manifest.yaml"
    manifest.write_text(manifest.read_text().replace("6.0.4", "6.12.0", 1))
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_0
    assert install.version == "6.12.0"
    assert "BMAD_LAYOUT_VERSION_MISMATCH" in codes(install)


def test_bare_bmad_folder_uses_version_or_says_uncertain(tmp_path: Path) -> None:
    write_file(tmp_path, "_bmad/_config/manifest.yaml", "installation:\n  version: 6.3.0\n")
    assert detect_install(tmp_path).generation is Generation.V6_3
    write_file(tmp_path, "_bmad/_config/manifest.yaml", "nothing: here\n")
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_0
    assert "BMAD_GENERATION_UNCERTAIN" in codes(install)


def test_v6_beside_v4_is_detected_as_v6(tmp_path: Path) -> None:
    build_v4(tmp_path)
    build_v64(tmp_path)
    assert detect_install(tmp_path).generation is Generation.V6_4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("6.0.0-alpha.22", "6.0.0-alpha.22"),
        ("6.0.0-Beta.5", "6.0.0-beta.5"),
        ("6.12.0", "6.12.0"),
        (" v6.3.0 ", "6.3.0"),
        (6.1, "6.1"),
        ("not-a-version", None),
        (None, None),
        (True, None),
    ],
)
def test_versions_normalise(raw: object, expected: str | None) -> None:
    assert normalize_version(raw) == expected


@pytest.mark.parametrize(
    ("version", "generation"),
    [
        ("4.44.3", Generation.V4),
        ("6.0.0-alpha.7", Generation.V6_ALPHA),
        ("6.0.0-alpha.22", Generation.V6_0),
        ("6.0.0-beta.5", Generation.V6_0),
        ("6.0.4", Generation.V6_0),
        ("6.1.0", Generation.V6_1),
        ("6.2.0", Generation.V6_1),
        ("6.3.0", Generation.V6_3),
        ("6.5.0", Generation.V6_4),
        ("6.12.0", Generation.V6_4),
        (None, None),
    ],
)
def test_generation_for_version(version: str | None, generation: Generation | None) -> None:
    assert generation_for_version(version) is generation


# ---------------------------------------------------------------- damaged installs


def test_truncated_manifest_yaml_is_a_problem(tmp_path: Path) -> None:
    build_v64(tmp_path)
    write_file(tmp_path, "_bmad/_config/manifest.yaml", "installation:\n  version: [6.12\n")
    install = detect_install(tmp_path)
    assert install.generation is Generation.V6_4
    assert install.version is None
    assert "BMAD_MANIFEST_DAMAGED" in codes(install)


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff\xfe garbage",
        b"- just\n- a list\n",
        b"a: &x [1]\nb: *x\n",
        b"installation:\n  version: 6.12.0\n" + b"[" * 5000,
        b"installation: {version: !!python/object:os.system x}\n",
    ],
)
def test_damaged_manifest_yaml_is_a_problem_not_an_exception(
    tmp_path: Path, content: bytes
) -> None:
    build_v64(tmp_path)
    write_file(tmp_path, "_bmad/_config/manifest.yaml", content)
    install = detect_install(tmp_path)
    assert "BMAD_MANIFEST_DAMAGED" in codes(install)
    assert install.version is None


def test_huge_manifest_is_refused(tmp_path: Path) -> None:
    build_v64(tmp_path)
    write_file(tmp_path, "_bmad/_config/files-manifest.csv", b"x" * (5 * 1024 * 1024 + 10))
    install = detect_install(tmp_path)
    assert "BMAD_FILES_MANIFEST_DAMAGED" in codes(install)
    assert install.managed_hashes == {}


def test_csv_with_odd_quoting_and_short_rows_keeps_good_rows(tmp_path: Path) -> None:
    built = build_v64(tmp_path)
    csv_path = tmp_path / "_bmad/_config/files-manifest.csv"
    good = csv_path.read_text()
    csv_path.write_text(
        good
        + '"md","x","bmm","bmm/x.md\n"short","row"\n"md","y","bmm","../../etc/passwd","'
        + "0" * 64
        + '"\n"md","z","bmm","/abs/path.md","nothex"\n"unterminated,"quote\n'
    )
    install = detect_install(tmp_path)
    assert "BMAD_FILES_MANIFEST_DAMAGED" in codes(install)
    assert built.sample_skill_file in install.managed_hashes
    assert not any(".." in p or p.startswith("/") for p in install.managed_hashes)


def test_binary_garbage_csv_is_a_problem(tmp_path: Path) -> None:
    build_v64(tmp_path)
    write_file(tmp_path, "_bmad/_config/files-manifest.csv", bytes(range(256)) * 20)
    install = detect_install(tmp_path)
    assert "BMAD_FILES_MANIFEST_DAMAGED" in codes(install)


def test_missing_files_manifest_is_reported(tmp_path: Path) -> None:
    build_v63(tmp_path)
    (tmp_path / "_bmad/_config/files-manifest.csv").unlink()
    assert "BMAD_FILES_MANIFEST_MISSING" in codes(detect_install(tmp_path))


def test_symlinked_manifest_is_never_read(tmp_path: Path) -> None:
    build_v64(tmp_path)
    manifest = tmp_path / "_bmad/_config/manifest.yaml"
    manifest.unlink()
    manifest.symlink_to("/etc/passwd")
    install = detect_install(tmp_path)
    assert install.version is None
    assert "BMAD_SYMLINK_NOT_FOLLOWED" in codes(install)
    assert install.generation is Generation.V6_4


def test_symlinked_config_folder_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    build_v64(outside)
    repo = tmp_path / "repo"
    build_v64(repo, version="6.5.0")
    (repo / "_bmad/_config/manifest.yaml").unlink()
    cfg = repo / "_bmad/_config"
    for child in cfg.iterdir():
        child.unlink()
    cfg.rmdir()
    cfg.symlink_to(outside / "_bmad/_config", target_is_directory=True)
    install = detect_install(repo)
    assert install.version is None
    assert install.managed_hashes == {}
    assert "BMAD_SYMLINK_NOT_FOLLOWED" in codes(install)


def test_symlinked_bmad_folder_is_not_an_install(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    build_v64(outside)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "_bmad").symlink_to(outside / "_bmad", target_is_directory=True)
    install = detect_install(repo)
    assert install.generation is Generation.NONE
    assert "BMAD_SYMLINK_NOT_FOLLOWED" in codes(install)


def test_fifo_manifest_does_not_block(tmp_path: Path) -> None:
    build_v64(tmp_path)
    manifest = tmp_path / "_bmad/_config/manifest.yaml"
    manifest.unlink()
    os.mkfifo(manifest)
    install = detect_install(tmp_path)
    assert "BMAD_MANIFEST_DAMAGED" in codes(install)


def test_manifest_path_that_is_a_folder_is_damage(tmp_path: Path) -> None:
    build_v64(tmp_path)
    manifest = tmp_path / "_bmad/_config/manifest.yaml"
    manifest.unlink()
    manifest.mkdir()
    install = detect_install(tmp_path)
    assert install.version is None
    assert "BMAD_MANIFEST_DAMAGED" in codes(install)


def test_v4_manifest_with_bad_entries_keeps_good_ones(tmp_path: Path) -> None:
    build_v4(tmp_path)
    write_file(
        tmp_path,
        ".bmad-core/install-manifest.yaml",
        "version: 4.44.3\nfiles:\n  - path: ../x\n    hash: 0123456789abcdef\n"
        "  - 42\n  - path: .bmad-core/a.md\n    hash: 0123456789abcdef\n"
        "  - path: .bmad-core/b.md\n    hash: nothex\n",
    )
    install = detect_install(tmp_path)
    assert install.managed_hashes == {".bmad-core/a.md": "0123456789abcdef"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2048))
def test_random_bytes_as_manifest_yaml_never_raise(tmp_path: Path, data: bytes) -> None:
    write_file(tmp_path, "_bmad/_config/manifest.yaml", data)
    install = detect_install(tmp_path)
    assert install.bmad_dir == "_bmad"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=2048) | st.text(max_size=1024).map(str.encode))
def test_random_bytes_as_files_manifest_never_raise(tmp_path: Path, data: bytes) -> None:
    write_file(tmp_path, "_bmad/_config/files-manifest.csv", data)
    write_file(tmp_path, "_bmad/_config/skill-manifest.csv", data[::-1])
    install = detect_install(tmp_path)
    assert all(not p.startswith("/") for p in install.managed_hashes)


@given(st.text(max_size=400))
def test_csv_reader_never_raises(text: str) -> None:
    table = read_csv_table(text.encode(), ("type", "name", "module", "path", "hash"))
    lines = len(text.splitlines()) or 1
    assert len(table.rows) + table.bad_rows <= lines  # nothing invented
    assert all(isinstance(k, str) and isinstance(v, str) for r in table.rows for k, v in r.items())
