"""The only door to git: hardened clone, commit, ls-remote and push, plus safe file writes.

Everything bmadweb does to a repository goes through this package (an import contract
holds it), and
every defence of docs/security.md#s1 to #s8, #s15 and #s17 that concerns git lives here:

* URLs pass :func:`provisioning.git_ops.urlpolicy.check_repo_url` again right before git runs;
* git runs with literal options only; user data is never an option, always after ``--``,
  in the environment or on stdin;
* git's environment is built from scratch (:func:`git_env`): no system or global config,
  hooks, fsmonitor, symlinks, submodules, filters and redirects disabled, protocols
  limited, a throw-away ``HOME``;
* tokens reach git only through a ``GIT_ASKPASS`` script that reads them from the child's
  environment, ssh keys only through a 0600 file removed afterwards; error messages are
  scrubbed of both;
* every git step has a time budget and a killed step takes its whole process group with
  it; clones have a disk budget checked while they run and before the checkout;
* analyses may reuse a per-project mirror (:mod:`provisioning.git_ops.mirror`): the
  delta fetched, the same checks on the new tip, the work tree made exact, a file lock,
  a disk budget with least-recently-used eviction (docs/git-door.md#mirrors).

Git is started by GitPython (``git.Git.execute``, see docs/git-door.md) and watched by
this package: GitPython creates the process, in a session of its own, and hands it back;
the budget loop here reads it, enforces the time and disk budgets and kills its process
group. GitPython starts children from a copy of ``os.environ``, so each command goes
through ``env -u`` to drop every worker variable git_env did not set; nothing of
GitPython's higher-level API (``Repo``, command methods, kwargs turned into options) is
used. Nothing else in bmadweb may run git. No Django here: settings arrive as a
:class:`GitPolicy`.
"""

from provisioning.engine.paths import UnsafePathError as UnsafePath
from provisioning.git_ops.commits import FileChanges, commit_files
from provisioning.git_ops.files import (
    safe_delete,
    safe_write,
    tracked_submodules,
    tracked_symlinks,
)
from provisioning.git_ops.history import FileChange, LoggedCommit, changed_files, read_blobs
from provisioning.git_ops.mirror import Mirrored, mirror_use, mirrors_evict
from provisioning.git_ops.process import git_env, load_gitpython, scrub
from provisioning.git_ops.refs import validate_base_branch, validate_branch_name
from provisioning.git_ops.repo import (
    clone,
    commit_all,
    head_sha,
    push_branch,
    push_default,
    remote_head,
)
from provisioning.git_ops.seed import init_bare_from_tree
from provisioning.git_ops.types import (
    ClonedRepo,
    Credentials,
    GitCommandFailed,
    GitDiverged,
    GitLimitExceeded,
    GitOpsError,
    GitPolicy,
    GitTimeout,
    Identity,
    InvalidInput,
    NothingToCommit,
    PushResult,
)
from provisioning.git_ops.workdir import (
    read_private_file,
    sweep_stale_workdirs,
    temp_workdir,
    write_private_file,
)

__all__ = [
    "ClonedRepo",
    "Credentials",
    "FileChange",
    "FileChanges",
    "GitCommandFailed",
    "GitDiverged",
    "GitLimitExceeded",
    "GitOpsError",
    "GitPolicy",
    "GitTimeout",
    "Identity",
    "InvalidInput",
    "LoggedCommit",
    "Mirrored",
    "NothingToCommit",
    "PushResult",
    "UnsafePath",
    "changed_files",
    "clone",
    "commit_all",
    "commit_files",
    "git_env",
    "head_sha",
    "init_bare_from_tree",
    "load_gitpython",
    "mirror_use",
    "mirrors_evict",
    "push_branch",
    "push_default",
    "read_blobs",
    "read_private_file",
    "remote_head",
    "safe_delete",
    "safe_write",
    "scrub",
    "sweep_stale_workdirs",
    "temp_workdir",
    "tracked_submodules",
    "tracked_symlinks",
    "validate_base_branch",
    "validate_branch_name",
    "write_private_file",
]
