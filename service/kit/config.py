"""One settings object, read from the environment (prefix-free, e.g. DATABASE_URL)."""

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./voucher.db"
    # A streaming replica of DATABASE_URL for the bureau's reporting reads and the public feeds
    # (docs/scaling.md, "Read replicas"); empty: every read on the primary. A read goes to the
    # primary instead when the replica is down or its lag is over read_max_lag_s seconds.
    read_database_url: str = ""
    read_max_lag_s: float = Field(default=5.0, ge=0)
    # Largest request body accepted, in bytes (a 1000-invoice batch is well under this).
    max_body_bytes: int = 8 * 1024 * 1024
    # Seconds a request waits for a database connection or lock before failing with 503.
    db_timeout_s: float = 5.0
    # PostgreSQL connections one process keeps (pool) and may open beyond them (overflow); each
    # waits DB_TIMEOUT_S for a free one (docs/scaling.md, "Connection pools" and "PgBouncer").
    db_pool_size: int = Field(default=10, ge=1, le=1000)
    db_max_overflow: int = Field(default=20, ge=0, le=1000)
    # psycopg prepares a statement on the server after this many executions on one connection;
    # "none" never does. Required behind PgBouncer < 1.21 in transaction mode (Debian 12 ships
    # 1.18): a statement prepared on one server connection is unknown on the next.
    db_prepare_threshold: int | None = Field(default=5, ge=0)
    log_json: bool = True
    # Requests a worker process runs at once (its thread pool). Few threads per process and
    # several processes keep row-lock hold times short: a thread that holds a lock and waits
    # for the interpreter lock behind many busy threads holds the row lock all that time.
    worker_threads: int = 8
    # How long (ms) a busy thread keeps the interpreter lock when another asks for it; lower
    # than Python's 5 ms default so a thread coming back from the database resumes quickly.
    switch_interval_ms: float = 1.0
    # Group commit (docs/write-path.md): a process runs at most this many concurrent writes as
    # one transaction, and waits at most this long (ms) for more once the first has arrived.
    write_batch_max: int = 64
    write_batch_wait_ms: float = 1.0
    # Batches a process may have in flight at once (one database connection each).
    write_batch_threads: int = 2
    # Heavy reads (what-if compare, risk back-test, report and settlement exports, full
    # reconciliation) run on a pool of their own, never on the request threads above: this
    # many at once per process, this many more waiting; beyond that, or after waiting longer
    # than heavy_queue_wait_s, the answer is 503 `busy` with Retry-After (service/heavy.py).
    heavy_threads: int = Field(default=2, ge=1, le=64)
    heavy_queue: int = Field(default=8, ge=0, le=1000)
    heavy_queue_wait_s: float = Field(default=30.0, gt=0)
    # Largest body of POST /v1/invoices/xml (a ZIP of up to 1000 数电票 XML files).
    max_xml_body_bytes: int = 32 * 1024 * 1024
    # Third-party invoice verification (docs/xml-invoices.md): "module:factory", or "" for the
    # default format-and-arithmetic checks, which never call the network.
    invoice_verifier: str = ""
    # Comma-separated webhook URLs that receive budget threshold alerts.
    alert_webhook_urls: str = ""
    alert_webhook_secret: str = "change-me"
    # Seconds between background passes recording expired holds in the ledger (docs/holds.md);
    # 0 runs none (reads and writes never wait for the pass: expiry is exact without it).
    hold_expiry_interval_s: float = 5.0
    # The open-data feed of awards (docs/open-data.md): the funder named on every row, the
    # programme's name (the year is appended), how long a client or a cache may keep an answer,
    # and how many answers one client address gets per window, across all worker processes.
    open_data_funding_org_name: str = "大连市数据局"
    open_data_programme: str = "算力券"
    open_data_max_age_s: int = Field(default=300, ge=0, le=86_400)
    open_data_rate_limit: int = Field(default=60, ge=1, le=100_000)
    open_data_rate_window_s: int = Field(default=60, ge=1, le=86_400)
    # Comma-separated addresses or networks of the reverse proxies in front of the service:
    # from them, a client's address is read from X-Forwarded-For (service/ratelimit).
    trusted_proxies: str = ""

    @field_validator("db_prepare_threshold", mode="before")
    @classmethod
    def _none_disables(cls, value):
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @field_validator("read_database_url")
    @classmethod
    def _replica_scheme(cls, value: str) -> str:
        if value and not value.startswith("postgresql"):
            raise ValueError("READ_DATABASE_URL must be a postgresql:// URL (or empty)")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("DATABASE_URL must be a sqlite:// or postgresql:// URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
