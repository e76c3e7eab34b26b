"""Calls against the local fake forge shared by the forge tests: a repository on the fake
forge, open_or_update_pull_request with test values, and the failure scenarios in which
the canary token must never leak."""

from __future__ import annotations

import socket
import traceback
from typing import Any

import pytest

from provisioning.forges import ForgeError, ForgeRepo, PullRequest, open_or_update_pull_request
from tests.provisioning.forges.fakeforge import FAKE_FORGE_TOKEN, FakeForge

KINDS = ["github", "gitlab", "gitea"]
REPOS = {"github": "org/repo", "gitlab": "group/sub/repo", "gitea": "org/repo"}
HEAD, BASE = "bmadweb/demo/42", "main"


def repo_on(forge: FakeForge, kind: str) -> ForgeRepo:
    return ForgeRepo(kind=kind, api_base=forge.base_url(kind), owner_path=REPOS[kind])  # type: ignore[arg-type]


def open_pr(
    forge: FakeForge,
    kind: str,
    *,
    title: str = "Provision BMAD",
    body: str = "the plan",
    **overrides: Any,
) -> PullRequest:
    options: dict[str, Any] = {"token": forge.token, "timeout_s": 5.0} | overrides
    return open_or_update_pull_request(
        options.pop("repo", None) or repo_on(forge, kind),
        head_branch=HEAD,
        base_branch=BASE,
        title=title,
        body=body,
        **options,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: nobody listens


def forge_error(forge: FakeForge, kind: str = "github", **overrides: Any) -> ForgeError:
    with pytest.raises(ForgeError) as caught:
        open_pr(forge, kind, **overrides)
    return caught.value


def _trigger_401(forge: FakeForge) -> dict[str, Any]:
    forge.fail_next(401, body=b'{"message": "Bad credentials"}')
    return {}


def trigger_echoed_token(forge: FakeForge) -> dict[str, Any]:
    echo = f'{{"message": "token {FAKE_FORGE_TOKEN} is not allowed here"}}'
    forge.fail_next(422, body=echo.encode())
    return {}


def _trigger_redirect(forge: FakeForge) -> dict[str, Any]:
    forge.redirect_next(f"http://127.0.0.1:{closed_port()}/login")
    return {}


def _trigger_unreachable(forge: FakeForge) -> dict[str, Any]:
    return {"repo": ForgeRepo("gitea", f"http://127.0.0.1:{closed_port()}", "org/repo")}


def _trigger_server_error(forge: FakeForge) -> dict[str, Any]:
    forge.fail_next(500, body=FAKE_FORGE_TOKEN.encode())
    return {}


def _trigger_garbage(forge: FakeForge) -> dict[str, Any]:
    forge.garbage_next(FAKE_FORGE_TOKEN.encode())
    return {}


def _trigger_oversize(forge: FakeForge) -> dict[str, Any]:
    forge.oversize_next()
    return {}


def _trigger_timeout(forge: FakeForge) -> dict[str, Any]:
    forge.delay_next(30)
    return {"timeout_s": 0.3}


SCENARIOS = {
    "refused": _trigger_401,
    "echoed": trigger_echoed_token,
    "redirect": _trigger_redirect,
    "unreachable": _trigger_unreachable,
    "server-error": _trigger_server_error,
    "garbage": _trigger_garbage,
    "oversize": _trigger_oversize,
    "timeout": _trigger_timeout,
}


def everything_said_about(error: BaseException) -> str:
    return " ".join([str(error), repr(error), repr(error.args), *traceback.format_exception(error)])
