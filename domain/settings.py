"""The one settings model. Built once by the CLI (flags override ``HEADRACE_*`` env vars)
and passed down; no other module reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HEADRACE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8888, ge=0, le=65535, description="REST + UI port; 0 picks a free port")
    grpc_port: int = Field(8887, ge=0, le=65535, description="gRPC port; 0 picks a free port")
    # Threads serving gRPC calls (each call holds one while it runs, as REST handlers do).
    grpc_max_workers: int = Field(16, ge=1)
    data_dir: Path = Path(".headrace")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    migrate_on_start: bool = True

    # The metadata store (ML-Metadata's gRPC service): its port, and optionally a database of
    # its own (default: the main database; either way the one Alembic tree creates its tables).
    metadata_grpc_port: int = Field(
        8080, ge=0, le=65535, description="metadata store gRPC port; 0 picks a free port"
    )
    metadata_database_url: str | None = Field(
        None, description="SQLAlchemy URL of the metadata store; default: the main database"
    )

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

    # Artifacts of runs whose pipeline_root is s3://bucket/prefix or minio://bucket/prefix,
    # read and written through one S3-compatible endpoint.
    artifact_s3_endpoint: str = Field(
        "", description="host:port (or http(s)://host:port) of the S3 endpoint, e.g. minio:9000"
    )
    artifact_s3_access_key: str = ""
    artifact_s3_secret_key: SecretStr = SecretStr("")
    artifact_s3_secure: bool = Field(True, description="TLS; an http:// endpoint turns it off")
    artifact_s3_region: str | None = None
    artifact_s3_ca_bundle: Path | None = Field(
        None, description="PEM CA certificates that sign the endpoint's TLS certificate"
    )

    # The embedded engine (``headrace serve``). "none": runs are stored and stay PENDING.
    run_engine: Literal["embedded", "none"] = "embedded"
    engine_parallelism: int = Field(16, ge=1, description="task processes at once, all runs")
    engine_run_parallelism: int = Field(0, ge=0, description="per run; 0 = no own limit")
    run_timeout_seconds: float | None = Field(
        None, gt=0, description="a run still going this long after creation fails"
    )
    task_timeout_seconds: float | None = Field(
        None, gt=0, description="default task timeout; a task's own deadline wins"
    )
    python_envs_dir: Path | None = Field(
        None, description="virtual environments of Python components (default data_dir/envs)"
    )
    task_env_max_idle_days: float = Field(
        30.0,
        ge=0,
        description="remove a Python task environment no task used for this many days"
        " (checked every 6 hours); 0 = keep every environment",
    )
    task_pip_args: list[str] = Field(
        default_factory=list,
        description="extra pip options for task environments, e.g. --index-url",
    )
    cache_max_staleness: str | None = Field(
        None, description="ignore cache entries older than this ISO 8601 duration, e.g. P30D"
    )
    max_artifact_read_bytes: int = Field(64 * 1024 * 1024, gt=0)

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
    def effective_metadata_database_url(self) -> str:
        """The metadata store's own URL, or the main database's."""
        return self.metadata_database_url or self.effective_database_url

    @property
    def artifact_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def envs_dir(self) -> Path:
        return self.python_envs_dir or self.data_dir / "envs"
