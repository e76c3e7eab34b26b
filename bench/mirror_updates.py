"""Benchmark: what a mirror's update costs as updates pile up (1 to 50, after which the
mirror is cloned afresh), as bmadweb updates it, against the same mirrors keeping each
fetched delta as a pack: the alternative docs/performance.md records as not kept.

N local bare repositories, each the benches' seed (a BMAD 6.12 install with 1,000 files
of the project's own, bench/seed_repos.py) with a commit of its own, get two mirrors
through the door (`git_ops.mirror_use`, depth 100, in two folders). The baseline is
bmadweb's own: git's default writes a delta of fewer than 100 objects as loose objects.
The candidate's mirrors carry, in their own `.git/config`, `fetch.unpackLimit=1` (the
delta as one pack) and `pack.threads=1` (indexed by one thread); nothing else differs.

Each round: a team's push on every repository (a changed file and a new one, as in
bench/fleet.py; not timed), then, on every mirror of both folders, the git work of an
analysis that reuses its last report: the update (fetch the delta, list the tip; the
work tree is left as it is) and the history read for lost hand edits (`git log` of the
BMAD folders, 100 commits). The two folders swap which goes first every round, so a busy
moment of the machine hits both.

Figures per tenth of the rounds: CPU per update (this process and the git processes it
reaped, getrusage) and wall time, the baseline's absolute figures beside each ratio.

Usage: uv run python bench/mirror_updates.py [--repos 10] [--rounds 50]. The last line
printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import make_remotes, push_everywhere  # noqa: E402 - after the path
from bench.seed_repos import git, make_seed  # noqa: E402

BASELINE, CANDIDATE = "loose objects (bmadweb)", "delta as a pack"
DEPTH = 100  # settings.HISTORY_DEPTH's default
KEY = "m"


def cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def analyse(remote: Path, root: Path) -> Path:
    """A reusing analysis's git work on the mirror under `root`; returns its repository."""
    from provisioning import git_ops
    from provisioning.engine.history import watched_paths

    policy = git_ops.GitPolicy(allow_local=True)
    with git_ops.mirror_use(
        str(remote), root=root, key=KEY, branch="main", policy=policy, credentials=None,
        depth=DEPTH, fingerprint_key=b"bench", need_tree=lambda _tip, _folder: False,
    ) as mirrored:  # fmt: skip
        git_ops.changed_files(
            mirrored.repo, watched_paths(), max_commits=DEPTH, policy=policy,
            rev=mirrored.repo.head_sha,
        )  # fmt: skip
        return mirrored.repo.path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=50, help="at most 50 (MAX_UPDATES)")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 50 or args.repos < 1:
        parser.error("--rounds must be 1-50 and --repos at least 1")
    with tempfile.TemporaryDirectory(prefix="bmadweb-mirror-updates-") as tmp_name:
        tmp = Path(tmp_name)
        repos = tmp / "repos"
        repos.mkdir()
        remotes = make_remotes(make_seed(tmp, 1000), repos, args.repos)
        roots = {BASELINE: tmp / "loose", CANDIDATE: tmp / "pack"}
        for i, remote in enumerate(remotes):  # the clones: not timed
            analyse(remote, roots[BASELINE] / str(i))
            repo = analyse(remote, roots[CANDIDATE] / str(i))
            git("config", "fetch.unpackLimit", "1", cwd=repo)
            git("config", "pack.threads", "1", cwd=repo)
        spent: dict[str, list[tuple[float, float]]] = {BASELINE: [], CANDIDATE: []}
        order = [BASELINE, CANDIDATE]
        for round_ in range(2, args.rounds + 2):
            push_everywhere(remotes, round_)
            order.reverse()
            for name in order:
                cpu, wall = cpu_s(), time.perf_counter()
                for i, remote in enumerate(remotes):
                    analyse(remote, roots[name] / str(i))
                spent[name].append(
                    ((cpu_s() - cpu) / args.repos, (time.perf_counter() - wall) / args.repos)
                )
        packs = len(list((roots[CANDIDATE] / "0" / KEY / "repo/.git/objects/pack").glob("*.pack")))
        loose = sum(
            1
            for folder in (roots[BASELINE] / "0" / KEY / "repo/.git/objects").iterdir()
            if len(folder.name) == 2
            for _ in folder.iterdir()
        )
    print(f"after {args.rounds} updates: {loose} loose objects in a baseline mirror, "
          f"{packs} packs in a candidate's")  # fmt: skip
    groups = []
    size = max(1, args.rounds // 5)
    for start in range(0, args.rounds, size):
        figures: dict[str, dict[str, float]] = {}
        for name in (BASELINE, CANDIDATE):
            chunk = spent[name][start : start + size]
            figures[name] = {
                "cpu_ms": round(sum(c for c, _ in chunk) / len(chunk) * 1000, 2),
                "wall_ms": round(sum(w for _, w in chunk) / len(chunk) * 1000, 2),
            }
        base, cand = figures[BASELINE], figures[CANDIDATE]
        updates = f"{start + 1}-{min(start + size, args.rounds)}"
        row = {
            "updates": updates,
            **figures,
            "cpu_ratio": round(base["cpu_ms"] / cand["cpu_ms"], 2),
            "wall_ratio": round(base["wall_ms"] / cand["wall_ms"], 2),
        }
        groups.append(row)
        print(
            f"updates {updates:>5}: baseline ({BASELINE}) {base['cpu_ms']:6.2f} ms CPU, "
            f"{base['wall_ms']:6.2f} ms wall per update; {CANDIDATE} {cand['cpu_ms']:6.2f} ms "
            f"CPU, {cand['wall_ms']:6.2f} ms wall: the baseline costs {row['cpu_ratio']:.2f}x "
            f"its CPU, {row['wall_ratio']:.2f}x its wall time"
        )
    print(json.dumps({"repos": args.repos, "rounds": args.rounds, "groups": groups}))


if __name__ == "__main__":
    main()
