"""The installer door: the only part of bmadweb that starts BMAD's official installer.

`run_installer` runs `npx -y bmad-method@<version> install …` in a sandbox of its own
(docs/security.md#installer): an environment built from scratch (no credentials, no
tokens, none of the worker's settings), its own `HOME`, temporary folder and npm cache
under the run's work folder, the git budgets' time limit, a kill that takes the whole
process group, and the output captured for the run log. `check_node` says plainly when
Node is missing or too old. Nothing else in bmadweb may start a process for BMAD (an
import contract holds it); no Django here: settings arrive as an `InstallerPolicy`.
"""

from provisioning.installer.sandbox import (
    MIN_NODE_MAJOR,
    InstallerError,
    InstallerPolicy,
    InstallerResult,
    InstallerTimeout,
    InstallerUnavailable,
    check_node,
    installer_env,
    run_installer,
)

__all__ = [
    "MIN_NODE_MAJOR",
    "InstallerError",
    "InstallerPolicy",
    "InstallerResult",
    "InstallerTimeout",
    "InstallerUnavailable",
    "check_node",
    "installer_env",
    "run_installer",
]
