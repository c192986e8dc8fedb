"""All gateway settings in one place (environment variables prefixed ONEVISIT_)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDERS = {"", "changethis", "change-me", "secret", "password"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONEVISIT_", extra="ignore")

    environment: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path(".onevisit")
    database_url: str | None = None
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str | None = None
    ledger_rpc: str = "http://127.0.0.1:8545"
    data_key: str | None = None
    token_ttl_minutes: int = 8 * 60
    demo_accounts: bool = False  # seed the demo accounts (password = name): set by `onevisit up` only

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production":
            if self.data_key is None or self.data_key.lower() in PLACEHOLDERS:
                raise ValueError("ONEVISIT_DATA_KEY must be set to a real key in production")
            if self.database_url is None:
                raise ValueError("ONEVISIT_DATABASE_URL must be set in production")
            if self.demo_accounts:
                raise ValueError("ONEVISIT_DEMO_ACCOUNTS is for the embedded stack only, never production")
        return self

    @model_validator(mode="after")
    def _data_key_is_a_key(self) -> Settings:
        if self.data_key and self.data_key.lower() not in PLACEHOLDERS:
            try:
                Fernet(self.data_key.encode())
            except ValueError as exc:
                raise ValueError("ONEVISIT_DATA_KEY must be a Fernet key (32 url-safe base64 bytes): "
                                 "make one with `onevisit keygen data`") from exc
        return self

    @property
    def db_url(self) -> str:
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

    @property
    def deployment_file(self) -> Path:
        return self.data_dir / "deployment.json"


@cache
def get_settings() -> Settings:
    return Settings()
