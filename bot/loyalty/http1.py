"""Form posts over pooled HTTP/1.1 keep-alive connections, with as little Python as it takes.

A balance tap makes one platform call, and aiohttp's client spent about 200 µs of CPU on each
(its request and response objects, headers as multidicts, cookies, tracing, timers, a stream
reader) where the call itself is one write and one read of a few hundred bytes each. This pool
does only what a platform form post needs: a request written in one piece, the answer read
by an ``asyncio.Protocol`` (status line, headers, a body by ``Content-Length``, chunked, or up
to the close), the connection kept for the next call unless either side said otherwise.

What it does not do, on purpose: redirects (never followed for a platform call), proxies
(``trust_env`` was off), cookies, compression (none is asked for). Failures are httpx's errors
with the meanings the clients' rules rely on: ``ConnectError``/``ConnectTimeout`` before
anything was sent, ``ReadTimeout`` when the answer stops coming for ``read_timeout`` seconds,
``RemoteProtocolError`` when the connection closes before a whole answer (a read is asked once
more, a write never) or the answer is not HTTP, ``WriteError`` when the request cannot be
written. A connection that failed, was cancelled mid-call, or was closed while idle is dropped,
never reused.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httpx

MAX_HEAD_BYTES = 64 * 1024
"""An answer whose status line and headers do not end within this is refused."""


@dataclass(frozen=True, slots=True)
class FormAnswer:
    """A platform's answer to a form post: what the clients read of it."""

    status_code: int
    content: bytes


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int
    target: str
    """The request target: path and query."""
    host_header: str


def _origin(url: str) -> _Origin:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Not the URL itself: a Bot API URL carries the bot's token.
        raise ValueError("not an http(s) URL")
    default = 443 if parts.scheme == "https" else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Origin(
        parts.scheme,
        host,
        port,
        target,
        shown if port == default else f"{shown}:{port}",
    )


