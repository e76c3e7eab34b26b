"""The URL policy rule by rule: each refusal names its rule with the sentence shown next to
the form field, the limits sit exactly where they are documented, and an accepted URL
comes back with every part it was checked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioning.git_ops.urlpolicy import (
    MAX_URL_LENGTH,
    CheckedUrl,
    UrlPolicyError,
    check_repo_url,
    resolve_host,
)

PUBLIC = "140.82.112.3"
NO_LOCAL = "Local repository paths are not allowed here."
PATH_PARTS = (
    "The repository path may contain only letters, digits and . _ ~ % + @ : - "
    "separated by single slashes, without '.' or '..' parts."
)
IP_LITERAL = "IP addresses are not allowed as repository hosts."
NO_PATH = "The repository URL must name a repository path."
SCHEME = "Only https:// and ssh:// repository URLs are allowed."


def public(host: str) -> list[str]:
    return [PUBLIC]


def refusal(url: object, *, allow_local: bool = False) -> tuple[str, str]:
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url(url, allow_local=allow_local, resolve=public)  # type: ignore[arg-type]
    assert str(caught.value) == caught.value.message
    return caught.value.rule, caught.value.message


@pytest.mark.parametrize(
    ("url", "allow_local", "rule", "message"),
    [
        (123, False, "type", "The repository URL must be text."),
        ("", False, "empty", "The repository URL is empty."),
        (
            "https://github.com/org/a b",
            False,
            "characters",
            "The repository URL may contain only printable ASCII characters, "
            "without spaces or backslashes.",
        ),
        (
            "https://github.com/org\\x",
            False,
            "characters",
            "The repository URL may contain only printable ASCII characters, "
            "without spaces or backslashes.",
        ),
        ("-oProxyCommand=x", False, "leading_dash", "The repository URL must not start with '-'."),
        (
            "ext::sh",
            False,
            "transport",
            "Git transport helpers such as ext:: or fd:: are not allowed.",
        ),
        ("http://github.com/org/x", False, "scheme", SCHEME),
        ("repo", False, "scheme", SCHEME),
        ("relative/path", True, "local_path", "A local repository must be an absolute path."),
        (
            "file:///tmp",
            False,
            "local_disabled",
            "Local repositories (file://) are not allowed here.",
        ),
        (
            "file://host/x",
            True,
            "local_path",
            "A file:// URL must have an empty host: file:///absolute/path.",
        ),
        ("/tmp", False, "local_disabled", NO_LOCAL),
        (
            "/no/such/folder",
            True,
            "local_path",
            "A local repository must be an existing absolute directory.",
        ),
        (
            "https://github.com/org/x?y",
            False,
            "query",
            "The repository URL must not contain '?' or '#'.",
        ),
        (
            "https://github.com/org/x#y",
            False,
            "query",
            "The repository URL must not contain '?' or '#'.",
        ),
        (
            "https://user@github.com/org/x",
            False,
            "userinfo",
            "https URLs must not contain a user name or password; store credentials separately.",
        ),
        (
            "ssh://git:pw@github.com/org/x",
            False,
            "userinfo",
            "ssh URLs must not contain a password.",
        ),
        (
            "ssh://-git@github.com/org/x",
            False,
            "leading_dash",
            "The ssh user name must not start with '-'.",
        ),
        (
            "ssh://gi$t@github.com/org/x",
            False,
            "user",
            "The ssh user name may contain only letters, digits, '.', '_', '-'.",
        ),
        (  # the user name ends at the last "@": "a@b" is refused whole
            "ssh://a@b@github.com/org/x",
            False,
            "user",
            "The ssh user name may contain only letters, digits, '.', '_', '-'.",
        ),
        ("https://[::1]/org/x", False, "ip_literal", IP_LITERAL),
        ("git@[::1]:org/x.git", False, "ip_literal", IP_LITERAL),
        ("https://127.1/org/x", False, "ip_literal", IP_LITERAL),
        (
            "https://github.com:8443/org/x",
            False,
            "port",
            "https repository URLs must use the standard port 443.",
        ),
        (
            "ssh://github.com:2222/org/x",
            False,
            "port",
            "ssh repository URLs must use the standard port 22.",
        ),
        (
            "ssh://-host/org/x",
            False,
            "leading_dash",
            "The repository host must not start with '-'.",
        ),
        (
            "https://gith_ub.com/org/x",
            False,
            "host",
            "The repository host is not a valid DNS name.",
        ),
        (
            "https://localhost/org/x",
            False,
            "blocked_host",
            "Local, internal and metadata host names are not allowed.",
        ),
        (
            "git@github.com:-x",
            False,
            "leading_dash",
            "The repository path must not start with '-'.",
        ),
        ("https://github.com", False, "path", NO_PATH),
        ("https://github.com/", False, "path", NO_PATH),
        (
            "https://github.com/org/-x",
            False,
            "leading_dash",
            "No part of the repository path may start with '-'.",
        ),
        ("https://github.com/org//x", False, "path", PATH_PARTS),
        ("https://github.com/org/./x", False, "path", PATH_PARTS),
        ("https://github.com/org/../x", False, "path", PATH_PARTS),
        ("https://github.com/org/x$y", False, "path", PATH_PARTS),
    ],
)
def test_each_refusal_names_its_rule_with_its_sentence(
    url: object, allow_local: bool, rule: str, message: str
) -> None:
    assert refusal(url, allow_local=allow_local) == (rule, message)


@pytest.mark.parametrize("char", ["%", "?", "#"])
def test_a_local_path_with_url_syntax_characters_is_refused(tmp_path: Path, char: str) -> None:
    folder = tmp_path / f"a{char}b"
    folder.mkdir()
    assert refusal(str(folder), allow_local=True) == (
        "local_path",
        "A local repository path must not contain '%', '?' or '#'.",
    )


def test_the_url_length_limit_is_inclusive() -> None:
    base = "https://github.com/org/"
    longest = base + "x" * (MAX_URL_LENGTH - len(base))
    assert check_repo_url(longest, allow_local=False, resolve=public).url == longest
    assert refusal(longest + "x") == (
        "too_long",
        f"The repository URL is longer than {MAX_URL_LENGTH} characters.",
    )


def test_the_first_and_last_printable_characters_pass_the_character_rule() -> None:
    """'!' and '~' are printable ASCII: "~" is fine in a path, and "!" is then refused by
    the path rule, not as a strange character."""
    url = "https://github.com/org/x~"
    assert check_repo_url(url, allow_local=False, resolve=public).path == "org/x~"
    assert refusal("https://github.com/org/x!") == ("path", PATH_PARTS)


def test_the_host_name_length_limit_is_253_characters() -> None:
    longest = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(longest) == 253
    checked = check_repo_url(f"https://{longest}/org/x", allow_local=False, resolve=public)
    assert checked.host == longest
    too_long = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])  # every label valid
    assert len(too_long) == 254
    assert refusal(f"https://{too_long}/org/x") == (
        "host",
        "The repository host is not a valid DNS name.",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://GitHub.com:443/org/x.git",
            CheckedUrl(
                "https://GitHub.com:443/org/x.git", "https", "github.com", None, "org/x.git"
            ),
        ),
        (
            "ssh://git@github.com/org/x.git",
            CheckedUrl("ssh://git@github.com/org/x.git", "ssh", "github.com", "git", "org/x.git"),
        ),
        (
            "git@github.com:org/x.git",
            CheckedUrl("git@github.com:org/x.git", "ssh", "github.com", "git", "org/x.git"),
        ),
        (  # the path is checked part by part as written: "X-org" does not start with "-"
            "https://github.com/X-org/repo",
            CheckedUrl("https://github.com/X-org/repo", "https", "github.com", None, "X-org/repo"),
        ),
        (  # a colon inside the path of an scp-style URL is part of the path
            "git@github.com:org/x:y.git",
            CheckedUrl("git@github.com:org/x:y.git", "ssh", "github.com", "git", "org/x:y.git"),
        ),
    ],
)
def test_an_accepted_remote_url_comes_back_with_every_part(url: str, expected: CheckedUrl) -> None:
    checked = check_repo_url(url, allow_local=False, resolve=public)
    assert checked == CheckedUrl(
        expected.url, expected.kind, expected.host, expected.user, expected.path, (PUBLIC,)
    )


def test_an_accepted_local_repository_comes_back_with_its_path(tmp_path: Path) -> None:
    assert check_repo_url(str(tmp_path), allow_local=True, resolve=public) == CheckedUrl(
        str(tmp_path), "local", path=str(tmp_path)
    )
    assert check_repo_url(f"file://{tmp_path}", allow_local=True, resolve=public) == CheckedUrl(
        f"file://{tmp_path}", "local", path=str(tmp_path)
    )


def test_a_zone_index_is_dropped_from_a_public_ipv6_address() -> None:
    checked = check_repo_url(
        "https://git.example.org/org/x",
        allow_local=False,
        resolve=lambda _host: ["2606:4700::1%eth0"],
    )
    assert checked.addresses == ("2606:4700::1",)


@pytest.mark.parametrize("address", ["fec0::1", "feff::1", "3fff::1", "3fff:fff::1"])
def test_ipv6_ranges_python_calls_global_but_are_not_are_refused(address: str) -> None:
    with pytest.raises(UrlPolicyError) as caught:
        check_repo_url(
            "https://git.example.org/org/x", allow_local=False, resolve=lambda _h: [address]
        )
    assert caught.value.rule == "blocked_address"
    assert caught.value.message == (
        "The repository host git.example.org resolves to a private, local or reserved "
        "address, which is not allowed."
    )


def test_the_system_resolver_lists_each_address_once_in_order() -> None:
    """The real resolver on a name every machine knows offline."""
    addresses = resolve_host("localhost")
    assert "127.0.0.1" in addresses
    assert addresses == sorted(set(addresses))
