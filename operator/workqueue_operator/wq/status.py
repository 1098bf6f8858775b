"""Async client of a Work Queue or TaskVine manager's status protocol (the manager's own port).

Send one line (``queue_status`` for Work Queue, ``manager_status`` for TaskVine,
``worker_status``, ``task_status``, ``wable_status``, ``resources_status``), read a JSON array
until the manager closes the connection. Each framework answers only its own queue request (the
other gets an empty answer), so a manager declared with the wrong framework is recognised and
named in :class:`FrameworkMismatchError`. With
``http=True`` the same names are fetched as ``GET /<name>`` (what a browser or a Service
probe sees). A manager with a password first runs the password handshake (line mode only).

Every call is bounded by ``timeout`` (connect, handshake and read together) and by
``max_bytes``; an unreachable or silent manager raises ``ManagerUnreachable``, never hangs.
The manager answers only while the application is inside ``wait()``, so a busy
application can look unreachable for a while: callers should treat that as transient.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from workqueue_operator.api.common import Framework
from workqueue_operator.wq import cctools_json, plain_socket
from workqueue_operator.wq.auth import PasswordRejectedError, StreamLines, authenticate
from workqueue_operator.wq.status_models import (
    CategoryStatus,
    QueueStatus,
    ResourcesStatus,
    TaskStatus,
    WorkerStatus,
)

log = logging.getLogger(__name__)

QUEUE_REQUESTS = {Framework.WORK_QUEUE: "queue_status", Framework.TASKVINE: "manager_status"}
"""The request each framework answers with its queue's figures."""
STATUS_REQUESTS = (
    "queue_status",
    "manager_status",
    "worker_status",
    "task_status",
    "wable_status",
    "resources_status",
)
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_BYTES = 64 << 20

M = TypeVar("M", bound=BaseModel)


class StatusError(Exception):
    """Base of the status client's errors."""


class ManagerUnreachable(StatusError):  # noqa: N818 (the name the operator uses)
    """No answer: connection refused, reset, host unknown, or nothing within the timeout."""


class MalformedStatusError(StatusError):
    """The manager answered something that is not the expected JSON."""


class AuthenticationError(StatusError):
    """The manager wants a password we do not have, or rejected ours."""


class TlsError(StatusError):
    """The TLS handshake failed: the manager's certificate did not check out, or the manager
    does not speak TLS."""


