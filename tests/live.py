"""A real `uvicorn` process for the crash and outage tests; with `workers`, the production
command `voucher serve --workers N` (a supervisor and N worker processes)."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from bench.util import children_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LiveServer:
    def __init__(self, database_url: str, port: int | None = None, workers: int | None = None,
                 **env: str):
        self.database_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = env
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        if self.workers:
            return [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1",
                    "--port", str(self.port), "--workers", str(self.workers)]
        return [sys.executable, "-m", "uvicorn", "service.main:app", "--host", "127.0.0.1",
                "--port", str(self.port), "--log-level", "warning"]

    def start(self, timeout: float = 30.0) -> "LiveServer":
        env = {**os.environ, "DATABASE_URL": self.database_url, "LOG_JSON": "true", **self.env}
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (httpx.get(self.url + "/healthz", timeout=1).status_code == 200
                        and len(self.worker_pids()) == (self.workers or 0)):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server did not start")

    def worker_pids(self) -> list[int]:
        """The live worker processes of a `--workers N` supervisor (its multiprocessing-spawned
        children; not multiprocessing's resource tracker)."""
        if not self.workers or not self.process:
            return []
        out = []
        for pid in children_of(self.process.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if b"spawn_main" in cmdline and _alive(pid):
                out.append(pid)
        return sorted(out)

    def client_connections(self, pid: int) -> int:
        """How many established TCP connections to the server's port process `pid` holds."""
        inodes = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            return 0
        count = 0
        for table in ("tcp", "tcp6"):
            try:
                with open(f"/proc/{pid}/net/{table}") as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == self.port and fields[3] == "01" and fields[9] in inodes:
                    count += 1
        return count

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing — like a power cut."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        workers = self.worker_pids()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        for pid in workers:  # never leave a worker behind its supervisor
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
