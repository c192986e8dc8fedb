"""docker-compose.yml checked with what runs here (no Docker engine): every command is a real
`onevisit` command, every setting a real setting, secrets required, start order by health,
one worker per agency holding only its own keys, and the Besu network the generator makes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import rlp
import yaml
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
    result = subprocess.run([sys.executable, "-m", "gateway.cli", *argv, "--help"], capture_output=True, text=True, cwd=ROOT)
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
    subprocess.run([sys.executable, str(ROOT / "deploy/besu/generate.py"), "--out", str(tmp_path)], check=True, cwd=ROOT)
    config = tmp_path / "deploy/besu/config"
    genesis = json.loads((config / "genesis.json").read_text())
    vanity, validators, vote, round_, seals = rlp.decode(bytes.fromhex(genesis["extraData"][2:]))
    assert len(validators) == 4 and vote == [] and seals == [] and genesis["config"]["zeroBaseFee"]
    perms = tomllib.loads((config / "permissions_config.toml").read_text())
    accounts = {json.loads((tmp_path / f"secrets/keys/{a}.json").read_text())["account"] for a in (*AGENCIES, "admin")}
    assert set(perms["accounts-allowlist"]) == accounts and len(perms["nodes-allowlist"]) == 4
    toml = tomllib.loads((config / "besu.toml").read_text())
    for key in ("genesis-file", "permissions-accounts-config-file", "static-nodes-file",
                "rpc-ws-authentication-jwt-public-key-file"):
        assert (config / Path(toml[key]).name).exists()
    for name, service in SERVICES.items():
        if name.startswith("besu-"):
            mounts = {t: s for s, t, *_ in (v.split(":") for v in service["volumes"] if v.startswith("./"))}
            assert (tmp_path / mounts["/keys"].removeprefix("./") / "key").exists()
    again = subprocess.run([sys.executable, str(ROOT / "deploy/besu/generate.py"), "--out", str(tmp_path)],
                           capture_output=True, text=True, cwd=ROOT)
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr + again.stdout


def test_besu_admin_apis_are_on_loopback_behind_jwt_and_the_public_interface_serves_no_admin_api(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "deploy/besu/generate.py"), "--out", str(tmp_path)], check=True, cwd=ROOT)
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