def client_tls(ca_pem: bytes | None, *, verify: bool) -> ssl.SSLContext:
    """A TLS context for a manager's status port: its certificate checked against ``ca_pem``
    (the system's roots when None), or not checked at all."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_pem is not None:
        try:
            context.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
        except (ssl.SSLError, ValueError) as error:
            raise TlsError(f"the CA is not PEM certificates: {error}") from error
    return context


class FrameworkMismatchError(StatusError):
    """The manager runs the other framework (a TaskVine manager asked as Work Queue, or the
    reverse)."""

    def __init__(self, address: str, expected: Framework, found: Framework) -> None:
        super().__init__(
            f"{address} is a {found} manager, not {expected}: it answers {QUEUE_REQUESTS[found]} "
            f"and not {QUEUE_REQUESTS[expected]} (set framework: {found})"
        )
        self.expected = expected
        self.found = found


def parse_address(address: str, default_port: int = 9123) -> tuple[str, int]:
    """``host:port`` (or ``host``, or ``[v6]:port``) -> (host, port)."""
    text = address.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"no host in {address!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError as exc:
        raise ValueError(f"bad port in {address!r}") from exc
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {address!r}")
    return host, port


def _strip_http(payload: bytes) -> bytes:
    head, sep, body = payload.partition(b"\n\n")
    if not sep:
        head, sep, body = payload.partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/"):
        raise MalformedStatusError("not an HTTP response")
    status_line = head.split(b"\n", 1)[0].strip()
    if b" 200 " not in status_line + b" ":
        raise MalformedStatusError(f"HTTP status {status_line.decode(errors='replace')}")
    return body


def _rows(payload: bytes, request: str) -> list[dict[str, Any]]:
    text = payload.decode("utf-8", "replace").strip()
    if not text:
        return []  # e.g. a request name this manager does not know
    try:
        data = cctools_json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedStatusError(f"{request}: invalid JSON ({exc})") from exc
    if not isinstance(data, list):
        raise MalformedStatusError(f"{request}: expected a JSON array, got {type(data).__name__}")
    return [row for row in data if isinstance(row, dict)]


def parse_categories(rows: Sequence[dict[str, Any]]) -> list[CategoryStatus]:
    """``wable_status`` rows as ``CategoryStatus`` (a row that does not validate is skipped)."""
    return _validate(CategoryStatus, rows, "wable_status")


def _validate(model: type[M], rows: Sequence[dict[str, Any]], request: str) -> list[M]:
    """Rows that validate; a bad row is logged and skipped, not fatal."""
    parsed = []
    for row in rows:
        try:
            parsed.append(model.model_validate(row))
        except ValidationError as exc:
            log.warning(
                "skipping a status row that does not validate",
                extra={"request": request, "errors": exc.error_count()},
            )
    return parsed


class StatusClient:
    """Queries one manager. Stateless between calls: each call opens its own connection."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        password: bytes | None = None,
        http: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        framework: Framework = Framework.WORK_QUEUE,
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        if http and password is not None:
            raise ValueError("a password-protected manager cannot be queried over HTTP")
        self.host = host
        self.port = port
        self.timeout = timeout
        self._password = password
        self._http = http
        self._max_bytes = max_bytes
        self.framework = framework
        self._tls = tls
        self._server_name = server_name
        """The name the manager's certificate must carry (the host by default)."""

    @classmethod
    def for_address(cls, address: str, **kwargs: Any) -> StatusClient:
        host, port = parse_address(address)
        return cls(host, port, **kwargs)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def raw(self, request: str) -> list[dict[str, Any]]:
        """The JSON rows the manager returns for ``request``."""
        if request not in STATUS_REQUESTS:
            raise ValueError(f"unknown status request {request!r}")
        try:
            async with asyncio.timeout(self.timeout):
                payload = await self._exchange(request)
        except TimeoutError as exc:
            raise ManagerUnreachable(
                f"{self.address}: no {request} answer within {self.timeout:g} s"
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise TlsError(
                f"{self.address}: TLS: the manager's certificate failed the check: "
                f"{exc.verify_message or exc}"
            ) from exc
        except ssl.SSLError as exc:
            raise TlsError(f"{self.address}: TLS: {exc.reason or exc}") from exc
        except OSError as exc:
            raise ManagerUnreachable(f"{self.address}: {exc.strerror or exc}") from exc
        except PasswordRejectedError as exc:
            raise AuthenticationError(f"{self.address}: {exc}") from exc
        if self._http:
            payload = _strip_http(payload)
        return _rows(payload, request)

    def _request_bytes(self, request: str) -> bytes:
        if self._http:
            return (
                f"GET /{request} HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n"
            ).encode()
        return request.encode() + b"\n"

    async def _exchange(self, request: str) -> bytes:
        if self._tls is not None:
            return await self._exchange_tls(request)
        sock = await plain_socket.connect(self.host, self.port)
        try:
            lines = plain_socket.SocketLines(sock)
            if self._password is not None:
                await authenticate(lines, self._password)
            await lines.send(self._request_bytes(request))
            payload = await lines.read_to_end(self._max_bytes)
        finally:
            sock.close()
        return self._checked(payload, request)

    async def _exchange_tls(self, request: str) -> bytes:
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            limit=1 << 16,
            ssl=self._tls,
            server_hostname=self._server_name or self.host,
        )
        try:
            if self._password is not None:
                await authenticate(StreamLines(reader, writer), self._password)
            writer.write(self._request_bytes(request))
            await writer.drain()
            return self._checked(await self._read_all(reader), request)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _read_all(self, reader: asyncio.StreamReader) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while chunk := await reader.read(1 << 16):
            size += len(chunk)
            if size > self._max_bytes:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _checked(self, payload: bytes | None, request: str) -> bytes:
        if payload is None:
            raise MalformedStatusError(f"{request}: answer larger than {self._max_bytes} bytes")
        # A manager with a password opens with its handshake line, then drops us.
        if payload.startswith(b"auth password"):
            raise AuthenticationError(f"{self.address}: the manager requires a password")
        return payload

    async def queue_status(self) -> QueueStatus:
        """The queue's figures: ``queue_status`` of a Work Queue manager, ``manager_status`` of
        a TaskVine one. An empty answer is asked again in the other framework's words, so that a
        manager of the wrong framework is named as such."""
        request = QUEUE_REQUESTS[self.framework]
        rows = await self.raw(request)
        if not rows:
            other = next(f for f in Framework if f is not self.framework)
            if await self.raw(QUEUE_REQUESTS[other]):
                raise FrameworkMismatchError(self.address, self.framework, other)
            raise MalformedStatusError(f"{self.address}: empty {request}")
        try:
            return QueueStatus.model_validate(rows[0])
        except ValidationError as exc:
            raise MalformedStatusError(f"{self.address}: {request}: {exc}") from exc

    async def worker_status(self) -> list[WorkerStatus]:
        return _validate(WorkerStatus, await self.raw("worker_status"), "worker_status")

    async def task_status(self) -> list[TaskStatus]:
        return _validate(TaskStatus, await self.raw("task_status"), "task_status")

    async def wable_status(self) -> list[CategoryStatus]:
        return parse_categories(await self.raw("wable_status"))

    async def resources_status(self) -> list[ResourcesStatus]:
        return _validate(ResourcesStatus, await self.raw("resources_status"), "resources_status")
