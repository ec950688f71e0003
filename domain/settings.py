"""The one settings model. Built once by the CLI (flags override ``HEADRACE_*`` env vars)
and passed down; no other module reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEADRACE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8888, ge=0, le=65535, description="REST + UI port; 0 picks a free port")
    data_dir: Path = Path(".headrace")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    migrate_on_start: bool = True

    # Uploads and package_url fetches.
    max_upload_bytes: int = Field(32 * 1024 * 1024, gt=0)
    package_url_timeout_seconds: float = Field(30.0, gt=0)

    # Keyset page tokens are signed so garbage is refused; replicas must share this.
    page_token_secret: str = "headrace-page-tokens"

    # Database pool (ignored for SQLite, which uses one writer and pooled readers).
    db_pool_size: int = Field(10, ge=1)
    db_max_overflow: int = Field(20, ge=0)
    db_busy_timeout_ms: int = Field(30_000, ge=0)
    # Off: a round trip less per request. After a database restart the first request on a
    # dead connection gets 503 and the pool is refreshed.
    db_pool_pre_ping: bool = False

    # Recurring runs: the zone cron expressions are read in (an IANA name, e.g.
    # "Europe/Berlin"); periodic triggers are zone-free.
    schedule_timezone: str = "UTC"

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = True

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("schedule_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name)") from exc
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or a SQLite file inside ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'headrace.db').resolve()}"

    @property
    def artifact_dir(self) -> Path:
        return self.data_dir / "artifacts"
