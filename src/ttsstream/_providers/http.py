"""Streaming audio over HTTP: the I/O shell around the sans-IO decoders.

One function, :func:`stream_audio`, sends a request through an ``httpx.AsyncClient`` and yields
decoded :class:`AudioChunk`s as the body arrives. This is the boundary where httpx exceptions
and HTTP error statuses become ttsstream exceptions, where retries and timeouts live, and where
redirects are followed without leaking credentials to another host.
"""

from __future__ import annotations

import abc
import contextlib
import email.utils
import functools
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import anyio

# httpx imports httpcore (and, through it, trio when installed: ~0.1 s) on its first request;
# importing it with ttsstream keeps that off the first call's time to first audio.
import httpcore  # noqa: F401
import httpx

from .._decode.pcm import Encoding
from .._decode.sniff import choose_decoder
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from .._format import AudioChunk, AudioFormat
from .base import Provider, StreamStats

__all__ = [
    "AudioRequest",
    "HttpProvider",
    "Retries",
    "Timeouts",
    "new_client",
    "stream_audio",
]

_Self = TypeVar("_Self", bound="HttpProvider")

logger = logging.getLogger("ttsstream")

_MAX_ERROR_BODY = 64 * 1024
_MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Timeouts:
    """How long to wait, in seconds (``None``: forever).

    ``connect``: to open the connection. ``first_byte``: from sending the request to the first
    byte of audio (servers think before they speak). ``stall``: between two pieces of the body
    once audio flows.
    """

    connect: float | None = 10.0
    first_byte: float | None = 30.0
    stall: float | None = 15.0


