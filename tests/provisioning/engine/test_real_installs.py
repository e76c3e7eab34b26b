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


def installed(outcomes: dict[str, Outcome], key: str, tmp_path: Path) -> Path:
    """A private copy of one install (tests may edit it), or a skip with the reason."""
    outcome = outcomes[key]
    if isinstance(outcome, str):
        skip_or_fail(outcome)
    copy = tmp_path / key
    shutil.copytree(outcome, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    return copy


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


def test_real_63_is_detected_and_unsupported(
    real_installs: dict[str, Outcome], tmp_path: Path
) -> None:
    root = installed(real_installs, "6.3.0", tmp_path)
    install = detect_install(root)
    assert (install.generation, install.version) == (Generation.V6_3, "6.3.0")
    assert install.tools == ("claude-code", "cursor")
    assert ".cursor/skills/bmad-help/SKILL.md" in install.managed_hashes
    assert codes(findings(root)) == {"BMAD_GENERATION_UNSUPPORTED", "BMAD_VERSION_OUT_OF_RANGE"}


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
