"""`voucher serve` runs httptools on uvloop and switches Nagle's algorithm off on every
connection, with and without --workers (service/server.py says why)."""

import ctypes
import http.client
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from service import server
from service.server import NoDelayHttpToolsProtocol
from tests.live import ROOT, free_port

SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture (since 5.6)


class _Transport:
    def __init__(self, sock):
        self.sock = sock

    def get_extra_info(self, name, default=None):
        return {"socket": self.sock, "peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)
                }.get(name, default)

    def is_closing(self):
        return False


def test_the_protocol_switches_nagle_off():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)

        async def app(scope, receive, send):  # never called: no request is sent
            raise AssertionError

        config = Config(app=app, http=NoDelayHttpToolsProtocol)
        config.load()
        protocol = NoDelayHttpToolsProtocol(config=config, server_state=ServerState(),
                                            app_state={})
        protocol.connection_made(_Transport(conn))
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        for s in (conn, client, listener):
            s.close()


def test_voucher_serve_asks_uvicorn_for_it(monkeypatch):
    import uvicorn

    from service.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    # No database here: the check that it is migrated is tests/project/test_cli.py's subject.
    monkeypatch.setattr("service.kit.db.require_migrated", lambda: None)
    assert main(["serve", "--workers", "2"]) == 0
    assert seen["http"] == "service.server:NoDelayHttpToolsProtocol" == server.HTTP
    assert seen["loop"] == "uvloop"
    assert seen["workers"] == 2


# --- a real `voucher serve --workers 2` ----------------------------------------------------


def _children(pid: int) -> list[int]:
    kids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return kids


def _maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def _workers(supervisor: int) -> list[int]:
    """The supervisor's children that run the app (multiprocessing may add a resource tracker)."""
    workers = []
    for pid in _children(supervisor):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    workers.append(pid)
        except OSError:
            continue
    return workers


def _socket_inode(local_port: int, remote_port: int) -> str:
    """The inode of the server's end of one TCP connection, from the kernel's table."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == local_port and \
                    int(remote.split(":")[1], 16) == remote_port:
                return fields[9]
    raise AssertionError(f"no connection {local_port} ← {remote_port} in /proc/net/tcp")


def _nodelay_of(pid: int, inode: str) -> int | None:
    """TCP_NODELAY of the worker's own socket with that inode, read through a duplicate of its
    file descriptor (pidfd_getfd: our own descendant, so no extra privilege is needed)."""
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != f"socket:[{inode}]":
                continue
        except OSError:
            continue
        pidfd = os.pidfd_open(pid)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            dup = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
            if dup < 0:
                pytest.skip(f"pidfd_getfd unavailable: errno {ctypes.get_errno()}")
            with socket.socket(fileno=dup) as sock:
                return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            os.close(pidfd)
    return None


def test_a_real_voucher_serve_with_two_workers(engine):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": engine.url.render_as_string(hide_password=False),
           "LOG_JSON": "true", "ALERT_WEBHOOK_URLS": ""}
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port),
                             "--workers", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    connections: list[http.client.HTTPConnection] = []
    try:
        deadline = time.monotonic() + 60
        while len(_workers(proc.pid)) < 2:
            assert proc.poll() is None, "voucher serve exited"
            assert time.monotonic() < deadline, "two workers did not start"
            time.sleep(0.2)
        workers = _workers(proc.pid)

        found = 0
        while time.monotonic() < deadline and found < 8:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
            except OSError:  # a worker not listening yet
                conn.close()
                time.sleep(0.2)
                continue
            assert response.status == 200
            response.read()
            connections.append(conn)  # kept open: the worker's socket must still exist
            inode = _socket_inode(port, conn.sock.getsockname()[1])
            flags = {pid: _nodelay_of(pid, inode) for pid in workers}
            owners = [pid for pid, flag in flags.items() if flag is not None]
            assert len(owners) == 1, flags
            assert flags[owners[0]] == 1, f"worker {owners[0]} left Nagle on"
            found += 1
        assert found == 8
        for pid in workers:  # serving: the C parser and the C loop are what each worker runs
            assert "httptools/parser/parser" in _maps(pid), f"worker {pid} runs no httptools"
            assert "uvloop/loop" in _maps(pid), f"worker {pid} runs no uvloop"
    finally:
        for conn in connections:
            conn.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
