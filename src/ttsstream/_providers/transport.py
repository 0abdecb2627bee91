"""Sending a request and getting its body flowing: connections, redirects, retries, timeouts.

:func:`open_response` sends an :class:`AudioRequest`, follows redirects without leaking
credentials to another host, retries what the exception says is retryable (a typed decision
made where the error is built, see :mod:`.errors`), and returns a :class:`ResponseBody` with its
first bytes. :class:`ResponseBody` is the one place that reads and closes a response body.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

# httpx imports httpcore (and, through it, trio when installed: ~0.1 s) on its first request;
# importing it with ttsstream keeps that off the first call's time to first audio.
import httpcore  # noqa: F401
import httpx

from .._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    PoolExhaustedError,
    StreamInterruptedError,
)
from .base import StreamStats
from .errors import error_from_response, scrub_exception
from .request import AudioRequest

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "ConnectionPool",
    "ResponseBody",
    "Retries",
    "Timeouts",
    "describe",
    "new_client",
    "open_response",
    "origin",
]

logger = logging.getLogger("ttsstream")

#: How much of an error body is read for its message.
MAX_ERROR_BODY = 64 * 1024
_MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Connections a provider keeps at once inside ``async with provider``, unless told otherwise.
DEFAULT_MAX_CONNECTIONS = 1000
#: Connections per httpx client of a :class:`ConnectionPool` (see there why there are several).
_SHARD = 16


@dataclass(frozen=True)
class Timeouts:
    """How long to wait, in seconds (``None``: forever).

    ``connect``: to open the connection. ``first_byte``: from sending the request to the first
    byte of the answer's body (servers think before they speak). ``first_audio``: from sending
    the request to the first decoded audio frame, however many other bytes (headers, metadata,
    events without audio) arrive meanwhile. ``stall``: between two pieces of the body.
    ``pool``: for a free connection when the provider's pool is full (``max_connections``).
    Running out of ``first_byte`` or ``first_audio`` raises :class:`~ttsstream.APITimeoutError`;
    a stall, :class:`~ttsstream.StreamInterruptedError`; ``pool``,
    :class:`~ttsstream.PoolExhaustedError`.
    """

    connect: float | None = 10.0
    first_byte: float | None = 30.0
    stall: float | None = 15.0
    first_audio: float | None = 45.0
    pool: float | None = 10.0


@dataclass(frozen=True)
class Retries:
    """When to try a request again. Only before any audio arrived: never mid-stream.

    Retried: 429 (honouring ``Retry-After`` up to ``max_retry_after``; never for a used-up
    quota), 500/502/503/504, failures to connect, and a connection closed before any audio.
    The error decides (:attr:`~ttsstream.APIError.retryable`). Waits grow as
    ``backoff * 2**attempt`` (with jitter) up to ``max_backoff``. ``Retries(0)`` turns
    retrying off.
    """

    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        if retry_after is not None:
            return retry_after
        return float(min(self.max_backoff, self.backoff * 2.0**attempt) * random.uniform(0.5, 1.0))

    def decide(self, error: APIError, attempt: int) -> float | None:
        """Seconds to wait before sending again after ``error``, or ``None``: give up."""
        if attempt >= self.max_retries or not error.retryable:
            return None
        if error.retry_after is not None and error.retry_after > self.max_retry_after:
            return None
        return self.delay(attempt, error.retry_after)


class _CAOnDemand(ssl.SSLContext):
    """The client TLS context of ttsstream's clients: httpx's default settings, with the CA
    bundle (~20 ms of CPU) loaded on the first TLS connection, or ahead by :func:`preload`.

    A provider of a plain ``http://`` server never pays for it, and still verifies certificates
    if a redirect takes it to ``https://`` (the bundle is loaded then).
    """

    _ca_loaded = False

    def load_ca(self) -> None:
        """Load the CA bundle as httpx does (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, certifi)."""
        with _ca_lock:
            if self._ca_loaded:
                return
            if os.environ.get("SSL_CERT_FILE"):
                self.load_verify_locations(cafile=os.environ["SSL_CERT_FILE"])
            elif os.environ.get("SSL_CERT_DIR"):
                self.load_verify_locations(capath=os.environ["SSL_CERT_DIR"])
            else:
                import certifi

                self.load_verify_locations(cafile=certifi.where())
            self._ca_loaded = True

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self.load_ca()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load_ca()
        return super().wrap_socket(*args, **kwargs)


_ca_lock = threading.Lock()


_contexts: list[_CAOnDemand] = []
_preloading: list[threading.Thread] = []
_preload_lock = threading.Lock()


def _ssl_context() -> _CAOnDemand:
    """The one context every client ttsstream creates shares (made once per process)."""
    with _preload_lock:
        if not _contexts:
            # ssl.create_default_context(cafile=...) without the loading, which waits for
            # the first TLS connection (or preload()).
            context = _CAOnDemand(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
            if sys.version_info >= (3, 13):
                context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
            keylog = os.environ.get("SSLKEYLOGFILE")
            if keylog and not sys.flags.ignore_environment:
                context.keylog_filename = keylog
            _contexts.append(context)
        return _contexts[0]


def _load_quietly(context: _CAOnDemand) -> None:
    with contextlib.suppress(Exception):  # the first TLS connection loads it again, and raises
        context.load_ca()


def preload() -> None:
    """Start loading what the first HTTPS request needs (the CA bundle), once per process, in
    a thread: OpenSSL reads it without holding the GIL, while the caller goes on."""
    context = _ssl_context()
    with _preload_lock:
        if _preloading:
            return
        # Not a daemon, so that an exit meanwhile waits the few ms it takes rather than
        # finalizing under it.
        thread = threading.Thread(target=_load_quietly, args=(context,), name="ttsstream-ca")
        _preloading.append(thread)
        thread.start()


def new_client(timeouts: Timeouts, connections: int | None = None) -> httpx.AsyncClient:
    """The client ttsstream creates when the user passes none (``connections``: its pool size;
    ``None``: httpx's default)."""
    from .. import __version__

    limits = (
        httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        if connections is not None
        else httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's default
    )
    client = httpx.AsyncClient(
        timeout=_httpx_timeout(timeouts),
        follow_redirects=False,
        headers={"User-Agent": f"ttsstream/{__version__}"},
        verify=_ssl_context(),
        limits=limits,
    )
    from . import netio  # asyncio's transports: imported with the first client, not at import

    netio.install(client)
    return client


def _httpx_timeout(timeouts: Timeouts) -> httpx.Timeout:
    # Reads are timed by ttsstream itself (first byte, first audio, stall): httpx's is off.
    return httpx.Timeout(connect=timeouts.connect, read=None, write=30.0, pool=timeouts.pool)


def check_max_connections(value: object) -> int:
    """``value`` as a connection limit, or a :class:`ConfigurationError` saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"max_connections must be a whole number of at least 1, not {value!r}"
        )
    return value


class ConnectionPool:
    """A provider's connections inside ``async with provider``: at most ``max_connections``.

    httpcore's pool walks every connection it holds on each request and each response close,
    so one pool of n connections costs O(n) per stream start and end (at 500 streams that
    took most of a core). The connections are spread over httpx clients of ``_SHARD`` each,
    filled in order (so with few streams the first client's idle connections are reused, as
    with one client), and the limit is kept here, by a semaphore: a stream waits for a slot
    (timed into :attr:`StreamStats.pool_wait`) and past ``Timeouts.pool`` fails with
    :class:`~ttsstream.PoolExhaustedError`, not with what looks like a slow server.
    """

    def __init__(self, provider: str, timeouts: Timeouts, max_connections: int) -> None:
        self.provider = provider
        self.timeouts = timeouts
        self.max_connections = max_connections
        self._slots = anyio.Semaphore(max_connections)
        self._clients: list[httpx.AsyncClient] = []
        self._active: list[int] = []

    @property
    def in_use(self) -> int:
        """Connections held by streams now."""
        return self.max_connections - self._slots.value

    @contextlib.asynccontextmanager
    async def client(self, stats: StreamStats) -> AsyncIterator[httpx.AsyncClient]:
        """A client with a connection free for this stream, held until the block ends."""
        waited = time.monotonic()
        try:
            with anyio.fail_after(self.timeouts.pool):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise PoolExhaustedError(
                f"{self.provider}: all {self.max_connections} connections of the provider's "
                f"pool stayed busy for {self.timeouts.pool:g} s (more streams at once than "
                "max_connections allows); the request was not sent. Raise max_connections= "
                "on the provider, or Timeouts.pool to wait longer."
            ) from exc
        finally:
            stats.pool_wait += time.monotonic() - waited
        try:
            index = next((i for i, n in enumerate(self._active) if n < _SHARD), None)
            if index is None:
                index = len(self._clients)
                self._clients.append(new_client(self.timeouts, _SHARD))
                self._active.append(0)
            self._active[index] += 1
            try:
                yield self._clients[index]
            finally:
                self._active[index] -= 1
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        """Close every client (and its connections)."""
        clients, self._clients, self._active = self._clients, [], []
        for client in clients:
            await client.aclose()


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, for messages."""
    u = httpx.URL(url)
    return f"{u.scheme}://{u.netloc.decode('ascii', 'replace')}"


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, for messages."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ResponseBody:
    """A streamed response and its body: the one place that reads and closes them."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._chunks: AsyncIterator[bytes] = response.aiter_bytes()
        self._closed = False
        from . import netio

        self._timed = netio.timed_stream(response.extensions)

    async def next(self) -> bytes | None:
        """The next non-empty piece of the body, or ``None`` at its end."""
        async for piece in self._chunks:
            if piece:
                return piece
        return None

    async def next_within(self, seconds: float | None) -> bytes | None:
        """:meth:`next`, or ``TimeoutError`` if it takes over ``seconds`` (``None``: no limit).

        On ttsstream's own connections the deadline is the socket reads' (a timer only while a
        read waits); elsewhere a cancel scope.
        """
        timed = self._timed
        if timed is None:
            with anyio.fail_after(seconds):
                return await self.next()
        timed.deadline = None if seconds is None else time.monotonic() + seconds
        try:
            return await self.next()
        except httpx.ReadTimeout as exc:
            raise TimeoutError from exc
        finally:
            timed.deadline = None

    async def read_bounded(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """The rest of the body, at most ``limit`` bytes (for error messages)."""
        buf = bytearray()
        while len(buf) < limit and (piece := await self.next()) is not None:
            buf += piece
        return bytes(buf[:limit])

    async def aclose(self) -> None:
        """Close the body and the response (shielded: it runs during cancellation too)."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            # httpx's body iterators are async generators: close them here, in this task,
            # rather than leave them to the garbage collector (which warns, and under trio
            # cannot run them).
            aclose = getattr(self._chunks, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
            finally:
                await self.response.aclose()


async def open_response(
    client: httpx.AsyncClient,
    request: AudioRequest,
    stats: StreamStats,
    timeouts: Timeouts,
    retries: Retries,
) -> tuple[ResponseBody, bytes]:
    """Send ``request`` (retrying as its errors allow) and wait for the first body bytes.

    Returns the open body and its first piece (``b""`` when the body is empty). Error
    statuses are raised as the exception :func:`.errors.error_from_response` maps them to.
    """
    attempt = 0
    while True:
        stats.request_sent = time.monotonic()
        try:
            return await _attempt(client, request, stats, timeouts)
        except APIError as error:
            scrub_exception(error, request.secrets)
            delay = retries.decide(error, attempt)
            if delay is None:
                raise
            logger.info(
                "%s: %s: %s; retrying in %.2f s (retry %d of %d)",
                request.provider,
                type(error).__name__,
                error,
                delay,
                attempt + 1,
                retries.max_retries,
            )
        await anyio.sleep(delay)
        attempt += 1
        stats.retries += 1


def _first_deadline(timeouts: Timeouts) -> tuple[float | None, str]:
    """The deadline for the first body byte, and the setting that names it."""
    candidates = [
        (t, name)
        for t, name in ((timeouts.first_byte, "first_byte"), (timeouts.first_audio, "first_audio"))
        if t is not None
    ]
    if not candidates:
        return None, "first_byte"
    return min(candidates)


async def _attempt(
    client: httpx.AsyncClient, request: AudioRequest, stats: StreamStats, timeouts: Timeouts
) -> tuple[ResponseBody, bytes]:
    limit, setting = _first_deadline(timeouts)
    body: ResponseBody | None = None
    try:
        with anyio.fail_after(limit):
            try:
                body = ResponseBody(await _send(client, request, timeouts))
            except httpx.PoolTimeout as exc:
                raise PoolExhaustedError(
                    f"{request.provider}: every connection of the httpx client passed as "
                    f"client= stayed busy for {timeouts.pool:g} s: more streams at once than "
                    "its pool allows (httpx's default is 100); the request was not sent. Give "
                    "it more: httpx.AsyncClient(limits=httpx.Limits(max_connections=...))."
                ) from exc
            except httpx.TimeoutException as exc:
                raise APITimeoutError(
                    f"{request.provider}: timed out connecting to {origin(request.url)} "
                    f"({describe(exc)}); check the network and base_url",
                    retryable=True,
                ) from exc
            except httpx.HTTPError as exc:
                raise APIConnectionError(
                    f"{request.provider}: could not reach {origin(request.url)} "
                    f"({describe(exc)}); check the network and base_url",
                    retryable=True,
                ) from exc
            response = body.response
            if response.status_code >= 400:
                raw = await _read_error_body(body)
                raise error_from_response(
                    response.status_code, response.reason_phrase, response.headers, raw, request
                )
            try:
                first = await body.next()
            except httpx.HTTPError as exc:
                raise StreamInterruptedError(
                    f"{request.provider} answered {response.status_code} and then closed the "
                    f"stream before sending any audio ({describe(exc)}); the server may have "
                    "failed to synthesize: check the voice and the model, and the server's log",
                    retryable=True,
                ) from exc
            stats.first_byte = time.monotonic()
            return body, first or b""
    except TimeoutError as exc:
        if body is not None:
            await body.aclose()
        raise APITimeoutError(
            f"{request.provider}: no audio within {limit:g} s of sending the request; the "
            f"server may be overloaded. Raise Timeouts.{setting} if it is just slow."
        ) from exc
    except BaseException:
        if body is not None:
            await body.aclose()
        raise


async def _read_error_body(body: ResponseBody) -> bytes:
    try:
        return await body.read_bounded()
    except httpx.HTTPError:
        return b""  # the status says enough


async def _send(
    client: httpx.AsyncClient, request: AudioRequest, timeouts: Timeouts
) -> httpx.Response:
    """POST, following redirects by hand so credentials never go to another host."""
    url = httpx.URL(request.url, params=request.params or None)
    headers = dict(request.headers)
    method = "POST"
    body: dict[str, Any] | None = request.json if request.content is None else None
    content = request.content
    for _ in range(_MAX_REDIRECTS + 1):
        req = client.build_request(
            method,
            url,
            headers=headers,
            json=body,
            content=content,
            timeout=_httpx_timeout(timeouts),
        )
        logger.debug("%s %s", method, url.copy_with(query=None))
        response = await client.send(req, stream=True, follow_redirects=False)
        if response.status_code not in _REDIRECT_STATUSES or "location" not in response.headers:
            return response
        await response.aclose()
        target = url.join(response.headers["location"])
        if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
            headers = {k: v for k, v in headers.items() if k.lower() not in request.secret_headers}
        if response.status_code == 303:
            method, body, content = "GET", None, None
        url = target
    raise APIConnectionError(f"{request.provider}: more than {_MAX_REDIRECTS} redirects")
