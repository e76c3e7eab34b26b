"""Repository URL policy (docs/security.md#s1, #s2, #s14): every attack URL is refused before
any name resolution or connection; good URLs pass with their checked addresses."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.git_ops.urlpolicy import RULES, CheckedUrl, UrlPolicyError, check_repo_url

PUBLIC = "140.82.112.3"


class RecordingResolver:
    """Answers from a fixed table and remembers every name it was asked about."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table if table is not None else {}
        self.calls: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real connection or DNS lookup during these tests is a failure."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the URL policy touched the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _reject(url: str, *, allow_local: bool = False) -> UrlPolicyError:
    resolver = RecordingResolver({"github.com": [PUBLIC]})
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url(url, allow_local=allow_local, resolve=resolver)
    assert resolver.calls == [], f"{url!r} reached name resolution"
    return caught.value


SECURITY_URLS = [
    # §1 command execution, transports, schemes, credentials, dashes, local paths
    "ext::sh -c touch% /tmp/pwned",
    "ext::sh",
    "fd::17",
    "fd::0,1/x",
    "file:///etc",
    "/etc",
    "./repo",
    "../repo",
    "repo",
    "http://github.com/org/x.git",
    "git://github.com/org/x.git",
    "ftp://github.com/org/x.git",
    "https://user:secret@github.com/org/x.git",
    "https://token@github.com/org/x.git",
    "ssh://git:secret@github.com/org/x.git",
    "-uX",
    "--upload-pack=touch /tmp/x",
    "--upl=X",
    "--config core.hooksPath=/x",
    "--template=/x",
    "--output=/tmp/x",
    "https://github.com/-uX",
    "https://github.com/org/--upload-pack=x",
    "ssh://git@github.com/-oProxyCommand=x",
    "git@github.com:-oProxyCommand=x",
    "git@github.com:org/-x.git",
    "-oProxyCommand=x@github.com:org/x.git",
    # §14 SSRF
    "http://169.254.169.254/",
    "https://169.254.169.254/latest/meta-data",
    "https://127.1/",
    "https://127.1/org/x.git",
    "https://2130706433/x.git",
    "https://0177.0.0.1/x.git",
    "https://0x7f.1/x.git",
    "https://0x7f000001/x.git",
    "https://127.0.0.1/x.git",
    "https://[::1]/x.git",
    "https://[::ffff:127.0.0.1]/x.git",
    "https://10.0.0.5/x.git",
    "https://github.com@127.0.0.1/x.git",
    "https://github.com@127.0.0.1/",
    "git@127.0.0.1:x.git",
    "git@[::1]:x.git",
    "ssh://-oProxyCommand=touch%20/tmp/x/x.git",
    "ssh://-oProxyCommand=x/",
    "ssh://git@-oProxyCommand=x/org/x.git",
    "https://localhost/x.git",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/x.git",
    "https://foo.localhost/x.git",
    # ports, queries, shape
    "https://github.com:8443/org/x.git",
    "ssh://git@github.com:2222/org/x.git",
    "https://github.com/org/x.git?upload-pack=x",
    "https://github.com/org/x.git#frag",
    "https://github.com/",
    "https://github.com",
    "https://github.com/org/../x.git",
    "https://gith\u0443b.com/org/x.git",
    "https://github.com/org/x .git",
    "https://github.com/org/x\n.git",
    "https://github.com/org/x\x00.git",
    "https://github.com\\@127.0.0.1/x.git",
    "https://%31%32%37.0.0.1/x.git",
    "",
    "https://github.com/" + "a" * 2000,
]


@pytest.mark.parametrize("url", SECURITY_URLS)
def test_attack_urls_are_rejected_without_any_lookup(url: str) -> None:
    error = _reject(url)
    assert error.rule in RULES
    assert error.message.endswith(".")


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ext::sh -c x", "characters"),
        ("ext::sh", "transport"),
        ("fd::17", "transport"),
        ("file:///etc", "local_disabled"),
        ("/etc", "local_disabled"),
        ("http://169.254.169.254/", "scheme"),
        ("https://127.1/", "ip_literal"),
        ("https://2130706433/", "ip_literal"),
        ("https://0177.0.0.1/x", "ip_literal"),
        ("https://0x7f.1/x", "ip_literal"),
        ("https://[::1]/", "ip_literal"),
        ("https://10.0.0.5/", "ip_literal"),
        ("https://github.com@127.0.0.1/", "userinfo"),
        ("https://user:pw@github.com/x", "userinfo"),
        ("git@127.0.0.1:x.git", "ip_literal"),
        ("ssh://-oProxyCommand=x/", "leading_dash"),
        ("--upload-pack=x", "leading_dash"),
        ("https://github.com:8443/x", "port"),
        ("https://metadata.google.internal/x", "blocked_host"),
        ("https://github.com/x?y", "query"),
    ],
)
def test_each_rule_has_a_stable_code(url: str, rule: str) -> None:
    assert _reject(url).rule == rule


