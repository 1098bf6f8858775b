"""Work Queue's password handshake (``link_auth_password``), client side, over asyncio.

Both peers send ``auth password sha1``, then a random key; each answers the other's key
with ``sha1(password + " " + key)`` in hex and reports ``ok`` or ``failure``. The password
is the password file's bytes exactly as the manager read them (a trailing newline included).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import string
from typing import Protocol

IDENT = b"auth password sha1"
_KEY_ALPHABET = string.ascii_letters + string.digits
_LINE_MAX = 1024


class PasswordRejectedError(Exception):
    """The manager refused our password, or does not speak the password protocol."""


def respond(password: bytes, key: bytes) -> bytes:
    return hashlib.sha1(password + b" " + key).hexdigest().encode()


class LineChannel(Protocol):
    """What the handshake needs of a connection: send bytes, read one line (with its newline;
    without it when the connection closed first)."""

    async def send(self, data: bytes) -> None: ...

    async def readline(self) -> bytes: ...


class StreamLines:
    """A ``LineChannel`` over asyncio streams (TLS connections, and the manager side in tests)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def readline(self) -> bytes:
        return await self.reader.readline()


async def _line(channel: LineChannel) -> bytes:
    line = await channel.readline()
    if not line.endswith(b"\n") or len(line) > _LINE_MAX:
        raise PasswordRejectedError("connection closed during the password handshake")
    return line.rstrip(b"\r\n")


async def authenticate(channel: LineChannel, password: bytes) -> None:
    """Run the handshake; raise ``PasswordRejectedError`` unless both sides accept."""
    await channel.send(IDENT + b"\n")
    if await _line(channel) != IDENT:
        raise PasswordRejectedError("the manager does not use password authentication")
    my_key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(64)).encode()
    await channel.send(my_key + b"\n")
    peer_key = await _line(channel)
    await channel.send(respond(password, peer_key) + b"\n")
    expected = respond(password, my_key)
    their_answer = await _line(channel)
    verdict = b"ok" if secrets.compare_digest(their_answer, expected) else b"failure"
    await channel.send(verdict + b"\n")
    if await _line(channel) != b"ok":
        raise PasswordRejectedError("the manager rejected the password")
    if verdict != b"ok":
        raise PasswordRejectedError("the manager did not prove it knows the password")
