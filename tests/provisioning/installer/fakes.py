"""Stand-ins for `node` and `npx`: the fake installer lays a 6.4+ fixture install of the
requested version over --directory (as the official installer would, 6.0 leftovers
stay) and appends what it was given to a log. The real installer is tested in the
*_real tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_NPX = """#!{python}
import json, os, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from provisioning.demo.bmad_installs import build_v64
args = sys.argv[1:]
def value(flag):
    return args[args.index(flag) + 1] if flag in args else None
with open({log!r}, "a") as fh:
    fh.write(json.dumps({{"argv": args, "home": os.environ.get("HOME")}}) + "\\n")
if {fail!r}:
    print("npm error 404 Not Found - GET https://registry.npmjs.org/bmad-method")
    sys.exit(1)
tools = (value("--tools") or "").split(",") if value("--tools") else []
build_v64(Path(value("--directory")), version=args[1].split("@", 1)[1], tools=tools)
print("\\x1b[32m✔ BMAD is ready\\x1b[0m")
"""


def fake_installer(folder: Path, *, fail: bool = False, node: str = "v20.19.2") -> Path:
    """Write `npx` and `node` into `folder`; returns the log file of the npx calls."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "calls.jsonl"
    npx = folder / "npx"
    npx.write_text(_NPX.format(python=sys.executable, root=str(ROOT), log=str(log), fail=fail))
    (folder / "node").write_text(f"#!/bin/sh\necho {node}\n")
    for program in (npx, folder / "node"):
        program.chmod(0o755)
    return log


def calls(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]
