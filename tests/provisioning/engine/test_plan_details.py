"""Plans in detail: every operation says why (the sentence the plan page shows), which gap
state led to it and what it changes; the lock records what was written; apply reports
what it did, writes the lock last and refuses before writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.engine.gap import GapReport, ItemState, ManagedItem
from provisioning.engine.generator import GENERATOR_VERSION, Generated, GeneratedFile, generate
from provisioning.engine.lockfile import Lock, LockEntry, dumps_lock, parse_lock, text_sha256
from provisioning.engine.merge import ConflictHunk
from provisioning.engine.paths import LOCK_PATH, UnsafePathError
from provisioning.engine.plan import (
    Operation,
    OpKind,
    Plan,
    PlanConflict,
    apply_plan,
    make_plan,
    unified_diff,
)
from provisioning.engine.types import Finding, Severity
from tests.provisioning.engine.test_gap import INSTALL, manifest

OLD_ENTRY = LockEntry("0" * 64, "what bmadweb wrote last time\n")


def item(
    path: str,
    state: ItemState,
    *,
    current: str | None = None,
    base: str | None = None,
    content: str | None = None,
    unsafe: bool = False,
) -> ManagedItem:
    generated = GeneratedFile(path, content, "skill") if content is not None else None
    return ManagedItem(path, state, f"why {path}", "skill", unsafe, current, base, generated)


def plan_of(*items: ManagedItem, force: bool = False, lock_text: str | None = None) -> Plan:
    old = {i.path: OLD_ENTRY for i in items}
    report = GapReport(INSTALL, (), items, lock=Lock(files=old), lock_text=lock_text)
    return make_plan(report, Generated(()), force=force, manifest_revision="r7")


def only(plan: Plan, path: str) -> Operation:
    (op,) = [op for op in plan.operations if op.path == path]
    return op


def written_lock(plan: Plan) -> Lock:
    content = only(plan, LOCK_PATH).content
    assert content is not None
    return parse_lock(content).lock


# --- Diffs ------------------------------------------------------------------------------


def test_the_diff_of_a_new_file_starts_from_dev_null() -> None:
    assert unified_diff("a.md", None, "one\ntwo\n") == (
        "--- /dev/null\n+++ b/a.md\n@@ -0,0 +1,2 @@\n+one\n+two\n"
    )


def test_the_diff_of_a_deleted_file_ends_at_dev_null() -> None:
    assert unified_diff("a.md", "one\n", None) == "--- a/a.md\n+++ /dev/null\n@@ -1 +0,0 @@\n-one\n"


def test_a_missing_final_newline_is_marked_on_both_sides_like_git() -> None:
    assert unified_diff("a.md", "one", "two") == (
        "--- a/a.md\n+++ b/a.md\n@@ -1 +1 @@\n"
        "-one\n\\ No newline at end of file\n"
        "+two\n\\ No newline at end of file\n"
    )


def test_an_empty_file_and_no_file_differ_only_in_the_header() -> None:
    assert unified_diff("a.md", "", "x\n") == "--- a/a.md\n+++ b/a.md\n@@ -0,0 +1 @@\n+x\n"


# --- One operation per gap state -------------------------------------------------------


def test_a_missing_file_is_created_with_its_reason_state_and_diff() -> None:
    plan = plan_of(item("new.md", ItemState.MISSING, content="hello\n"))
    assert only(plan, "new.md") == Operation(
        OpKind.CREATE,
        "new.md",
        "why new.md",
        "hello\n",
        "--- /dev/null\n+++ b/new.md\n@@ -0,0 +1 @@\n+hello\n",
        ItemState.MISSING,
    )
    assert written_lock(plan).files["new.md"] == LockEntry(text_sha256("hello\n"), "hello\n")


def test_a_missing_section_of_an_existing_file_is_an_update_of_that_file() -> None:
    plan = plan_of(item("cfg.md", ItemState.MISSING, current="team\n", content="team\nours\n"))
    op = only(plan, "cfg.md")
    assert (op.kind, op.state) == (OpKind.UPDATE, ItemState.MISSING)
    assert op.diff == "--- a/cfg.md\n+++ b/cfg.md\n@@ -1 +1,2 @@\n team\n+ours\n"


def test_an_outdated_file_is_updated_and_its_new_text_becomes_the_base() -> None:
    plan = plan_of(item("o.md", ItemState.OUTDATED, current="old\n", base="old\n", content="new\n"))
    assert only(plan, "o.md") == Operation(
        OpKind.UPDATE,
        "o.md",
        "why o.md",
        "new\n",
        "--- a/o.md\n+++ b/o.md\n@@ -1 +1 @@\n-old\n+new\n",
        ItemState.OUTDATED,
    )
    assert written_lock(plan).files["o.md"] == LockEntry(text_sha256("new\n"), "new\n")


def test_an_up_to_date_file_is_left_alone_and_recorded_as_it_is() -> None:
    plan = plan_of(item("u.md", ItemState.UP_TO_DATE, current="same\n", content="same\n"))
    assert [op.path for op in plan.operations] == [LOCK_PATH]
    assert written_lock(plan).files["u.md"] == LockEntry(text_sha256("same\n"), "same\n")


def test_a_modified_file_is_skipped_and_keeps_its_lock_entry() -> None:
    plan = plan_of(item("m.md", ItemState.MODIFIED, current="team edit\n", content="gen\n"))
    assert only(plan, "m.md") == Operation(
        OpKind.SKIP, "m.md", "why m.md", state=ItemState.MODIFIED
    )
    assert written_lock(plan).files["m.md"] == OLD_ENTRY


def test_an_orphaned_file_is_deleted_showing_what_goes() -> None:
    plan = plan_of(item("gone.md", ItemState.ORPHANED, current="bye\n", base="bye\n"))
    assert only(plan, "gone.md") == Operation(
        OpKind.DELETE,
        "gone.md",
        "why gone.md",
        None,
        "--- a/gone.md\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n",
        ItemState.ORPHANED,
    )
    assert "gone.md" not in written_lock(plan).files
    assert plan.requires_approval


def test_an_unmanaged_file_is_skipped_unless_forced_and_then_replaced_with_a_reason() -> None:
    unmanaged = item("x.md", ItemState.UNMANAGED, current="theirs\n", content="ours\n")
    assert only(plan_of(unmanaged), "x.md") == Operation(
        OpKind.SKIP, "x.md", "why x.md", state=ItemState.UNMANAGED
    )
    forced = plan_of(unmanaged, force=True)
    assert only(forced, "x.md") == Operation(
        OpKind.UPDATE,
        "x.md",
        "A file bmadweb did not write is replaced because force was requested.",
        "ours\n",
        "--- a/x.md\n+++ b/x.md\n@@ -1 +1 @@\n-theirs\n+ours\n",
        ItemState.UNMANAGED,
    )
    assert written_lock(forced).files["x.md"] == LockEntry(text_sha256("ours\n"), "ours\n")


def test_an_unsafe_path_is_never_written_and_says_so() -> None:
    plan = plan_of(item("s.md", ItemState.MISSING, content="x\n", unsafe=True), force=True)
    assert only(plan, "s.md") == Operation(
        OpKind.SKIP, "s.md", "why s.md Never written.", state=ItemState.MISSING
    )
    assert written_lock(plan).files["s.md"] == OLD_ENTRY


# --- Conflicts --------------------------------------------------------------------------


def test_a_conflict_in_other_lines_is_merged_and_the_generator_text_becomes_the_base() -> None:
    conflict = item(
        "c.md",
        ItemState.CONFLICT,
        base="a\nb\nc\n",
        current="A\nb\nc\n",
        content="a\nb\nC\n",
    )
    plan = plan_of(conflict)
    assert only(plan, "c.md") == Operation(
        OpKind.MERGE,
        "c.md",
        "Edited in the repository and changed by the generator; merged cleanly.",
        "A\nb\nC\n",
        "--- a/c.md\n+++ b/c.md\n@@ -1,3 +1,3 @@\n A\n b\n-c\n+C\n",
        ItemState.CONFLICT,
    )
    assert written_lock(plan).files["c.md"] == LockEntry(text_sha256("A\nb\nC\n"), "a\nb\nC\n")
    assert plan.conflicts == ()


def test_a_conflict_in_the_same_lines_is_listed_skipped_and_keeps_its_lock_entry() -> None:
    conflict = item("c.md", ItemState.CONFLICT, base="a\n", current="ours\n", content="theirs\n")
    plan = plan_of(conflict)
    reason = "Edited in the repository and changed by the generator in the same lines."
    assert plan.conflicts == (
        PlanConflict("c.md", reason, (ConflictHunk(1, ("a\n",), ("ours\n",), ("theirs\n",)),)),
    )
    assert only(plan, "c.md") == Operation(
        OpKind.SKIP,
        "c.md",
        f"Unresolved conflict, not written: {reason}",
        state=ItemState.CONFLICT,
    )
    assert written_lock(plan).files["c.md"] == OLD_ENTRY


@pytest.mark.parametrize(
    ("base", "current"), [(None, "ours\n"), ("a\n", None)], ids=["no base", "no current text"]
)
def test_a_conflict_without_both_texts_is_listed_with_its_own_reason(
    base: str | None, current: str | None
) -> None:
    plan = plan_of(item("c.md", ItemState.CONFLICT, base=base, current=current, content="t\n"))
    assert plan.conflicts == (PlanConflict("c.md", "why c.md", ()),)
    assert only(plan, "c.md").reason == "Unresolved conflict, not written: why c.md"
    assert written_lock(plan).files["c.md"] == OLD_ENTRY


def test_a_conflict_without_generator_output_is_listed_too() -> None:
    plan = plan_of(item("c.md", ItemState.CONFLICT, base="a\n", current="b\n"))
    assert plan.conflicts == (PlanConflict("c.md", "why c.md", ()),)


def test_a_conflict_whose_toml_base_cannot_be_parsed_is_listed_not_written() -> None:
    (config,) = [f for f in generate(manifest(), INSTALL).files if f.edit is not None][:1]
    broken = ManagedItem(
        config.path,
        ItemState.CONFLICT,
        "why",
        config.kind,
        current="[core]\nlanguage = 'fr'\n",
        base="this is = = not toml",
        generated=config,
    )
    plan = plan_of(broken)
    (conflict,) = plan.conflicts
    assert conflict.path == config.path
    assert conflict.reason.startswith(
        "The last written base cannot be edited: not valid TOML, cannot edit it in place:"
    )
    assert conflict.reason.endswith(".")
    assert conflict.hunks == ()
    assert only(plan, config.path).kind is OpKind.SKIP


# --- The lock and the notes ---------------------------------------------------------------


def test_a_first_plan_creates_the_lock_with_the_generator_version_and_revision() -> None:
    plan = plan_of(item("new.md", ItemState.MISSING, content="hello\n"))
    lock_op = only(plan, LOCK_PATH)
    assert lock_op.kind is OpKind.CREATE
    assert lock_op.reason == "Records what bmadweb wrote, for the next analysis."
    assert lock_op.state is None
    assert lock_op.diff.startswith(f"--- /dev/null\n+++ b/{LOCK_PATH}\n")
    lock = written_lock(plan)
    assert (lock.generator_version, lock.manifest_revision) == (GENERATOR_VERSION, "r7")


def test_a_changed_lock_is_an_update_with_a_diff_from_the_old_one() -> None:
    plan = plan_of(item("new.md", ItemState.MISSING, content="hello\n"), lock_text="{}\n")
    lock_op = only(plan, LOCK_PATH)
    assert lock_op.kind is OpKind.UPDATE
    assert lock_op.diff.startswith(f"--- a/{LOCK_PATH}\n+++ b/{LOCK_PATH}\n@@ -1 +1,")
    assert "\n-{}\n" in lock_op.diff


def test_an_unchanged_lock_is_not_rewritten() -> None:
    up_to_date = item("u.md", ItemState.UP_TO_DATE, current="same\n", content="same\n")
    lock = Lock(GENERATOR_VERSION, "r7", {"u.md": LockEntry(text_sha256("same\n"), "same\n")})
    assert [op.path for op in plan_of(up_to_date, lock_text=dumps_lock(lock)).operations] == []


def test_without_a_revision_the_lock_records_none() -> None:
    report = GapReport(INSTALL, (), (item("n.md", ItemState.MISSING, content="x\n"),))
    plan = make_plan(report, Generated(()))
    assert written_lock(plan).manifest_revision == ""
    forced = make_plan(
        GapReport(INSTALL, (), (item("x.md", ItemState.UNMANAGED, current="t\n", content="o\n"),)),
        Generated(()),
    )
    assert only(forced, "x.md").kind is OpKind.SKIP  # force is off unless asked for


def test_notes_of_the_report_and_the_generator_are_kept_once_in_order() -> None:
    report = GapReport(INSTALL, (), (), notes=("b", "a"))
    plan = make_plan(report, Generated((), notes=("a", "c", "b")))
    assert plan.notes == ("b", "a", "c")


def _wrappers_report(*codes: str) -> GapReport:
    findings = tuple(
        Finding(
            code,
            Severity.WARNING,
            f"title of {code}",
            "explanation",
            "recommendation",
            fixable=True,
            paths=(".claude/commands/bmad-old.md", ".claude/commands/bmad"),
        )
        for code in codes
    )
    return GapReport(INSTALL, findings, ())


def test_stale_command_wrappers_are_deleted_with_the_finding_as_reason(tmp_path: Path) -> None:
    wrapper = tmp_path / ".claude/commands/bmad-old.md"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text("old wrapper\n")
    plan = make_plan(
        _wrappers_report("BMAD_STALE_COMMAND_WRAPPERS", "BMAD_LEGACY_V4_LEFTOVER"),
        Generated(()),
        root=tmp_path,
    )
    deletes = [op for op in plan.operations if op.kind is OpKind.DELETE]
    assert deletes == [  # the .md wrapper only: never the folder, never other findings
        Operation(
            OpKind.DELETE,
            ".claude/commands/bmad-old.md",
            "title of BMAD_STALE_COMMAND_WRAPPERS",
        )
    ]
    assert deletes[0].diff == (
        "--- a/.claude/commands/bmad-old.md\n+++ /dev/null\n@@ -1 +0,0 @@\n-old wrapper\n"
    )


def test_without_the_checkout_a_wrapper_delete_shows_no_content() -> None:
    plan = make_plan(_wrappers_report("BMAD_STALE_COMMAND_WRAPPERS"), Generated(()))
    (delete,) = [op for op in plan.operations if op.kind is OpKind.DELETE]
    assert (delete.path, delete.diff) == (".claude/commands/bmad-old.md", "")


# --- Applying -----------------------------------------------------------------------------


def test_apply_reports_what_it_wrote_deleted_and_skipped_and_writes_the_lock_last(
    tmp_path: Path,
) -> None:
    (tmp_path / "old.md").write_text("bye\n")
    plan = Plan(
        (
            Operation(OpKind.CREATE, LOCK_PATH, "lock", "{}\n"),
            Operation(OpKind.SKIP, "kept.md", "kept"),
            Operation(OpKind.DELETE, "old.md", "gone"),
            Operation(OpKind.CREATE, "new.md", "new", "hi\n"),
        )
    )
    result = apply_plan(tmp_path, plan)
    assert (result.written, result.deleted, result.skipped) == (
        ("new.md", LOCK_PATH),
        ("old.md",),
        ("kept.md",),
    )
    assert (tmp_path / "new.md").read_text() == "hi\n"
    assert not (tmp_path / "old.md").exists()


def test_apply_refuses_a_path_git_records_as_a_symlink_before_writing_anything(
    tmp_path: Path,
) -> None:
    (tmp_path / "link.md").write_text("a plain file in the work tree\n")
    plan = Plan(
        (
            Operation(OpKind.CREATE, "first.md", "r", "x\n"),
            Operation(OpKind.UPDATE, "link.md", "r", "y\n"),
        )
    )
    with pytest.raises(UnsafePathError):
        apply_plan(tmp_path, plan, tracked_symlinks={"link.md"})
    assert not (tmp_path / "first.md").exists()
    assert (tmp_path / "link.md").read_text() == "a plain file in the work tree\n"
