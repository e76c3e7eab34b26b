"""Benchmark: gap analysis of 1,000 specialists, 50 MCP servers and 100 Claude Code
subagents against a 6.4-shaped repo of 5,000+ files.

Builds everything under a temporary folder: a BMAD 6.4 fixture install padded to more
than 5,000 files, a manifest of 50 leaders x 20 specialists for two tools, 50 MCP
servers (in .mcp.json and .cursor/mcp.json) and 100 subagents, provisioned once (so
every managed file and the lock exist), then a few hand edits (skills, a subagent, a
team server and a team key in .mcp.json) and one changed leader and server so that
several item states appear. `analyze_repo()` (install detection,
installation findings, generation and the gap report: what a run does) runs N times; the
baseline is reading and sha256-hashing the same target files in the same run. The two
alternate (and swap which goes first), and each is measured in wall time and in CPU time
of this process; both ratios must stay within the target, and the baseline's own time is
printed beside them, so that figures from different machines can be compared.

The manifest is built in memory: as one YAML document it would exceed the loader's
10,000-node limit (docs/security.md), which admits about 750 specialists. The bench measures
how the engine scales past what a single manifest may declare.

Usage: uv run python bench/gap.py [--runs 7]. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from provisioning.demo.bmad_installs import build_v64
from provisioning.engine.manifest import Manifest
from provisioning.engine.paths import LOCK_PATH
from provisioning.engine.pipeline import analyze_repo, plan_repo
from provisioning.engine.plan import apply_plan

# The analysis may cost at most this many times reading and hashing every file it looks
# at (wall time and CPU time alike); the time itself depends on the machine.
TARGET_RATIO = 4.0
DOMAINS = ("frontend", "clinical data", "quality assurance", "payments")
MCP_SERVERS = 50
SUBAGENTS = 100


def mcp_servers(count: int, first_version: str = "1") -> dict[str, Any]:
    servers: dict[str, Any] = {}
    for i in range(count):
        if i % 5 == 4:
            servers[f"remote-{i}"] = {
                "type": "http",
                "url": f"https://mcp-{i}.example.test/mcp",
                "headers": {"Authorization": f"Bearer ${{REMOTE_{i}_TOKEN}}"},
            }
        else:
            version = first_version if i == 0 else "1"
            servers[f"server-{i}"] = {
                "command": "npx",
                "args": ["-y", f"@example/mcp-server-{i}@{version}"],
                "env": {f"SERVER_{i}_TOKEN": f"${{SERVER_{i}_TOKEN}}", "LOG_LEVEL": "info"},
            }
    return servers


def subagents(count: int, servers: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "id": f"subagent-{i}",
            "description": f"Reviews area {i} of the code base. Use proactively.",
            "tools": ["Read", "Grep", "Glob"] if i % 2 else [],
            "model": "sonnet" if i % 3 else "inherit",
            "mcp_servers": [servers[i % len(servers)], servers[(i * 7 + 1) % len(servers)]],
            "body": f"You review area {i}.\n\nReport findings by severity.\n",
        }
        for i in range(count)
    ]


def bench_manifest(
    leaders: int,
    per_leader: int,
    first_description: str = "Routes work.",
    first_server_version: str = "1",
) -> Manifest:
    data: dict[str, Any] = {
        "apiVersion": "bmadweb/v1",
        "project": {
            "name": "bench",
            "bmad_version": ">=6.4,<7",
            "tools": ["claude-code", "cursor"],
        },
        "leaders": [
            {
                "id": f"leader-{i}",
                "name": f"Leader {i}",
                "domain": DOMAINS[i % len(DOMAINS)],
                "description": first_description if i == 0 else f"Routes work of team {i}.",
                "specialists": [
                    {
                        "id": f"spec-{i}-{j}",
                        "name": f"Specialist {i}.{j}",
                        "domain": DOMAINS[j % len(DOMAINS)],
                        "skills": ["review", f"topic-{j}"],
                        "compliance_notes": "Synthetic data only." if j % 4 == 1 else None,
                    }
                    for j in range(per_leader)
                ],
            }
            for i in range(leaders)
        ],
        "customizations": {"bmad-agent-pm": {"principles": ["Short PRDs."]}},
        "mcp_servers": mcp_servers(MCP_SERVERS, first_server_version),
        "mcp_servers_closed": True,
    }
    data["claude_agents"] = subagents(SUBAGENTS, sorted(data["mcp_servers"]))
    return Manifest.model_validate(data)


def build_repo(root: Path, manifest: Manifest) -> int:
    build_v64(root, extra_files=5000)
    apply_plan(root, plan_repo(root, manifest, manifest_revision="bench")[1])
    for i in range(10):  # hand edits: modified (and one conflict below)
        path = root / f".claude/skills/spec-{i}-0/SKILL.md"
        path.write_text(path.read_text() + "\nTeam note.\n")
    (root / ".claude/skills/leader-0/SKILL.md").write_text("hand edit\n")
    agent = root / ".claude/agents/subagent-1.md"  # modified
    agent.write_text(agent.read_text() + "\nTeam note.\n")
    mcp = root / ".mcp.json"  # a team server and a team key in one of ours: a merge below
    config = json.loads(mcp.read_text())
    config["mcpServers"]["team-own"] = {"command": "team-mcp"}
    config["mcpServers"]["server-0"]["timeout"] = 30
    mcp.write_text(json.dumps(config, indent=2) + "\n")
    return sum(1 for p in root.rglob("*") if p.is_file())


def baseline(root: Path, paths: list[str]) -> None:
    for rel in paths:
        with contextlib.suppress(FileNotFoundError):
            hashlib.sha256((root / rel).read_bytes()).hexdigest()


def timed(fn: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bmadweb-bench-") as tmp:
        root = Path(tmp) / "repo"
        files = build_repo(root, bench_manifest(50, 20))
        # leader-0 and server-0 now differ
        manifest = bench_manifest(50, 20, "Routes all the work.", first_server_version="2")
        analysis = analyze_repo(root, manifest)  # also the warm-up (imports, caches)
        report = analysis.report
        targets = [f.path for f in analysis.generated.files] + [LOCK_PATH]
        gap: list[tuple[float, float]] = []
        base: list[tuple[float, float]] = []
        for i in range(args.runs):  # alternate, and swap which goes first
            order = [
                (gap, lambda: analyze_repo(root, manifest)),
                (base, lambda: baseline(root, targets)),
            ]
            for out, fn in order if i % 2 == 0 else reversed(order):
                out.append(timed(fn))
    median, base_median = (statistics.median(t for t, _ in side) for side in (gap, base))
    cpu, base_cpu = (statistics.median(c for _, c in side) for side in (gap, base))
    ratio, cpu_ratio = median / base_median, cpu / base_cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"repo files: {files}, managed items: {len(report.items)}, states: {report.counts()}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    fastest = min(t for t, _ in gap)
    print(
        f"analyze_repo(): median {median:.3f} s (min {fastest:.3f} s), CPU {cpu:.3f} s "
        f"over {args.runs} runs"
    )
    print(
        f"baseline (read + sha256 of the {len(targets)} target files): median "
        f"{base_median:.3f} s, CPU {base_cpu:.3f} s"
    )
    print(
        f"wall ratio {ratio:.1f}x against a baseline of {base_median:.3f} s; CPU ratio "
        f"{cpu_ratio:.1f}x against {base_cpu:.3f} s CPU (targets <= {TARGET_RATIO:g} each); "
        f"peak RSS {peak_mb:.0f} MB"
    )
    failed = [
        f"{what} ratio {value:.1f} > {TARGET_RATIO:g}"
        for what, value in (("wall", ratio), ("CPU", cpu_ratio))
        if value > TARGET_RATIO
    ]
    print("PASS" if not failed else "FAIL: " + "; ".join(failed))
    result = {
        "median_s": round(median, 4),
        "baseline_median_s": round(base_median, 4),
        "ratio": round(ratio, 2),
        "cpu_median_s": round(cpu, 4),
        "baseline_cpu_median_s": round(base_cpu, 4),
        "cpu_ratio": round(cpu_ratio, 2),
        "peak_rss_mb": round(peak_mb, 1),
        "files": files,
        "items": len(report.items),
        "runs": args.runs,
        "cpus": os.cpu_count(),
        "passed": not failed,
    }
    print(json.dumps(result))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
