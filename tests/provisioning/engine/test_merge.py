"""Line-based 3-way merge: clean merges, conflicts as hunks, never markers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provisioning.engine.merge import merge3

BASE = "a\nb\nc\nd\ne\n"


def test_changes_in_different_places_merge_cleanly() -> None:
    result = merge3(BASE, "A\nb\nc\nd\ne\n", "a\nb\nc\nd\nE\n")
    assert result.text == "A\nb\nc\nd\nE\n"


def test_insertions_at_both_ends_merge() -> None:
    result = merge3(BASE, "top\n" + BASE, BASE + "bottom\n")
    assert result.text == "top\n" + BASE + "bottom\n"


def test_delete_on_one_side_and_edit_elsewhere_merge() -> None:
    assert merge3(BASE, "a\nc\nd\ne\n", "a\nb\nc\nD\ne\n").text == "a\nc\nD\ne\n"


def test_same_line_changed_differently_is_a_conflict_without_markers() -> None:
    result = merge3(BASE, "a\nours\nc\nd\ne\n", "a\ntheirs\nc\nd\ne\n")
    assert result.text is None
    assert not result.clean
    (hunk,) = result.conflicts
    assert hunk.base_start == 2
    assert hunk.ours == ("ours\n",)
    assert hunk.theirs == ("theirs\n",)


def test_identical_changes_on_both_sides_merge() -> None:
    changed = "a\nX\nc\nd\ne\n"
    assert merge3(BASE, changed, changed).text == changed


_lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "<<<<<<< x\n", "=======\n"]), max_size=8)


@given(_lines, _lines)
def test_one_sided_changes_always_win(base: list[str], side: list[str]) -> None:
    b, s = "".join(base), "".join(side)
    assert merge3(b, s, b).text == s
    assert merge3(b, b, s).text == s


@given(_lines, _lines, _lines)
def test_merge_output_never_adds_conflict_markers(
    base: list[str], ours: list[str], theirs: list[str]
) -> None:
    result = merge3("".join(base), "".join(ours), "".join(theirs))
    if result.text is not None:
        markers = sum(result.text.count(m) for m in ("<<<<<<<", "======="))
        present = sum("".join(ours + theirs).count(m) for m in ("<<<<<<<", "======="))
        assert markers <= present
    else:
        assert result.conflicts
