"""How `voucher serve` runs uvicorn: httptools' C parser on uvloop, with Nagle's algorithm off.

The pure-Python h11 parser and asyncio's own event loop cost CPU on every request, which the
service pays before any rule runs (`healthz_cpu_ms` in bench/README.md); httptools and uvloop
(`uvicorn[standard]`) are the C versions of the same two layers.

TCP_NODELAY: asyncio sets it on the connections it accepts only when the listening socket says it
is TCP. With `--workers N` uvicorn hands the socket to the worker processes in a form whose
protocol number reads 0, so the flag was never set: a response written as headers then body
waited for the client's delayed ACK, about 40 ms on every request (measured: /healthz 48 ms with
two workers, 3.5 ms with one). uvloop sets the flag on every TCP connection itself (checked:
tests/workers/test_server.py passes on uvloop without the protocol's line, and fails on asyncio's loop
without it); the protocol still sets it, so the guarantee does not rest on which loop runs.
"""

import asyncio
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP = "service.server:NoDelayHttpToolsProtocol"
LOOP = "uvloop"


def set_nodelay(transport: asyncio.Transport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