@pytest.mark.parametrize(
    "addresses",
    [
        ["127.0.0.1"],
        ["10.1.2.3"],
        ["192.168.1.1"],
        ["172.16.0.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["100.100.100.200"],
        ["192.0.0.192"],
        ["0.0.0.0"],  # noqa: S104 - an address to refuse, not to bind
        ["224.0.0.1"],
        ["240.0.0.1"],
        ["255.255.255.255"],
        ["::1"],
        ["::"],
        ["fe80::1%eth0"],
        ["fd00:ec2::254"],
        ["::ffff:127.0.0.1"],
        ["::ffff:8.8.8.8"],
        ["64:ff9b::a00:1"],
        ["2002:a00:1::"],
        ["ff02::1"],
        [PUBLIC, "10.0.0.1"],
        ["not-an-address"],
    ],
)
def test_hosts_resolving_to_any_non_public_address_are_rejected(addresses: list[str]) -> None:
    resolver = RecordingResolver({"git.example.org": addresses})
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url("https://git.example.org/x.git", allow_local=False, resolve=resolver)
    assert caught.value.rule == "blocked_address"
    assert resolver.calls == ["git.example.org"]


def test_unresolvable_host_is_rejected_with_a_clear_message() -> None:
    resolver = RecordingResolver({})
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url("https://nowhere.example.org/x.git", allow_local=False, resolve=resolver)
    assert caught.value.rule == "unresolvable"
    assert "nowhere.example.org could not be resolved" in caught.value.message


def test_resolver_returning_nothing_counts_as_unresolvable() -> None:
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url("https://a.example.org/x", allow_local=False, resolve=lambda _h: [])
    assert caught.value.rule == "unresolvable"


@pytest.mark.parametrize(
    ("url", "kind", "host", "user"),
    [
        ("https://github.com/org/x.git", "https", "github.com", None),
        ("https://GitHub.com:443/org/x", "https", "github.com", None),
        ("ssh://git@github.com/org/x.git", "ssh", "github.com", "git"),
        ("ssh://git@github.com:22/org/x.git", "ssh", "github.com", "git"),
        ("git@github.com:org/x.git", "ssh", "github.com", "git"),
        ("github.com:org/x.git", "ssh", "github.com", None),
        ("https://gitlab.com/group/sub/x.git", "https", "gitlab.com", None),
    ],
)
def test_ordinary_remote_urls_pass_with_their_addresses(
    url: str, kind: str, host: str, user: str | None
) -> None:
    resolver = RecordingResolver({"github.com": [PUBLIC], "gitlab.com": ["2606:4700::1"]})
    checked = check_repo_url(url, allow_local=False, resolve=resolver)
    assert (checked.url, checked.kind, checked.host, checked.user) == (url, kind, host, user)
    assert checked.addresses in ((PUBLIC,), ("2606:4700::1",))
    assert resolver.calls == [host]


def test_local_paths_pass_only_when_allowed_and_only_for_existing_folders(tmp_path: Path) -> None:
    repo = tmp_path / "remote.git"
    repo.mkdir()
    for url in (str(repo), f"file://{repo}"):
        checked = check_repo_url(url, allow_local=True, resolve=RecordingResolver())
        assert (checked.kind, checked.url) == ("local", url)
        assert _reject(url).rule == "local_disabled"
    for url in (str(tmp_path / "missing"), "relative/path", f"file://localhost{repo}"):
        assert _reject(url, allow_local=True).rule == "local_path"
    (tmp_path / "file").write_text("x")
    assert _reject(str(tmp_path / "file"), allow_local=True).rule == "local_path"
    assert _reject("ext::sh", allow_local=True).rule == "transport"


def test_default_resolver_is_used_and_its_failures_are_policy_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake_getaddrinfo(host: str, *_args: object, **_kwargs: object) -> list[object]:
        if host == "good.example.org":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, 0))]
        raise socket.gaierror(socket.EAI_NONAME, "unknown")

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    assert check_repo_url("https://good.example.org/x", allow_local=False).addresses == (PUBLIC,)
    with pytest.raises(UrlPolicyError, match="could not be resolved"):
        check_repo_url("https://bad.example.org/x", allow_local=False)


_URLISH = st.one_of(
    st.text(max_size=80),
    st.builds(
        "".join,
        st.lists(
            st.sampled_from(
                [
                    "https://",
                    "ssh://",
                    "file://",
                    "git@",
                    "-",
                    "@",
                    ":",
                    "/",
                    "::",
                    "[",
                    "]",
                    "github.com",
                    "127.0.0.1",
                    "0x7f",
                    ".",
                    "org",
                    "x.git",
                    "%2f",
                    "\n",
                    " ",
                    "ext",
                    "443",
                    "22",
                    "..",
                    "~",
                    "localhost",
                ]
            ),
            max_size=10,
        ),
    ),
)


def _outcome(url: str, *, allow_local: bool) -> CheckedUrl | UrlPolicyError:
    resolver = RecordingResolver({"github.com": [PUBLIC], "org": [PUBLIC]})
    try:
        return check_repo_url(url, allow_local=allow_local, resolve=resolver)
    except UrlPolicyError as error:
        return error


@settings(max_examples=400, deadline=None)
@given(url=_URLISH, allow_local=st.booleans())
def test_any_string_is_either_refused_cleanly_or_safe(url: str, allow_local: bool) -> None:
    outcome = _outcome(url, allow_local=allow_local)
    if isinstance(outcome, UrlPolicyError):
        assert outcome.rule in RULES
        return
    assert not url.startswith("-")
    assert all("!" <= ch <= "~" for ch in url)
    assert outcome.kind in ("https", "ssh", "local")
    assert outcome.kind == "local" or outcome.addresses == (PUBLIC,)
    assert allow_local or outcome.kind != "local"
