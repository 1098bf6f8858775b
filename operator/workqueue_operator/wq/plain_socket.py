"""One plain TCP exchange with a manager over a bare non-blocking socket and the event loop's
``sock_*`` calls: no transport, protocol or stream objects, no waiter per chunk. A status request
is a connection, a line or two and a read until the manager closes, a few hundred times a minute
per pool, so this is what its cost is made of (TLS goes through asyncio streams instead)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

RECV_BYTES = 1 << 16


async def connect(host: str, port: int) -> socket.socket:
    """A connected non-blocking socket with Nagle's algorithm off; an IP address is used as it
    is, a name is resolved (each of its addresses tried in turn). Raises ``OSError``."""
    loop = asyncio.get_running_loop()
    try:
        ip = ipaddress.ip_address(host)
        addresses: list[tuple[int, Any]] = [
            (socket.AF_INET6 if ip.version == 6 else socket.AF_INET, (host, port))
        ]
    except ValueError:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [(info[0], info[4]) for info in infos]
    error: OSError = OSError(f"{host}: no address")
    for family, address in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        # As asyncio's own connections: without it the password handshake's short lines wait
        # for delayed ACKs (44 ms a request measured against 0.7 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error


class SocketLines:
    """A connected socket read as lines, then to its end (``wq.auth.LineChannel``)."""

    def __init__(self, sock: socket.socket, line_max: int = 1024) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._buffer = b""
        self._line_max = line_max

    async def send(self, data: bytes) -> None:
        await self._loop.sock_sendall(self._sock, data)

    async def readline(self) -> bytes:
        """One line with its newline; what came before the end (no newline) when the peer
        closed first or sent more than ``line_max`` bytes without one."""
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > self._line_max:
                return self._buffer
            chunk = await self._loop.sock_recv(self._sock, RECV_BYTES)
            if not chunk:
                return self._buffer
            self._buffer += chunk
        line, self._buffer = self._buffer[: end + 1], self._buffer[end + 1 :]
        return line

    async def read_to_end(self, max_bytes: int) -> bytes | None:
        """Everything until the peer closes; None when it passes ``max_bytes``."""
        chunks = [self._buffer]
        size = len(self._buffer)
        self._buffer = b""
        while chunk := await self._loop.sock_recv(self._sock, RECV_BYTES):
            size += len(chunk)
            if size > max_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)
