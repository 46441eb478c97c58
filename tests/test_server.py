"""`voucher serve`'s HTTP protocol switches Nagle's algorithm off on every connection."""

import socket

from uvicorn.config import Config
from uvicorn.server import ServerState

from service.server import NoDelayH11Protocol


class _Transport:
    def __init__(self, sock):
        self.sock = sock

    def get_extra_info(self, name, default=None):
        return {"socket": self.sock, "peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)
                }.get(name, default)

    def is_closing(self):
        return False


def test_connections_are_served_without_nagle_delay():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    conn, _ = listener.accept()
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        async def app(scope, receive, send):  # never called: no request is sent
            raise AssertionError

        config = Config(app=app, http=NoDelayH11Protocol)
        config.load()
        protocol = NoDelayH11Protocol(config=config, server_state=ServerState(),
                                      app_state={})
        protocol.connection_made(_Transport(conn))
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        for s in (conn, client, listener):
            s.close()


def test_voucher_serve_uses_it(monkeypatch):
    import uvicorn

    from service.cli import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    assert main(["serve", "--workers", "2"]) == 0
    assert seen["http"] == "service.server:NoDelayH11Protocol"
    assert seen["workers"] == 2
