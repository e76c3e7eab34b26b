"""Per-project mirrors (docs/git-door.md#mirrors): a reused mirror is exactly what a fresh
clone of the remote's tip would be (files, history, the tree's checks), whatever happened
upstream or to the mirror itself; one user at a time; LRU eviction within a budget; no
credential on disk. Real bare remotes, real git."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from provisioning import git_ops
from provisioning.git_ops import GitPolicy, mirror_use, mirrors_evict
from provisioning.git_ops.mirror import Mirrored
from provisioning.git_ops.process import tree_bytes
from tests.provisioning.git_ops.git_helpers import TOKEN, make_remote, plain_env, run_git

KEY = b"test-fingerprint-key"


def use(remote: Path, root: Path, policy: GitPolicy, *, key: str = "1", **options: object):
    """mirror_use with the tests' defaults (a context manager)."""
    values: dict[str, object] = {
        "root": root,
        "key": key,
        "branch": "main",
        "policy": policy,
        "credentials": None,
        "depth": 10,
        "fingerprint_key": KEY,
    }
    return mirror_use(str(remote), **(values | options))  # type: ignore[arg-type]


def once(remote: Path, root: Path, policy: GitPolicy, **options: object) -> Mirrored:
    with use(remote, root, policy, **options) as mirrored:
        return mirrored


def push(remote: Path, files: dict[str, str | None], message: str = "change") -> str:
    """A team's commit on the remote's main: `None` deletes a file; returns the new tip."""
    work = remote.parent / f"push-{len(list(remote.parent.iterdir()))}"
    run_git(remote.parent, "clone", "-q", str(remote), str(work))
    for rel, text in files.items():
        if text is None:
            (work / rel).unlink()
        else:
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            (work / rel).write_text(text)
    run_git(work, "add", "-A")
    run_git(work, "commit", "-q", "-m", message)
    run_git(work, "push", "-q", "origin", "main")
    return run_git(work, "rev-parse", "HEAD")


