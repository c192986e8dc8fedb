#!/usr/bin/env python3
"""Generate a Besu QBFT network for docker-compose: one validator per agency, account
permissioning by local allowlist, zero base fee; plus every agency's keys and the admin key.

    .venv/bin/python deploy/besu/generate.py [--out .] [--chain-id 1337]

Writes (nothing is overwritten):
  deploy/besu/config/{genesis.json, besu.toml, permissions_config.toml, static-nodes.json,
                      admin-jwt-public.pem}
  secrets/besu/<validator>/key       the validator's node key
  secrets/besu/admin-jwt.pem         the operator's ES256 key that signs JWTs for the admin APIs
  secrets/keys/{admin,<agency>}.json the signing key and ledger account of each agency
Then: `docker compose up -d besu-market-regulation besu-public-security besu-tax besu-human-resources`
and `docker compose run --rm -v ./secrets:/secrets -v ./deploy:/deploy gateway provision
--ledger-rpc http://besu-market-regulation:8545 --data-dir /secrets`, then copy
secrets/deployment.json to deploy/deployment.json and `docker compose up -d`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

import rlp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_keys import keys

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agencies.directory import AGENCIES  # noqa: E402
from agencies.keys import AgencyKeys  # noqa: E402

VALIDATORS = ("market_regulation", "public_security", "tax", "human_resources")
QBFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"


def qbft_extra_data(validators: list[bytes]) -> str:
    """RLP([32-byte vanity, [validator addresses], no vote, round 0, no seals]) as Besu reads it."""
    return "0x" + rlp.encode([b"\x00" * 32, validators, [], 0, []]).hex()


def genesis(chain_id: int, validators: list[bytes], funded: list[str]) -> dict:
    return {
        "config": {
            "chainId": chain_id,
            "berlinBlock": 0,
            "londonBlock": 0,
            "shanghaiTime": 0,
            "cancunTime": 0,
            "zeroBaseFee": True,
            "qbft": {"blockperiodseconds": 1, "epochlength": 30000, "requesttimeoutseconds": 4},
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": "0x3938700",
        "difficulty": "0x1",
        "mixHash": QBFT_MIX_HASH,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": {a.lower().removeprefix("0x"): {"balance": "0x" + (10**24).to_bytes(10, "big").hex()} for a in funded},
        "extraData": qbft_extra_data(validators),
    }


def besu_toml() -> str:
    """The public HTTP interface serves ETH, NET and WEB3 only, to the compose network's own host
    names; the admin APIs (PERM, QBFT, ADMIN) are on the WebSocket interface bound to loopback,
    and every call there needs a JWT signed by the operator's ES256 key."""
    hosts = ["localhost", "127.0.0.1", *(f"besu-{v.replace('_', '-')}" for v in VALIDATORS)]
    return "\n".join(
        [
            'genesis-file="/config/genesis.json"',
            'data-path="/data"',
            "min-gas-price=0",
            "rpc-http-enabled=true",
            'rpc-http-host="0.0.0.0"',
            'rpc-http-api=["ETH","NET","WEB3"]',
            f"host-allowlist={json.dumps(hosts)}",
            "rpc-ws-enabled=true",
            'rpc-ws-host="127.0.0.1"',
            "rpc-ws-port=8546",
            'rpc-ws-api=["PERM","QBFT","ADMIN"]',
            "rpc-ws-authentication-enabled=true",
            'rpc-ws-authentication-jwt-algorithm="ES256"',
            'rpc-ws-authentication-jwt-public-key-file="/config/admin-jwt-public.pem"',
            "permissions-accounts-config-file-enabled=true",
            'permissions-accounts-config-file="/config/permissions_config.toml"',
            "permissions-nodes-config-file-enabled=true",
            'permissions-nodes-config-file="/config/permissions_config.toml"',
            'static-nodes-file="/config/static-nodes.json"',
            "p2p-port=30303",
            "",
        ]
    )


def write_new(path: Path, text: str, mode: int = 0o644) -> None:
    if path.exists():
        raise SystemExit(f"{path} exists: refusing to overwrite a network's keys or genesis")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT)
    ap.add_argument("--chain-id", type=int, default=1337)
    args = ap.parse_args(argv)
    out = args.out
    node_keys = {v: keys.PrivateKey(secrets.token_bytes(32)) for v in VALIDATORS}
    agency_keys = {a: AgencyKeys.generate(a) for a in ("admin", *AGENCIES)}
    accounts = [k.account for k in agency_keys.values()]
    config = out / "deploy" / "besu" / "config"
    enodes = [f"enode://{k.public_key.to_hex()[2:]}@besu-{v.replace('_', '-')}:30303" for v, k in node_keys.items()]
    write_new(
        config / "genesis.json",
        json.dumps(
            genesis(args.chain_id, [k.public_key.to_canonical_address() for k in node_keys.values()], accounts),
            indent=2,
        )
        + "\n",
    )
    write_new(config / "besu.toml", besu_toml())
    write_new(
        config / "permissions_config.toml",
        f"accounts-allowlist={json.dumps(accounts)}\nnodes-allowlist={json.dumps(enodes)}\n",
    )
    write_new(config / "static-nodes.json", json.dumps(enodes, indent=2) + "\n")
    admin_jwt = ec.generate_private_key(ec.SECP256R1())
    write_new(
        out / "secrets" / "besu" / "admin-jwt.pem",
        admin_jwt.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        0o600,
    )
    write_new(
        config / "admin-jwt-public.pem",
        admin_jwt.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )
    for v, k in node_keys.items():
        write_new(out / "secrets" / "besu" / v / "key", k.to_hex(), 0o600)
    for name, k in agency_keys.items():
        if (out / "secrets" / "keys" / f"{name}.json").exists():
            raise SystemExit(f"secrets/keys/{name}.json exists: refusing to overwrite")
        k.save(out / "secrets" / "keys" / f"{name}.json")
    print(f"wrote {config} and {out / 'secrets'} ({len(VALIDATORS)} validators, {len(accounts)} allowed accounts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
