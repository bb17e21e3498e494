"""Typed settings read from Langfuse's environment-variable names.

`load_settings` parses the whole environment once and reports every problem together in one
`SettingsError`; nothing else in the package reads `os.environ`.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

T = TypeVar("T")


class Mode(enum.StrEnum):
    ALL = "all"
    WEB = "web"
    WORKER = "worker"


class SettingsError(Exception):
    """Every problem found in the environment, listed together."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class ClickHouseSettings:
    url: str | None  # None: embedded chDB under the data dir
    user: str
    password: str
    database: str
    migration_url: str | None
    cluster_enabled: bool
    cluster_name: str

    @property
    def embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class RedisSettings:
    url: str | None  # None: embedded Valkey child process

    @property
    def embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class S3Settings:
    bucket: str | None  # None: local directory under the data dir
    prefix: str
    region: str | None
    endpoint: str | None
    access_key_id: str | None
    secret_access_key: str | None
    force_path_style: bool

    @property
    def embedded(self) -> bool:
        return self.bucket is None


@dataclass(frozen=True)
class InitSettings:
    org_id: str | None = None
    org_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    public_key: str | None = None
    secret_key: str | None = None


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str
    port: int
    database_url: str | None  # None: embedded Postgres child process
    clickhouse: ClickHouseSettings
    redis: RedisSettings
    s3: S3Settings
    salt: str | None  # None only on embedded Postgres: a generated salt is kept in the data dir
    cache_api_key_enabled: bool
    cache_api_key_ttl_seconds: int
    init: InitSettings = field(default_factory=InitSettings)
    log_level: str = "info"
    log_format: str = "auto"
    auto_postgres_migration_disabled: bool = False
    auto_clickhouse_migration_disabled: bool = False
    ingestion_queue_delay_ms: int = 0
    worker_concurrency: int = 100
    clickhouse_write_batch_size: int = 10_000
    clickhouse_write_interval_ms: int = 200
    # usage and cost: the tokenizer process pool (0: count in a thread) and the model lookup cache
    tokenizer_processes: int = 1
    # a child process writing the local blob store's per-entity copies (0: on the event loop)
    blob_writer_processes: int = 1
    # child processes decoding OTLP exports and converting their spans (0: on the event loop)
    otlp_decode_processes: int = 1
    tokenizer_timeout_ms: int = 10_000  # well inside the 30 s entity lock
    tokenizer_max_chars: int = 500_000
    model_cache_ttl_seconds: int = 30
    delete_blobs_on_project_delete: bool = False  # project deletion also removes its blob-store files
    enable_background_migrations: bool = True  # the worker runs background_migrations rows (v2 upgrade)
    # a background migration lock without a heartbeat for this long is taken over (Langfuse: 60 s)
    background_migration_lock_stale_seconds: int = 60

    @property
    def all_embedded(self) -> bool:
        return (
            self.database_url is None
            and self.clickhouse.embedded
            and self.redis.embedded
            and self.s3.embedded
        )


