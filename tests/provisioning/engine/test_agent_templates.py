"""Generated agents follow BMAD's shape (docs/bmad.md#generator): descriptions with a
"Use when" clause within BMAD's cap, the customization-aware activation on 6.4+ only, and
every roster field BMAD writes for its own agents."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from provisioning.engine.manifest import Leader, Specialist
from provisioning.engine.templates import skills as tpl
from provisioning.engine.templates.yamltext import yaml_quoted


def _leader(description: str = "Routes engineering requests.", **extra: object) -> Leader:
    specialist = Specialist(id="frontend-specialist", name="Frontend", domain="frontend")
    return Leader(
        id="dev-leader",
        name="Dev Leader",
        domain="engineering",
        description=description,
        specialists=(specialist,),
        **extra,  # type: ignore[arg-type]
    )


def _front_matter(skill_md: str) -> dict[str, str]:
    _, block, _ = skill_md.split("---\n", 2)
    data: dict[str, str] = yaml.safe_load(block)
    return data


def test_description_has_a_use_when_clause() -> None:
    meta = _front_matter(tpl.leader_skill_md(_leader()))
    assert meta["name"] == "dev-leader"
    assert meta["description"].startswith("Routes engineering requests.")
    assert "Use when a request concerns engineering" in meta["description"]


def test_long_manifest_text_is_capped_in_front_matter_and_kept_whole_in_the_body() -> None:
    long_text = "Routes engineering requests. " + "Knows the payment stack well. " * 60
    skill_md = tpl.leader_skill_md(_leader(long_text))
    description = _front_matter(skill_md)["description"]
    assert len(description) == tpl.DESCRIPTION_MAX
    assert description.endswith("or the user asks for Dev Leader.")
    assert "…" in description
    body = skill_md.split("---\n", 2)[2]
    assert " ".join(long_text.split()) in body


def test_short_description_is_not_touched_by_the_cap() -> None:
    text = tpl.capped_description("Short.", "Use when asked.")
    assert text == "Short. Use when asked."


def test_native_skill_resolves_its_customization_and_older_ones_inline_the_persona() -> None:
    native = tpl.leader_skill_md(_leader(), native=True)
    inline = tpl.leader_skill_md(_leader(), native=False)
    assert "resolve_customization.py --skill {skill-root}" in native
    assert "{agent.principles}" in native
    assert "resolve_customization.py" not in inline
    assert "{agent." not in inline  # nothing would fill these before 6.4
    for principle in tpl.persona_of(_leader(), _leader()).principles:
        assert principle in inline


def test_customize_toml_carries_the_whole_agent_block_and_the_menu() -> None:
    leader = _leader()
    data = tomllib.loads(tpl.agent_customize_toml(leader, leader))["agent"]
    assert data["name"] == "Dev Leader"
    assert data["title"] == "engineering leader"
    for key in ("activation_steps_prepend", "activation_steps_append", "persistent_facts"):
        assert data[key] == []
    assert (
        data["role"]
        == "Route engineering requests to the right specialist and keep the whole picture."
    )
    assert data["identity"] == "Routes engineering requests."
    assert data["communication_style"] == tpl.persona_of(leader, leader).communication_style
    assert data["principles"] == list(tpl.persona_of(leader, leader).principles)
    assert data["menu"] == [
        {
            "code": "S1",
            "description": "Hand over to Frontend (frontend)",
            "skill": "frontend-specialist",
        }
    ]


def test_specialist_menu_hands_back_to_its_leader_and_joins_its_team() -> None:
    leader = _leader()
    persona = tpl.persona_of(leader.specialists[0], leader)
    assert [(m.code, m.skill) for m in persona.menu] == [("LD", "dev-leader")]
    assert tpl.roster_entry(persona) == {
        "module": "bmadweb",
        "team": "dev-leader",
        "name": "Frontend",
        "title": "frontend specialist",
        "icon": tpl.ICONS["generic"],
        "description": persona.description,
    }


def test_quotes_and_markup_in_manifest_text_cannot_break_front_matter() -> None:
    skill_md = tpl.leader_skill_md(_leader('Says "hi": then\\ leaves --- ok'))
    assert _front_matter(skill_md)["description"].startswith('Says "hi": then\\ leaves --- ok')


@pytest.mark.parametrize(
    "char", ["\x7f", "\x80", "\x85", "\x9f", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff"]
)
def test_front_matter_reads_back_exactly_whatever_the_characters(char: str) -> None:
    value = f'{char}Dev{char} "Leader" \\ {char}--- ok{char}'
    assert yaml.safe_load(f"description: {yaml_quoted(value)}\n") == {"description": value}
    # Unvalidated on purpose: the template must hold even for what the manifest refuses.
    update = {"name": f"Dev{char} Leader", "description": f"Routes{char} work."}
    leader = _leader().model_copy(update=update)
    meta = _front_matter(tpl.leader_skill_md(leader))
    assert meta["description"] == tpl.persona_of(leader, leader).description
