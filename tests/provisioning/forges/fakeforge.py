"""A small local forge for tests: GitHub, GitLab and Gitea pull-request APIs on loopback.

docs/architecture.md#tests: forge calls are tested against a real HTTP server that speaks the
forge's API shape, never a patched function. One :class:`FakeForge` serves the three
kinds under path prefixes (``http://127.0.0.1:PORT/github``, ``/gitlab``, ``/gitea``);
pass :meth:`FakeForge.base_url` as ``api_url``. It keeps pull requests in memory, checks
each kind's auth header against :attr:`FakeForge.token`, records every request, and can be
told to misbehave for the next requests (status, garbage, redirect, oversize, delay) or to
hide existing pull requests from the next list (to play a create race). Lists are paged
like the real forges (``per_page``/``limit`` and ``page``) and show open requests only.

Routes (paths after the kind prefix):

* github, gitea: ``GET|POST /repos/{owner}/{repo}/pulls``, ``PATCH .../pulls/{number}``
  (title, body, ``state: closed``), ``POST /repos/{owner}/{repo}/issues/{number}/comments``;
* gitlab: ``GET|POST /projects/{url-encoded path}/merge_requests``, ``PUT .../{iid}``
  (title, description, ``state_event: close``), ``POST .../{iid}/notes``.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.provisioning.forges.fakeforge_repos import FakeRepo, route_repos

FAKE_FORGE_TOKEN = "canary-forge-token-5d1e"
KINDS = ("github", "gitlab", "gitea")
WEB_HOSTS = {
    "github": "https://github.example",
    "gitlab": "https://gitlab.example",
    "gitea": "https://gitea.example",
}

_PULLS = re.compile(r"/repos/([^/]+)/([^/]+)/pulls(?:/(\d+))?")
_ISSUE_COMMENTS = re.compile(r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments")
_MERGE_REQUESTS = re.compile(r"/projects/([^/]+)/merge_requests(?:/(\d+))?")
_NOTES = re.compile(r"/projects/([^/]+)/merge_requests/(\d+)/notes")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it; ``path`` is raw (still percent-encoded)."""

    kind: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    json: Any


@dataclass
class FakePull:
    """A pull/merge request kept by the fake (GitLab's iid is ``number``)."""

    kind: str
    repo: str
    number: int
    head: str
    base: str
    title: str
    body: str
    head_repo: str
    state: str = "open"  # or "closed"
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Fault:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    method: str | None = None  # only a request with this method takes the fault