def files_on_disk(repo: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(repo):
        if Path(dirpath) == repo:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            found[path.relative_to(repo).as_posix()] = path.read_bytes()
    return found


def files_at_tip(remote: Path) -> dict[str, bytes]:
    names = run_git(remote, "ls-tree", "-r", "--name-only", "main").splitlines()
    env = plain_env(remote)
    return {
        name: subprocess.run(
            ["git", "show", f"main:{name}"], cwd=remote, env=env, capture_output=True, check=True
        ).stdout
        for name in names
    }


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "mirrors"


# --- Reuse sees exactly the remote's tip ----------------------------------------------------


def test_a_warm_use_fetches_the_new_push(remote: Path, root: Path, policy: GitPolicy) -> None:
    first = once(remote, root, policy)
    assert first.reused is False
    assert first.previous_head is None
    sha = push(remote, {"README.md": "hello again\n", "docs/new.md": "new\n"})
    second = once(remote, root, policy)
    assert second.reused is True
    assert second.repo.head_sha == sha
    assert second.previous_head == first.repo.head_sha  # what the mirror held before
    third = once(remote, root, policy)
    assert third.previous_head == third.repo.head_sha == sha  # nothing new
    assert second.repo.path == first.repo.path
    assert files_on_disk(second.repo.path) == files_at_tip(remote)
    assert (second.repo.path / "docs/new.md").read_text() == "new\n"


def test_a_use_that_needs_no_work_tree_leaves_it_and_the_next_use_makes_it_exact(
    remote: Path, root: Path, policy: GitPolicy
) -> None:
    first = once(remote, root, policy)
    before = files_on_disk(first.repo.path)
    sha = push(remote, {"README.md": "changed\n", "docs/new.md": "new\n"})
    asked: list[tuple[str, Path]] = []

    def need_tree(tip: git_ops.ClonedRepo, folder: Path) -> bool:
        assert tip.tree is not None
        assert "docs/new.md" in tip.tree  # the new tip's listing, before any reset
        asked.append((tip.head_sha, folder))
        return False

    lazy = once(remote, root, policy, need_tree=need_tree)
    assert asked == [(sha, root / "1")]
    assert lazy.reused is True
    assert lazy.tree_exact is False
    assert lazy.folder == root / "1"
    assert lazy.repo.head_sha == sha
    assert files_on_disk(lazy.repo.path) == before  # untouched: still the older commit
    exact = once(remote, root, policy, need_tree=lambda tip, folder: True)
    assert exact.tree_exact is True
    assert files_on_disk(exact.repo.path) == files_at_tip(remote)
    lazy_again = once(remote, root, policy, need_tree=need_tree)  # nothing new: no reset
    assert files_on_disk(lazy_again.repo.path) == files_at_tip(remote)


def test_the_fetched_tip_is_read_from_the_ref_files_loose_or_packed(
    remote: Path, root: Path, policy: GitPolicy
) -> None:
    """The tip's id comes from the mirror's own ref files (no process); anything but a
    plain id there is no answer, and git is asked instead."""
    from provisioning.git_ops.mirror import _ref_file_value

    first = once(remote, root, policy)
    sha = push(remote, {"README.md": "again\n"})
    second = once(remote, root, policy)
    assert second.repo.head_sha == sha == run_git(remote, "rev-parse", "main")
    repo, ref = first.repo.path, "refs/remotes/origin/main"
    loose = repo / ".git" / ref
    assert loose.read_text().strip() == sha  # the fetch wrote it loose
    assert _ref_file_value(repo, ref) == sha
    run_git(repo, "pack-refs", "--all", "--prune")
    assert not loose.exists()
    assert _ref_file_value(repo, ref) == sha  # packed
    loose.write_text("0" * 40 + "\n")  # a loose ref wins over the packed one, as in git
    assert _ref_file_value(repo, ref) == "0" * 40
    loose.write_text("not an id\n")
    assert _ref_file_value(repo, ref) is None
    loose.write_text(f"{sha}\n{sha}\n")  # more than one id's line
    assert _ref_file_value(repo, ref) is None
    loose.unlink()
    (repo / "elsewhere").write_text(f"{sha}\n")
    loose.symlink_to(repo / "elsewhere")  # never followed out of the ref files
    assert _ref_file_value(repo, ref) is None
    loose.unlink()
    packed = repo / ".git" / "packed-refs"
    assert packed.read_text().startswith("# pack-refs with:")  # git's header is skipped
    packed.rename(repo / "packed-elsewhere")
    packed.symlink_to(repo / "packed-elsewhere")
    assert _ref_file_value(repo, ref) is None
    packed.unlink()
    (repo / "packed-elsewhere").rename(packed)
    assert _ref_file_value(repo, ref) == sha
    packed.write_text(packed.read_text().replace(sha, "z" * 40))  # not an id: no answer
    assert _ref_file_value(repo, ref) is None
    packed.unlink()
    os.mkfifo(packed)  # a FIFO is never waited on
    assert _ref_file_value(repo, ref) is None
    packed.unlink()
    loose.write_text("ref: refs/remotes/origin/elsewhere\n")  # a link to nothing
    assert _ref_file_value(repo, ref) is None
    assert _ref_file_value(repo, "refs/remotes/origin/absent") is None
    assert _ref_file_value(root / "no-such-repo", ref) is None
    third = once(remote, root, policy)  # the next fetch writes the ref anew
    assert third.reused is True
    assert third.repo.head_sha == sha


def test_the_listing_refuses_an_id_that_is_not_a_commit(
    remote: Path, root: Path, policy: GitPolicy
) -> None:
    from provisioning.git_ops.process import git_session
    from provisioning.git_ops.repo import check_tree_size

    repo = once(remote, root, policy).repo.path
    tree = run_git(repo, "rev-parse", "HEAD^{tree}")
    with git_session(policy) as session:
        assert "README.md" in check_tree_size(session, repo, run_git(repo, "rev-parse", "HEAD"))
        with pytest.raises(git_ops.GitOpsError):
            check_tree_size(session, repo, tree)


def test_files_deleted_upstream_disappear(remote: Path, root: Path, policy: GitPolicy) -> None:
    once(remote, root, policy)
    push(remote, {"docs/a.txt": None})
    mirrored = once(remote, root, policy)
    assert mirrored.reused is True
    assert not (mirrored.repo.path / "docs").exists()
    assert files_on_disk(mirrored.repo.path) == files_at_tip(remote) == {"README.md": b"hello\n"}


def test_a_force_push_of_a_rewritten_history_is_followed(
    remote: Path, root: Path, policy: GitPolicy, tmp_path: Path
) -> None:
    once(remote, root, policy)
    push(remote, {"docs/b.txt": "b\n"})
    once(remote, root, policy)
    other = make_remote(tmp_path / "other", {"only.txt": "rewritten\n"})
    run_git(tmp_path, "push", "-q", "--force", str(remote), "refs/heads/main:refs/heads/main",
            env={**plain_env(tmp_path), "GIT_DIR": str(other)})  # fmt: skip
    mirrored = once(remote, root, policy)
    assert mirrored.reused is True
    assert mirrored.repo.head_sha == run_git(remote, "rev-parse", "main")
    assert files_on_disk(mirrored.repo.path) == {"only.txt": b"rewritten\n"}
    history = run_git(mirrored.repo.path, "log", "--format=%s", "HEAD").splitlines()
    assert history == ["initial"]  # the new root only, nothing of the old history


def test_the_history_is_a_fresh_clones_at_the_same_depth(
    tmp_path: Path, root: Path, policy: GitPolicy
) -> None:
    remote = make_remote(tmp_path / "deep", {"f.txt": "0\n"})
    for i in range(1, 6):
        push(remote, {"f.txt": f"{i}\n", "g.txt": f"g{i}\n"}, message=f"c{i}")
    once(remote, root, policy, depth=3)
    for i in range(6, 8):
        push(remote, {"f.txt": f"{i}\n"}, message=f"c{i}")
    mirrored = once(remote, root, policy, depth=3)
    fresh = git_ops.clone(str(remote), tmp_path / "fresh", branch="main", policy=policy, depth=3)
    paths = ["f.txt", "g.txt"]
    warm = git_ops.changed_files(mirrored.repo, paths, max_commits=10, policy=policy)
    cold = git_ops.changed_files(fresh, paths, max_commits=10, policy=policy)
    assert [c.subject for c in warm] == ["c5", "c6", "c7"]
    assert warm == cold


def test_a_local_tamper_is_reset(tmp_path: Path, root: Path, policy: GitPolicy) -> None:
    remote = make_remote(
        tmp_path / "r", {"README.md": "hello\n", "docs/a.txt": "a\n", ".gitignore": "*.log\n"}
    )
    repo = once(remote, root, policy).repo.path
    (repo / "README.md").write_text("hand-modified\n")
    (repo / "docs/a.txt").unlink()
    (repo / "untracked.txt").write_text("left behind\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "nested/deeper").mkdir(parents=True)
    (repo / "nested/deeper/x.md").write_text("x\n")
    run_git(repo / "nested", "init", "-q")  # a nested repository, too
    mirrored = once(remote, root, policy)
    assert mirrored.reused is True
    assert files_on_disk(repo) == files_at_tip(remote)


# --- Broken mirrors are replaced --------------------------------------------------------------


@pytest.mark.parametrize(
    "damage", ["objects", "head", "state", "state-fifo", "state-too-long", "no-repository"]
)
def test_a_corrupt_or_half_written_mirror_is_cloned_afresh(
    remote: Path, root: Path, policy: GitPolicy, damage: str
) -> None:
    repo = once(remote, root, policy).repo.path
    sha = push(remote, {"README.md": "after the damage\n"})
    if damage == "objects":
        for dirpath, _dirs, names in os.walk(repo / ".git/objects"):
            for name in names:
                Path(dirpath, name).chmod(0o600)
                Path(dirpath, name).write_bytes(b"garbage")
    elif damage == "head":
        (repo / ".git/HEAD").write_text("nonsense\n")
    elif damage == "state":  # a worker killed between the first change and the new state
        (root / "1" / "state.json").unlink()
        (repo / "README.md").write_text("half-written\n")
    elif damage == "state-fifo":  # never waited on: read without blocking, then refused
        (root / "1" / "state.json").unlink()
        os.mkfifo(root / "1" / "state.json")
    elif damage == "state-too-long":  # valid JSON, padded past what a state can be
        state = root / "1" / "state.json"
        state.write_text(state.read_text() + " " * 5000)
    else:
        shutil.rmtree(repo / ".git")  # the folder stays, its repository is gone
    mirrored = once(remote, root, policy)
    if damage != "objects":  # no state, no repository, or a step that fails: a fresh clone
        assert mirrored.reused is False
    # Unreadable objects: git may also find that it has nothing and fetch the whole tip
    # again. Either way the result is exactly the tip.
    assert mirrored.repo.head_sha == sha
    assert files_on_disk(mirrored.repo.path) == files_at_tip(remote)
    assert once(remote, root, policy).reused is True  # and the new one is reused again


# --- What a mirror is made for ----------------------------------------------------------------


def test_another_url_or_other_credentials_clone_afresh(
    remote: Path, root: Path, policy: GitPolicy, tmp_path: Path
) -> None:
    token_a = git_ops.Credentials(https_token=TOKEN)
    token_b = git_ops.Credentials(https_token=TOKEN + "-rotated")
    assert once(remote, root, policy, credentials=token_a).reused is False
    assert once(remote, root, policy, credentials=token_a).reused is True
    assert once(remote, root, policy, credentials=token_b).reused is False
    assert once(remote, root, policy, credentials=None).reused is False
    moved = make_remote(tmp_path / "moved", {"moved.txt": "elsewhere\n"})
    mirrored = once(moved, root, policy)
    assert mirrored.reused is False
    assert files_on_disk(mirrored.repo.path) == {"moved.txt": b"elsewhere\n"}


def test_credentials_are_never_written_into_the_mirror(
    remote: Path, root: Path, policy: GitPolicy
) -> None:
    credentials = git_ops.Credentials(https_token=TOKEN, ssh_private_key="PRIVATE-KEY-" + TOKEN)
    once(remote, root, policy, credentials=credentials)
    push(remote, {"README.md": "v2\n"})
    assert once(remote, root, policy, credentials=credentials).reused is True
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            data = Path(dirpath, name).read_bytes()
            assert TOKEN.encode() not in data, Path(dirpath, name)
    state = json.loads((root / "1" / "state.json").read_text())
    assert set(state) == {"fingerprint", "head", "updates"}
    config = (root / "1" / "repo/.git/config").read_text()
    assert "url = " + str(remote) in config  # the plain URL, nothing else


def test_two_users_never_share_a_mirror(remote: Path, root: Path, tmp_path: Path) -> None:
    patient = GitPolicy(allow_local=True, timeout_s=0.5, temp_base=tmp_path / "work")
    with use(remote, root, patient):
        with pytest.raises(git_ops.GitTimeout, match="busy"):
            once(remote, root, patient)
        assert mirrors_evict(root, budget_bytes=0) == []  # in use: never evicted
    released = threading.Event()

    def second() -> None:
        once(remote, root, GitPolicy(allow_local=True, timeout_s=20, temp_base=tmp_path / "w"))
        released.set()

    with use(remote, root, patient):
        thread = threading.Thread(target=second)
        thread.start()
        assert not released.wait(0.3)  # waits for the lock...
    thread.join(10)
    assert released.is_set()  # ...and gets it once the first user is done


# --- The tree's checks on the warm path -------------------------------------------------------


def test_a_warm_update_refuses_a_tree_over_the_file_budget_and_removes_the_mirror(
    remote: Path, root: Path, tmp_path: Path
) -> None:
    policy = GitPolicy(allow_local=True, max_repo_files=5, temp_base=tmp_path / "work")
    once(remote, root, policy)
    push(remote, {f"many/{i}.txt": f"{i}\n" for i in range(6)})
    with pytest.raises(git_ops.GitLimitExceeded, match="files"):
        once(remote, root, policy)
    assert not (root / "1").exists()
    assert mirrors_evict(root, budget_bytes=0) == []  # nothing left counted either


def test_a_warm_update_refuses_a_tree_over_the_byte_budget(
    remote: Path, root: Path, tmp_path: Path
) -> None:
    policy = GitPolicy(allow_local=True, max_repo_bytes=64 * 1024, temp_base=tmp_path / "work")
    once(remote, root, policy)
    push(remote, {"big.bin": os.urandom(48 * 1024).hex()})  # 96 KiB of text
    with pytest.raises(git_ops.GitLimitExceeded, match="bytes"):
        once(remote, root, policy)
    assert not (root / "1").exists()


def test_a_symlink_pushed_later_is_a_plain_file_and_listed(
    remote: Path, root: Path, policy: GitPolicy, tmp_path: Path
) -> None:
    once(remote, root, policy)
    work = tmp_path / "linker"
    run_git(tmp_path, "clone", "-q", str(remote), str(work))
    os.symlink("/etc/passwd", work / "docs/passwd")
    os.symlink("/etc", work / "etc-link")
    run_git(work, "add", "-A")
    run_git(work, "commit", "-q", "-m", "links")
    run_git(work, "push", "-q", "origin", "main")
    mirrored = once(remote, root, policy)
    assert mirrored.reused is True
    assert mirrored.repo.tracked_symlinks == {"docs/passwd", "etc-link"}
    for rel in ("docs/passwd", "etc-link"):
        path = mirrored.repo.path / rel
        assert not path.is_symlink()
        assert path.is_file()
        assert path.read_text() in ("/etc/passwd", "/etc")


# --- Eviction ---------------------------------------------------------------------------------


def sizes(root: Path) -> dict[str, int]:
    return {
        p.name.removesuffix(".lock"): p.stat().st_size
        for p in root.glob("*.lock")
        if p.stat().st_size
    }


def on_disk(root: Path, key: str) -> int:
    """The bytes of a mirror's repository, counted as the clone budgets count them."""
    return tree_bytes(root / key / "repo")


@pytest.fixture
def three(tmp_path: Path) -> list[Path]:
    return [
        make_remote(tmp_path / f"fleet{i}", {"README.md": f"{i}\n", "pad.txt": "x" * 20_000})
        for i in range(3)
    ]


def test_eviction_keeps_the_total_within_the_budget_and_removes_the_least_recent(
    three: list[Path], root: Path, policy: GitPolicy
) -> None:
    for key, remote in zip("abc", three, strict=True):
        once(remote, root, policy, key=key)
    once(three[0], root, policy, key="a")  # a is now the most recent, b the least
    recorded = sizes(root)
    assert set(recorded) == {"a", "b", "c"}
    assert all(recorded[key] == on_disk(root, key) for key in "abc")  # the records are true
    budget = recorded["a"] + recorded["c"] + 100
    assert mirrors_evict(root, budget_bytes=budget) == ["b"]
    assert not (root / "b").exists()
    assert sum(on_disk(root, key) for key in "abc") <= budget
    assert mirrors_evict(root, budget_bytes=budget) == []  # within the budget: nothing more
    assert mirrors_evict(root, budget_bytes=recorded["a"] + 100) == ["c"]
    assert once(three[1], root, policy, key="b").reused is False  # an evicted one comes back


def test_a_budget_of_zero_removes_every_free_mirror(
    three: list[Path], root: Path, policy: GitPolicy
) -> None:
    for key, remote in zip("abc", three, strict=True):
        once(remote, root, policy, key=key)
    with use(three[1], root, policy, key="b"):
        assert sorted(mirrors_evict(root, budget_bytes=0)) == ["a", "c"]
    assert mirrors_evict(root, budget_bytes=0) == ["b"]
    assert [p.name for p in root.iterdir() if p.is_dir()] == []


def test_bad_keys_are_refused(remote: Path, root: Path, policy: GitPolicy) -> None:
    for key in ("", "../x", "a/b", ".lock", "x" * 65):
        with pytest.raises(git_ops.InvalidInput):
            once(remote, root, policy, key=key)
