"""Hostile and awkward YAML is refused quickly, with a 1-based position (docs/security.md#s10)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from provisioning.engine.yamlsafe import MAX_DEPTH, YamlError, load_yaml

BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_is_refused_in_under_100_ms() -> None:
    started = time.thread_time()  # CPU time of this thread: other load does not count
    with pytest.raises(YamlError, match="anchors"):
        load_yaml(BILLION_LAUGHS)
    assert time.thread_time() - started < 0.1


def test_alias_without_anchor_is_refused() -> None:
    with pytest.raises(YamlError):
        load_yaml("a: *undefined\n")


def test_python_tag_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    text = f'!!python/object/apply:os.system ["touch {canary}"]\n'
    with pytest.raises(YamlError, match="tags") as excinfo:
        load_yaml(text)
    assert (excinfo.value.line, excinfo.value.column) == (1, 1)
    assert not canary.exists()


@pytest.mark.parametrize("text", ["a: !!str 1\n", "a: !custom x\n", "a: !!binary aGk=\n", "! x\n"])
def test_every_explicit_tag_is_refused(text: str) -> None:
    with pytest.raises(YamlError, match="tags"):
        load_yaml(text)


def test_1100_deep_nesting_is_refused_quickly() -> None:
    started = time.thread_time()
    with pytest.raises(YamlError, match="deeper") as excinfo:
        load_yaml("[" * 1100 + "]" * 1100)
    assert excinfo.value.column == MAX_DEPTH + 1
    assert time.thread_time() - started < 0.1


def test_nesting_at_the_depth_limit_is_accepted() -> None:
    doc = load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert isinstance(doc.value, list)


def test_10_mb_document_is_refused_before_parsing() -> None:
    started = time.thread_time()
    with pytest.raises(YamlError, match="larger than 256 KiB"):
        load_yaml("a: " + "x" * (10 * 1024 * 1024))
    assert time.thread_time() - started < 0.1


def test_multibyte_text_counts_bytes_not_characters() -> None:
    with pytest.raises(YamlError, match="larger"):
        load_yaml("a: " + "é" * (140 * 1024))


def test_too_many_nodes_is_refused() -> None:
    with pytest.raises(YamlError, match="nodes"):
        load_yaml("[" + ",".join(["1"] * 10_001) + "]")


def test_duplicate_key_is_refused_with_both_lines() -> None:
    with pytest.raises(YamlError, match="duplicate key 'id'") as excinfo:
        load_yaml("id: a\nname: x\nid: a\n")
    assert excinfo.value.line == 3
    assert "line 1" in excinfo.value.message


def test_nested_duplicate_key_is_refused() -> None:
    with pytest.raises(YamlError, match="duplicate"):
        load_yaml("leaders:\n  - id: a\n    id: b\n")


def test_non_scalar_key_is_refused() -> None:
    with pytest.raises(YamlError, match="keys"):
        load_yaml("? [a, b]\n: c\n")


def test_second_document_is_refused() -> None:
    with pytest.raises(YamlError, match="one YAML document"):
        load_yaml("a: 1\n---\nb: 2\n")


def test_syntax_error_carries_one_based_position() -> None:
    with pytest.raises(YamlError) as excinfo:
        load_yaml("a: [1, 2\nb: 3\n")
    # the parser notices the missing "]" at the ":" after "b"
    assert (excinfo.value.line, excinfo.value.column) == (2, 2)
    assert "invalid YAML" in excinfo.value.message


def test_plain_scalars_resolve_only_to_simple_types() -> None:
    doc = load_yaml("a: [1, 1.5, no, yes, ~, text, 2024-01-01, '1.10', \"no\", 0x10]\n")
    assert doc.value["a"] == [1, 1.5, False, True, None, "text", "2024-01-01", "1.10", "no", 16]


def test_merge_key_is_just_a_key() -> None:
    doc = load_yaml("<<: x\n")
    assert doc.value == {"<<": "x"}


def test_positions_are_recorded_for_values_and_keys() -> None:
    doc = load_yaml("project:\n  name: x\nleaders:\n  - id: a\n")
    assert (doc.values[("leaders", 0, "id")].line, doc.values[("leaders", 0, "id")].column) == (
        4,
        9,
    )
    assert doc.keys[("project", "name")].column == 3
    assert doc.raw[("project", "name")] == "x"


def test_position_falls_back_to_nearest_ancestor() -> None:
    doc = load_yaml("project:\n  name: x\n")
    project = doc.position(("project",))
    assert (project.line, project.column) == (2, 3)  # the mapping under "project:"
    assert doc.position(("project", "missing")) == project
    assert doc.position(("project", "name", "deeper")) == doc.values[("project", "name")]
    assert doc.position(("project", "missing"), prefer_key=True) == doc.keys[("project",)]


def test_empty_document_loads_as_none() -> None:
    assert load_yaml("").value is None
