"""The generator: deterministic files per BMAD generation, in-place TOML edits."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioning.engine import tomledit
from provisioning.engine.detect import detect_install
from provisioning.engine.generator import GENERATOR_VERSION, generate
from provisioning.engine.manifest import Manifest, load_manifest
from provisioning.engine.templates.skills import flavour_of, persona_of
from provisioning.engine.tomledit import AgentsEdit, BlockEdit
from provisioning.engine.types import BmadInstall, Generation
from tests.provisioning.engine.builders import build_v64

V64 = BmadInstall(Generation.V6_4, "6.12.0", ("core", "bmm"), ("claude-code", "cursor"), "_bmad")


def _manifest(**extra: Any) -> Manifest:
    data: dict[str, Any] = {
        "apiVersion": "bmadweb/v1",
        "project": {"name": "demo", "bmad_version": ">=6.4,<7", "tools": ["claude-code", "cursor"]},
        "leaders": [
            {
                "id": "dev-leader",
                "name": "Dev Leader",
                "domain": "engineering",
                "description": "Routes engineering work.",
                "specialists": [
                    {"id": "fe", "name": "Frontend", "domain": "frontend", "skills": ["react"]},
                    {
                        "id": "hipaa-guard",
                        "name": "Privacy",
                        "domain": "HIPAA compliance",
                        "compliance_notes": "No PHI in logs.",
                    },
                    {"id": "qa-bot", "name": "QA", "domain": "quality assurance"},
                ],
            }
        ],
        "customizations": {"bmad-agent-pm": {"principles": ["Short PRDs."]}},
        "integrations": [
            {"workflow": "bmad-create-prd", "activation_steps_append": ["Ask qa-bot."]}
        ],
    }
    data.update(extra)
    return Manifest.model_validate(data)


def _contents(manifest: Manifest, install: BmadInstall = V64) -> dict[str, str]:
    return {f.path: f.content for f in generate(manifest, install).files}


def test_generation_is_deterministic_and_sorted() -> None:
    first = generate(_manifest(), V64)
    second = generate(_manifest(), V64)
    assert [(f.path, f.content) for f in first.files] == [(f.path, f.content) for f in second.files]
    paths = [f.path for f in first.files]
    assert paths == sorted(paths)
    assert GENERATOR_VERSION


def test_v64_writes_skill_and_customize_toml_in_each_tool_folder() -> None:
    files = _contents(_manifest())
    for folder in (".claude/skills", ".agents/skills"):
        for agent in ("dev-leader", "fe", "hipaa-guard", "qa-bot"):
            assert f"{folder}/{agent}/SKILL.md" in files
            assert f"{folder}/{agent}/customize.toml" in files
    assert "_bmad/custom/config.toml" in files
    assert "_bmad/custom/bmad-agent-pm.toml" in files
    assert "_bmad/custom/bmad-create-prd.toml" in files


def test_tools_sharing_agents_skills_are_deduplicated() -> None:
    manifest = _manifest(
        project={"name": "d", "bmad_version": ">=6.4", "tools": ["cursor", "codex", "roo"]}
    )
    paths = [f.path for f in generate(manifest, V64).files]
    assert len(paths) == len(set(paths))
    assert not any(p.startswith(".claude/") for p in paths)


def test_skill_md_front_matter_has_name_and_description() -> None:
    text = _contents(_manifest())[".claude/skills/fe/SKILL.md"]
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["name"] == "fe"
    assert "frontend" in meta["description"]
    assert "react" in body


def test_leader_skill_lists_and_routes_to_its_specialists() -> None:
    text = _contents(_manifest())[".claude/skills/dev-leader/SKILL.md"]
    for specialist in ("`fe`", "`hipaa-guard`", "`qa-bot`"):
        assert specialist in text
    assert "## Routing" in text


def test_domain_flavours_change_the_text() -> None:
    files = _contents(_manifest())
    assert "synthetic data" in files[".claude/skills/hipaa-guard/SKILL.md"]
    assert "No PHI in logs." in files[".claude/skills/hipaa-guard/SKILL.md"]
    assert "acceptance criteria" in files[".claude/skills/qa-bot/SKILL.md"]
    assert "synthetic data" not in files[".claude/skills/fe/SKILL.md"]
    assert flavour_of("Clinical trials") == "compliance"
    assert flavour_of("Test automation") == "qa"
    assert flavour_of("payments") == "generic"


def test_generated_toml_files_parse_and_carry_the_agent_block() -> None:
    files = _contents(_manifest())
    leader = tomllib.loads(files[".claude/skills/dev-leader/customize.toml"])
    assert leader["agent"]["name"] == "Dev Leader"
    assert [m["skill"] for m in leader["agent"]["menu"]] == ["fe", "hipaa-guard", "qa-bot"]
    config = tomllib.loads(files["_bmad/custom/config.toml"])
    assert set(config["agents"]) == {"dev-leader", "fe", "hipaa-guard", "qa-bot"}
    pm = tomllib.loads(files["_bmad/custom/bmad-agent-pm.toml"])
    assert pm["agent"]["principles"] == ["Short PRDs."]
    prd = tomllib.loads(files["_bmad/custom/bmad-create-prd.toml"])
    assert prd["workflow"]["activation_steps_append"] == ["Ask qa-bot."]


def test_hostile_text_cannot_break_toml_or_front_matter() -> None:
    nasty = 'He said "hi" \\ [agent] # not a comment'
    manifest = _manifest(
        leaders=[{"id": "x", "name": "X", "domain": "d", "description": nasty + "\n---\nname: y"}]
    )
    files = _contents(manifest)
    parsed = tomllib.loads(files[".claude/skills/x/customize.toml"])
    assert nasty in parsed["agent"]["identity"]
    meta = yaml.safe_load(files[".claude/skills/x/SKILL.md"].split("---\n")[1])
    assert meta["name"] == "x"


# The manifest refuses DEL and most C0/C1 controls, but accepts these.
@pytest.mark.parametrize("char", ["\x80", "\x85", "\x9f", "\u2028", "\u2029", "\ufeff"])
def test_characters_json_leaves_unescaped_cannot_break_skill_front_matter(char: str) -> None:
    hostile = {"name": f"Dev{char} Leader", "domain": f"eng{char}ineering"}
    specialist = {"id": "fe", "name": f"Front{char}end", "domain": f"front{char}end"}
    leader = {"id": "dev-leader", **hostile, "description": f"Routes{char} work.{char}"}
    text = json.dumps(
        {
            "apiVersion": "bmadweb/v1",
            "project": {"name": "demo", "bmad_version": ">=6.4,<7", "tools": ["claude-code"]},
            "leaders": [{**leader, "specialists": [specialist]}],
        }
    )
    loaded = load_manifest(text)
    assert loaded.manifest is not None, loaded.errors
    files = _contents(loaded.manifest)
    (parsed_leader,) = loaded.manifest.leaders
    for agent in (parsed_leader, *parsed_leader.specialists):
        skill_md = files[f".claude/skills/{agent.id}/SKILL.md"]
        meta = yaml.safe_load(skill_md.split("---\n")[1])
        assert meta == {
            "name": agent.id,
            "description": persona_of(agent, parsed_leader).description,
        }


def test_tomlkit_edit_keeps_a_teams_comment_and_keys() -> None:
    generated = generate(_manifest(), V64).by_path()["_bmad/custom/config.toml"]
    team = "# Our team settings -- keep me\n[core]\nlanguage = 'fr'  # French please\n"
    edited = generated.render(team)
    assert "# Our team settings -- keep me" in edited
    assert "language = 'fr'  # French please" in edited
    assert tomllib.loads(edited)["agents"]["fe"]["name"] == "Frontend"
    assert generated.render(edited, edited) == edited  # idempotent


TEAM_FILES = [
    "# Team overrides for _bmad/config.toml.\n",  # what BMAD's installer leaves
    "",
    "\n",
    "x = 1",
    "# only a comment",
    "[core]\nlanguage = 'fr'   # keep this spacing\n\n\n",
    "# x\n  \n",
    "[core]\nk = 1 # no line end",
    "[[menu]]\na = 1\n",
    "a = [\n 1,\n]\n",
]


@pytest.mark.parametrize("team", TEAM_FILES)
def test_new_tables_are_appended_with_the_bytes_tomlkit_would_write(team: str) -> None:
    by_path = generate(_manifest(), V64).by_path()
    agents = by_path["_bmad/custom/config.toml"]
    block = by_path["_bmad/custom/bmad-agent-pm.toml"]
    assert isinstance(agents.edit, AgentsEdit)
    assert isinstance(block.edit, BlockEdit)
    slow_agents = tomledit._tomlkit_agents(team, agents.edit.header, agents.edit.agents, {})
    assert agents.render(team) == slow_agents
    slow_block = tomledit._tomlkit_block(
        team, block.edit.header, block.edit.block, block.edit.values, {}, block.edit.owned
    )
    assert block.render(team) == slow_block
    for generated, table in ((agents, "agents"), (block, block.edit.block)):
        edited = generated.render(team)
        assert edited.startswith(team.rstrip("\n"))  # the team's text stays
        fresh = tomllib.loads(generated.render(None))
        assert tomllib.loads(edited) == {**tomllib.loads(team), table: fresh[table]}
        assert generated.render(edited, edited) == edited


@pytest.mark.parametrize(
    "team",
    [
        "agents.fe.name = 'Ours'\n",  # the table exists already: edited in place
        "[core]\r\nlanguage = 'fr'\r\n",  # CRLF: tomlkit keeps the line endings
        "[agents]\nx = 1\n",
    ],
)
def test_files_that_cannot_take_appended_tables_are_edited_through_tomlkit(team: str) -> None:
    generated = generate(_manifest(), V64).by_path()["_bmad/custom/config.toml"]
    edited = generated.render(team)
    agents = tomllib.loads(edited)["agents"]
    assert agents["fe"]["name"] == "Frontend"
    assert "qa-bot" in agents
    if "\r\n" in team:
        assert "language = 'fr'\r\n" in edited


def test_in_place_edit_removes_only_what_bmadweb_wrote_before() -> None:
    before = generate(_manifest(), V64).by_path()["_bmad/custom/config.toml"]
    written = before.render(None)
    team_added = written + "\n[agents.team-bot]\nname = 'Ours'\n"
    smaller = _manifest(
        leaders=[{"id": "dev-leader", "name": "Dev Leader", "domain": "engineering"}]
    )
    after = generate(smaller, V64).by_path()["_bmad/custom/config.toml"]
    agents = tomllib.loads(after.render(team_added, written))["agents"]
    assert set(agents) == {"dev-leader", "team-bot"}


ROSTER = (("core", "bmad-master"), ("bmm", "pm"), ("bmm", "dev"), ("bmm", "ux-designer"))


def test_customize_yaml_for_6_0_to_6_2() -> None:
    install = BmadInstall(Generation.V6_1, "6.2.0", ("core", "bmm"), agents=ROSTER)
    result = generate(_manifest(), install)
    files = {f.path: f.content for f in result.files}
    # BMAD 6.0 - 6.2 read <module>-<agent>.customize.yaml, whatever the manifest's key
    legacy = yaml.safe_load(files["_bmad/_config/agents/bmm-pm.customize.yaml"])
    assert legacy["persona"]["principles"] == ["Short PRDs."]
    assert ".claude/skills/fe/SKILL.md" in files
    assert ".cursor/skills/fe/SKILL.md" in files
    assert not any(p.endswith("customize.toml") for p in files)
    assert any("integrations are not supported" in n for n in result.notes)


@pytest.mark.parametrize(
    ("key", "file"),
    [
        ("bmad-agent-pm", "bmm-pm"),  # the 6.2+ skill id
        ("bmad-agent-bmm-pm", "bmm-pm"),  # the 6.0 command and 6.1 skill id
        ("bmm-pm", "bmm-pm"),  # the file name itself
        ("pm", "bmm-pm"),  # the agent's name
        ("bmad-master", "core-bmad-master"),
        ("bmad-agent-bmad-master", "core-bmad-master"),
        ("bmad-agent-ux-designer", "bmm-ux-designer"),
    ],
)
def test_legacy_customization_keys_map_to_the_agents_file(key: str, file: str) -> None:
    manifest = _manifest(customizations={key: {"principles": ["x"]}})
    result = generate(manifest, BmadInstall(Generation.V6_0, "6.0.4", agents=ROSTER))
    assert [f.path for f in result.files] == [f"_bmad/_config/agents/{file}.customize.yaml"]


def test_legacy_customization_of_an_unknown_agent_is_not_written_and_names_the_agents() -> None:
    manifest = _manifest(customizations={"bmad-agent-sm": {"principles": ["x"]}})
    result = generate(manifest, BmadInstall(Generation.V6_0, "6.0.4", agents=ROSTER))
    assert result.files == ()
    (note,) = [n for n in result.notes if "bmad-agent-sm" in n]
    assert "bmm-pm" in note
    assert "core-bmad-master" in note


def test_legacy_customization_without_a_roster_needs_the_module_in_the_key() -> None:
    manifest = _manifest(
        customizations={"bmm-pm": {"principles": ["x"]}, "bmad-agent-dev": {"role": "r"}}
    )
    result = generate(manifest, BmadInstall(Generation.V6_0, "6.0.4", ("core", "bmm")))
    assert [f.path for f in result.files] == ["_bmad/_config/agents/bmm-pm.customize.yaml"]
    assert any("'bmad-agent-dev' is not written" in n for n in result.notes)


@pytest.mark.parametrize("generation", [Generation.V4, Generation.V6_ALPHA, Generation.NONE])
def test_unsupported_generations_generate_nothing_and_recommend_upgrading(
    generation: Generation,
) -> None:
    result = generate(_manifest(), BmadInstall(generation))
    assert result.files == ()
    assert any("not supported" in n and "6.4+" in n for n in result.notes)


def test_6_3_gets_skills_and_says_what_needs_6_4() -> None:
    install = BmadInstall(Generation.V6_3, "6.3.0", ("core", "bmm"), ("claude-code", "cursor"))
    result = generate(_manifest(), install)
    paths = [f.path for f in result.files]
    assert ".claude/skills/dev-leader/SKILL.md" in paths
    assert ".cursor/skills/fe/SKILL.md" in paths
    assert {f.kind for f in result.files} == {"skill"}  # no customize.toml, no overrides
    notes = " ".join(result.notes)
    assert "Custom agents are not registered" in notes
    assert "Customizations are not supported for BMAD 6.3" in notes
    assert "Workflow integrations are not supported for BMAD 6.3" in notes
    assert notes.count("6.4+") >= 3


def test_6_0_gets_customize_yaml_but_no_skills() -> None:
    result = generate(_manifest(), BmadInstall(Generation.V6_0, "6.0.4", agents=ROSTER))
    assert [f.path for f in result.files] == ["_bmad/_config/agents/bmm-pm.customize.yaml"]
    assert any("Custom skills are not generated" in n and "6.1+" in n for n in result.notes)


@pytest.mark.parametrize(
    ("tool", "folder"),
    [
        ("cline", ".cline/skills"),
        ("kiro", ".kiro/skills"),
        ("antigravity", ".agent/skills"),
        ("droid", ".factory/skills"),
        ("codex", ".agents/skills"),
        ("github-copilot", ".agents/skills"),
        ("gemini", ".agents/skills"),
    ],
)
def test_v64_tool_folders_follow_bmads_platform_codes(tool: str, folder: str) -> None:
    manifest = _manifest(project={"name": "d", "bmad_version": ">=6.4", "tools": [tool]})
    install = BmadInstall(Generation.V6_4, "6.12.0", ("core", "bmm"), (tool,), "_bmad")
    folders = {
        f.path.split("/fe/")[0] for f in generate(manifest, install).files if "/fe/" in f.path
    }
    assert folders == {folder}


def test_skills_go_only_to_tools_bmads_record_lists() -> None:
    manifest = _manifest(
        project={"name": "d", "bmad_version": ">=6.4", "tools": ["claude-code", "cline"]}
    )
    recorded = BmadInstall(
        Generation.V6_4,
        "6.12.0",
        ("core", "bmm"),
        ("claude-code", "cursor"),
        "_bmad",
        tools_recorded=True,
    )
    result = generate(manifest, recorded)
    assert not any(f.path.startswith(".cline/") for f in result.files)
    assert any(f.path.startswith(".claude/skills/") for f in result.files)
    assert any("cline" in n and "BMAD_TOOL_NOT_INSTALLED" in n for n in result.notes)
    listed = BmadInstall(
        Generation.V6_4,
        "6.12.0",
        ("core", "bmm"),
        ("claude-code", "cline"),
        "_bmad",
        tools_recorded=True,
    )
    assert any(f.path.startswith(".cline/skills/") for f in generate(manifest, listed).files)


def test_a_tool_the_generation_has_no_folder_for_gets_a_note() -> None:
    manifest = _manifest(project={"name": "d", "bmad_version": ">=6", "tools": ["bob"]})
    result = generate(manifest, BmadInstall(Generation.V6_3, "6.3.0", tools=("bob",)))
    assert not any(f.kind == "skill" for f in result.files)
    assert any("bob" in n and "no skill folder" in n for n in result.notes)


def test_two_legacy_keys_for_one_agent_are_named_in_a_note() -> None:
    manifest = _manifest(customizations={"bmm-pm": {"role": "a"}, "bmad-agent-pm": {"role": "b"}})
    result = generate(manifest, BmadInstall(Generation.V6_0, "6.0.4", agents=ROSTER))
    (file,) = result.files
    assert "role: a" in file.content  # the key written last (sorted) wins, as the note says
    assert any("'bmad-agent-pm' and 'bmm-pm' both name agent bmm-pm" in n for n in result.notes)


# --- The table of an override comes from the target skill itself ---------------------


def _override_table(root: Path, skill: str, keys: str) -> tuple[dict[str, Any], list[str]]:
    """The override bmadweb generates for `skill` on a 6.4 install, and the notes."""
    build_v64(root)
    text = (
        "apiVersion: bmadweb/v1\nproject:\n  name: x\n  bmad_version: '>=6.4'\n"
        f"customizations:\n  {skill}:\n{keys}"
    )
    manifest = load_manifest(text).manifest
    assert manifest is not None
    generated = generate(manifest, detect_install(root))
    override = generated.by_path()[f"_bmad/custom/{skill}.toml"].content
    return tomllib.loads(override), list(generated.notes)


FACTS = "    persistent_facts: ['file:docs/x.md']\n"


def test_override_of_an_agent_uses_the_agent_table_even_with_facts_only(tmp_path: Path) -> None:
    assert detect_install(build_v64(tmp_path / "probe").root).skill_blocks["bmad-agent-pm"] == (
        "agent"
    )
    data, _ = _override_table(tmp_path / "r", "bmad-agent-pm", FACTS)
    assert data == {"agent": {"persistent_facts": ["file:docs/x.md"]}}


def test_persona_keys_for_a_workflow_are_dropped_with_a_note(tmp_path: Path) -> None:
    data, notes = _override_table(tmp_path, "bmad-prd", FACTS + "    principles: ['Short.']\n")
    assert data == {"workflow": {"persistent_facts": ["file:docs/x.md"]}}
    assert any(n.startswith("bmad-prd is a workflow in this install") for n in notes)


def test_for_a_skill_the_install_does_not_show_the_keys_decide(tmp_path: Path) -> None:
    data, _ = _override_table(tmp_path, "team-review", FACTS)
    assert data == {"workflow": {"persistent_facts": ["file:docs/x.md"]}}
    data, _ = _override_table(tmp_path / "b", "team-review", "    principles: ['Short.']\n")
    assert data == {"agent": {"principles": ["Short."]}}
