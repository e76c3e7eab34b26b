"""The builders live in provisioning.demo (the demo seed uses them too)."""

from provisioning.demo.bmad_installs import (
    build_v4,
    build_v6_alpha,
    build_v60,
    build_v61,
    build_v63,
    build_v64,
)
from provisioning.demo.install_parts import (
    BuiltInstall,
    add_orphaned_customize_yaml,
    add_shims,
    add_stale_command_wrappers,
    edit_file,
    write_file,
)

__all__ = [
    "BuiltInstall",
    "add_orphaned_customize_yaml",
    "add_shims",
    "add_stale_command_wrappers",
    "build_v4",
    "build_v6_alpha",
    "build_v60",
    "build_v61",
    "build_v63",
    "build_v64",
    "edit_file",
    "write_file",
]
