#!/usr/bin/env python3
"""Generate the certificates for mutual TLS between the Temporal server and its clients in
docker-compose: a CA the operator keeps, the server's certificate and one client certificate
per client, so that nothing without a certificate from this CA can talk to Temporal.

    .venv/bin/python deploy/temporal/generate_certs.py [--out .] [--chown]
    .venv/bin/python deploy/temporal/generate_certs.py --add NAME [NAME ...]   # from the existing CA

Writes under secrets/temporal/ (nothing is overwritten; keys 0600, certificates 0644):
  ca.pem, ca.key           the CA (10 years); its key stays with the operator, no service mounts it
  server.pem, server.key   the frontend and internode certificate (DNS: temporal, localhost;
                           serverAuth, and clientAuth for the server's own internode calls)
  NAME.pem, NAME.key       one client certificate (clientAuth) per client: gateway, engine,
                           agency-<agency> for each agency, temporal-ui, temporal-cli (the
                           server's health check and its namespace set-up)
Leaves are valid for a year: to renew one, move its two files away and `--add NAME`.
ECDSA P-256 keys (PKCS #8), SHA-256 signatures.

The containers read their key as their image's user (onevisit: 10001, temporal: 1000); run as
root with --chown to hand each key to that user (the CA key stays the operator's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agencies.directory import AGENCIES  # noqa: E402

SERVER = "server"
SERVER_NAMES = ("temporal", "localhost")
CLIENTS = ("gateway", "engine", *(f"agency-{a.replace('_', '-')}" for a in AGENCIES), "temporal-ui", "temporal-cli")
# Who reads each key inside its container, for --chown: the onevisit image runs as 10001,
# temporalio/auto-setup as 1000, temporalio/ui as root.
ONEVISIT_UID, TEMPORAL_UID, UI_UID = 10001, 1000, 0
READER_UID = {
    SERVER: TEMPORAL_UID,
    "temporal-cli": TEMPORAL_UID,
    "temporal-ui": UI_UID,
    **{c: ONEVISIT_UID for c in CLIENTS if not c.startswith("temporal-")},
}
CA_DAYS, LEAF_DAYS = 3650, 365


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "OneVisit"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("OneVisit Temporal CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    name: str, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The server's certificate (NAME == "server") or a client's, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    if name == SERVER:
        dns, usages = SERVER_NAMES, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    else:
        dns, usages = (name,), [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns[0] if name == SERVER else name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Create PATH with MODE from the start (a key is never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SystemExit(f"{path} exists: refusing to overwrite Temporal's certificates or keys") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, mode)  # whatever the umask


def refuse_existing(paths: list[Path]) -> None:
    for path in paths:
        if path.exists():
            raise SystemExit(f"{path} exists: refusing to overwrite Temporal's certificates or keys")


def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def write_leaves(out: Path, names: list[str], ca_key, ca, now: dt.datetime, chown: bool) -> None:
    for name in names:
        key, cert = issue(name, ca_key, ca, now)
        write_new(out / f"{name}.key", pem_key(key), 0o600)
        write_new(out / f"{name}.pem", pem_cert(cert), 0o644)
        if chown:
            os.chown(out / f"{name}.key", READER_UID[name], -1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT)
    ap.add_argument(
        "--add",
        nargs="+",
        metavar="NAME",
        choices=[SERVER, *CLIENTS],
        help="issue these leaves from the existing CA (a renewal, or a new agency's worker)",
    )
    ap.add_argument(
        "--chown", action="store_true", help="give each key to the user its container reads it as (root only)"
    )
    args = ap.parse_args(argv)
    out = args.out / "secrets" / "temporal"
    now = dt.datetime.now(dt.UTC)
    names = args.add or [SERVER, *CLIENTS]
    refuse_existing([out / f"{n}.{ext}" for n in names for ext in ("key", "pem")])
    if args.add:
        if not (out / "ca.key").exists():
            raise SystemExit(f"{out / 'ca.key'} missing: --add issues from the CA a first run made")
        ca_key = serialization.load_pem_private_key((out / "ca.key").read_bytes(), None)
        ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    else:
        refuse_existing([out / "ca.key", out / "ca.pem"])
        ca_key, ca = make_ca(now)
        write_new(out / "ca.key", pem_key(ca_key), 0o600)
        write_new(out / "ca.pem", pem_cert(ca), 0o644)
    write_leaves(out, names, ca_key, ca, now, args.chown)
    print(f"wrote {out}: {', '.join(names)} (leaves valid {LEAF_DAYS} days; keep ca.key offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
