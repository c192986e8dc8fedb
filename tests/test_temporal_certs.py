"""Temporal's mutual TLS certificates as deploy/temporal/generate_certs.py makes them: each leaf
chains to the operator's CA for its one purpose, keys are the owner's alone, nothing is
overwritten; and real TLS handshakes (Python's ssl on loopback, and the Temporal SDK's client)
show that a client with its certificate gets in while one without, or with another CA's, does not."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import os
import queue
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import DNSName, PolicyBuilder, Store, VerificationError

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "deploy/temporal/generate_certs.py"
_spec = importlib.util.spec_from_file_location("generate_certs", GENERATOR)
generate_certs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate_certs)
CLIENTS = generate_certs.CLIENTS
HANG_GUARD = 30  # seconds; a handshake on loopback takes milliseconds


def generate(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(out), *args], capture_output=True, text=True, cwd=ROOT
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mtls")
    assert generate(out).returncode == 0
    return out / "secrets/temporal"


@pytest.fixture(scope="module")
def other_ca_certs(tmp_path_factory) -> Path:
    """A second, unrelated installation: its certificates are strangers to the first."""
    out = tmp_path_factory.mktemp("other-mtls")
    assert generate(out).returncode == 0
    return out / "secrets/temporal"


def cert(certs: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((certs / f"{name}.pem").read_bytes())


def policy(certs: Path) -> PolicyBuilder:
    return PolicyBuilder().store(Store([cert(certs, "ca")])).time(dt.datetime.now(dt.UTC))


def usages(c: x509.Certificate) -> set:
    return set(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


# -- the generator's output --------------------------------------------------------------------


def test_the_server_certificate_chains_to_the_ca_and_names_temporal_and_localhost(certs):
    server = cert(certs, "server")
    for name in ("temporal", "localhost"):
        policy(certs).build_server_verifier(DNSName(name)).verify(server, [])
    with pytest.raises(VerificationError):
        policy(certs).build_server_verifier(DNSName("besu-tax")).verify(server, [])
    # the server's internode calls present the same certificate as a client
    assert usages(server) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    policy(certs).build_client_verifier().verify(server, [])


@pytest.mark.parametrize("name", CLIENTS)
def test_each_client_certificate_chains_to_the_ca_for_client_auth_only(certs, other_ca_certs, name):
    client = cert(certs, name)
    verified = policy(certs).build_client_verifier().verify(client, [])
    assert verified.subjects == [x509.DNSName(name)]
    assert usages(client) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    with pytest.raises(VerificationError):  # a client's certificate cannot pose as Temporal
        policy(certs).build_server_verifier(DNSName(name)).verify(client, [])
    with pytest.raises(VerificationError):  # nor is it any use to another installation
        policy(other_ca_certs).build_client_verifier().verify(client, [])


def test_the_ca_signs_certificates_only_and_leaves_live_a_year():
    now = dt.datetime.now(dt.UTC)
    ca_key, ca = generate_certs.make_ca(now)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    for name in ("server", "gateway"):
        _, leaf = generate_certs.issue(name, ca_key, ca, now)
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=366)
        assert leaf.not_valid_after_utc <= ca.not_valid_after_utc


def test_keys_are_the_owners_alone_and_each_matches_its_certificate(certs):
    assert {p.stem for p in certs.glob("*.key")} == {"ca", "server", *CLIENTS}
    for key_file in certs.glob("*.key"):
        assert key_file.stat().st_mode & 0o777 == 0o600, key_file.name
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        assert key.public_key() == cert(certs, key_file.stem).public_key()
    for pem in certs.glob("*.pem"):
        assert pem.stat().st_mode & 0o777 == 0o644, pem.name


def test_a_second_run_refuses_to_overwrite_and_changes_nothing(tmp_path):
    assert generate(tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "secrets/temporal").iterdir()}
    again = generate(tmp_path)
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "secrets/temporal").iterdir()} == before


def test_add_issues_a_renewed_leaf_from_the_existing_ca_and_refuses_to_overwrite_it(tmp_path):
    assert generate(tmp_path).returncode == 0
    certs = tmp_path / "secrets/temporal"
    old = cert(certs, "gateway")
    for suffix in ("pem", "key"):
        (certs / f"gateway.{suffix}").unlink()
    assert generate(tmp_path, "--add", "gateway").returncode == 0
    assert cert(certs, "gateway").serial_number != old.serial_number
    policy(certs).build_client_verifier().verify(cert(certs, "gateway"), [])
    assert (certs / "gateway.key").stat().st_mode & 0o777 == 0o600
    again = generate(tmp_path, "--add", "gateway")
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr
    assert generate(tmp_path, "--add", "not-a-client").returncode != 0
    no_ca = generate(tmp_path / "elsewhere", "--add", "gateway")
    assert no_ca.returncode != 0 and "ca.key missing" in no_ca.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="--chown needs root")
def test_chown_gives_each_key_to_the_user_its_container_reads_it_as(tmp_path):
    assert generate(tmp_path, "--chown").returncode == 0
    certs = tmp_path / "secrets/temporal"
    assert (certs / "gateway.key").stat().st_uid == 10001
    assert (certs / "agency-tax.key").stat().st_uid == 10001
    assert (certs / "server.key").stat().st_uid == 1000 and (certs / "temporal-cli.key").stat().st_uid == 1000
    assert (certs / "ca.key").stat().st_uid == 0  # the operator's


# -- real handshakes ---------------------------------------------------------------------------


def server_context(certs: Path) -> ssl.SSLContext:
    """What Temporal's frontend does with TEMPORAL_TLS_REQUIRE_CLIENT_AUTH: its certificate, and a
    client certificate from TEMPORAL_TLS_CLIENT1_CA_CERT required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    ctx.load_verify_locations(certs / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["h2"])
    return ctx


