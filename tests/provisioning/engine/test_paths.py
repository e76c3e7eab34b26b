"""Ids and repository paths cannot leave the repository (docs/security.md#s6, #s9)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.engine.paths import (
    UnsafePathError,
    custom_toml,
    is_safe_relpath,
    is_valid_id,
    legacy_customize_yaml,
    safe_join,
    skill_file,
)

HOSTILE = [
    "../../etc",
    "/etc/passwd",
    "C:\\x",
    "C:/x",
    "\uff0e\uff0e\uff0fx",
    "a\x00b",
    "\u202e",
    "a\u202eb",
    ".git/hooks/x",
    ".GIT",
    ".Git/config",
    "con",
    "CON.txt",
    "lpt1",
    "x" * 300,
    "",
    ".",
    "a/../../b",
    "a//b",
    "a/",
    "a\\b",
    "a\nb",
    "x.",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_are_not_valid_ids(value: str) -> None:
    assert not is_valid_id(value)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_strings_are_refused_by_safe_join(tmp_path: Path, value: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, value)


@pytest.mark.parametrize("value", ["a", "0", "dev-leader", "a" * 63, "9-x"])
def test_good_ids_are_valid(value: str) -> None:
    assert is_valid_id(value)


@pytest.mark.parametrize("value", ["A", "-a", "a_b", "a" * 64, "a\n", "dev leader", "é"])
def test_near_miss_ids_are_invalid(value: str) -> None:
    assert not is_valid_id(value)


def test_safe_join_refuses_a_symlinked_parent_leading_outside(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / ".claude").mkdir()
    os.symlink(outside, root / ".claude" / "skills")
    with pytest.raises(UnsafePathError, match="outside"):
        safe_join(root, ".claude/skills/x/SKILL.md")


def test_safe_join_returns_a_path_under_the_root(tmp_path: Path) -> None:
    target = safe_join(tmp_path, ".claude/skills/dev-leader/SKILL.md")
    assert target.is_relative_to(tmp_path.resolve())
    assert target.name == "SKILL.md"


def test_builders_refuse_bad_ids() -> None:
    with pytest.raises(UnsafePathError):
        skill_file(".claude/skills", "../x", "SKILL.md")
    with pytest.raises(UnsafePathError):
        custom_toml("con/x")
    assert custom_toml("bmad-agent-pm") == "_bmad/custom/bmad-agent-pm.toml"
    with pytest.raises(UnsafePathError):
        legacy_customize_yaml("bmm", "../pm")
    assert legacy_customize_yaml("bmm", "pm") == "_bmad/_config/agents/bmm-pm.customize.yaml"


@given(st.text(max_size=80))
def test_any_string_is_an_invalid_id_or_a_safe_segment(value: str) -> None:
    if is_valid_id(value):
        assert is_safe_relpath(value)
        assert "/" not in value
        assert ".." not in value


@given(st.text(max_size=80))
def test_any_string_is_rejected_or_lands_under_the_root(value: str) -> None:
    root = Path("/tmp/bmadweb-prop-root")
    try:
        target = safe_join(root, value)
    except UnsafePathError:
        return
    resolved = root.resolve()
    assert target.is_relative_to(resolved)
    assert target != resolved
    assert ".git" not in [part.casefold() for part in target.relative_to(resolved).parts]


@given(
    st.lists(
        st.sampled_from(["a", "..", ".", ".git", "b", "", "C:", "\\", "con", "x.", "\x00"]),
        max_size=6,
    )
)
def test_composed_paths_are_rejected_or_land_under_the_root(parts: list[str]) -> None:
    root = Path("/tmp/bmadweb-prop-root")
    try:
        target = safe_join(root, "/".join(parts))
    except UnsafePathError:
        return
    assert target.is_relative_to(root.resolve())
