"""Detection and findings on REAL installs made by the official BMAD installer at test time.

Nothing the installer writes is committed: the installs are made once per session in a
temporary folder (in parallel, a minute or so with a warm network) and each test copies
the one it changes. Every test skips cleanly, with the reason, when npx is missing or an
install fails or times out; under BMADWEB_REQUIRE_ALL=1 (CI) it fails instead
(tests/skips.py). The npm cache is npm_config_cache when set (CI sets one folder for its
whole run), else a folder of this session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provisioning.engine.detect import detect_install
from provisioning.engine.findings import installation_findings
from provisioning.engine.manifest import Manifest, load_manifest
from provisioning.engine.pipeline import analyze_repo, plan_repo
from provisioning.engine.plan import apply_plan
from provisioning.engine.types import Finding, Generation, Severity
from tests.provisioning.engine.builders import edit_file, write_file
from tests.skips import skip_or_fail

pytestmark = pytest.mark.npx

TIMEOUT = 240
V6_FLAGS = ("--modules", "bmm", "--tools", "claude-code,cursor", "--yes", "--user-name", "Tester")
INSTALLS: dict[str, tuple[str, ...]] = {
    "6.12.0": V6_FLAGS,
    "6.3.0": V6_FLAGS,
    "6.0.4": V6_FLAGS,
    "4.44.3": ("--full", "--ide", "claude-code", "cursor"),
}

Outcome = Path | str  # the install folder, or why it could not be made


def _run_installer(
    version: str, target: Path, flags: Sequence[str], env: dict[str, str]
) -> Outcome:
    target.mkdir(parents=True, exist_ok=True)
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(target)], check=False, timeout=30)
    cmd = ["npx", "-y", f"bmad-method@{version}", "install", "--directory", str(target), *flags]
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"bmad-method@{version} install timed out after {TIMEOUT}s"
    except OSError as exc:
        return f"bmad-method@{version} could not start: {exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"bmad-method@{version} install failed ({proc.returncode}): {' | '.join(tail)}"
    return target


def _upgrade(base: Outcome, target: Path, env: dict[str, str]) -> Outcome:
    """6.0.4 -> 6.12.0 over a copy, after a hand edit and a real customization."""
    if isinstance(base, str):
        return base
    shutil.copytree(base, target, symlinks=True)
    edit_file(target, "_bmad/bmm/agents/pm.md", "\n<!-- team note: PRDs fit on one page -->\n")
    write_file(
        target,
        "_bmad/_config/agents/bmm-pm.customize.yaml",
        'persona:\n  role: "Team PM"\n  principles:\n    - Short PRDs.\n',
    )
    return _run_installer("6.12.0", target, V6_FLAGS, env)


@pytest.fixture(scope="session")
def real_installs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """All real installs of the module, made once, in parallel."""
    if shutil.which("npx") is None:
        skip_or_fail("npx is not installed")
    base = tmp_path_factory.mktemp("real-bmad")
    env = {**os.environ, "CI": "1"}
    env.setdefault("npm_config_cache", str(base / "npm-cache"))
    env.pop("NODE_OPTIONS", None)
    with ThreadPoolExecutor(max_workers=len(INSTALLS)) as pool:
        futures = {
            v: pool.submit(_run_installer, v, base / f"v{v}", flags, env)
            for v, flags in INSTALLS.items()
        }
        outcomes: dict[str, Outcome] = {v: f.result() for v, f in futures.items()}
    outcomes["upgrade"] = _upgrade(outcomes["6.0.4"], base / "upgrade", env)
    return outcomes


@pytest.fixture(scope="session")
def real_612_with_cline(
    real_installs: dict[str, Outcome], tmp_path_factory: pytest.TempPathFactory
) -> Outcome:
    """The 6.12.0 install updated by its own installer to add Cline (seconds: the package
    is already in the session's npm cache)."""
    base = real_installs["6.12.0"]
    if isinstance(base, str):
        return base
    target = tmp_path_factory.mktemp("real-bmad-cline") / "v6.12.0-cline"
    shutil.copytree(base, target, symlinks=True)
    env = {**os.environ, "npm_config_cache": str(base.parent / "npm-cache"), "CI": "1"}
    env.pop("NODE_OPTIONS", None)
    flags = ("--action", "update", "--tools", "claude-code,cursor,cline", "--yes")
    return _run_installer("6.12.0", target, flags, env)


def installed(outcomes: dict[str, Outcome], key: str, tmp_path: Path) -> Path:
    """A private copy of one install (tests may edit it), or a skip with the reason."""
    outcome = outcomes[key]
    if isinstance(outcome, str):
        skip_or_fail(outcome)
    copy = tmp_path / key
    shutil.copytree(outcome, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    return copy


def manifest(
    *,
    version: str = ">=6",
    tools: str = "[claude-code, cursor]",
    extra: str = "",
) -> Manifest:
    """A small bmadweb manifest: one leader with one specialist, plus `extra` YAML."""
    text = (
        "apiVersion: bmadweb/v1\n"
        f'project:\n  name: real\n  bmad_version: "{version}"\n  modules: [core, bmm]\n'
        f"  tools: {tools}\n"
        "leaders:\n  - id: dev-leader\n    name: Dev Leader\n    domain: engineering\n"
        "    specialists:\n      - id: qa-specialist\n        name: QA\n        domain: qa\n"
        + extra
    )
    result = load_manifest(text)
    assert result.manifest is not None, result.errors
    return result.manifest


def findings(root: Path) -> list[Finding]:
    return installation_findings(
        detect_install(root),
        root=root,
        required_version=">=6.4,<7",
        required_modules=("core", "bmm"),
        required_tools=("claude-code", "cursor"),
    )


def codes(found: list[Finding]) -> set[str]:
    return {f.code for f in found}


def test_real_612_is_64_generation_and_clean_but_for_personal_config(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.12.0", tmp_path)
    install = detect_install(root)
    assert install.generation is Generation.V6_4
    assert install.version == "6.12.0"
    assert {"core", "bmm"} <= set(install.modules)
    assert install.tools == ("claude-code", "cursor")
    assert install.customization_style == "toml"
    assert any(p.startswith(".claude/skills/") for p in install.managed_hashes)
    assert any(p.startswith(".agents/skills/") for p in install.managed_hashes)
    assert install.problems == ()
    # the installer writes _bmad/config.user.toml (user_name) and nothing ignores it
    (finding,) = findings(root)
    assert finding.code == "BMAD_PERSONAL_FILE_COMMITTED"
    assert finding.paths == ("_bmad/config.user.toml",)


def test_real_612_hand_edit_of_a_skill_is_found(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.12.0", tmp_path)
    skill = sorted(p.name for p in (root / ".claude/skills").iterdir())[0]
    edit_file(root, f".claude/skills/{skill}/SKILL.md")
    (finding,) = [f for f in findings(root) if f.code == "BMAD_MANAGED_FILE_EDITED"]
    assert finding.paths == (f".claude/skills/{skill}/SKILL.md",)
    assert f"_bmad/custom/{skill}.toml" in finding.recommendation


def test_real_63_is_detected_as_legacy(real_installs: dict[str, Outcome], tmp_path: Path) -> None:
    root = installed(real_installs, "6.3.0", tmp_path)
    install = detect_install(root)
    assert (install.generation, install.version) == (Generation.V6_3, "6.3.0")
    assert install.tools == ("claude-code", "cursor")
    assert ".cursor/skills/bmad-help/SKILL.md" in install.managed_hashes
    assert codes(findings(root)) == {"BMAD_GENERATION_LEGACY", "BMAD_VERSION_OUT_OF_RANGE"}


def test_real_604_is_detected_with_yaml_customization(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.0.4", tmp_path)
    install = detect_install(root)
    assert (install.generation, install.version) == (Generation.V6_0, "6.0.4")
    assert install.customization_style == "customize-yaml"
    assert install.tools == ("claude-code", "cursor")
    # compiled agents are not in files-manifest.csv (an edit there is invisible); workflows are
    edit_file(root, "_bmad/bmm/workflows/2-plan-workflows/create-prd/workflow-create-prd.md")
    found = findings(root)
    assert codes(found) == {
        "BMAD_GENERATION_LEGACY",
        "BMAD_VERSION_OUT_OF_RANGE",
        "BMAD_MANAGED_FILE_EDITED",
    }


def test_real_v4_is_detected(real_installs: dict[str, Outcome], tmp_path: Path) -> None:
    root = installed(real_installs, "4.44.3", tmp_path)
    install = detect_install(root)
    assert (install.generation, install.version) == (Generation.V4, "4.44.3")
    assert install.tools == ("claude-code", "cursor")
    assert all(len(h) == 16 for h in install.managed_hashes.values())
    assert install.problems == ()
    edit_file(root, ".bmad-core/core-config.yaml", "\n# local\n")
    edited = [f for f in findings(root) if f.code == "BMAD_MANAGED_FILE_EDITED"]
    assert edited[0].paths == (".bmad-core/core-config.yaml",)


def test_real_upgrade_604_to_612_orphans_customizations_and_wrappers(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "upgrade", tmp_path)
    install = detect_install(root)
    assert (install.generation, install.version) == (Generation.V6_4, "6.12.0")
    found = {f.code: f for f in findings(root)}
    orphaned = found["BMAD_ORPHANED_CUSTOMIZE_YAML"]
    assert orphaned.paths[0] == "_bmad/_config/agents/bmm-pm.customize.yaml"
    assert orphaned.severity is Severity.ERROR
    assert ".claude/commands/bmad-agent-bmm-pm.md" in found["BMAD_STALE_COMMAND_WRAPPERS"].paths
    assert ".cursor/commands/bmad-agent-bmm-pm.md" in found["BMAD_STALE_COMMAND_WRAPPERS"].paths
    # what the real installer does: the hand-edited 6.0 agent file is simply gone
    assert not (root / "_bmad/bmm/agents/pm.md").exists()


# ---------------------------------------------------------------- BMAD's rules on real installs


def errors_of(found: Sequence[Finding]) -> set[str]:
    return {f.code for f in found if f.severity is Severity.ERROR}


def test_real_612_tool_the_install_does_not_list_gets_no_skills(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.12.0", tmp_path)
    # a skill bmadweb wrote there earlier does not make Cline a BMAD tool
    (root / ".cline/skills/dev-leader").mkdir(parents=True)
    (root / ".cline/skills/dev-leader/SKILL.md").write_text("---\nname: dev-leader\n---\n")
    wanted = manifest(tools="[claude-code, cursor, cline]")
    analysis, plan = plan_repo(root, wanted, manifest_revision="r1")
    (finding,) = [f for f in analysis.report.findings if f.code == "BMAD_TOOL_NOT_INSTALLED"]
    assert "cline" in finding.title
    assert "install --action update --tools claude-code,cursor,cline" in finding.recommendation
    written = [f.path for f in analysis.generated.files]
    assert ".claude/skills/dev-leader/SKILL.md" in written
    assert ".agents/skills/dev-leader/SKILL.md" in written
    assert not any(p.startswith(".cline/") for p in written)
    apply_plan(root, plan)
    assert detect_install(root).tools == (
        "claude-code",
        "cursor",
    )  # bmadweb's files changed nothing


def test_real_612_tool_added_by_the_installer_gets_skills_in_its_folder(
    real_612_with_cline: Outcome, tmp_path: Path
) -> None:
    root = installed({"cline": real_612_with_cline}, "cline", tmp_path)
    assert detect_install(root).tools == ("claude-code", "cursor", "cline")
    analysis = analyze_repo(root, manifest(tools="[claude-code, cursor, cline]"))
    assert "BMAD_TOOL_NOT_INSTALLED" not in codes(list(analysis.report.findings))
    written = {f.path for f in analysis.generated.files}
    assert ".cline/skills/dev-leader/SKILL.md" in written  # BMAD's platform code: .cline/skills
    assert ".cline/skills/qa-specialist/customize.toml" in written


def test_real_612_integration_into_a_renamed_workflow_names_the_new_one(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.12.0", tmp_path)
    hooks = (
        "integrations:\n  - workflow: bmad-create-prd\n"
        '    activation_steps_append: ["Ask dev-leader."]\n'
    )
    analysis = analyze_repo(root, manifest(extra=hooks))
    (finding,) = [f for f in analysis.report.findings if f.code == "BMAD_SKILL_RENAMED"]
    assert finding.severity is Severity.ERROR
    assert finding.title == "bmad-create-prd was renamed to bmad-prd in this install"
    assert "Change the manifest's workflow to bmad-prd" in finding.recommendation
    # the override is written as declared (and said so), not moved to the new id
    assert "_bmad/custom/bmad-create-prd.toml" in {f.path for f in analysis.generated.files}
    clean = analyze_repo(root, manifest(extra=hooks.replace("bmad-create-prd", "bmad-prd")))
    assert "BMAD_SKILL_RENAMED" not in codes(list(clean.report.findings))


def test_real_604_pm_customization_lands_in_the_agents_own_file(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.0.4", tmp_path)
    assert ("bmm", "pm") in detect_install(root).agents
    custom = 'customizations:\n  bmad-agent-pm:\n    principles: ["Short PRDs."]\n'
    analysis, plan = plan_repo(root, manifest(extra=custom), manifest_revision="r1")
    assert "BMAD_AGENT_NOT_INSTALLED" not in codes(list(analysis.report.findings))
    assert [f.path for f in analysis.generated.files] == [
        "_bmad/_config/agents/bmm-pm.customize.yaml"
    ]
    apply_plan(root, plan)
    # the installer's empty template for pm now carries the team's values
    assert "Short PRDs." in (root / "_bmad/_config/agents/bmm-pm.customize.yaml").read_text()
    assert detect_install(root).generation is Generation.V6_0  # bmadweb's lock changes nothing
    unknown = analyze_repo(root, manifest(extra=custom.replace("bmad-agent-pm", "bmad-agent-tea")))
    (finding,) = [f for f in unknown.report.findings if f.code == "BMAD_AGENT_NOT_INSTALLED"]
    assert "bmm-pm" in finding.explanation


def test_real_63_is_provisioned_with_skills(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.3.0", tmp_path)
    analysis, plan = plan_repo(root, manifest(), manifest_revision="r1")
    assert errors_of(analysis.report.findings) == set()
    written = {f.path for f in analysis.generated.files}
    assert {
        ".claude/skills/dev-leader/SKILL.md",
        ".cursor/skills/qa-specialist/SKILL.md",
    } <= written
    assert {f.kind for f in analysis.generated.files} == {"skill"}
    assert any("registered" in n and "6.4+" in n for n in analysis.report.notes)
    apply_plan(root, plan)
    again = detect_install(root)
    assert (again.generation, again.tools) == (Generation.V6_3, ("claude-code", "cursor"))


def test_real_v4_in_a_v4_range_is_not_an_error(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "4.44.3", tmp_path)
    analysis = analyze_repo(root, manifest(version=">=4"))
    assert errors_of(analysis.report.findings) == set()
    (finding,) = [f for f in analysis.report.findings if f.code == "BMAD_GENERATION_UNSUPPORTED"]
    assert "npx bmad-method@4.44.3 install --full --ide claude-code cursor" in (
        finding.recommendation
    )
    assert analysis.generated.files == ()
