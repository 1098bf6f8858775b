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

IDENT = b"auth password sha1"
_KEY_ALPHABET = string.ascii_letters + string.digits
_LINE_MAX = 1024


class PasswordRejectedError(Exception):
    """The manager refused our password, or does not speak the password protocol."""


def respond(password: bytes, key: bytes) -> bytes:
    return hashlib.sha1(password + b" " + key).hexdigest().encode()


async def _line(reader: asyncio.StreamReader) -> bytes:
    line = await reader.readline()
    if not line.endswith(b"\n") or len(line) > _LINE_MAX:
        raise PasswordRejectedError("connection closed during the password handshake")
    return line.rstrip(b"\r\n")


async def authenticate(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, password: bytes
) -> None:
    """Run the handshake; raise ``PasswordRejectedError`` unless both sides accept."""
    writer.write(IDENT + b"\n")
    await writer.drain()
    if await _line(reader) != IDENT:
        raise PasswordRejectedError("the manager does not use password authentication")
    my_key = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(64)).encode()
    writer.write(my_key + b"\n")
    await writer.drain()
    peer_key = await _line(reader)
    writer.write(respond(password, peer_key) + b"\n")
    await writer.drain()
    expected = respond(password, my_key)
    their_answer = await _line(reader)
    verdict = b"ok" if secrets.compare_digest(their_answer, expected) else b"failure"
    writer.write(verdict + b"\n")
    await writer.drain()
    if await _line(reader) != b"ok":
        raise PasswordRejectedError("the manager rejected the password")
    if verdict != b"ok":
        raise PasswordRejectedError("the manager did not prove it knows the password")
