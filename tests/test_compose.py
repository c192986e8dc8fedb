"""docker-compose.yml checked with what runs here (no Docker engine): every command is a real
`onevisit` command, every setting a real setting, secrets required, start order by health,
one worker per agency holding only its own keys, and the Besu network the generator makes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import rlp
import yaml
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization

from agencies.directory import AGENCIES
from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if str(s.get("image", "")).startswith("onevisit:")}


def test_every_part_of_the_system_is_a_service():
    assert {"postgres", "temporal", "temporal-ui", "gateway", "engine"} <= set(SERVICES)
    assert {f"agency-{a.replace('_', '-')}" for a in AGENCIES} <= set(OURS)
    assert sum(1 for n in SERVICES if n.startswith("besu-")) == 4  # one validator per core agency


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_command_is_a_real_onevisit_command(name):
    argv = [a for a in OURS[name]["command"] if not a.startswith("--") and not a[0].isdigit() and a != "0.0.0.0"]
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *argv, "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_every_setting_it_passes_is_one_the_gateway_reads():
    fields = {f"ONEVISIT_{f.upper()}" for f in Settings.model_fields}
    for name, service in OURS.items():
        names = {k for k in service["environment"] if k.startswith("ONEVISIT_")}
        assert names <= fields | {"ONEVISIT_VERSION"}, (name, names - fields)


def test_secrets_are_required_never_defaulted():
    raw = (ROOT / "docker-compose.yml").read_text()
    for secret in ("POSTGRES_PASSWORD", "ONEVISIT_DATA_KEY"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", raw)
        assert uses and all(u.startswith(":?") for u in uses), secret


def test_start_order_waits_for_health():
    for name, service in SERVICES.items():
        for dep, cond in (service.get("depends_on") or {}).items():
            assert cond == {"condition": "service_healthy"}, (name, dep)
            assert "healthcheck" in SERVICES[dep], f"{name} waits for {dep}, which has no health check"


@pytest.mark.parametrize("agency", sorted(AGENCIES))
def test_an_agency_worker_mounts_only_its_own_keys(agency):
    service = OURS[f"agency-{agency.replace('_', '-')}"]
    keys = [v for v in service["volumes"] if "/keys/" in v]
    assert keys == [f"./secrets/keys/{agency}.json:/var/lib/onevisit/keys/{agency}.json:ro"]
    assert service["command"] == ["worker", "agency", agency]
    for other in ("gateway", "engine"):
        assert not [v for v in OURS[other].get("volumes", []) if "/keys/" in v]


def test_only_the_gateway_and_the_engine_reach_the_store():
    holders = sorted(n for n, svc in OURS.items() if "ONEVISIT_DATABASE_URL" in svc["environment"])
    assert holders == ["engine", "gateway"]  # an agency worker holds its own keys, not the store


def test_only_the_gateway_and_the_engine_hold_the_data_key():
    holders = sorted(n for n, svc in OURS.items() if "ONEVISIT_DATA_KEY" in svc["environment"])
    assert holders == ["engine", "gateway"]  # an agency worker has its payload key, in its own key file


def test_only_the_gateway_holds_its_signing_key_and_the_engine_only_the_public_keyring():
    gateway, engine = OURS["gateway"], OURS["engine"]
    assert gateway["environment"]["ONEVISIT_GATEWAY_KEY"] == "/etc/onevisit/gateway.pem"
    assert "./secrets/gateway.pem:/etc/onevisit/gateway.pem:ro" in gateway["volumes"]
    assert engine["environment"]["ONEVISIT_GATEWAY_KEYS"] == "/etc/onevisit/gateway-keys.json"
    assert "./deploy/gateway-keys.json:/etc/onevisit/gateway-keys.json:ro" in engine["volumes"]
    holders = [n for n, svc in OURS.items() if any("gateway.pem" in v for v in svc.get("volumes", []))]
    assert holders == ["gateway"]
    assert Settings(**{"gateway_keys": engine["environment"]["ONEVISIT_GATEWAY_KEYS"]}).gateway_keys


def keygen_gateway(key: Path, keyring: Path) -> subprocess.CompletedProcess:
    argv = ["keygen", "gateway", "-o", str(key), "--keyring", str(keyring)]
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *argv], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_keygen_gateway_writes_the_key_and_adds_it_to_the_keyring(tmp_path):
    keyring = tmp_path / "gateway-keys.json"
    for n in (1, 2):  # a rotation: the second key joins the first
        done = keygen_gateway(tmp_path / f"g{n}.pem", keyring)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / f"g{n}.pem").stat().st_mode & 0o777 == 0o600
    assert len(json.loads(keyring.read_text())["keys"]) == 2
    again = keygen_gateway(tmp_path / "g1.pem", keyring)
    assert again.returncode == 2 and "never overwritten" in again.stderr


def keygen(*argv: str, data_key: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ONEVISIT_DATA_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keygen", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**env, **({"ONEVISIT_DATA_KEY": data_key} if data_key else {})},
    )


def test_keygen_gives_an_agency_its_payload_key_derived_from_the_data_key(tmp_path):
    from agencies.keys import AgencyKeys
    from workflows.codec import agency_recipient, payload_key

    data_key = Fernet.generate_key().decode()
    assert keygen("agency", "tax", "-o", str(tmp_path / "tax.json"), data_key=data_key).returncode == 0
    assert AgencyKeys.load(tmp_path / "tax.json").payload_key == payload_key(data_key, agency_recipient("tax"))
    assert keygen("agency", "bank", "-o", str(tmp_path / "bank.json"), data_key=None).returncode == 0
    assert AgencyKeys.load(tmp_path / "bank.json").payload_key is None  # as deploy/besu/generate.py makes them
    refused = keygen("payload", "bank", "-o", str(tmp_path / "bank.json"), data_key=None)
    assert refused.returncode == 2 and "set ONEVISIT_DATA_KEY" in refused.stderr
    wrong = keygen("payload", "tax", "-o", str(tmp_path / "bank.json"), data_key=data_key)
    assert wrong.returncode == 2 and "holds bank's keys" in wrong.stderr
    before = AgencyKeys.load(tmp_path / "bank.json")
    assert keygen("payload", "bank", "-o", str(tmp_path / "bank.json"), data_key=data_key).returncode == 0
    after = AgencyKeys.load(tmp_path / "bank.json")
    assert after.payload_key == payload_key(data_key, agency_recipient("bank"))
    assert (after.signing_key, after.account_key) == (before.signing_key, before.account_key)


def test_an_agency_worker_without_its_payload_key_refuses_to_start_and_never_falls_back_on_the_data_key(tmp_path):
    from agencies.keys import AgencyKeys

    AgencyKeys.generate("tax").save(tmp_path / "keys" / "tax.json")  # an older file: no payload key
    env = {k: v for k, v in os.environ.items() if k != "ONEVISIT_START_AFTER"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "worker", "agency", "tax"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**env, "ONEVISIT_DATA_DIR": str(tmp_path), "ONEVISIT_DATA_KEY": Fernet.generate_key().decode()},
    )
    assert done.returncode == 2 and "holds no payload_key" in done.stderr and "keygen payload tax" in done.stderr


def test_named_volumes_are_declared_and_the_image_holds_every_package():
    declared = set(COMPOSE["volumes"])
    for service in SERVICES.values():
        for v in service.get("volumes", []):
            source = v.split(":")[0]
            assert source.startswith(".") or source in declared, source
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("chain", "workflows", "agencies", "contracts", "gateway"):
        assert f"COPY {package} {package}" in dockerfile


def test_the_besu_generator_makes_what_compose_mounts(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "deploy/besu/generate.py"), "--out", str(tmp_path)], check=True, cwd=ROOT
    )
    config = tmp_path / "deploy/besu/config"
    genesis = json.loads((config / "genesis.json").read_text())
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert len(validators) == 4 and vote == [] and seals == [] and genesis["config"]["zeroBaseFee"]
    perms = tomllib.loads((config / "permissions_config.toml").read_text())
    accounts = {json.loads((tmp_path / f"secrets/keys/{a}.json").read_text())["account"] for a in (*AGENCIES, "admin")}
    assert set(perms["accounts-allowlist"]) == accounts and len(perms["nodes-allowlist"]) == 4
    toml = tomllib.loads((config / "besu.toml").read_text())
    for key in (
        "genesis-file",
        "permissions-accounts-config-file",
        "static-nodes-file",
        "rpc-ws-authentication-jwt-public-key-file",
    ):
        assert (config / Path(toml[key]).name).exists()
    for name, service in SERVICES.items():
        if name.startswith("besu-"):
            mounts = {t: s for s, t, *_ in (v.split(":") for v in service["volumes"] if v.startswith("./"))}
            assert (tmp_path / mounts["/keys"].removeprefix("./") / "key").exists()
    again = subprocess.run(
        [sys.executable, str(ROOT / "deploy/besu/generate.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr + again.stdout


def test_besu_admin_apis_are_on_loopback_behind_jwt_and_the_public_interface_serves_no_admin_api(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "deploy/besu/generate.py"), "--out", str(tmp_path)], check=True, cwd=ROOT
    )
    toml = tomllib.loads((tmp_path / "deploy/besu/config/besu.toml").read_text())
    admin_apis = {"PERM", "QBFT", "ADMIN", "DEBUG", "MINER", "TXPOOL", "PLUGINS", "IBFT", "CLIQUE"}
    assert not admin_apis & set(toml["rpc-http-api"])
    assert "*" not in toml["host-allowlist"] and "besu-market-regulation" in toml["host-allowlist"]
    assert set(toml["rpc-ws-api"]) == {"PERM", "QBFT", "ADMIN"}
    assert toml["rpc-ws-host"] == "127.0.0.1"
    assert toml["rpc-ws-authentication-enabled"] is True and toml["rpc-ws-authentication-jwt-algorithm"] == "ES256"
    assert not toml.get("graphql-http-enabled")
    private = tmp_path / "secrets/besu/admin-jwt.pem"
    assert private.stat().st_mode & 0o077 == 0  # the operator's alone
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / "deploy/besu/config/admin-jwt-public.pem").read_bytes())
    assert key.public_key().public_numbers() == public.public_numbers()
    for name, service in SERVICES.items():  # the admin interface is published on no host port
        if name.startswith("besu-"):
            assert not any("8546" in str(p) for p in service.get("ports", [])), name


# -- Temporal over mutual TLS only ---------------------------------------------------------------

TEMPORAL_CERTS = "./secrets/temporal/"
# What each service presents to Temporal: the server its own certificate (and the CLI's, for its
# health check and namespace set-up), the UI and every OneVisit process their own.
TEMPORAL_IDENTITIES = {
    "temporal": {"server", "temporal-cli"},
    "temporal-ui": {"temporal-ui"},
    **{name: {name} for name in OURS},
}


def mounts(service: dict) -> dict[str, str]:
    """Host file -> container path, for the service's bind mounts."""
    return {s: t for s, t, *_ in (v.split(":") for v in service.get("volumes", []) if v.startswith("./"))}


