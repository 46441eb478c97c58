"""The HTTP protocol `voucher serve` runs: uvicorn's, with Nagle's algorithm switched off.

asyncio sets TCP_NODELAY on the connections it accepts only when the listening socket says it
is TCP. With `--workers N` uvicorn hands the socket to the worker processes in a form whose
protocol number reads 0, so the flag was never set: a response written as headers then body
waited for the client's delayed ACK, about 40 ms on every request (measured: /healthz 48 ms with
two workers, 3.5 ms with one). Setting the flag on each connection makes both modes the same.
"""

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
