"""All gateway settings in one place (environment variables prefixed ONEVISIT_)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography.fernet import Fernet
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from temporalio.service import TLSConfig

    from workflows.authority import GatewaySigner, Keyring

PLACEHOLDERS = {"", "changethis", "change-me", "secret", "password"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONEVISIT_", extra="ignore")

    environment: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path(".onevisit")
    database_url: str | None = None
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str | None = None
    # mutual TLS to Temporal (file paths, PEM): required in production, none on the embedded stack
    temporal_tls_ca: Path | None = None
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_server_name: str | None = None  # the name on the server's certificate, if not the address's host
    # HOST:PORT where this process serves the Temporal SDK's own metrics for Prometheus (workers'
    # task latencies, polls, activity failures...); off by default
    temporal_metrics_address: str | None = None
    # HOST:PORT where a worker process serves its own metrics (agencies.metrics: step and anchor
    # times, ledger errors) for Prometheus; off by default (the gateway serves /metrics itself)
    metrics_address: str | None = None
    # OTLP/HTTP traces endpoint (http://collector:4318/v1/traces): every process then traces its
    # requests, workflows and activities into one trace per case (gateway.tracing); off by default
    otel_endpoint: str | None = None
    # seconds between the gateway's sweeps that record SME credit consents past their last day as
    # expired (each an anchored handoff); 0 = only when an admin asks (POST /api/v1/credit/expiries)
    consent_sweep_s: float = Field(3600.0, ge=0)
    ledger_rpc: str = "http://127.0.0.1:8545"
    data_key: str | None = None
    token_ttl_minutes: int = 8 * 60
    demo_accounts: bool = False  # seed the demo accounts (password = name): set by `onevisit up` only
    log_format: Literal["text", "json"] = "text"  # json: one object per line with the case and workflow ids
    # agencies reached over HTTP (`onevisit agency serve NAME` or the agency's own system), as a JSON
    # object {"tax": "http://10.0.0.5:8101", ...}; every other agency uses its simulated back-end
    agency_services: dict[str, str] = {}
    agency_service_tokens: dict[str, str] = {}  # the bearer token of each of those services, by agency
    # the gateway signs every update it sends a case (workflows.authority): its Ed25519 private key
    # (PEM; embedded: DIR/keys/gateway.pem, made once) and the public keys the engine trusts (JSON;
    # embedded: DIR/gateway-keys.json). The engine's worker needs only the second.
    gateway_key: Path | None = None
    gateway_keys: Path | None = None

    @field_validator("agency_services")
    @classmethod
    def _known_agencies_by_http(cls, value: dict[str, str]) -> dict[str, str]:
        from agencies.directory import AGENCIES

        for name, url in value.items():
            if name not in AGENCIES:
                raise ValueError(f"ONEVISIT_AGENCY_SERVICES names {name!r}, not an agency: {', '.join(AGENCIES)}")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"ONEVISIT_AGENCY_SERVICES[{name}] must be an http(s) URL, not {url!r}")
        return value

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production":
            if self.data_key is None or self.data_key.lower() in PLACEHOLDERS:
                raise ValueError("ONEVISIT_DATA_KEY must be set to a real key in production")
            if self.demo_accounts:
                raise ValueError("ONEVISIT_DEMO_ACCOUNTS is for the embedded stack only, never production")
            for name in ("temporal_tls_ca", "temporal_tls_cert", "temporal_tls_key"):
                if getattr(self, name) is None:
                    raise ValueError(
                        f"ONEVISIT_{name.upper()} must be set in production: Temporal is reached over mutual TLS only"
                    )
        return self

    @field_validator(
        "temporal_tls_ca", "temporal_tls_cert", "temporal_tls_key", "gateway_key", "gateway_keys", mode="before"
    )
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # not Path(""), which is the working directory

    @model_validator(mode="after")
    def _client_cert_with_its_key(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("ONEVISIT_TEMPORAL_TLS_CERT and ONEVISIT_TEMPORAL_TLS_KEY go together")
        return self

    @model_validator(mode="after")
    def _data_key_is_a_key(self) -> Settings:
        if self.data_key and self.data_key.lower() not in PLACEHOLDERS:
            try:
                Fernet(self.data_key.encode())
            except ValueError as exc:
                raise ValueError(
                    "ONEVISIT_DATA_KEY must be a Fernet key (32 url-safe base64 bytes): "
                    "make one with `onevisit keygen data`"
                ) from exc
        return self

    def temporal_tls(self) -> TLSConfig | bool:
        """What Client.connect takes as tls: the CA, this process's client certificate and key read
        from their files (an unreadable one named by its variable), or False when none is set."""
        from temporalio.service import TLSConfig

        if self.temporal_tls_ca is None and self.temporal_tls_cert is None:
            return False

        def read(name: str) -> bytes | None:
            path = getattr(self, name)
            try:
                return None if path is None else path.read_bytes()
            except OSError as exc:
                raise ValueError(f"ONEVISIT_{name.upper()}={path}: cannot read it ({exc.strerror})") from exc

        return TLSConfig(
            server_root_ca_cert=read("temporal_tls_ca"),
            client_cert=read("temporal_tls_cert"),
            client_private_key=read("temporal_tls_key"),
            domain=self.temporal_tls_server_name,
        )

    @property
    def db_url(self) -> str:
        """The store's URL: read only by the processes that keep the store (the gateway and the
        engine's worker), so an agency worker runs without one."""
        if self.database_url is None and self.environment == "production":
            raise ValueError("ONEVISIT_DATABASE_URL must be set in production (for the gateway and the engine)")
        return self.database_url or f"sqlite:///{self.data_dir / 'onevisit.db'}"

    def resolved_data_key(self) -> str:
        """The data key: set in production; on an embedded stack kept in DIR/keys/data.key (0600)."""
        if self.data_key:
            return self.data_key
        path = self.data_dir / "keys" / "data.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"data.key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(Fernet.generate_key().decode())
            try:
                os.link(tmp, path)  # atomic: of processes racing to make it, exactly one wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()

    def gateway_key_files(self) -> tuple[Path, Path]:
        return (
            self.gateway_key or self.data_dir / "keys" / "gateway.pem",
            self.gateway_keys or self.data_dir / "gateway-keys.json",
        )

    def gateway_signer(self) -> GatewaySigner:
        """The gateway's signing key; an embedded stack makes it (and trusts it) the first time."""
        from workflows.authority import GatewaySigner, new_gateway_key

        private, keyring = self.gateway_key_files()
        if private.exists():
            return GatewaySigner.load(private)
        if self.environment == "production":
            raise ValueError(f"ONEVISIT_GATEWAY_KEY: no key at {private}; make one with `onevisit keygen gateway`")
        return new_gateway_key(private, keyring)

    def gateway_keyring(self) -> Keyring:
        """The gateway keys the engine trusts; without them it would take no update, so say so now."""
        from workflows.authority import Keyring

        _, path = self.gateway_key_files()
        if not path.exists():
            raise ValueError(f"ONEVISIT_GATEWAY_KEYS: no keyring at {path}; `onevisit keygen gateway` writes one")
        return Keyring.load(path)

    @property
    def deployment_file(self) -> Path:
        return self.data_dir / "deployment.json"


@cache
def get_settings() -> Settings:
    return Settings()
