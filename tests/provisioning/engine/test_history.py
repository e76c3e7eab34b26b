"""Hand edits a BMAD update removed, judged from history given as plain values
(docs/bmad.md#lost-edits); tests/provisioning/runs/test_history.py reads a real one."""

from __future__ import annotations

from provisioning.engine.history import (
    CODE,
    Change,
    Commit,
    blobs_needed,
    installer_owned,
    lost_edit_findings,
    lost_edits,
)
from provisioning.engine.types import Severity

PM = ".claude/skills/bmad-agent-pm/SKILL.md"
MARK = "_bmad/_config/files-manifest.csv"
BLOBS = {
    "b1": b"# PM\nStep one.\n",
    "b2": b"# PM\nStep one.\nTeam rule: PRDs fit on one page.\n",
    "b3": b"# PM (new)\nStep one.\n",
    "b4": b"# PM (new)\nStep one.\nTeam rule: PRDs fit on one page.\n",
}


def history(*, update_text: str = "b3", edit_path: str = PM) -> list[Commit]:
    return [
        Commit("a" * 40, "Install BMAD", (Change(PM, None, "b1"), Change(MARK, None, "m1"))),
        Commit("b" * 40, "Our PM rule", (Change(edit_path, "b1", "b2"),)),
        Commit("c" * 40, "Update BMAD", (Change(PM, "b2", update_text), Change(MARK, "m1", "m2"))),
    ]


def test_an_edit_an_update_overwrote_is_named_with_its_commit_lines_and_fix() -> None:
    commits = history()
    assert blobs_needed(commits) == {"b1", "b2", "b3"}
    lost = lost_edits(commits, BLOBS, lambda path: BLOBS["b3"].decode())
    (finding,) = lost_edit_findings(lost)
    assert finding.code == CODE
    assert finding.severity is Severity.WARNING
    assert "skill bmad-agent-pm" in finding.title
    assert "b" * 12 in finding.explanation
    assert "Our PM rule" in finding.explanation
    assert "c" * 12 in finding.explanation  # the update that removed it
    assert "+ Team rule: PRDs fit on one page." in finding.explanation
    assert f"git diff {'b' * 12}^ {'b' * 12} -- {PM} | git apply --3way" in (finding.recommendation)
    assert "_bmad/custom/bmad-agent-pm.toml" in finding.recommendation
    assert finding.paths == (PM,)


def test_an_edit_that_survived_or_came_back_is_not_lost() -> None:
    kept = history(update_text="b4")  # the update kept the line
    assert lost_edits(kept, BLOBS, lambda path: None) == []
    back = lost_edits(history(), BLOBS, lambda path: BLOBS["b4"].decode())  # re-applied
    assert back == []


def test_edits_not_yet_overwritten_are_left_to_the_edited_file_finding() -> None:
    commits = history()[:2]
    assert blobs_needed(commits) == set()
    assert lost_edits(commits, BLOBS, lambda path: None) == []


def test_only_bmads_own_files_count() -> None:
    assert installer_owned(PM)
    assert installer_owned(".agents/skills/bmad-help/steps/step-01.md")
    assert installer_owned("_bmad/config.toml")
    assert not installer_owned(".claude/skills/dev-leader/SKILL.md")  # a team skill (D32)
    assert not installer_owned("_bmad/custom/bmad-agent-pm.toml")
    assert not installer_owned("_bmad/_config/manifest.yaml")
    assert not installer_owned("_bmad/config.user.toml")
    assert not installer_owned("README.md")
    team = ".claude/skills/dev-leader/SKILL.md"
    assert lost_edits(history(edit_path=team), BLOBS, lambda path: None) == []