def _header_lines(headers: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if any(c in name or c in value for c in "\r\n\0") or ":" in name:
            raise ValueError(f"a header cannot carry line breaks: {name[:40]!r}")
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("latin-1")


class _Connection(asyncio.Protocol):
    """One connection; reads one answer at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buffer = bytearray()
        self._answer: asyncio.Future[FormAnswer] | None = None
        self._deadline: asyncio.Timeout | None = None
        self._read_timeout = 0.0
        # The answer being read.
        self._status = 0
        self._length: int | None = None
        self._chunked = False
        self._head_done = False
        self._body = bytearray()
        self._to_close = False
        self.reusable = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's; they have the same methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            # Bytes nobody asked for: the connection is out of step; never reuse it.
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            return
        self._buffer += data
        if self._deadline is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time() + self._read_timeout)
        try:
            self._read()
        except httpx.RemoteProtocolError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if self._head_done and self._length is None and not self._chunked:
            # The body runs to the close.
            self._finish(bytes(self._buffer))
            return
        self._fail(httpx.RemoteProtocolError("the server closed the connection mid-answer"))

    # One call

    async def call(self, request: bytes, read_timeout: float) -> FormAnswer:
        loop = asyncio.get_running_loop()
        self._answer = loop.create_future()
        self._read_timeout = read_timeout
        self._status, self._length, self._chunked = 0, None, False
        self._head_done, self._to_close, self.reusable = False, False, False
        self._body = bytearray()
        assert self.transport is not None
        try:
            self.transport.write(request)
        except (OSError, RuntimeError) as exc:
            raise httpx.WriteError(f"the request could not be written: {exc}") from exc
        try:
            async with asyncio.timeout(read_timeout) as deadline:
                self._deadline = deadline
                return await self._answer
        except TimeoutError as exc:
            raise httpx.ReadTimeout("the platform's answer stopped coming") from exc
        finally:
            self._deadline = None

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def _finish(self, body: bytes) -> None:
        self.reusable = not (self._to_close or self.closed or self._buffer)
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(FormAnswer(self._status, body))

    def _read(self) -> None:
        while True:
            if not self._head_done:
                end = self._buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(self._buffer) > MAX_HEAD_BYTES:
                        raise httpx.RemoteProtocolError("the answer's headers do not end")
                    return
                head = bytes(self._buffer[:end])
                del self._buffer[: end + 4]
                if not self._read_head(head):
                    continue  # an interim 1xx answer: the real one follows
            if self._chunked:
                if not self._read_chunks():
                    return
                self._finish(bytes(self._body))
                return
            if self._length is None:
                return  # until the close
            if len(self._buffer) < self._length:
                return
            body = bytes(self._buffer[: self._length])
            del self._buffer[: self._length]
            self._finish(body)
            return

    def _read_head(self, head: bytes) -> bool:
        """Read a status line and headers; False for an interim (1xx) answer."""
        try:
            lines = head.decode("latin-1").split("\r\n")
            version, status_text = lines[0].split(" ", 2)[:2]
            status = int(status_text)
        except (ValueError, IndexError):
            raise httpx.RemoteProtocolError("the answer is not HTTP") from None
        if not version.startswith("HTTP/1.") or not 100 <= status <= 999:
            raise httpx.RemoteProtocolError("the answer is not HTTP/1.x")
        if status < 200:
            return False
        keep_alive = version == "HTTP/1.1"
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise httpx.RemoteProtocolError("a header line has no colon")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                if not value.isdigit() or (length is not None and int(value) != length):
                    raise httpx.RemoteProtocolError("the answer's Content-Length is unreadable")
                length = int(value)
            elif name == "transfer-encoding":
                codings = [c.strip().lower() for c in value.split(",")]
                if codings[-1] != "chunked" or len(codings) > 1:
                    raise httpx.RemoteProtocolError(f"unsupported Transfer-Encoding {value!r}")
                chunked = True
            elif name == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    keep_alive = False
                elif "keep-alive" in tokens:
                    keep_alive = True
        self._status = status
        self._chunked = chunked
        self._length = 0 if status in (204, 304) else (None if chunked else length)
        self._to_close = not keep_alive or (self._length is None and not chunked)
        self._head_done = True
        return True

    def _read_chunks(self) -> bool:
        """Move whole chunks from the buffer to the body; True once the last one is read."""
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                if len(buffer) > MAX_HEAD_BYTES:
                    raise httpx.RemoteProtocolError("a chunk size line does not end")
                return False
            size_text = bytes(buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise httpx.RemoteProtocolError("a chunk size is unreadable") from None
            if size == 0:
                # Trailers (if any), then an empty line.
                end = buffer.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return False
                del buffer[: end + 4]
                return True
            if len(buffer) < line_end + 2 + size + 2:
                return False
            start = line_end + 2
            if buffer[start + size : start + size + 2] != b"\r\n":
                raise httpx.RemoteProtocolError("a chunk does not end where its size says")
            self._body += buffer[start : start + size]
            del buffer[: start + size + 2]


class Http1Pool:
    """Keep-alive connections to each origin, at most ``max_connections`` calls at once."""

    def __init__(
        self,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._origins: dict[str, _Origin] = {}
        self._closing = False

    def _origin(self, url: str) -> _Origin:
        origin = self._origins.get(url)
        if origin is None:
            origin = _origin(url)
            if len(self._origins) < 64:
                self._origins[url] = origin
        return origin

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        content_type: str,
        *,
        read_timeout: float | None = None,
    ) -> FormAnswer:
        """POST ``body``; the answer's status and body. ``read_timeout`` (else the pool's):
        seconds the answer may stop coming."""
        if self._closing:
            raise httpx.ConnectError("the pool is closed")
        origin = self._origin(url)
        request = (
            f"POST {origin.target} HTTP/1.1\r\nHost: {origin.host_header}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode("latin-1")
            + _header_lines(headers)
            + b"\r\n"
            + body
        )
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await self._slots.acquire()
            except TimeoutError as exc:
                raise httpx.ConnectTimeout("no free connection in time") from exc
        else:
            await self._slots.acquire()
        try:
            key = (origin.scheme, origin.host, origin.port)
            connection = await self._connection(key, origin)
            try:
                answer = await connection.call(
                    request, self._read_timeout if read_timeout is None else read_timeout
                )
            except BaseException:
                connection.closed = True
                if connection.transport is not None:
                    connection.transport.close()
                raise
            if connection.reusable and not self._closing:
                self._idle.setdefault(key, []).append(connection)
            elif connection.transport is not None:
                connection.transport.close()
            return answer
        finally:
            self._slots.release()

    async def _connection(self, key: tuple[str, str, int], origin: _Origin) -> _Connection:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            context = self._ssl
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    _Connection,
                    origin.host,
                    origin.port,
                    ssl=context,
                    server_hostname=origin.host if context is not None else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"no connection to {origin.host} in time") from exc
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"cannot connect to {origin.host}: {exc}") from exc
        return connection

    async def aclose(self) -> None:
        self._closing = True
        for connections in self._idle.values():
            for connection in connections:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()
