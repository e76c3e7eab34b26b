"""Internal host names (.internal, .local and the other private names) are refused in
every URL form, before any name resolution: they only ever name machines inside a network."""

from __future__ import annotations

import pytest

from provisioning.git_ops.urlpolicy import UrlPolicyError, check_repo_url

PUBLIC = "140.82.112.3"

INTERNAL_HOSTS = [
    "git.internal",
    "gitlab.corp.internal",
    "internal",
    "GIT.INTERNAL",
    "git.local",
    "printer.office.local",
    "local",
    "Git.Local",
    "metadata.google.internal",
    "instance-data.ec2.internal",
    "git.intranet",
    "git.private",
    "git.corp",
    "nas.home",
    "git.lan",
    "router.home.arpa",
    "1.0.0.127.in-addr.arpa",
    "db.localdomain",
    "foo.localhost",
]

FORMS = [
    "https://{host}/org/x.git",
    "https://{host}:443/org/x.git",
    "ssh://git@{host}/org/x.git",
    "ssh://{host}:22/org/x.git",
    "git@{host}:org/x.git",
    "{host}:org/x.git",
]


class Resolver:
    """Answers every name with a public address, and remembers being asked."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        return [PUBLIC]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("host", INTERNAL_HOSTS)
def test_internal_host_names_are_refused_without_a_lookup(host: str, form: str) -> None:
    resolver = Resolver()
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url(form.format(host=host), allow_local=False, resolve=resolver)
    assert caught.value.rule == "blocked_host"
    assert caught.value.message == "Local, internal and metadata host names are not allowed."
    assert resolver.calls == []


@pytest.mark.parametrize(
    "host",
    [
        "internal.example.com",
        "local.example.org",
        "git.internals.dev",
        "localgit.example.org",
        "git.lanes.example",
        "homebrew.example.org",
        "corporate.example.com",
        "myinternal",
    ],
)
def test_public_names_that_merely_contain_those_words_pass(host: str) -> None:
    resolver = Resolver()
    checked = check_repo_url(f"https://{host}/org/x.git", allow_local=False, resolve=resolver)
    assert (checked.host, checked.addresses) == (host, (PUBLIC,))
    assert resolver.calls == [host]


def test_a_trailing_dot_does_not_slip_an_internal_name_through() -> None:
    resolver = Resolver()
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url("https://git.internal./org/x.git", allow_local=False, resolve=resolver)
    assert caught.value.rule == "host"
    assert resolver.calls == []
