"""Where notifications may go (docs/security.md#notifications): hostile URLs are refused
with a sentence, before any lookup where the text alone is wrong; the resolver is injected,
so these tests stay offline."""

from __future__ import annotations

import pytest

from provisioning.notifications.urlcheck import (
    TargetUrlError,
    check_apprise_url,
    check_webhook_url,
)

PUBLIC = "93.184.216.34"


def _resolver(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> list[str]:
        return table.get(host, [PUBLIC])

    return resolve


def _never(host: str) -> list[str]:
    raise AssertionError(f"looked up {host}")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "Enter a URL"),
        ("   ", "Enter a URL"),
        ("https://example.com/a\x00b", "printable ASCII"),
        ("https://exa mple.com/", "printable ASCII"),
        ("https://example.com/\u00e9", "printable ASCII"),
        ("https://example.com\\@evil.test/", "printable ASCII"),
        ("https://example.com/" + "a" * 1001, "longer than 1000"),
        ("http://example.com/hook", "https://"),
        ("javascript:alert(1)", "https://"),
        ("file:///etc/passwd", "https://"),
        ("gopher://example.com/", "https://"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("https://example.com/hook#frag", "'#'"),
        ("https://example.com:99999/", "could not be read"),
        ("https:///path", "no host"),
        ("https://10.0.0.1/hook", "ip_literal"),
        ("https://127.1/hook", "ip_literal"),
        ("https://[::1]/hook", "rule: host"),
        ("https://2130706433/hook", "ip_literal"),
        ("https://localhost/hook", "blocked_host"),
        ("https://metadata.google.internal/hook", "blocked_host"),
        ("https://printer.lan/hook", "blocked_host"),
    ],
)
def test_hostile_webhook_urls_are_refused_without_a_lookup(url: str, says: str) -> None:
    with pytest.raises(TargetUrlError, match=says.replace("(", r"\(")):
        check_webhook_url(url, allow_loopback=False, resolve=_never)


@pytest.mark.parametrize("address", ["10.1.2.3", "127.0.0.1", "169.254.169.254", "::1", "fd00::1"])
def test_names_resolving_to_private_addresses_are_refused(address: str) -> None:
    resolve = _resolver({"hooks.example.com": [address]})
    with pytest.raises(TargetUrlError, match="blocked_address"):
        check_webhook_url("https://hooks.example.com/x", allow_loopback=False, resolve=resolve)


def test_a_public_webhook_url_passes_with_its_checked_addresses_and_a_redacted_form() -> None:
    checked = check_webhook_url(
        "https://hooks.example.com:8443/t/secret-path?token=abc",
        allow_loopback=False,
        resolve=_resolver({}),
    )
    assert checked.addresses == (PUBLIC,)
    assert checked.redacted == "https://hooks.example.com:8443/…"
    assert "secret" not in checked.redacted


def test_loopback_receivers_pass_only_where_local_repositories_are_allowed() -> None:
    with pytest.raises(TargetUrlError):
        check_webhook_url("http://127.0.0.1:8000/hook", allow_loopback=False, resolve=_never)
    checked = check_webhook_url("http://127.0.0.1:8000/hook", allow_loopback=True, resolve=_never)
    assert checked.addresses == ()
    # Loopback, not the private network: the development switch opens nothing else.
    with pytest.raises(TargetUrlError, match="ip_literal"):
        check_webhook_url("https://10.0.0.1/hook", allow_loopback=True, resolve=_never)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("slack", "starts with its service"),
        ("ftp://example.com/x", "not accepted here"),
        ("https://hooks.slack.com/services/T1/B2/C3", "not accepted here"),
        ("windows://", "not accepted here"),
        ("syslog://", "not accepted here"),
        ("pbul://abcdefghijklmnopqrstuvwxyz012345", "not accepted here"),
        ("json://", "does not understand"),
        ("mailtos://", "does not understand"),
        ("json://10.0.0.1/x", "ip_literal"),
        ("json://127.0.0.1:9000/x", "ip_literal"),
        ("json://localhost/x", "blocked_host"),
        ("mailtos://user:pw@example.com?smtp=10.0.0.1", "ip_literal"),
        ("mailtos://user:pw@example.com?smtp=mail.internal", "blocked_host"),
    ],
)
def test_hostile_apprise_urls_are_refused(url: str, says: str) -> None:
    with pytest.raises(TargetUrlError, match=says):
        check_apprise_url(url, allow_loopback=False, resolve=_resolver({}))


def test_an_apprise_host_resolving_to_a_private_address_is_refused() -> None:
    resolve = _resolver({"matrix.example.com": ["192.168.1.20"]})
    with pytest.raises(TargetUrlError, match="blocked_address"):
        check_apprise_url(
            "matrixs://bot:pw@matrix.example.com/#room", allow_loopback=False, resolve=resolve
        )


def test_accepted_apprise_urls_show_scheme_and_host_only() -> None:
    slack = check_apprise_url(
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7", allow_loopback=False, resolve=_never
    )
    assert (slack.redacted, slack.host) == ("slack://…", None)
    mail = check_apprise_url(
        "mailtos://alerts:app-password-123@example.com?smtp=smtp.example.com",
        allow_loopback=False,
        resolve=_resolver({}),
    )
    assert mail.host == "smtp.example.com"
    assert mail.redacted == "mailtos://example.com/…"
    local = check_apprise_url("json://127.0.0.1:9000/x", allow_loopback=True, resolve=_never)
    assert local.redacted == "json://127.0.0.1/…"


def test_only_secret_parts_of_a_url_are_registered_with_the_log_scrubber() -> None:
    from bmadweb.logscrub import scrub
    from provisioning.notifications.apprise_door import register_url_secrets

    register_url_secrets("json://bot:Pw-0123456789@hooks9.example.com:8443/in/tok3n-abcdef99")
    line = scrub("sent to hooks9.example.com:8443 as bot with Pw-0123456789 and tok3n-abcdef99")
    assert line == "sent to hooks9.example.com:8443 as bot with [redacted] and [redacted]"
    register_url_secrets("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7")
    assert scrub("T1JJ3T3L2 A1BRTD4JD TIiajkdnlazkcOXrIdevi7") == " ".join(["[redacted]"] * 3)
