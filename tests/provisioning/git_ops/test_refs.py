"""Branch names: the ones bmadweb generates pass; option-like, traversing or malformed
names are refused, base branches by pattern or by git itself."""

from __future__ import annotations

import pytest

from provisioning.git_ops import InvalidInput, validate_base_branch, validate_branch_name
from tests.provisioning.git_ops.git_helpers import BRANCH


@pytest.mark.parametrize("name", [BRANCH, "bmadweb/p/1", "bmadweb/a-b-c/0123-abcd"])
def test_generated_branch_names_pass(name: str) -> None:
    assert validate_branch_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "--output=/tmp/x",
        "a..b",
        "x.lock",
        "refs/../x",
        "bmadweb/p/x.lock",
        "bmadweb/p/a..b",
        "bmadweb/../x",
        "bmadweb/P/x",
        "bmadweb/p/",
        "bmadweb/-p/x",
        "bmadweb/p/x/y",
        "bmadweb/p/x\n",
        "main",
        "",
    ],
)
def test_bad_branch_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_branch_name(name)


@pytest.mark.parametrize(
    "name", ["--output=/tmp/x", "-uX", "a..b", "x.lock", "refs/../x", "a b", "a@{1}", "a//b", "/a"]
)
def test_bad_base_branch_names_are_rejected_by_pattern_or_by_git(name: str) -> None:
    with pytest.raises(InvalidInput):
        validate_base_branch(name)


def test_base_branch_names_git_accepts_pass() -> None:
    for name in ("main", "master", "release/1.0", "feature_x"):
        assert validate_base_branch(name) == name
