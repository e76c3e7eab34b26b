"""Hypothesis generators shared by the JSON and TOML merge properties: a base of objects
(tables) of objects, two sides that each edit their own keys of it, and the merge that
must come out."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from provisioning.engine.tomlmerge import same

# Keys of the base never start with "o" or "t": those prefixes name keys a side adds.
KEYS = st.text(alphabet="abc-_ .é", min_size=1, max_size=3)
_MISSING = object()


def scalars(*, null: bool) -> st.SearchStrategy[Any]:
    """Leaf values: text, small integers, booleans, lists of text, and null where the
    format has one (JSON does, TOML does not)."""
    return st.one_of(
        st.text(max_size=6),
        st.integers(-3, 3),
        st.booleans(),
        *([st.none()] if null else []),
        st.lists(st.text(alphabet="xyz", max_size=2), max_size=3),
    )


@st.composite
def edit(
    draw: st.DrawFn,
    doc: dict[str, Any],
    paths: list[tuple[str, str]],
    prefix: str,
    values: st.SearchStrategy[Any],
) -> Any:
    """`doc` with its keys at `paths` changed or deleted, and keys added by this side."""
    result = copy.deepcopy(doc)
    for outer, key in paths:
        if draw(st.booleans()):
            result[outer][key] = draw(values)
        else:
            del result[outer][key]
    for outer in draw(st.lists(st.sampled_from([*doc, f"{prefix}new"]), max_size=2)):
        result.setdefault(outer, {})[f"{prefix}{draw(KEYS)}"] = draw(values)
    return result


@st.composite
def disjoint(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> tuple[Any, Any, Any, Any]:
    """(base, ours, theirs, expected): each key of the base is edited by one side at most,
    and the expected merge is ours with every change theirs made."""
    base = draw(st.dictionaries(KEYS, st.dictionaries(KEYS, values, max_size=4), max_size=3))
    paths = [(o, k) for o in base for k in base[o]]
    owners = draw(st.lists(st.sampled_from("ot-"), min_size=len(paths), max_size=len(paths)))
    mine = [p for p, w in zip(paths, owners, strict=True) if w == "o"]
    yours = [p for p, w in zip(paths, owners, strict=True) if w == "t"]
    ours = draw(edit(base, mine, "o", values))
    theirs = draw(edit(base, yours, "t", values))
    expected = copy.deepcopy(ours)
    for outer, keys in theirs.items():
        target = expected.setdefault(outer, {})
        for key, value in keys.items():
            before = base.get(outer, {}).get(key, _MISSING)
            if before is _MISSING or not same(before, value):
                target[key] = value
    for outer, keys in base.items():
        for key in keys:
            if key not in theirs.get(outer, {}) and outer in expected:
                expected[outer].pop(key, None)
    return base, ours, theirs, expected
