"""A report's "merges cleanly" is the planner's own verdict: a TOML file merges key by key,
so edits on neighbouring lines (a conflict for a line merge) are drift, not conflict."""

from __future__ import annotations

from provisioning.engine.gap import GapReport, ItemState, ManagedItem
from provisioning.engine.generator import Generated, GeneratedFile
from provisioning.engine.merge import merge3
from provisioning.engine.pipeline import merges_cleanly, report_to_dict
from provisioning.engine.plan import OpKind, make_plan
from provisioning.engine.types import BmadInstall, Generation

PATH = "_bmad/custom/dev.toml"
BASE = '[agent]\nname = "dev"\ndescription = "Writes code."\n'
INSTALL = BmadInstall(Generation.V6_4, "6.12.0", ("core", "bmm"), ("claude-code",), "_bmad")


def _item(ours: str, theirs: str, path: str = PATH) -> ManagedItem:
    generated = GeneratedFile(path, theirs, "customization")
    return ManagedItem(
        path, ItemState.CONFLICT, "edited", "customization", False, ours, BASE, generated
    )


def _verdicts(item: ManagedItem) -> tuple[bool, str, list[OpKind], int]:
    report = GapReport(install=INSTALL, findings=(), items=(item,))
    plan = make_plan(report, Generated((item.generated,)))  # type: ignore[arg-type]
    shown = report_to_dict(report)
    kinds = [op.kind for op in plan.operations if op.path == item.path]
    return shown["items"][0]["merges_cleanly"], shown["status"], kinds, len(plan.conflicts)


def test_neighbouring_keys_merge_key_by_key_and_the_report_says_so():
    ours = BASE.replace('"dev"', '"dev-team"')
    theirs = BASE.replace("Writes code.", "Writes tested code.")
    assert merge3(BASE, ours, theirs).text is None  # a line merge would call it a conflict
    item = _item(ours, theirs)
    assert merges_cleanly(item)
    assert _verdicts(item) == (True, "drift", [OpKind.MERGE], 0)


def test_the_same_key_changed_both_ways_is_a_conflict_in_the_report_and_the_plan():
    ours = BASE.replace("Writes code.", "Writes our code.")
    theirs = BASE.replace("Writes code.", "Writes tested code.")
    item = _item(ours, theirs)
    assert not merges_cleanly(item)
    assert _verdicts(item) == (False, "conflict", [OpKind.SKIP], 1)


def test_other_files_still_merge_line_by_line():
    base, ours, theirs = "a\nb\nc\n", "A\nb\nc\n", "a\nb\nC\n"
    generated = GeneratedFile("notes.md", theirs, "skill")
    item = ManagedItem(
        "notes.md", ItemState.CONFLICT, "edited", "skill", False, ours, base, generated
    )
    assert merges_cleanly(item)
    assert not merges_cleanly(ManagedItem("notes.md", ItemState.MODIFIED, "", "skill"))
