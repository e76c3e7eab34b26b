"""JSON is merged as JSON: key by key, ours' key order and indentation kept, real
conflicts reported with their key path (never their values) and never written."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.engine.jsonmerge import (
    JsonTextError,
    dumps_like,
    indent_of,
    load_json,
    merge_json,
)
from provisioning.engine.merge import merge3
from provisioning.engine.tomlmerge import same
from tests.provisioning.engine.merge_strategies import disjoint, scalars

BASE = {
    "mcpServers": {
        "github": {
            "type": "stdio",
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-github"],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"},
        },
        "sentry": {"type": "http", "url": "https://mcp.sentry.dev/mcp"},
    }
}


def text(value: Any, indent: int | str = 2) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False) + "\n"


def edited(**changes: Any) -> dict[str, Any]:
    """BASE with `server.key=value` changes (value None deletes the key)."""
    value = copy.deepcopy(BASE)
    for path, new in changes.items():
        server, key = path.split("__")
        if new is None:
            del value["mcpServers"][server][key]
        else:
            value["mcpServers"][server][key] = new
    return value


def test_adjacent_keys_changed_on_each_side_merge_where_lines_would_conflict() -> None:
    ours = text(edited(github__command="bunx"))
    theirs = text(edited(github__type=None, github__args=["-y", "server-github@2"]))
    assert merge3(text(BASE), ours, theirs).text is None  # the line merge sees one hunk
    result = merge_json(text(BASE), ours, theirs)
    assert result.clean
    assert result.text is not None
    merged = json.loads(result.text)["mcpServers"]["github"]
    assert merged["command"] == "bunx"
    assert merged["args"] == ["-y", "server-github@2"]
    assert "type" not in merged


def test_team_servers_and_keys_are_kept_in_the_team_order() -> None:
    team = copy.deepcopy(BASE)
    team["mcpServers"] = {"linear": {"url": "https://mcp.linear.app/sse"}, **team["mcpServers"]}
    team["mcpServers"]["github"]["timeout"] = 30
    team["$comment"] = "team notes"
    theirs = edited(sentry__url="https://mcp.sentry.dev/v2/mcp")
    result = merge_json(text(BASE), text(team), text(theirs))
    assert result.text is not None
    merged = json.loads(result.text)
    assert list(merged) == ["mcpServers", "$comment"]
    assert list(merged["mcpServers"]) == ["linear", "github", "sentry"]
    assert merged["mcpServers"]["github"]["timeout"] == 30
    assert merged["mcpServers"]["sentry"]["url"] == "https://mcp.sentry.dev/v2/mcp"


def test_new_keys_of_theirs_follow_ours_in_theirs_order() -> None:
    theirs = copy.deepcopy(BASE)
    theirs["mcpServers"]["postgres"] = {"command": "pg"}
    theirs["mcpServers"]["brave"] = {"command": "brave"}
    ours = copy.deepcopy(BASE)
    ours["mcpServers"]["linear"] = {"url": "https://x.test"}
    result = merge_json(text(BASE), text(ours), text(theirs))
    assert result.text is not None
    names = list(json.loads(result.text)["mcpServers"])
    assert names == ["github", "sentry", "linear", "postgres", "brave"]


def test_indentation_of_ours_is_kept_and_a_flat_file_gets_two_spaces() -> None:
    theirs = text(edited(sentry__url="https://other.test/mcp"))
    for indent in (4, "\t", 2):
        ours = text(edited(github__command="bunx"), indent)
        result = merge_json(text(BASE), ours, theirs)
        assert result.text == text(json.loads(result.text or ""), indent)
    flat = json.dumps(edited(github__command="bunx"))
    result = merge_json(text(BASE), flat, theirs)
    assert result.text is not None
    assert result.text.startswith('{\n  "mcpServers": {\n    "github"')
    assert not result.text.endswith("\n")  # ours had no final newline


def test_nothing_to_take_returns_ours_byte_for_byte() -> None:
    ours = json.dumps(edited(github__command="bunx"), indent=3)
    assert merge_json(text(BASE), ours, text(BASE)).text == ours
    assert merge_json(text(BASE), ours, ours).text == ours


def test_the_same_change_on_both_sides_is_fine() -> None:
    both = edited(github__command="bunx")
    ours = json.dumps(both, indent=4) + "\n"
    assert merge_json(text(BASE), ours, text(both)).text == ours


def test_a_key_changed_differently_on_both_sides_is_a_conflict_with_its_path() -> None:
    ours = text(edited(github__args=["-y", "ours"], sentry__url="https://ours.test"))
    theirs = text(edited(github__args=["-y", "theirs"], sentry__url="https://ours.test"))
    result = merge_json(text(BASE), ours, theirs)
    assert result.text is None
    assert [c.key for c in result.conflicts] == ["mcpServers.github.args"]
    assert "ours" not in repr(result.conflicts)  # values are never carried


def test_arrays_are_one_value() -> None:
    ours = text(edited(github__args=["--ours", "-y", "@modelcontextprotocol/server-github"]))
    theirs = text(edited(github__args=["-y", "@modelcontextprotocol/server-github", "--t"]))
    result = merge_json(text(BASE), ours, theirs)
    assert [c.key for c in result.conflicts] == ["mcpServers.github.args"]


def test_delete_against_change_is_a_conflict_and_delete_alone_is_taken() -> None:
    ours = text(edited(sentry__url=None))
    assert merge_json(text(BASE), ours, text(edited(sentry__url="https://t.test"))).conflicts
    result = merge_json(text(BASE), ours, text(edited(github__command="uvx")))
    assert result.text is not None
    merged = json.loads(result.text)["mcpServers"]
    assert "url" not in merged["sentry"]
    assert merged["github"]["command"] == "uvx"


def test_null_is_a_value_and_types_count() -> None:
    base = text({"a": 1, "b": None})
    assert merge_json(base, text({"a": True, "b": None}), text({"a": 1, "b": None})).text == text(
        {"a": True, "b": None}
    )
    result = merge_json(base, text({"a": 1}), text({"a": 1, "b": 0}))
    assert [c.key for c in result.conflicts] == ["b"]  # deleted vs changed from null to 0


def test_an_object_both_sides_add_merges_key_by_key() -> None:
    ours = copy.deepcopy(BASE)
    ours["mcpServers"]["pg"] = {"command": "pg", "args": ["--read-only"]}
    theirs = copy.deepcopy(BASE)
    theirs["mcpServers"]["pg"] = {"command": "pg", "env": {"PGHOST": "${PGHOST}"}}
    result = merge_json(text(BASE), text(ours), text(theirs))
    assert result.text is not None
    assert json.loads(result.text)["mcpServers"]["pg"] == {
        "command": "pg",
        "args": ["--read-only"],
        "env": {"PGHOST": "${PGHOST}"},
    }


def test_keys_with_dots_are_reported_quoted_and_a_root_conflict_is_named() -> None:
    result = merge_json(text({"a.b": 1}), text({"a.b": 2}), text({"a.b": 3}))
    assert [c.key for c in result.conflicts] == ['"a.b"']
    result = merge_json(text([1]), text([2]), text([3]))
    assert [c.key for c in result.conflicts] == ["(the whole document)"]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ('{"a": 1,}', "not valid JSON"),
        ('{"a": 1, "a": 2}', "appears twice"),
        ('{"a": NaN}', "NaN is not JSON"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_invalid_or_ambiguous_json_is_a_problem_not_a_crash(bad: str, why: str) -> None:
    with pytest.raises(JsonTextError, match=why):
        load_json(bad)
    result = merge_json(text(BASE), bad, text(BASE))
    assert result.text is None
    assert result.problem is not None
    assert "repository's" in result.problem


def test_layout_helpers() -> None:
    assert indent_of(None) == 2
    assert indent_of('{"a": 1}') == 2
    assert indent_of('{\n    "a": 1\n}') == 4
    assert indent_of('{\n\t"a": 1\n}') == "\t"
    assert dumps_like({"é": 1}, None) == '{\n  "é": 1\n}\n'


@settings(max_examples=300, deadline=None)
@given(disjoint(scalars(null=True)), st.sampled_from([2, 4, "\t"]))
def test_disjoint_key_edits_always_merge_cleanly_and_keep_both_sides(
    case: tuple[Any, Any, Any, Any], indent: int | str
) -> None:
    base, ours, theirs, expected = case
    ours_text = text(ours, indent)
    result = merge_json(text(base), ours_text, text(theirs))
    assert result.conflicts == ()
    assert result.problem is None
    assert result.text is not None
    assert same(json.loads(result.text), expected)
    assert list(json.loads(result.text))[: len(ours)] == list(ours)  # ours' order first
    if ours:  # ours' indentation (an empty object has none to copy)
        assert result.text == text(json.loads(result.text), indent)