class FakeForge:
    """The fake forge; start it with :meth:`start` (the ``fake_forge`` fixture does)."""

    def __init__(self, token: str = FAKE_FORGE_TOKEN) -> None:
        self.token = token
        self.requests: list[RecordedRequest] = []
        self.pulls: list[FakePull] = []
        self.repos: list[FakeRepo] = []  # discovery (fakeforge_repos)
        self.clone_base = "https://git.example"
        self._faults: deque[_Fault] = deque()
        self._hidden_lists = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"forge": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval keeps stop() (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed answers up
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake forge first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def base_url(self, kind: str) -> str:
        return f"{self.origin}/{kind}"

    # --- scripting ----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``count`` requests (of ``method`` only, when given) with ``status``
        (a JSON message by default)."""
        payload = body if body is not None else json.dumps({"message": f"fake {status}"})
        raw = payload.encode() if isinstance(payload, str) else payload
        fault = _Fault(status, raw, dict(headers or {}), method=method)
        with self._lock:
            self._faults.extend(fault for _ in range(count))

    def garbage_next(self, body: bytes = b"<html>surprise</html>", count: int = 1) -> None:
        """Answer the next requests 200 with a body that is not the expected JSON."""
        self.fail_next(200, count, body=body)

    def redirect_next(self, location: str, status: int = 302) -> None:
        self.fail_next(status, body=b"", headers={"Location": location})

    def oversize_next(self, size: int = 2 * 1024 * 1024) -> None:
        self.fail_next(200, body=b"[" + b" " * size + b"]")

    def delay_next(self, seconds: float) -> None:
        """Hold the next answer (an empty list) for ``seconds`` or until the fake stops."""
        with self._lock:
            self._faults.append(_Fault(200, b"[]", delay_s=seconds))

    def hide_pulls_from_next_list(self, count: int = 1) -> None:
        """The next ``count`` list calls answer ``[]``, as if the pull did not exist yet."""
        with self._lock:
            self._hidden_lists += count

    def add_repo(self, kind: str, path: str, files: tuple[str, ...] = (), **options: Any) -> None:
        self.repos.append(FakeRepo(kind=kind, path=path, files=set(files), **options))

    def add_pull(
        self,
        kind: str,
        repo: str,
        *,
        head: str,
        base: str,
        title: str = "existing",
        body: str = "",
        head_repo: str | None = None,
    ) -> FakePull:
        """Seed a pull request (``head_repo`` other than ``repo`` makes it a fork's)."""
        with self._lock:
            number = 1 + sum(1 for p in self.pulls if p.kind == kind and p.repo == repo)
            pull = FakePull(kind, repo, number, head, base, title, body, head_repo or repo)
            self.pulls.append(pull)
            return pull

    # --- inspection ---------------------------------------------------------------------

    def pulls_of(self, kind: str) -> list[FakePull]:
        return [p for p in self.pulls if p.kind == kind]

    def requests_of(self, kind: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r for r in self.requests if r.kind == kind and (method is None or r.method == method)
        ]

    # --- used by the handler ------------------------------------------------------------

    def _next_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (None, method):
                    self._faults.remove(fault)
                    return fault
            return None

    def _take_hidden_list(self) -> bool:
        with self._lock:
            if self._hidden_lists > 0:
                self._hidden_lists -= 1
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    forge: FakeForge
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate small writes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read :attr:`FakeForge.requests` instead."""

    def handle(self) -> None:
        # The client may hang up mid-answer (oversize, timeout): expected, not noise.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        kind, _, rest = parts.path.lstrip("/").partition("/")
        request = RecordedRequest(
            kind=kind,
            method=self.command,
            path="/" + rest,
            query={k: v[-1] for k, v in parse_qs(parts.query).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            json=self._read_json(),
        )
        with self.forge._lock:
            self.forge.requests.append(request)
        fault = self.forge._next_fault(self.command)
        if fault is not None:
            self._answer_fault(fault)
        elif kind not in KINDS:
            self._send(404, {"message": "Not Found"})
        elif not _authorised(kind, request.headers, self.forge.token):
            self._send(401, {"message": "Bad credentials"})
        else:
            status, payload = _route(self.forge, request)
            self._send(status, payload)

    def _read_json(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return {"_unparsable": raw.decode("latin-1")}

    def _answer_fault(self, fault: _Fault) -> None:
        if fault.delay_s:
            self.forge._stopping.wait(fault.delay_s)
        self._send_raw(fault.status, fault.body, fault.headers)

    def _send(self, status: int, payload: Any) -> None:
        self._send_raw(status, json.dumps(payload).encode(), {})

    def _send_raw(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up reading (oversize, timeout): that is the point


def _authorised(kind: str, headers: dict[str, str], token: str) -> bool:
    if kind == "github":
        return headers.get("authorization") == f"Bearer {token}"
    if kind == "gitlab":
        return headers.get("private-token") == token
    return headers.get("authorization") == f"token {token}"


def _route(forge: FakeForge, request: RecordedRequest) -> tuple[int, Any]:
    found = route_repos(forge, request.kind, request.method, request.path, request.query)
    if found is not None:
        return found  # type: ignore[no-any-return]
    if request.kind == "gitlab":
        note = _NOTES.fullmatch(request.path)
        if note is not None and request.method == "POST":
            return _comment(forge, request, unquote(note[1]), int(note[2]))
        match = _MERGE_REQUESTS.fullmatch(request.path)
        if match is None:
            return 404, {"message": "404 Not Found"}
        return _gitlab(forge, request, unquote(match[1]), match[2])
    comment = _ISSUE_COMMENTS.fullmatch(request.path)
    if comment is not None and request.method == "POST":
        return _comment(forge, request, f"{comment[1]}/{comment[2]}", int(comment[3]))
    match = _PULLS.fullmatch(request.path)
    if match is None:
        return 404, {"message": "Not Found"}
    return _pulls(forge, request, f"{match[1]}/{match[2]}", match[3])


# --- GitHub and Gitea ---------------------------------------------------------------------


def _pulls(forge: FakeForge, request: RecordedRequest, repo: str, number: str | None) -> Any:
    if number is not None and request.method == "PATCH":
        return _pulls_update(forge, request, repo, int(number))
    if number is None and request.method == "GET":
        return 200, _pulls_list(forge, request, repo)
    if number is None and request.method == "POST":
        return _pulls_create(forge, request, repo)
    return 405, {"message": "Method Not Allowed"}


def _pulls_list(forge: FakeForge, request: RecordedRequest, repo: str) -> list[Any]:
    if forge._take_hidden_list():
        return []
    query = request.query
    pulls = [p for p in forge.pulls_of(request.kind) if p.repo == repo and p.state == "open"]
    if request.kind == "github":
        if "head" in query:
            pulls = [p for p in pulls if f"{p.head_repo.split('/')[0]}:{p.head}" == query["head"]]
        if "base" in query:
            pulls = [p for p in pulls if p.base == query["base"]]
        return [_pull_json(p) for p in _page(pulls, query, "per_page", 30, 100)]
    return [_pull_json(p) for p in _page(pulls, query, "limit", 30, 50)]


def _page(
    pulls: list[FakePull], query: dict[str, str], size_param: str, default: int, most: int
) -> list[FakePull]:
    size = min(int(query.get(size_param, str(default))), most)
    start = (int(query.get("page", "1")) - 1) * size
    return pulls[start : start + size]


def _pulls_create(forge: FakeForge, request: RecordedRequest, repo: str) -> tuple[int, Any]:
    data = request.json if isinstance(request.json, dict) else {}
    head, base = data.get("head"), data.get("base")
    if not data.get("title") or not head or not base:
        return 422, {"message": "Validation Failed"}
    if any(_same_branches(p, repo, head, base) for p in forge.pulls_of(request.kind)):
        if request.kind == "github":
            error = {"resource": "PullRequest", "code": "custom"}
            error["message"] = f"A pull request already exists for {repo.split('/')[0]}:{head}."
            return 422, {"message": "Validation Failed", "errors": [error]}
        return 409, {"message": "pull request already exists for these targets"}
    pull = forge.add_pull(
        request.kind, repo, head=head, base=base, title=data["title"], body=data.get("body", "")
    )
    return 201, _pull_json(pull)


def _pulls_update(
    forge: FakeForge, request: RecordedRequest, repo: str, number: int
) -> tuple[int, Any]:
    pull = _find(forge, request.kind, repo, number)
    if pull is None:
        return 404, {"message": "Not Found"}
    data = request.json if isinstance(request.json, dict) else {}
    pull.title = data.get("title", pull.title)
    pull.body = data.get("body", pull.body)
    if data.get("state") in ("open", "closed"):
        pull.state = data["state"]
    return 200, _pull_json(pull)


def _pull_json(pull: FakePull) -> dict[str, Any]:
    segment = "pull" if pull.kind == "github" else "pulls"
    return {
        "number": pull.number,
        "html_url": f"{WEB_HOSTS[pull.kind]}/{pull.repo}/{segment}/{pull.number}",
        "state": pull.state,
        "title": pull.title,
        "body": pull.body,
        "head": {"ref": pull.head, "repo": {"full_name": pull.head_repo}},
        "base": {"ref": pull.base, "repo": {"full_name": pull.repo}},
    }


# --- GitLab -------------------------------------------------------------------------------


def _gitlab(forge: FakeForge, request: RecordedRequest, repo: str, iid: str | None) -> Any:
    if iid is not None and request.method == "PUT":
        return _gitlab_update(forge, request, repo, int(iid))
    if iid is None and request.method == "GET":
        return 200, _gitlab_list(forge, request, repo)
    if iid is None and request.method == "POST":
        return _gitlab_create(forge, request, repo)
    return 405, {"message": "405 Method Not Allowed"}


def _gitlab_list(forge: FakeForge, request: RecordedRequest, repo: str) -> list[Any]:
    if forge._take_hidden_list():
        return []
    query = request.query
    pulls = [p for p in forge.pulls_of("gitlab") if p.repo == repo]
    if query.get("state") == "opened":
        pulls = [p for p in pulls if p.state == "open"]
    if "source_branch" in query:
        pulls = [p for p in pulls if p.head == query["source_branch"]]
    if "target_branch" in query:
        pulls = [p for p in pulls if p.base == query["target_branch"]]
    return [_merge_request_json(p) for p in _page(pulls, query, "per_page", 20, 100)]


def _gitlab_create(forge: FakeForge, request: RecordedRequest, repo: str) -> tuple[int, Any]:
    data = request.json if isinstance(request.json, dict) else {}
    head, base = data.get("source_branch"), data.get("target_branch")
    if not data.get("title") or not head or not base:
        return 400, {"message": "title is missing"}
    if any(_same_branches(p, repo, head, p.base) for p in forge.pulls_of("gitlab")):
        message = "Another open merge request already exists for this source branch: !1"
        return 409, {"message": [message]}
    pull = forge.add_pull(
        "gitlab", repo, head=head, base=base, title=data["title"], body=data.get("description", "")
    )
    return 201, _merge_request_json(pull)


def _gitlab_update(
    forge: FakeForge, request: RecordedRequest, repo: str, iid: int
) -> tuple[int, Any]:
    pull = _find(forge, "gitlab", repo, iid)
    if pull is None:
        return 404, {"message": "404 Not found"}
    data = request.json if isinstance(request.json, dict) else {}
    pull.title = data.get("title", pull.title)
    pull.body = data.get("description", pull.body)
    if data.get("state_event") == "close":
        pull.state = "closed"
    return 200, _merge_request_json(pull)


def _merge_request_json(pull: FakePull) -> dict[str, Any]:
    project_ids = {pull.repo: 1}
    return {
        "id": 1000 + pull.number,
        "iid": pull.number,
        "web_url": f"{WEB_HOSTS['gitlab']}/{pull.repo}/-/merge_requests/{pull.number}",
        "state": "opened" if pull.state == "open" else pull.state,
        "title": pull.title,
        "description": pull.body,
        "source_branch": pull.head,
        "target_branch": pull.base,
        "source_project_id": project_ids.get(pull.head_repo, 2),
        "target_project_id": 1,
    }


# --- comments (GitHub and Gitea: issue comments; GitLab: merge request notes) ----------


def _comment(forge: FakeForge, request: RecordedRequest, repo: str, number: int) -> tuple[int, Any]:
    pull = _find(forge, request.kind, repo, number)
    if pull is None:
        return 404, {"message": "Not Found"}
    data = request.json if isinstance(request.json, dict) else {}
    if not isinstance(data.get("body"), str) or not data["body"]:
        return 422 if request.kind == "github" else 400, {"message": "body is missing"}
    pull.comments.append(data["body"])
    return 201, {"id": len(pull.comments), "body": data["body"]}


def _same_branches(pull: FakePull, repo: str, head: str, base: str) -> bool:
    """An open pull of this repository's own ``head`` branch (forks do not collide)."""
    return (pull.repo, pull.head_repo, pull.head, pull.base, pull.state) == (
        repo,
        repo,
        head,
        base,
        "open",
    )


def _find(forge: FakeForge, kind: str, repo: str, number: int) -> FakePull | None:
    return next((p for p in forge.pulls_of(kind) if p.repo == repo and p.number == number), None)
