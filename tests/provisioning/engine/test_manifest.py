"""Manifest schema v1: valid manifests load, bad ones return every error with a position."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.engine.bmad_facts import REMOVED_SKILL_IDS
from provisioning.engine.manifest import (
    Manifest,
    load_manifest,
    manifest_json_schema,
    sha256,
)
from provisioning.engine.types import KNOWN_TOOLS

GOOD = textwrap.dedent(
    """\
    apiVersion: bmadweb/v1
    project:
      name: healthai
      bmad_version: ">=6.4,<7"
      modules: [core, bmm]
      tools: [claude-code, cursor]
    leaders:
      - id: dev-leader
        name: Dev Leader
        domain: engineering
        phase: implementation
        description: Routes engineering requests to the right specialist.
        specialists:
          - id: frontend-specialist
            name: Frontend Specialist
            domain: frontend
            skills: [react, accessibility]
            compliance_notes: WCAG 2.2 AA for every screen.
    customizations:
      bmad-agent-pm:
        persistent_facts: ["file:{project-root}/docs/standards/*.md"]
        principles: ["Prefer short, bulleted PRDs."]
    integrations:
      - workflow: bmad-create-prd
        phase: planning
        activation_steps_append: ["Consult the qa-leader skill for acceptance criteria."]
    """
)


def _errors(text: str) -> dict[str, tuple[int, int, str]]:
    result = load_manifest(text)
    assert result.manifest is None
    return {e.path: (e.line, e.column, e.message) for e in result.errors}


def test_the_product_example_loads() -> None:
    result = load_manifest(GOOD)
    assert result.ok
    assert result.manifest is not None
    assert result.manifest.project.tools == ("claude-code", "cursor")
    assert [a.id for a in result.manifest.all_agents()] == ["dev-leader", "frontend-specialist"]
    assert result.manifest.customizations["bmad-agent-pm"].is_agent


def test_manifest_models_are_frozen() -> None:
    manifest = load_manifest(GOOD).manifest
    assert manifest is not None
    with pytest.raises(ValueError, match="frozen"):
        manifest.project.name = "x"  # type: ignore[misc]


def test_id_no_is_an_error_with_a_quoting_hint() -> None:
    errors = _errors(GOOD.replace("id: dev-leader", "id: no"))
    line, column, message = errors["leaders[0].id"]
    assert (line, column) == (8, 9)
    assert 'put it in quotes: "no"' in message


def test_unquoted_bmad_version_is_an_error_not_a_float() -> None:
    errors = _errors(GOOD.replace('">=6.4,<7"', "1.10"))
    line, column, message = errors["project.bmad_version"]
    assert (line, column) == (4, 17)
    assert "'1.10'" in message


def test_quoted_ids_that_look_like_other_types_are_fine_when_valid() -> None:
    result = load_manifest(GOOD.replace("id: dev-leader", 'id: "no"'))
    assert result.ok


def test_bad_version_range_is_explained() -> None:
    errors = _errors(GOOD.replace('">=6.4,<7"', '"six"'))
    assert "not a version range" in errors["project.bmad_version"][2]


def test_every_error_is_reported_at_once_with_paths() -> None:
    text = GOOD.replace("id: frontend-specialist", "id: Frontend").replace(
        "tools: [claude-code, cursor]", "tools: [claude-code, vim]"
    )
    text = text.replace("phase: implementation", "phase: coding").replace(
        "    skills: [react", "    skill: [react"
    )
    errors = _errors(text)
    assert set(errors) >= {
        "project.tools[1]",
        "leaders[0].phase",
        "leaders[0].specialists[0].id",
        "leaders[0].specialists[0].skill",
    }
    assert "did you mean 'skills'" in errors["leaders[0].specialists[0].skill"][2]
    positions = {path: (line, column) for path, (line, column, _) in errors.items()}
    assert positions == {
        "project.tools[1]": (6, 24),  # the value "vim"
        "leaders[0].phase": (11, 12),  # the value "coding"
        "leaders[0].specialists[0].id": (14, 13),  # the value "Frontend"
        "leaders[0].specialists[0].skill": (17, 9),  # the unknown key itself
    }


def test_duplicate_ids_across_leaders_and_specialists_are_refused() -> None:
    text = GOOD.replace("id: frontend-specialist", "id: dev-leader")
    errors = _errors(text)
    assert "already used at leaders[0].id" in errors["leaders[0].specialists[0].id"][2]


def test_duplicate_key_id_twice_is_a_clear_error() -> None:
    text = GOOD.replace("      - id: frontend-specialist\n", "      - id: a\n        id: a\n")
    result = load_manifest(text)
    assert not result.ok
    assert "duplicate key 'id'" in result.errors[0].message
    assert (result.errors[0].line, result.errors[0].column) == (15, 9)


def test_missing_required_field_points_at_its_parent() -> None:
    errors = _errors(GOOD.replace("    name: Dev Leader\n", ""))
    assert errors["leaders[0].name"][2] == "the field 'name' is required"
    assert errors["leaders[0].name"][:2] == (8, 5)  # the mapping that lacks it


def test_unknown_tool_is_refused_with_the_known_list() -> None:
    errors = _errors(GOOD.replace("[claude-code, cursor]", "[claude-code, cursor, cursor]"))
    assert "more than once" in errors["project.tools[2]"][2]


def test_bad_customization_key_is_reported_on_the_key() -> None:
    errors = _errors(GOOD.replace("  bmad-agent-pm:", "  ../../etc:"))
    assert errors["customizations.../../etc"][0] == 20


def test_wrong_api_version_is_refused() -> None:
    errors = _errors(GOOD.replace("bmadweb/v1", "bmadweb/v2"))
    assert "bmadweb/v1" in errors["apiVersion"][2]


def test_integration_on_an_agent_customization_is_refused() -> None:
    errors = _errors(GOOD.replace("workflow: bmad-create-prd", "workflow: bmad-agent-pm"))
    assert "cannot also take workflow hooks" in errors["integrations[0].workflow"][2]


def test_control_characters_in_text_are_refused() -> None:
    errors = _errors(GOOD.replace("name: Dev Leader", 'name: "Dev\\u202eLeader"'))
    assert "bidirectional" in errors["leaders[0].name"][2]


@pytest.mark.parametrize(
    "bad_id",
    [
        "../../etc",
        "/etc/passwd",
        "C:\\\\x",
        "\uff0e\uff0e\uff0fx",
        "a\\x00b",
        "\\u202e",
        ".git/hooks/x",
        ".GIT",
        "con",
        "x" * 300,
    ],
)
def test_hostile_ids_are_rejected_by_the_schema(bad_id: str) -> None:
    errors = _errors(GOOD.replace("id: dev-leader", f'id: "{bad_id}"'))
    assert "leaders[0].id" in errors


@pytest.mark.parametrize(
    "text",
    [
        "",
        "just text",
        "[1, 2]",
        "apiVersion: bmadweb/v1\n",
        "!!python/object/apply:os.system ['true']",
    ],
)
def test_nonsense_documents_give_errors_not_exceptions(text: str) -> None:
    result = load_manifest(text)
    assert not result.ok
    assert result.errors


def test_python_tag_creates_no_file(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    result = load_manifest(f'apiVersion: !!python/object/apply:os.system ["touch {canary}"]\n')
    assert not result.ok
    assert not canary.exists()


def test_billion_laughs_manifest_is_refused_fast() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 8)}]\n" for i in range(9)
    )
    started = time.thread_time()  # CPU time of this thread: other load does not count
    result = load_manifest(bomb)
    assert time.thread_time() - started < 0.1
    assert "anchors" in result.errors[0].message


def test_huge_and_deep_manifests_are_refused() -> None:
    assert "larger" in load_manifest("a: " + "x" * 10_000_000).errors[0].message
    assert "deeper" in load_manifest("[" * 1100 + "]" * 1100).errors[0].message


def test_direct_validation_still_enforces_unique_ids() -> None:
    data = load_manifest(GOOD).manifest
    assert data is not None
    raw = data.model_dump(by_alias=True)
    raw["leaders"][0]["specialists"][0]["id"] = "dev-leader"
    with pytest.raises(ValueError, match="already used"):
        Manifest.model_validate(raw)


def test_json_schema_is_published_with_id_and_title() -> None:
    schema = manifest_json_schema()
    assert schema["$id"].endswith("manifest-v1.json")
    assert schema["title"]
    assert "apiVersion" in schema["properties"]
    text = json.dumps(schema)
    assert "^[a-z0-9][a-z0-9-]{0,62}$" in text
    assert "claude-code" in text


def test_a_leader_with_a_bmad_skill_id_is_refused_with_its_position() -> None:
    errors = _errors(GOOD.replace("id: dev-leader", "id: bmad-agent-pm"))
    assert errors["leaders[0].id"] == (
        8,
        9,
        "`bmad-agent-pm` is a BMAD skill id: BMAD's installer owns the bmad- names and would "
        "overwrite or delete this skill; choose an id without the bmad- prefix",
    )


@pytest.mark.parametrize("removed", ["bmad-agent-sm", "bmad-create-ux-design", "bmad-shard-doc"])
def test_a_specialist_with_an_id_on_bmads_removal_list_is_refused(removed: str) -> None:
    assert removed in REMOVED_SKILL_IDS
    errors = _errors(GOOD.replace("id: frontend-specialist", f"id: {removed}"))
    line, column, message = errors["leaders[0].specialists[0].id"]
    assert (line, column) == (14, 13)
    assert "removal list" in message
    assert "deletes a skill folder" in message


@pytest.mark.parametrize("own", ["bmad", "bmad-help", "bmad-os-thing", "bmadder"])
def test_every_id_in_bmads_namespace_is_refused_for_own_skills(own: str) -> None:
    errors = _errors(GOOD.replace("id: dev-leader", f"id: {own}"))
    assert "choose an id" in errors["leaders[0].id"][2]


def test_bmad_ids_stay_valid_as_customization_and_integration_targets() -> None:
    result = load_manifest(GOOD.replace("workflow: bmad-create-prd", "workflow: bmad-prd"))
    assert result.ok
    assert result.manifest is not None
    assert result.manifest.integrations[0].workflow == "bmad-prd"
    assert "bmad-agent-pm" in result.manifest.customizations


def test_every_bmad_platform_code_is_a_tool() -> None:
    tools = "[claude-code, cursor, cline, kiro, codex, github-copilot, gemini, droid, rovo-dev]"
    result = load_manifest(GOOD.replace("[claude-code, cursor]", tools))
    assert result.ok
    assert len(KNOWN_TOOLS) >= 40


def test_an_unknown_tool_gets_the_closest_platform_code() -> None:
    errors = _errors(GOOD.replace("[claude-code, cursor]", "[claude, cursor]"))
    message = errors["project.tools[0]"][2]
    assert message.startswith("unknown tool 'claude' (did you mean 'claude-code'?)")
    assert "kiro" in message


def test_json_schema_enumerates_the_tools_and_reserves_bmad_ids() -> None:
    defs = manifest_json_schema()["$defs"]
    assert defs["Project"]["properties"]["tools"]["items"]["enum"] == list(KNOWN_TOOLS)
    for model in ("Leader", "Specialist"):
        assert defs[model]["properties"]["id"]["not"] == {"pattern": "^bmad"}


def test_sha256_of_text_is_stable_hex() -> None:
    assert sha256("x") == sha256("x")
    assert len(sha256(GOOD)) == 64


@given(st.text(max_size=70))
def test_any_accepted_id_is_a_lowercase_slug(value: str) -> None:
    text = GOOD.replace("id: dev-leader", f"id: {json.dumps(value)}")
    result = load_manifest(text)
    if result.ok:
        assert result.manifest is not None
        leader_id = result.manifest.leaders[0].id
        assert leader_id == value
        assert leader_id.isascii()
        assert leader_id == leader_id.lower()
        assert "/" not in leader_id
        assert "." not in leader_id
