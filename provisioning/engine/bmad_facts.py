"""Facts about BMAD Method that bmadweb relies on, kept as bmadweb's own data.

Each table says which `bmad-method` package it was read from. Only names are recorded
(platform codes, folder names, skill ids); docs/bmad.md#tool-folders and
docs/bmad.md#bmad-judges say what bmadweb does with them.
"""

from __future__ import annotations

# Platform codes (the manifest's `tools`, the installer's `--tools`) and the folder each
# one's skills are installed to, 6.4 and later. Read from the installer's platform table
# of bmad-method 6.12.0; 6.5.0, 6.8.0 and 6.10.0 map every code they know the same way
# (6.10 lacks antigravity-cli, grok, polytoken and zcode; 6.8 also codewhale and hermes).
SKILL_DIRS_64: dict[str, str] = {
    "adal": ".adal/skills",
    "amp": ".agents/skills",
    "antigravity": ".agent/skills",
    "antigravity-cli": ".agents/skills",
    "auggie": ".agents/skills",
    "bob": ".bob/skills",
    "claude-code": ".claude/skills",
    "cline": ".cline/skills",
    "codebuddy": ".codebuddy/skills",
    "codewhale": ".codewhale/skills",
    "codex": ".agents/skills",
    "command-code": ".agents/skills",
    "cortex": ".cortex/skills",
    "crush": ".agents/skills",
    "cursor": ".agents/skills",
    "droid": ".factory/skills",
    "firebender": ".firebender/skills",
    "gemini": ".agents/skills",
    "github-copilot": ".agents/skills",
    "goose": ".agents/skills",
    "grok": ".agents/skills",
    "hermes": ".agents/skills",
    "iflow": ".iflow/skills",
    "junie": ".junie/skills",
    "kilo": ".agents/skills",
    "kimi-code": ".agents/skills",
    "kiro": ".kiro/skills",
    "kode": ".kode/skills",
    "mistral-vibe": ".agents/skills",
    "mux": ".agents/skills",
    "neovate": ".neovate/skills",
    "ona": ".ona/skills",
    "openclaw": ".agents/skills",
    "opencode": ".agents/skills",
    "openhands": ".agents/skills",
    "pi": ".agents/skills",
    "pochi": ".agents/skills",
    "polytoken": ".agents/skills",
    "qoder": ".qoder/skills",
    "qwen": ".qwen/skills",
    "replit": ".agents/skills",
    "roo": ".agents/skills",
    "rovo-dev": ".agents/skills",
    "trae": ".trae/skills",
    "warp": ".agents/skills",
    "windsurf": ".agents/skills",
    "zcode": ".zcode/skills",
    "zencoder": ".zencoder/skills",
}

# The same for the first skill releases, 6.1 to 6.3 (read from bmad-method 6.1.0, 6.2.0
# and 6.3.0, which agree on every code they share; junie, ona and qoder arrived in 6.3).
# Most tools had a folder of their own then; codex already used .agents/skills.
SKILL_DIRS_PRE_64: dict[str, str] = {
    "antigravity": ".agent/skills",
    "auggie": ".augment/skills",
    "claude-code": ".claude/skills",
    "cline": ".cline/skills",
    "codebuddy": ".codebuddy/skills",
    "codex": ".agents/skills",
    "crush": ".crush/skills",
    "cursor": ".cursor/skills",
    "gemini": ".gemini/skills",
    "github-copilot": ".github/skills",
    "iflow": ".iflow/skills",
    "junie": ".agents/skills",
    "kilo": ".kilocode/skills",
    "kiro": ".kiro/skills",
    "ona": ".ona/skills",
    "opencode": ".opencode/skills",
    "pi": ".pi/skills",
    "qoder": ".qoder/skills",
    "qwen": ".qwen/skills",
    "roo": ".roo/skills",
    "rovo-dev": ".rovodev/skills",
    "trae": ".trae/skills",
    "windsurf": ".windsurf/skills",
}

# BMAD 4's `--ide` names (bmad-method 4.44.3), and the 6.x code of the same tool where the
# name changed. `install-manifest.yaml` records these names under `ides_setup`.
V4_IDES: tuple[str, ...] = (
    "cursor",
    "claude-code",
    "iflow-cli",
    "crush",
    "windsurf",
    "trae",
    "roo",
    "cline",
    "gemini",
    "qwen-code",
    "github-copilot",
    "kilo",
    "auggie-cli",
    "codex",
    "codex-web",
    "opencode",
)
V4_IDE_TO_CODE: dict[str, str] = {
    "iflow-cli": "iflow",
    "qwen-code": "qwen",
    "auggie-cli": "auggie",
    "codex-web": "codex",
}

# Skill folder names BMAD's installer deletes from every tool folder on each install and
# update: the entries of `removals.txt` in bmad-method 6.12.0 (removed or renamed skills).
REMOVED_SKILL_IDS: tuple[str, ...] = (
    "bmad-agent-sm",
    "bmad-agent-qa",
    "bmad-agent-quick-flow-solo-dev",
    "bmad-create-product-brief",
    "bmad-product-brief-preview",
    "bmad-quick-spec",
    "bmad-quick-flow",
    "bmad-quick-dev-new-preview",
    "bmad-init",
    "bmad-agent-bmm-analyst",
    "bmad-agent-bmm-architect",
    "bmad-agent-bmm-dev",
    "bmad-agent-bmm-pm",
    "bmad-agent-bmm-qa",
    "bmad-agent-bmm-quick-flow-solo-dev",
    "bmad-agent-bmm-sm",
    "bmad-agent-bmm-tech-writer",
    "bmad-agent-bmm-ux-designer",
    "bmad-bmm-check-implementation-readiness",
    "bmad-bmm-code-review",
    "bmad-bmm-correct-course",
    "bmad-bmm-create-architecture",
    "bmad-bmm-create-epics-and-stories",
    "bmad-bmm-create-prd",
    "bmad-bmm-create-product-brief",
    "bmad-bmm-create-story",
    "bmad-bmm-create-ux-design",
    "bmad-bmm-dev-story",
    "bmad-bmm-document-project",
    "bmad-bmm-domain-research",
    "bmad-bmm-edit-prd",
    "bmad-bmm-generate-project-context",
    "bmad-bmm-market-research",
    "bmad-bmm-qa-generate-e2e-tests",
    "bmad-bmm-quick-dev",
    "bmad-bmm-quick-spec",
    "bmad-bmm-retrospective",
    "bmad-bmm-sprint-planning",
    "bmad-bmm-sprint-status",
    "bmad-bmm-technical-research",
    "bmad-bmm-validate-prd",
    "bmad-distillator",
    "bmad-create-ux-design",
    "bmad-investigate",
    "bmad-auto-setup",
    "bmad-index-docs",
    "bmad-shard-doc",
    "bmad-agent-tech-writer",
    "bmad-check-implementation-readiness",
)

# The folder under each installed module that holds BMAD's deprecated compatibility skills
# and a README table naming what each one forwards to (bmad-method 6.12.0).
SHIMS_FOLDER = "v6-shims"