def client_context(ca: Path, identity: Path | None, name: str = "") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca / "ca.pem")
    if identity is not None:
        ctx.load_cert_chain(identity / f"{name}.pem", identity / f"{name}.key")
    return ctx


class OneShotTLSServer:
    """Accepts one connection on loopback and reports what the handshake came to: the client's
    certificate's common name, or the error that refused it."""

    def __init__(self, ctx: ssl.SSLContext):
        self.ctx = ctx
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.outcome: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(HANG_GUARD)
        try:
            conn, _ = self.sock.accept()
        except OSError as exc:
            self.outcome.put(("no connection", exc))
            return
        finally:
            self.sock.close()  # one connection: a client that reconnects is refused, not left hanging
        with conn:
            conn.settimeout(HANG_GUARD)
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.outcome.put(("refused", exc))
                return
            with tls:
                subject = dict(item for rdn in tls.getpeercert()["subject"] for item in rdn)
                self.outcome.put(("accepted", subject["commonName"]))
                try:
                    tls.sendall(b"ok")
                except OSError:
                    pass  # a client that has already gone (the Temporal SDK, finding no gRPC here)

    def result(self):
        try:
            return self.outcome.get(timeout=HANG_GUARD)
        finally:
            self.thread.join(HANG_GUARD)


def talk(port: int, ctx: ssl.SSLContext) -> bytes | Exception:
    """Connect as a client would, and read the server's greeting (or the error instead)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD) as raw:
            with ctx.wrap_socket(raw, server_hostname="temporal") as tls:
                return tls.recv(2)
    except (ssl.SSLError, OSError) as exc:
        return exc


@pytest.mark.parametrize("name", ["gateway", "agency-tax", "temporal-ui", "temporal-cli"])
def test_a_client_with_its_certificate_completes_the_handshake(certs, name):
    server = OneShotTLSServer(server_context(certs))
    assert talk(server.port, client_context(certs, certs, name)) == b"ok"
    assert server.result() == ("accepted", name)


def test_a_client_without_a_certificate_is_refused(certs):
    server = OneShotTLSServer(server_context(certs))
    answer = talk(server.port, client_context(certs, None))
    outcome, error = server.result()
    assert answer != b"ok" and outcome == "refused"
    assert "certificate" in str(error).lower()  # PEER_DID_NOT_RETURN_A_CERTIFICATE


def test_a_client_with_a_certificate_from_another_ca_is_refused(certs, other_ca_certs):
    server = OneShotTLSServer(server_context(certs))
    stranger = client_context(certs, other_ca_certs, "gateway")  # trusts our server, but is not ours
    answer = talk(server.port, stranger)
    outcome, error = server.result()
    assert answer != b"ok" and outcome == "refused"
    assert "certificate verify failed" in str(error).lower()


def test_a_client_does_not_accept_a_server_from_another_ca(certs, other_ca_certs):
    impostor = OneShotTLSServer(server_context(other_ca_certs))
    answer = talk(impostor.port, client_context(certs, certs, "gateway"))
    assert isinstance(answer, ssl.SSLCertVerificationError)
    assert impostor.result()[0] == "refused"


async def test_the_temporal_sdk_presents_our_client_certificate_and_checks_the_server(certs, other_ca_certs):
    """The gateway's own settings, through temporalio's TLSConfig (rustls): the P-256 PKCS #8 key
    loads, the server's certificate is checked against our CA under the name temporal, and the
    client certificate is presented. (No Temporal answers on the other side: the connection then
    fails at gRPC, after the handshake this test is about.)"""
    from temporalio.client import Client

    from gateway.settings import Settings

    def settings(server_name: str) -> Settings:
        return Settings(
            temporal_tls_ca=certs / "ca.pem",
            temporal_tls_cert=certs / "engine.pem",
            temporal_tls_key=certs / "engine.key",
            temporal_tls_server_name=server_name,
        )

    for server_ctx, server_name, expected in [
        (server_context(certs), "temporal", ("accepted", "engine")),
        (server_context(certs), "besu-tax", "refused"),
        (server_context(other_ca_certs), "temporal", "refused"),
    ]:
        server = OneShotTLSServer(server_ctx)
        with pytest.raises(RuntimeError):
            await asyncio.wait_for(
                Client.connect(f"127.0.0.1:{server.port}", tls=settings(server_name).temporal_tls()), HANG_GUARD
            )
        outcome = server.result()
        assert (outcome if expected != "refused" else outcome[0]) == expected, outcome