def mounted_at(service: dict, target: str) -> str:
    [source] = [s for s, t in mounts(service).items() if t == target]
    return source


def test_temporal_requires_mutual_tls_on_the_frontend_and_between_its_services():
    service = SERVICES["temporal"]
    env = {k: str(v) for k, v in service["environment"].items()}
    assert env["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    for frontend_or_internode in ("FRONTEND", "SERVER"):  # one certificate: the frontend's and internode's
        assert mounted_at(service, env[f"TEMPORAL_TLS_{frontend_or_internode}_CERT"]) == TEMPORAL_CERTS + "server.pem"
        assert mounted_at(service, env[f"TEMPORAL_TLS_{frontend_or_internode}_KEY"]) == TEMPORAL_CERTS + "server.key"
    for ca in ("TEMPORAL_TLS_SERVER_CA_CERT", "TEMPORAL_TLS_CLIENT1_CA_CERT"):  # clients checked against our CA
        assert mounted_at(service, env[ca]) == TEMPORAL_CERTS + "ca.pem"
    assert "TEMPORAL_TLS_CLIENT2_CA_CERT" not in env  # no second CA admitted
    assert env["TEMPORAL_TLS_INTERNODE_SERVER_NAME"] == env["TEMPORAL_TLS_FRONTEND_SERVER_NAME"] == "temporal"
    assert env["TEMPORAL_TLS_INTERNODE_DISABLE_HOST_VERIFICATION"] == "false"
    assert env["TEMPORAL_TLS_FRONTEND_DISABLE_HOST_VERIFICATION"] == "false"
    # the image's `temporal` CLI (namespace set-up, health check) connects as temporal-cli
    assert "temporal operator cluster health" in service["healthcheck"]["test"][1]
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233" and env["TEMPORAL_TLS_SERVER_NAME"] == "temporal"
    assert mounted_at(service, env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"]) == TEMPORAL_CERTS + "ca.pem"
    assert mounted_at(service, env["TEMPORAL_TLS_CLIENT_CERT_PATH"]) == TEMPORAL_CERTS + "temporal-cli.pem"
    assert mounted_at(service, env["TEMPORAL_TLS_CLIENT_KEY_PATH"]) == TEMPORAL_CERTS + "temporal-cli.key"
    assert not service.get("ports")  # reached on the compose network only


def test_the_ui_presents_its_certificate_and_checks_the_servers():
    service = SERVICES["temporal-ui"]
    env = {k: str(v) for k, v in service["environment"].items()}
    assert env["TEMPORAL_TLS_ENABLE_HOST_VERIFICATION"] == "true" and env["TEMPORAL_TLS_SERVER_NAME"] == "temporal"
    assert mounted_at(service, env["TEMPORAL_TLS_CA"]) == TEMPORAL_CERTS + "ca.pem"
    assert mounted_at(service, env["TEMPORAL_TLS_CERT"]) == TEMPORAL_CERTS + "temporal-ui.pem"
    assert mounted_at(service, env["TEMPORAL_TLS_KEY"]) == TEMPORAL_CERTS + "temporal-ui.key"


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_onevisit_service_connects_to_temporal_with_its_own_certificate(name):
    service = OURS[name]
    env = service["environment"]
    assert env["ONEVISIT_TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["ONEVISIT_TEMPORAL_TLS_SERVER_NAME"] == "temporal"
    assert mounted_at(service, env["ONEVISIT_TEMPORAL_TLS_CA"]) == TEMPORAL_CERTS + "ca.pem"
    assert mounted_at(service, env["ONEVISIT_TEMPORAL_TLS_CERT"]) == TEMPORAL_CERTS + f"{name}.pem"
    assert mounted_at(service, env["ONEVISIT_TEMPORAL_TLS_KEY"]) == TEMPORAL_CERTS + f"{name}.key"
    Settings(
        **{
            k.removeprefix("ONEVISIT_").lower(): v
            for k, v in env.items()  # production accepts it
            if k.startswith("ONEVISIT_TEMPORAL_TLS_")
        },
        environment="production",
        data_key=Fernet.generate_key().decode(),
        database_url="sqlite://",
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_mounts_only_its_own_temporal_key_read_only_and_none_the_ca_key(name):
    service = SERVICES[name]
    ours = {s: v for v in service.get("volumes", []) for s in [v.split(":")[0]] if s.startswith(TEMPORAL_CERTS)}
    keys = {Path(s).stem for s in ours if s.endswith(".key")}
    assert keys == TEMPORAL_IDENTITIES.get(name, set())
    assert "ca" not in keys  # the CA's key stays with the operator
    assert all(v.endswith(":ro") for v in ours.values())


def test_the_certificate_generator_makes_what_compose_mounts(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT / "deploy/temporal/generate_certs.py"), "--out", str(tmp_path)],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    made = {p.name for p in (tmp_path / "secrets/temporal").iterdir()}
    mounted = {Path(s).name for service in SERVICES.values() for s in mounts(service) if s.startswith(TEMPORAL_CERTS)}
    assert mounted == made - {"ca.key"}
    assert set().union(*TEMPORAL_IDENTITIES.values()) == {Path(n).stem for n in made} - {"ca"}
