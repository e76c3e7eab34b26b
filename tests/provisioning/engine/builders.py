"""The builders live in provisioning.demo (the demo seed and the benches use them too)."""

from provisioning.demo.bmad_installs import *  # noqa: F403
from provisioning.demo.bmad_installs import (  # noqa: F401  (explicit names for type checkers)
    build_v4,
    build_v6_alpha,
    build_v60,
    build_v61,
    build_v63,
    build_v64,
)
from provisioning.demo.install_parts import *  # noqa: F403
from provisioning.demo.install_parts import (  # noqa: F401
    BuiltInstall,
    add_orphaned_customize_yaml,
    add_shims,
    add_stale_command_wrappers,
    edit_file,
    write_file,
)
