"""All gateway settings in one place (environment variables prefixed ONEVISIT_)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

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

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment == "production":
            if self.data_key is None or self.data_key.lower() in PLACEHOLDERS:
                raise ValueError("ONEVISIT_DATA_KEY must be set to a real key in production")
            if self.database_url is None:
                raise ValueError("ONEVISIT_DATABASE_URL must be set in production")
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'onevisit.db'}"

    @property
    def deployment_file(self) -> Path:
        return self.data_dir / "deployment.json"


@cache
def get_settings() -> Settings:
    return Settings()
