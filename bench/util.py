"""Plumbing shared by the benchmark parts: throwaway databases, uvicorn servers, RSS, timing."""

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PG_PORT", "5432")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
LOG_DIR = Path(os.environ.get("BENCH_LOG_DIR", f"/tmp/bench_{os.getpid()}"))


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def dsn(db: str) -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={db}"


def sa_url(db: str) -> str:
    return f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


def create_database(name: str) -> None:
    with psycopg.connect(dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str, wait_s: float = 120) -> None:
    """Drop, retrying while the server is unreachable (it may be restarting) for wait_s."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with psycopg.connect(dsn("postgres"), autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                log(f"could not drop database {name}: {exc}")
                return
            time.sleep(2)
        except Exception as exc:  # noqa: BLE001 - cleanup is best effort, but say so
            log(f"could not drop database {name}: {exc}")
            return


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return out


def proc_status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak_rss(pid: int) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0, needs ptrace
    rights over the process: ours, so fine)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


class Server:
    """`voucher serve` on a bench database: a PostgreSQL database name, or a full
    DATABASE_URL (the SQLite part). The benchmark measures the same uvicorn protocol, event loop
    and worker set-up as production because it starts the same command."""

    def __init__(self, db: str, workers: int, name: str, env: dict[str, str] | None = None):
        self.db, self.workers, self.name, self.env = db, workers, name, env or {}
        self.database_url = db if "://" in db else sa_url(db)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = LOG_DIR / f"server-{name}.log"

    def start(self, timeout: float = 60.0) -> "Server":
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DATABASE_URL": self.database_url, "LOG_JSON": "true",
               "ALERT_WEBHOOK_URLS": "", **self.env}
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers)],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log_path}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200 and \
                        len(self.worker_pids()) >= 1:
                    # with --workers N, wait until every worker answers
                    if self.workers == 1 or len(self.worker_pids()) >= self.workers:
                        time.sleep(0.5)
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server did not start; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        if self.process is None:
            return []
        if self.workers == 1:
            return [self.process.pid]
        # uvicorn's supervisor spawns the workers through multiprocessing (a resource tracker
        # may also be a child: keep only processes that run the app, i.e. have a big RSS).
        kids = children_of(self.process.pid)
        return [k for k in kids if proc_status_kb(k, "VmRSS") > 30_000] or kids

    def peak_rss_mb(self) -> list[float]:
        return [proc_status_kb(p, "VmHWM") / 1024 for p in self.worker_pids()]

    def cpu_s(self) -> float:
        """User + system CPU seconds the worker processes have used so far."""
        return sum(proc_cpu_s(p) for p in self.worker_pids())

    def rss_mb(self) -> list[float]:
        return [proc_status_kb(p, "VmRSS") / 1024 for p in self.worker_pids()]

    def reset_peaks(self) -> None:
        for p in self.worker_pids():
            reset_peak_rss(p)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None


@contextmanager
def serving(db: str, workers: int, name: str, env: dict[str, str] | None = None):
    server = Server(db, workers, name, env)
    try:
        yield server.start()
    finally:
        server.stop()


def proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
