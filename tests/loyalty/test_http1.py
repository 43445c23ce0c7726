"""``Http1Pool`` against a real socket server that answers with scripted bytes: the framings
an HTTP/1.1 server may use, keep-alive and its end, and each failure as the httpx error the
platform clients' rules rely on (a dropped read is asked again, a timeout never)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from bot.loyalty.http1 import Http1Pool

Script = Callable[[bytes, int], list[bytes] | None]
"""The request's bytes and the connection's call number -> what to write (None: close at
once; an empty piece: close after writing the others)."""


class Server:
    def __init__(self, script: Script, *, pause: float = 0.0) -> None:
        self.script = script
        self.pause = pause
        self.requests: list[bytes] = []
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        calls = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                calls += 1
                answer = self.script(request, calls)
                if answer is None:
                    break
                if b"" in answer:
                    for piece in answer:
                        writer.write(piece)
                    await writer.drain()
                    break
                for piece in answer:
                    writer.write(piece)
                    await writer.drain()
                    if self.pause:
                        await asyncio.sleep(self.pause)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/api.php?x=1"
    finally:
        listener.close()


def pool(read_timeout: float = 5.0) -> Http1Pool:
    return Http1Pool(max_connections=4, connect_timeout=2.0, read_timeout=read_timeout)


def fixed(*pieces: bytes) -> Script:
    return lambda request, call: list(pieces)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


async def test_the_request_is_a_form_post_with_its_headers() -> None:
    server = Server(fixed(OK))
    async with serving(server) as url:
        forms = pool()
        answer = await forms.post(url, b"a=1&b=%C3%A9", {"X-Key": "k"}, "application/x")
        await forms.aclose()
    assert (answer.status_code, answer.content) == (200, b"hello")
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api.php?x=1 HTTP/1.1"
    assert b"Content-Type: application/x" in lines and b"X-Key: k" in lines
    assert any(line.startswith(b"Host: 127.0.0.1:") for line in lines)
    assert body == b"a=1&b=%C3%A9"


async def test_a_connection_is_kept_for_the_next_call() -> None:
    server = Server(fixed(OK))
    async with serving(server) as url:
        forms = pool()
        for _ in range(5):
            assert (await forms.post(url, b"", {}, "t")).content == b"hello"
        await forms.aclose()
    assert server.connections == 1 and len(server.requests) == 5


@pytest.mark.parametrize(
    "pieces",
    [
        # Chunked, a chunk split across writes, an extension and a trailer.
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nhel",
            b"\r\n2\r\nlo\r\n0\r\nX-T: 1\r\n\r\n",
        ],
        # The head and body in pieces.
        [b"HTTP/1.1 200 OK\r\nConte", b"nt-Length: 5\r\n", b"\r\nhe", b"llo"],
        # An interim answer first.
        [b"HTTP/1.1 100 Continue\r\n\r\n", OK],
    ],
)
async def test_framings(pieces: list[bytes]) -> None:
    server = Server(fixed(*pieces), pause=0.01)
    async with serving(server) as url:
        forms = pool()
        answer = await forms.post(url, b"", {}, "t")
        again = await forms.post(url, b"", {}, "t")
        await forms.aclose()
    assert answer.content == again.content == b"hello"
    assert server.connections == 1


async def test_a_body_that_runs_to_the_close_and_connection_close() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
    to_close = b"HTTP/1.0 200 OK\r\n\r\nall of it"
    for answer, body in ((closing, b"hi"), (to_close, b"all of it")):
        server = Server(fixed(answer, b""))
        async with serving(server) as url:
            forms = pool()
            first = await forms.post(url, b"", {}, "t")
            second = await forms.post(url, b"", {}, "t")
            await forms.aclose()
        assert first.content == second.content == body
        assert server.connections == 2, "the connection the server ends is not reused"


async def test_a_kept_connection_the_server_closed_is_not_reused() -> None:
    server = Server(lambda request, call: [OK] if call == 1 else None)
    async with serving(server) as url:
        forms = pool()
        await forms.post(url, b"", {}, "t")
        # The server closes the kept connection on the next request without answering:
        # that call fails as dropped, the one after it connects afresh.
        with pytest.raises(httpx.RemoteProtocolError):
            await forms.post(url, b"", {}, "t")
        assert (await forms.post(url, b"", {}, "t")).content == b"hello"
        await forms.aclose()
    assert server.connections == 2


async def test_an_answer_cut_short_is_a_dropped_connection() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort"
    for pieces in (
        [cut, b""],
        [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", b""],
    ):
        server = Server(fixed(*pieces))
        async with serving(server) as url:
            forms = pool()
            with pytest.raises(httpx.RemoteProtocolError):
                await forms.post(url, b"", {}, "t")
            await forms.aclose()


async def test_not_http_is_a_protocol_error() -> None:
    server = Server(fixed(b"SSH-2.0-OpenSSH\r\n\r\n"))
    async with serving(server) as url:
        forms = pool()
        with pytest.raises(httpx.RemoteProtocolError):
            await forms.post(url, b"", {}, "t")
        await forms.aclose()


async def test_a_silent_server_is_a_read_timeout() -> None:
    server = Server(lambda request, call: [])
    async with serving(server) as url:
        forms = pool(read_timeout=0.3)
        with pytest.raises(httpx.ReadTimeout):
            await forms.post(url, b"", {}, "t")
        await forms.aclose()


async def test_nobody_listening_is_a_connect_error() -> None:
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    forms = pool()
    with pytest.raises(httpx.ConnectError):
        await forms.post(f"http://127.0.0.1:{port}/", b"", {}, "t")
    await forms.aclose()


async def test_a_header_with_a_line_break_is_refused() -> None:
    forms = pool()
    with pytest.raises(ValueError, match="line breaks"):
        await forms.post("http://127.0.0.1:9/", b"", {"X": "a\r\nInjected: 1"}, "t")
    await forms.aclose()


async def test_a_cancelled_call_leaves_no_connection_for_reuse() -> None:
    server = Server(lambda request, call: [] if len(server.requests) == 1 else [OK])
    async with serving(server) as url:
        forms = pool()
        task = asyncio.create_task(forms.post(url, b"", {}, "t"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The next call does not read the cancelled call's late answer: a new connection.
        assert (await forms.post(url, b"", {}, "t")).content == b"hello"
        await forms.aclose()
    assert server.connections == 2


def test_on_uvloop() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def calls() -> list[bytes]:
        server = Server(fixed(OK))
        async with serving(server) as url:
            forms = pool()
            answers = [(await forms.post(url, b"", {}, "t")).content for _ in range(3)]
            await forms.aclose()
        assert server.connections == 1
        return answers

    assert uvloop.run(calls()) == [b"hello"] * 3
