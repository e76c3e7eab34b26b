"""Forge HTTP calls go to the address that passed the URL policy (docs/security.md#s14,
gap G1): the request is aimed at the checked IP with the host name kept as the Host header
and the TLS server name (the certificate is verified against it), so DNS is never asked
again and a rebinding answer is never followed."""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from provisioning import forges
from provisioning.forges.http import Connection, pinned

NAME = "forge.example.test"
PUBLIC = "93.184.216.34"


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Seen:
    def __init__(self) -> None:
        self.sni: list[str | None] = []
        self.hosts: list[str] = []


@pytest.fixture
def tls_forge(tmp_path: Path) -> Iterator[tuple[int, Path, _Seen]]:
    """An HTTPS forge on 127.0.0.1 whose certificate names only forge.example.test."""
    cert, key = _certificate(tmp_path)
    seen = _Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.hosts.append(self.headers.get("Host", ""))
            body = json.dumps({"ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen.sni.append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert, seen
    finally:
        server.shutdown()
        server.server_close()


def _no_dns_for_the_forge(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(str(host))
        if str(host) == NAME:
            raise socket.gaierror("rebinding would answer 10.0.0.1 now")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


def test_the_call_goes_to_the_checked_address_with_the_name_as_host_and_sni(tls_forge, monkeypatch):
    port, cert, seen = tls_forge
    asked = _no_dns_for_the_forge(monkeypatch)
    repo = forges.ForgeRepo(
        kind="github",
        api_base=f"https://{NAME}:{port}/api/v3",
        owner_path="acme/app",
        addresses=("127.0.0.1",),
    )
    transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
    with Connection(repo, "t0ken", 5.0, transport) as conn:
        assert conn.json("GET", "/ping") == {"ok": True}
    assert NAME not in asked  # no second lookup: nothing to rebind
    assert seen.sni == [NAME]  # the certificate was checked against the name
    assert seen.hosts == [f"{NAME}:{port}"]


def test_without_pinning_the_same_call_would_ask_dns(tls_forge, monkeypatch):
    """The control: an unpinned connection resolves the name when it connects."""
    port, cert, _seen = tls_forge
    asked = _no_dns_for_the_forge(monkeypatch)
    repo = forges.ForgeRepo(
        kind="github", api_base=f"https://{NAME}:{port}/api/v3", owner_path="acme/app"
    )
    transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
    with Connection(repo, "t0ken", 5.0, transport) as conn, pytest.raises(forges.ForgeError):
        conn.json("GET", "/ping")
    assert NAME in asked


def test_a_certificate_for_another_name_is_refused_even_at_the_pinned_address(
    tls_forge, monkeypatch
):
    port, cert, _seen = tls_forge
    repo = forges.ForgeRepo(
        kind="github",
        api_base=f"https://other.example.test:{port}/api/v3",
        owner_path="acme/app",
        addresses=("127.0.0.1",),
    )
    transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(cert)))
    with Connection(repo, "t0ken", 5.0, transport) as conn, pytest.raises(forges.ForgeError):
        conn.json("GET", "/ping")


@pytest.mark.parametrize(
    ("url", "addresses", "target", "host"),
    [
        ("https://api.github.com/repos", (PUBLIC,), f"https://{PUBLIC}/repos", "api.github.com"),
        (
            "https://ghe.example:8443/api/v3",
            (PUBLIC,),
            f"https://{PUBLIC}:8443/api/v3",
            "ghe.example:8443",
        ),
        (
            "https://api.github.com/x",
            ("2606:4700::1",),
            "https://[2606:4700::1]/x",
            "api.github.com",
        ),
    ],
)
def test_pinned_keeps_scheme_port_path_and_names_the_host(url, addresses, target, host):
    aimed, headers, extensions = pinned(httpx.URL(url), addresses)
    assert str(aimed) == target
    assert headers == {"Host": host}
    assert extensions == {"sni_hostname": host.split(":")[0]}


@pytest.mark.django_db
def test_the_run_pins_the_first_answer_and_never_follows_a_rebinding(
    project, monkeypatch, settings
):
    from provisioning.git_ops import urlpolicy
    from provisioning.runs.pull_requests import _forge_repo

    answers = iter([[PUBLIC], ["127.0.0.1"], ["10.0.0.1"]])
    monkeypatch.setattr(urlpolicy, "resolve_host", lambda host: next(answers))
    settings.ALLOW_LOCAL_REPOS = False
    project.repo_url = "https://ghe.example.org/acme/app.git"
    project.forge_kind = "github"
    project.forge_api_url = ""
    repo = _forge_repo(project)
    assert repo.addresses == (PUBLIC,)
    assert repo.api_base == "https://ghe.example.org/api/v3"


@pytest.mark.django_db
def test_a_forge_host_resolving_to_a_private_address_is_refused(project, monkeypatch, settings):
    from provisioning.git_ops import urlpolicy
    from provisioning.runs.pull_requests import _forge_repo

    monkeypatch.setattr(urlpolicy, "resolve_host", lambda host: ["10.1.2.3"])
    settings.ALLOW_LOCAL_REPOS = False
    project.repo_url = "https://ghe.example.org/acme/app.git"
    project.forge_kind = "github"
    project.forge_api_url = ""
    with pytest.raises(forges.ForgeError, match="not allowed"):
        _forge_repo(project)
