"""httpcore's network backend on asyncio's own transports: the cheap way to read a socket.

httpcore reads every piece of a body through anyio on asyncio: each read enters a cancel scope
(even without a timeout) and anyio's socket stream resumes and pauses the transport's reading
around every wait (two ``epoll_ctl`` calls per piece), and an idle pooled connection is polled
with a ``select`` call on each pool operation. At hundreds of concurrent streams that is most
of the client's CPU. :class:`AsyncioBackend` gives httpcore the same streams on a plain
``asyncio.Protocol``: the transport reads all the time into a buffer (paused only when the
buffer is full), a read takes from it or waits on one future, a timer exists only for a read
or write that has a timeout, and "is the idle connection readable" is answered from what the
protocol already saw. Under any other event loop (trio) it hands over to httpcore's own backend.

It is installed only into the clients ttsstream makes (:func:`install`); a client passed by the
user is left as it is.
"""

# The timeout parameters are httpcore's interface (AsyncNetworkStream, AsyncNetworkBackend).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore

__all__ = ["AsyncioBackend", "install", "timed_stream"]

#: Buffered bytes at which the transport stops reading (the server is then held by TCP). A
#: consumer held back by its sink (a full playback ring) keeps at most this much per connection.
_HIGH_WATER = 256 * 1024
_Option = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class _Protocol(asyncio.Protocol):
    """Buffers what arrives; wakes the one reader waiting; tracks write flow control."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.reader: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= _HIGH_WATER and self.transport is not None:
            self.transport.pause_reading()
            self.reading_paused = True
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if exc is not None:
            self.error = exc
        self._wake()
        self._wake_writer(exc)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._wake_writer(None)

    def _wake(self) -> None:
        reader = self.reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def _wake_writer(self, exc: Exception | None) -> None:
        drained = self.drained
        if drained is not None and not drained.done():
            if exc is None:
                drained.set_result(None)
            else:
                drained.set_exception(exc)

    def take(self, max_bytes: int) -> bytes:
        if len(self.buffer) <= max_bytes:
            data = bytes(self.buffer)
            self.buffer.clear()
        else:
            data = bytes(self.buffer[:max_bytes])
            del self.buffer[:max_bytes]
        if self.reading_paused and len(self.buffer) < _HIGH_WATER // 2:
            self.reading_paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        return data


async def _wait(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], timeout: float | None
) -> None:
    """Wait for ``future``; ``TimeoutError`` after ``timeout`` seconds (no timer without one)."""
    if timeout is None:
        await future
        return
    timer = loop.call_later(timeout, _expire, future)
    try:
        await future
    finally:
        timer.cancel()


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol
        #: A ``time.monotonic()`` deadline for reads that have no timeout of their own: how
        #: ttsstream times a body (stall, first audio) without a cancel scope per piece.
        self.deadline: float | None = None

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        p = self._protocol
        if not p.buffer and not p.eof:
            if timeout is None and self.deadline is not None:
                timeout = max(0.0, self.deadline - time.monotonic())
            p.reader = p.loop.create_future()
            try:
                await _wait(p.loop, p.reader, timeout)
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(str(exc) or "timed out") from exc
            finally:
                p.reader = None
        if p.buffer:
            return p.take(max_bytes)
        if p.error is not None:
            raise httpcore.ReadError(str(p.error) or type(p.error).__name__) from p.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        p = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if p.writing_paused:
            p.drained = p.loop.create_future()
            try:
                await _wait(p.loop, p.drained, timeout)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc) or "timed out") from exc
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            finally:
                p.drained = None

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = self._protocol.loop
        try:
            with anyio.fail_after(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(str(exc) or "timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # the connection closed during the handshake
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._protocol.transport = transport
        return _Stream(transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # What an idle connection received (data, EOF, an error) the loop has handed over.
            p = self._protocol
            return bool(p.buffer) or p.eof or self._transport.is_closing()
        return None


def _async_library() -> str:
    """``"asyncio"`` when an asyncio event loop runs this task, else ``"trio"`` (anyio's only
    other backend). Found without sniffio, which is not a dependency of ttsstream."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return "trio"
    return "asyncio"


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """asyncio transports under asyncio; httpcore's own backend under any other loop."""

    def __init__(self) -> None:
        self._anyio = httpcore.AnyIOBackend()
        self._trio: httpcore.AsyncNetworkBackend | None = None

    def _fallback(self) -> httpcore.AsyncNetworkBackend:
        """What httpcore itself would use here (its AutoBackend's choice)."""
        if _async_library() == "trio":
            if self._trio is None:
                self._trio = httpcore.TrioBackend()
            return self._trio
        return self._anyio

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[_Option] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if _async_library() != "asyncio":
            return await self._fallback().connect_tcp(
                host, port, timeout, local_address, socket_options
            )
        loop = asyncio.get_running_loop()
        try:
            with anyio.fail_after(timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(loop),
                    host,
                    port,
                    local_addr=None if local_address is None else (local_address, 0),
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
        return _Stream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[_Option] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._fallback().connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


_BACKEND = AsyncioBackend()


def timed_stream(extensions: Any) -> _Stream | None:
    """The stream under a response (its ``extensions``) if it is ours: one whose reads can be
    given a deadline (:attr:`_Stream.deadline`)."""
    stream = extensions.get("network_stream")
    return stream if isinstance(stream, _Stream) else None


def install(client: Any) -> bool:
    """Put :class:`AsyncioBackend` under an ``httpx.AsyncClient`` ttsstream made; whether it
    could (it reaches into httpx's transport: another httpx keeps its own backend)."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _BACKEND
        return True
    return False
