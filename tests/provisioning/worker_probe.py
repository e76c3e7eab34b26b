"""A job for the worker class's tests: what the work horse running it had loaded when the
job began. It imports nothing of bmadweb's itself."""

from __future__ import annotations

import os
import sys


def loaded() -> dict[str, object]:
    return {
        "gitpython": "git" in sys.modules,
        "jobs": "provisioning.jobs" in sys.modules,
        "pid": os.getpid(),
    }
