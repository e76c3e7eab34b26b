"""3-way merge past the shortcuts: neighbouring edits, insertions at one point, and a
property test where both sides change the text in places that do not touch."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provisioning.engine.merge import ConflictHunk, merge3

BASE = "a\nb\nc\nd\ne\n"


def test_edits_on_neighbouring_lines_are_a_conflict_like_git() -> None:
    result = merge3(BASE, "a\nB\nc\nd\ne\n", "a\nb\nC\nd\ne\n")
    assert result.text is None
    assert result.conflicts == (ConflictHunk(2, ("b\n", "c\n"), ("B\n", "c\n"), ("b\n", "C\n")),)


def test_edits_one_untouched_line_apart_merge_cleanly() -> None:
    result = merge3(BASE, "a\nB\nc\nd\ne\n", "a\nb\nc\nD\ne\n")
    assert result.text == "a\nB\nc\nD\ne\n"


def test_a_deletion_next_to_an_edit_is_a_conflict() -> None:
    result = merge3(BASE, "a\nc\nd\ne\n", "a\nb\nC\nd\ne\n")
    assert result.conflicts == (ConflictHunk(2, ("b\n", "c\n"), ("c\n",), ("b\n", "C\n")),)


def test_two_different_insertions_at_the_same_point_are_a_conflict() -> None:
    result = merge3(BASE, "a\nb\nours\nc\nd\ne\n", "a\nb\ntheirs\nc\nd\ne\n")
    assert result.text is None
    assert result.conflicts == (ConflictHunk(3, (), ("ours\n",), ("theirs\n",)),)


def test_the_same_insertion_at_the_same_point_is_kept_once() -> None:
    result = merge3(BASE, "a\nb\nnew\nc\nd\ne\n", "a\nb\nnew\nc\nd\ne\nend\n")
    assert result.text == "a\nb\nnew\nc\nd\ne\nend\n"


def test_an_insertion_and_an_edit_of_the_line_after_it_conflict() -> None:
    result = merge3(BASE, "a\nb\nnew\nc\nd\ne\n", "a\nb\nC\nd\ne\n")
    assert result.conflicts == (ConflictHunk(3, ("c\n",), ("new\n", "c\n"), ("C\n",)),)


def test_insertions_at_the_very_start_on_both_sides_conflict() -> None:
    result = merge3(BASE, "ours\n" + BASE, "theirs\n" + BASE)
    assert result.conflicts == (ConflictHunk(1, (), ("ours\n",), ("theirs\n",)),)


def test_insertions_at_the_very_end_on_both_sides_conflict() -> None:
    result = merge3(BASE, BASE + "ours\n", BASE + "theirs\n")
    assert result.conflicts == (ConflictHunk(6, (), ("ours\n",), ("theirs\n",)),)


def test_several_conflicts_are_all_reported_in_order() -> None:
    ours = "A1\nb\nc\nd\nE1\n"
    theirs = "A2\nb\nc\nd\nE2\n"
    result = merge3(BASE, ours, theirs)
    assert [hunk.base_start for hunk in result.conflicts] == [1, 5]
    assert [hunk.ours for hunk in result.conflicts] == [("A1\n",), ("E1\n",)]


def test_a_clean_region_beside_a_conflict_does_not_hide_it() -> None:
    result = merge3(BASE, "X\nb\nc\nD\ne\n", "Y\nb\nc\nd\ne\n")
    assert result.text is None
    assert result.conflicts == (ConflictHunk(1, ("a\n",), ("X\n",), ("Y\n",)),)


def test_text_without_a_final_newline_merges_on_its_last_line() -> None:
    result = merge3("a\nb\nc", "A\nb\nc", "a\nb\nC")
    assert result.text == "A\nb\nC"


def _steps(edits: dict[tuple[int, int], str]) -> str:
    """40 sections whose five body lines are the same in every section (240 lines)."""
    out: list[str] = []
    for k in range(40):
        block = [
            f"## Step {k}\n",
            "Read the brief.\n",
            "Ask the user.\n",
            "Write the draft.\n",
            "Review it.\n",
            "Save it.\n",
        ]
        for (section, line), text in edits.items():
            if section == k:
                block[line] = text
        out += block
    return "".join(out)


def test_lines_repeated_all_over_a_long_file_still_anchor_the_merge() -> None:
    """Lines that recur in every section are real content, not noise: edits two lines
    apart in one section of a 240-line file merge as in a short one."""
    ours = _steps({(5, 1): "Read the brief twice.\n", (5, 5): "Save it as PDF.\n"})
    theirs = _steps({(5, 3): "Write the first draft.\n"})
    result = merge3(_steps({}), ours, theirs)
    assert result.text == _steps(
        {
            (5, 1): "Read the brief twice.\n",
            (5, 3): "Write the first draft.\n",
            (5, 5): "Save it as PDF.\n",
        }
    )


# --- Property: disjoint edits on both sides always merge, and the merge holds both ------


@st.composite
def disjoint_edits(draw: st.DrawFn) -> tuple[str, str, str, str]:
    """(base, ours, theirs, expected): base lines are all distinct, every edit writes new
    distinct lines, and at least one untouched line separates any two edits. Each side
    makes at least one edit, so neither side equals base nor the other side."""
    fresh = iter(f"line {n}\n" for n in range(10_000))
    base: list[str] = []
    ours: list[str] = []
    theirs: list[str] = []
    expected: list[str] = []

    def keep(count: int) -> None:
        lines = [next(fresh) for _ in range(count)]
        for text in (base, ours, theirs, expected):
            text.extend(lines)

    keep(draw(st.integers(0, 2)))
    edits = draw(st.integers(2, 6))
    sides = ["ours", "theirs"] + [
        draw(st.sampled_from(["ours", "theirs"])) for _ in range(edits - 2)
    ]
    sides = draw(st.permutations(sides))
    for index, side in enumerate(sides):
        kind = draw(st.sampled_from(["replace", "delete", "insert"]))
        old = [] if kind == "insert" else [next(fresh) for _ in range(draw(st.integers(1, 3)))]
        new = [] if kind == "delete" else [next(fresh) for _ in range(draw(st.integers(1, 3)))]
        base.extend(old)
        ours.extend(new if side == "ours" else old)
        theirs.extend(new if side == "theirs" else old)
        expected.extend(new)
        last = index == len(sides) - 1
        keep(draw(st.integers(0 if last else 1, 3)))
    return "".join(base), "".join(ours), "".join(theirs), "".join(expected)


@given(disjoint_edits())
def test_disjoint_edits_on_both_sides_merge_cleanly_and_keep_both(
    case: tuple[str, str, str, str],
) -> None:
    base, ours, theirs, expected = case
    assert len({base, ours, theirs}) == 3  # past every shortcut of merge3
    result = merge3(base, ours, theirs)
    assert result.conflicts == ()
    assert result.text == expected
    assert merge3(base, theirs, ours).text == expected  # the order of the sides is irrelevant