@dataclass(frozen=True)
class Retries:
    """When to try a request again. Only before any audio arrived: never mid-stream.

    Retried: 429 (honouring ``Retry-After`` up to ``max_retry_after``), 500/502/503/504, and
    failures to connect. Waits grow as ``backoff * 2**attempt`` (with jitter) up to
    ``max_backoff``. ``Retries(0)`` turns retrying off.
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


@dataclass
class AudioRequest:
    """A synthesis request, and what its answer should be if the server does not say."""

    provider: str
    url: str
    headers: dict[str, str]
    json: dict[str, Any]
    #: What was asked for: the decoder to use when the response's Content-Type is generic.
    expect: Literal["wav", "pcm"]
    #: Format of headerless PCM when the server gives no rate.
    pcm_format: AudioFormat = field(default_factory=lambda: AudioFormat(24000, 1, "int16"))
    pcm_encoding: Encoding = "s16le"
    #: The user's word for this server's raw PCM (``pcm_format=``): wins over Content-Type
    #: parameters and defaults, and a "WAV" body without a header is decoded as this PCM.
    server_pcm_format: AudioFormat | None = None
    params: dict[str, str] = field(default_factory=dict)
    #: Header names carrying credentials: dropped when a redirect leaves the host.
    secret_headers: frozenset[str] = frozenset({"authorization"})
    #: Secret values to scrub from any text that reaches an exception or a log.
    secrets: tuple[str, ...] = ()
    #: Where the user can set the key, for error messages ("OPENAI_API_KEY").
    key_hint: str = "the API key"


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~20 ms; one context serves every client we create.
    return httpx.create_ssl_context()


def new_client(timeouts: Timeouts) -> httpx.AsyncClient:
    """The client ttsstream creates when the user passes none."""
    from .. import __version__

    return httpx.AsyncClient(
        timeout=_httpx_timeout(timeouts),
        follow_redirects=False,
        headers={"User-Agent": f"ttsstream/{__version__}"},
        verify=_ssl_context(),
    )


def _httpx_timeout(timeouts: Timeouts) -> httpx.Timeout:
    # Reads are timed by stream_audio itself (first byte vs stall), so httpx's read timeout is off.
    return httpx.Timeout(connect=timeouts.connect, read=None, write=30.0, pool=timeouts.connect)


async def stream_audio(
    client: httpx.AsyncClient,
    request: AudioRequest,
    *,
    stats: StreamStats,
    timeouts: Timeouts,
    retries: Retries,
) -> AsyncGenerator[AudioChunk, None]:
    """Send ``request`` and yield its audio as it arrives (an async generator).

    Errors before any audio are retried per ``retries``; a break after audio started raises
    :class:`StreamInterruptedError` after every decoded frame has been yielded.
    """
    response, body, first = await _open(client, request, stats, timeouts, retries)
    try:
        decoder = choose_decoder(response.headers.get("content-type"), request)
        offset = 0
        data = first
        while True:
            stats.bytes_received += len(data)
            # A WAV decoder holds input back where the format changes (a later file in another
            # format): feed(b"") hands out those frames, one format per call.
            while data or getattr(decoder, "pending", False):
                samples, data = decoder.feed(data), b""
                if samples.shape[0]:
                    assert decoder.format is not None
                    yield AudioChunk(samples, decoder.format, offset=offset)
                    offset += samples.shape[0]
                    stats.frames += samples.shape[0]
            try:
                with anyio.fail_after(timeouts.stall):
                    data = await body.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                raise StreamInterruptedError(
                    f"{request.provider}: the audio stream stalled: no data for "
                    f"{timeouts.stall:g} s after {stats.bytes_received} bytes; the audio "
                    "received so far was played. Raise Timeouts.stall if the server is slow."
                ) from exc
            except httpx.HTTPError as exc:
                raise StreamInterruptedError(
                    f"{request.provider}: the connection broke after {stats.bytes_received} "
                    f"bytes of audio ({_describe(exc)}); the audio received so far was played"
                ) from exc
        samples = decoder.flush()
        if samples.shape[0]:
            assert decoder.format is not None
            stats.frames += samples.shape[0]
            yield AudioChunk(samples, decoder.format, offset=offset)
    finally:
        with anyio.CancelScope(shield=True):
            await _close_body(body)
            await response.aclose()


async def _close_body(body: AsyncIterator[bytes]) -> None:
    # httpx's body iterators are async generators: close them here, in this task, rather than
    # leave them to the garbage collector (which warns, and under trio cannot run them).
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        await aclose()


async def _open(
    client: httpx.AsyncClient,
    request: AudioRequest,
    stats: StreamStats,
    timeouts: Timeouts,
    retries: Retries,
) -> tuple[httpx.Response, AsyncIterator[bytes], bytes]:
    """Send the request (retrying as allowed) and wait for the first body bytes."""
    attempt = 0
    while True:
        stats.request_sent = time.monotonic()
        response: httpx.Response | None = None
        error: Exception
        cause: BaseException | None = None
        try:
            with anyio.fail_after(timeouts.first_byte):
                response = await _send(client, request, timeouts)
                if response.status_code < 400:
                    body = response.aiter_bytes()
                    try:
                        first = b""
                        async for first in body:
                            if first:
                                break
                    except BaseException:
                        with anyio.CancelScope(shield=True):
                            await _close_body(body)
                        raise
                    stats.first_byte = time.monotonic()
                    return response, body, first
                raw = await _read_bounded(response)
                error = error_from_response(response, raw, request)
        except TimeoutError as exc:
            error, cause = (
                APITimeoutError(
                    f"{request.provider}: no audio within {timeouts.first_byte:g} s of sending "
                    "the request; the server may be overloaded. Raise Timeouts.first_byte "
                    "if it is just slow."
                ),
                exc,
            )
        except httpx.TimeoutException as exc:
            error, cause = (
                APITimeoutError(
                    f"{request.provider}: timed out connecting to {_origin(request.url)} "
                    f"({_describe(exc)}); check the network and base_url"
                ),
                exc,
            )
        except httpx.HTTPError as exc:
            error, cause = (
                APIConnectionError(
                    f"{request.provider}: could not reach {_origin(request.url)} "
                    f"({_describe(exc)}); check the network and base_url"
                ),
                exc,
            )
        except BaseException:
            if response is not None:
                with anyio.CancelScope(shield=True):
                    await response.aclose()
            raise
        if response is not None:
            await response.aclose()
        delay = _retry_delay(error, attempt, retries)
        if delay is None:
            raise error from cause
        logger.info(
            "%s: %s; retrying in %.2f s (retry %d of %d)",
            request.provider,
            type(error).__name__,
            delay,
            attempt + 1,
            retries.max_retries,
        )
        await anyio.sleep(delay)
        attempt += 1
        stats.retries += 1


def _retry_delay(error: Exception, attempt: int, retries: Retries) -> float | None:
    if attempt >= retries.max_retries:
        return None
    if isinstance(error, APIStatusError):
        if error.status_code not in _RETRY_STATUSES:
            return None
        if isinstance(error, RateLimitError):
            if "quota" in (error.server_message or "").lower():
                return None  # retrying cannot refill a quota
            if error.retry_after is not None and error.retry_after > retries.max_retry_after:
                return None
            return retries.delay(attempt, error.retry_after)
        return retries.delay(attempt, None)
    if isinstance(error, APITimeoutError) and "no audio within" in str(error):
        return None  # the server answered too slowly once; trying again doubles the wait
    if isinstance(error, APIConnectionError):
        return retries.delay(attempt, None)
    return None


async def _send(
    client: httpx.AsyncClient, request: AudioRequest, timeouts: Timeouts
) -> httpx.Response:
    """POST, following redirects by hand so credentials never go to another host."""
    url = httpx.URL(request.url, params=request.params or None)
    headers = dict(request.headers)
    method = "POST"
    body: dict[str, Any] | None = request.json
    for _ in range(_MAX_REDIRECTS + 1):
        req = client.build_request(
            method, url, headers=headers, json=body, timeout=_httpx_timeout(timeouts)
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
            method, body = "GET", None
        url = target
    raise APIConnectionError(f"{request.provider}: more than {_MAX_REDIRECTS} redirects")


async def _read_bounded(response: httpx.Response) -> bytes:
    buf = bytearray()
    async for piece in response.aiter_bytes():
        buf += piece
        if len(buf) >= _MAX_ERROR_BODY:
            break
    return bytes(buf[:_MAX_ERROR_BODY])


def _origin(url: str) -> str:
    u = httpx.URL(url)
    return f"{u.scheme}://{u.netloc.decode('ascii', 'replace')}"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- error statuses ------------------------------------------------------------------------


def server_message(body: bytes, content_type: str | None = None) -> str | None:
    """The human message in an error body, whatever its shape.

    Handles OpenAI's ``{"error": {"message": ...}}``, ``{"error": "..."}``, FastAPI's
    ``{"detail": "..."}`` and ``{"detail": [{"msg": ...}]}``, ElevenLabs'
    ``{"detail": {"message": ...}}``, flat ``{"message": ...}``, and plain text or HTML.
    """
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        if "html" in (content_type or "") or text.startswith("<"):
            import re

            title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
            text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
        return " ".join(text.split())[:500] or None
    return _json_message(data)


def _json_message(data: object) -> str | None:
    if isinstance(data, str):
        return data[:500]
    if isinstance(data, list):
        parts = [m for item in data if (m := _json_message(item))]
        return "; ".join(parts)[:500] if parts else None
    if not isinstance(data, dict):
        return None
    for key in ("error", "detail", "message", "msg", "error_description", "title"):
        if key in data and (m := _json_message(data[key])):
            if key == "msg" and isinstance(data.get("loc"), list):
                where = ".".join(str(p) for p in data["loc"])
                return f"{where}: {m}"
            return m
    return None


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def error_from_response(
    response: httpx.Response, body: bytes, request: AudioRequest
) -> APIStatusError:
    """Map an HTTP error response to the ttsstream exception for its status."""
    status = response.status_code
    said = server_message(body, response.headers.get("content-type"))
    if said is not None:
        said = redact(said, request.secrets)
    request_id = response.headers.get("x-request-id") or response.headers.get("request-id")
    head = f"{request.provider} answered {status} {response.reason_phrase}".rstrip()
    detail = f": {said}" if said else ""
    kwargs: dict[str, Any] = {
        "status_code": status,
        "server_message": said,
        "request_id": request_id,
    }
    if status in (401, 403):
        return AuthenticationError(
            f"{head}{detail}. Check {request.key_hint}: it is missing, wrong, or has no access "
            "to this model.",
            **kwargs,
        )
    if status == 429:
        retry_after = _parse_retry_after(response.headers.get("retry-after"))
        when = f" The server asks to wait {retry_after:g} s." if retry_after is not None else ""
        return RateLimitError(
            f"{head}{detail}. Too many requests or quota used up.{when}",
            retry_after=retry_after,
            **kwargs,
        )
    if status >= 500:
        return ServerError(
            f"{head}{detail}. The service failed; try again later.",
            **kwargs,
        )
    hint = {
        404: " Check base_url, the model and the voice.",
        422: " Check the options sent (model, voice, format, speed).",
    }.get(status, " Check the text and the options.")
    return BadRequestError(f"{head}{detail}.{hint}", **kwargs)


# -- the base of HTTP providers ----------------------------------------------------------------


class HttpProvider(Provider):
    """A provider that streams from an HTTP endpoint.

    Pass ``client=`` to use your own ``httpx.AsyncClient`` (ttsstream never closes it).
    Otherwise a client is made per request, or kept for the provider's life inside
    ``async with provider:`` so that connections are reused between utterances.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None,
        timeouts: Timeouts | None,
        retries: Retries | None,
        pcm_format: AudioFormat | None = None,
    ) -> None:
        self._user_client = client
        self._own_client: httpx.AsyncClient | None = None
        if client is None:
            _ssl_context()  # load the CA bundle now (once per process), not on the first call
        self.timeouts = timeouts or Timeouts()
        self.retries = retries if retries is not None else Retries()
        #: This server's raw PCM format, when its Content-Type is wrong or silent about it.
        self.pcm_format = pcm_format

    @abc.abstractmethod
    def build_request(self, text: str) -> AudioRequest:
        """The request that synthesizes ``text``."""

    async def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Synthesize ``text``, yielding chunks as the response body arrives."""
        request = self.build_request(text)
        if self.pcm_format is not None:
            request.server_pcm_format = self.pcm_format
        stats = stats if stats is not None else StreamStats()
        async with (
            self._client() as client,
            contextlib.aclosing(
                stream_audio(
                    client, request, stats=stats, timeouts=self.timeouts, retries=self.retries
                )
            ) as chunks,
        ):
            async for chunk in chunks:
                yield chunk

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        client = self._user_client or self._own_client
        if client is not None:
            yield client
            return
        async with new_client(self.timeouts) as own:
            yield own

    async def __aenter__(self: _Self) -> _Self:
        if self._user_client is None and self._own_client is None:
            self._own_client = new_client(self.timeouts)
        return self

    async def aclose(self) -> None:
        """Close the client this provider created (never one you passed in)."""
        client, self._own_client = self._own_client, None
        if client is not None:
            await client.aclose()