class _Reader:
    """Reads typed values from an env mapping, collecting problems instead of raising."""

    def __init__(self, env: Mapping[str, str]) -> None:
        # Langfuse treats empty strings as unset.
        self.env = {k: v for k, v in env.items() if v.strip() != ""}
        self.problems: list[str] = []

    def text(self, name: str, default: T) -> str | T:
        return self.env.get(name, default)

    def _parse(self, name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
        raw = self.env.get(name)
        if raw is None:
            return default
        try:
            return parse(raw.strip())
        except ValueError:
            self.problems.append(f"{name}={raw!r} is not {expected}")
            return default

    def flag(self, name: str, default: bool) -> bool:
        def parse(raw: str) -> bool:
            low = raw.lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
            raise ValueError(raw)

        return self._parse(name, default, parse, "true or false")

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        def parse(raw: str) -> int:
            value = int(raw)
            if value < minimum or (maximum is not None and value > maximum):
                raise ValueError(raw)
            return value

        bounds = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")
        return self._parse(name, default, parse, bounds)

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        raw = self.env.get(name)
        if raw is None:
            return None
        parsed = urlparse(raw)
        if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
            self.problems.append(f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
            return None
        return raw


def default_tokenizer_processes() -> int:
    """One child on small machines (<= 3 cores), else half the cores, at most 4."""
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def _redis_url(r: _Reader) -> str | None:
    conn = r.url("REDIS_CONNECTION_STRING", ("redis", "rediss", "unix"))
    if conn is not None:
        return conn
    host = r.text("REDIS_HOST", None)
    if host is None:
        return None
    port = r.integer("REDIS_PORT", 6379, minimum=1, maximum=65535)
    auth = r.text("REDIS_AUTH", None)
    credentials = f":{auth}@" if auth else ""
    return f"redis://{credentials}{host}:{port}"


def _database_url(r: _Reader) -> str | None:
    url = r.url("DATABASE_URL", ("postgres", "postgresql"))
    if url is not None:
        return url
    host = r.text("DATABASE_HOST", None)
    if host is None:
        return None
    user = r.text("DATABASE_USERNAME", "postgres")
    password = r.text("DATABASE_PASSWORD", "")
    name = r.text("DATABASE_NAME", "postgres")
    return f"postgresql://{user}:{password}@{host}/{name}"


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    mode: Mode = Mode.ALL,
    host: str | None = None,
    port: int | None = None,
) -> Settings:
    """Parse the environment; raise `SettingsError` listing every problem."""
    r = _Reader(os.environ if env is None else env)

    data_dir = Path(r.text("LANGFUSE_AIO_DATA_DIR", str(Path.home() / ".local/share/langfuse-aio")))
    clickhouse = ClickHouseSettings(
        url=r.url("CLICKHOUSE_URL", ("http", "https")),
        user=r.text("CLICKHOUSE_USER", "default"),
        password=r.text("CLICKHOUSE_PASSWORD", ""),
        database=r.text("CLICKHOUSE_DB", "default"),
        migration_url=r.text("CLICKHOUSE_MIGRATION_URL", None),
        cluster_enabled=r.flag("CLICKHOUSE_CLUSTER_ENABLED", False),
        cluster_name=r.text("CLICKHOUSE_CLUSTER_NAME", "default"),
    )
    prefix = r.text("LANGFUSE_S3_EVENT_UPLOAD_PREFIX", "")
    if prefix and not prefix.endswith("/"):
        r.problems.append("LANGFUSE_S3_EVENT_UPLOAD_PREFIX must end with '/' (for example 'events/')")
    s3 = S3Settings(
        bucket=r.text("LANGFUSE_S3_EVENT_UPLOAD_BUCKET", None),
        prefix=prefix,
        region=r.text("LANGFUSE_S3_EVENT_UPLOAD_REGION", None),
        endpoint=r.url("LANGFUSE_S3_EVENT_UPLOAD_ENDPOINT", ("http", "https")),
        access_key_id=r.text("LANGFUSE_S3_EVENT_UPLOAD_ACCESS_KEY_ID", None),
        secret_access_key=r.text("LANGFUSE_S3_EVENT_UPLOAD_SECRET_ACCESS_KEY", None),
        force_path_style=r.flag("LANGFUSE_S3_EVENT_UPLOAD_FORCE_PATH_STYLE", False),
    )
    init = InitSettings(
        org_id=r.text("LANGFUSE_INIT_ORG_ID", None),
        org_name=r.text("LANGFUSE_INIT_ORG_NAME", None),
        project_id=r.text("LANGFUSE_INIT_PROJECT_ID", None),
        project_name=r.text("LANGFUSE_INIT_PROJECT_NAME", None),
        public_key=r.text("LANGFUSE_INIT_PROJECT_PUBLIC_KEY", None),
        secret_key=r.text("LANGFUSE_INIT_PROJECT_SECRET_KEY", None),
    )
    if (init.public_key is None) != (init.secret_key is None):
        r.problems.append(
            "LANGFUSE_INIT_PROJECT_PUBLIC_KEY and LANGFUSE_INIT_PROJECT_SECRET_KEY must be set together"
        )
    if init.public_key is not None and init.project_id is None:
        r.problems.append("LANGFUSE_INIT_PROJECT_PUBLIC_KEY needs LANGFUSE_INIT_PROJECT_ID")
    if init.project_id is not None and init.org_id is None:
        r.problems.append("LANGFUSE_INIT_PROJECT_ID needs LANGFUSE_INIT_ORG_ID")

    database_url = _database_url(r)
    salt = r.text("SALT", None)
    if database_url is not None and salt is None:
        r.problems.append(
            "SALT is required with DATABASE_URL: use the SALT of your Langfuse deployment so existing "
            "API keys verify through their fast hash (generate one with `openssl rand -base64 32`)"
        )

    log_level = r.text("LANGFUSE_LOG_LEVEL", "info").lower()
    if log_level not in ("debug", "info", "warn", "warning", "error"):
        r.problems.append("LANGFUSE_LOG_LEVEL must be one of debug, info, warn, error")
    log_format = r.text("LANGFUSE_LOG_FORMAT", "auto").lower()
    if log_format not in ("auto", "text", "json"):
        r.problems.append("LANGFUSE_LOG_FORMAT must be one of auto, text, json")

    settings = Settings(
        data_dir=data_dir,
        host=host if host is not None else r.text("HOSTNAME", "0.0.0.0"),  # noqa: S104
        port=port if port is not None else r.integer("PORT", 3000, minimum=1, maximum=65535),
        database_url=database_url,
        clickhouse=clickhouse,
        redis=RedisSettings(url=_redis_url(r)),
        s3=s3,
        salt=salt,
        cache_api_key_enabled=r.flag("LANGFUSE_CACHE_API_KEY_ENABLED", False),
        cache_api_key_ttl_seconds=r.integer("LANGFUSE_CACHE_API_KEY_TTL_SECONDS", 120, minimum=1),
        init=init,
        log_level=log_level,
        log_format=log_format,
        auto_postgres_migration_disabled=r.flag("LANGFUSE_AUTO_POSTGRES_MIGRATION_DISABLED", False),
        auto_clickhouse_migration_disabled=r.flag("LANGFUSE_AUTO_CLICKHOUSE_MIGRATION_DISABLED", False),
        ingestion_queue_delay_ms=r.integer("LANGFUSE_INGESTION_QUEUE_DELAY_MS", 0),
        worker_concurrency=r.integer("LANGFUSE_INGESTION_QUEUE_PROCESSING_CONCURRENCY", 100, minimum=1),
        clickhouse_write_batch_size=r.integer("LANGFUSE_INGESTION_CLICKHOUSE_WRITE_BATCH_SIZE", 10_000, minimum=1),
        # Langfuse waits up to 10 s; a job here completes only once its rows are flushed, so keep it short.
        clickhouse_write_interval_ms=r.integer("LANGFUSE_INGESTION_CLICKHOUSE_WRITE_INTERVAL_MS", 200, minimum=1),
        tokenizer_processes=r.integer("LANGFUSE_AIO_TOKENIZER_PROCESSES", default_tokenizer_processes(), maximum=64),
        blob_writer_processes=r.integer("LANGFUSE_AIO_BLOB_WRITER_PROCESSES", 1, maximum=8),
        otlp_decode_processes=r.integer("LANGFUSE_AIO_OTLP_DECODE_PROCESSES", 1, maximum=64),
        tokenizer_timeout_ms=r.integer("LANGFUSE_AIO_TOKENIZER_TIMEOUT_MS", 10_000, minimum=1),
        tokenizer_max_chars=r.integer("LANGFUSE_AIO_TOKENIZER_MAX_CHARS", 500_000, minimum=1),
        model_cache_ttl_seconds=r.integer("LANGFUSE_AIO_MODEL_CACHE_TTL_SECONDS", 30),
        delete_blobs_on_project_delete=r.flag("LANGFUSE_AIO_DELETE_BLOBS_ON_PROJECT_DELETE", False),
        enable_background_migrations=r.flag("LANGFUSE_ENABLE_BACKGROUND_MIGRATIONS", True),
        background_migration_lock_stale_seconds=r.integer(
            "LANGFUSE_AIO_BACKGROUND_MIGRATION_LOCK_STALE_SECONDS", 60, minimum=20),
    )
    if mode is not Mode.ALL:
        if clickhouse.embedded:
            r.problems.append(
                f"--mode {mode.value} needs an external ClickHouse (set CLICKHOUSE_URL): the embedded chDB "
                "store can be opened by one process only, so web and worker must run together in --mode all"
            )
        if database_url is None:
            r.problems.append(
                f"--mode {mode.value} needs a shared Postgres (set DATABASE_URL): an embedded one belongs "
                "to a single process"
            )
        if settings.redis.embedded:
            r.problems.append(
                f"--mode {mode.value} needs a shared Redis (set REDIS_CONNECTION_STRING or REDIS_HOST): "
                "web and worker meet only through the queue"
            )
    if r.problems:
        raise SettingsError(r.problems)
    return settings
