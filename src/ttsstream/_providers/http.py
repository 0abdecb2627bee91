"""Streaming audio over HTTP: the I/O shell around the sans-IO decoders.

:func:`stream_audio` sends an :class:`AudioRequest` (through :mod:`.transport`: connections,
redirects, retries) and yields decoded :class:`AudioChunk`s as the body arrives, holding the
deadlines once the body flows (first audio, stalls) and telling a success without audio from a
success. :class:`HttpProvider` is the base of every HTTP service. Error statuses become
ttsstream exceptions in :mod:`.errors`; every exception leaving here has its keys scrubbed.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

import httpx

from .._errors import (
    APITimeoutError,
    ConfigurationError,
    DecodeError,
    NoAudioError,
    ServerError,
    StreamInterruptedError,
    TTSStreamError,
)
from .._format import AudioChunk, AudioFormat
from .base import Provider, StreamStats
from .errors import redact, scrub_exception, scrubbed_logs, server_message
from .request import AudioRequest, Expected
from .transport import (
    DEFAULT_MAX_CONNECTIONS,
    ConnectionPool,
    ResponseBody,
    Retries,
    Timeouts,
    check_max_connections,
    describe,
    new_client,
    open_response,
    preload,
)

__all__ = [
    "AudioRequest",
    "Expected",
    "HttpProvider",
    "Retries",
    "Timeouts",
    "new_client",
    "stream_audio",
]

_Self = TypeVar("_Self", bound="HttpProvider")


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
    :class:`StreamInterruptedError` after every decoded frame has been yielded. A success with
    no audio in it is a :class:`NoAudioError`. No exception leaving here contains
    ``request.secrets``.
    """
    try:
        with scrubbed_logs(request.secrets):
            body, first = await open_response(client, request, stats, timeouts, retries)
            try:
                async with contextlib.aclosing(
                    _decode_body(body, first, request, stats, timeouts)
                ) as chunks:
                    async for chunk in chunks:
                        yield chunk
            finally:
                await body.aclose()
    except TTSStreamError as exc:
        scrub_exception(exc, request.secrets)
        raise


async def _decode_body(
    body: ResponseBody,
    first: bytes,
    request: AudioRequest,
    stats: StreamStats,
    timeouts: Timeouts,
) -> AsyncGenerator[AudioChunk, None]:
    # The decoders (and numpy) load with the first bytes: the request goes out without them.
    from .._decode.sniff import choose_decoder

    content_type = body.response.headers.get("content-type")
    if _is_json(content_type):
        await _raise_json_answer(body, first, request, content_type)
    decoder = choose_decoder(content_type, request)
    sent = stats.request_sent if stats.request_sent is not None else time.monotonic()
    offset = 0
    data: bytes | None = first
    while True:
        if data:
            stats.bytes_received += len(data)
        # A WAV decoder holds input back where the format changes (a later file in another
        # format): feed(b"") hands out those frames, one format per call.
        while data or getattr(decoder, "pending", False):
            samples, data = decoder.feed(data or b""), b""
            if samples.shape[0]:
                assert decoder.format is not None
                yield AudioChunk(samples, decoder.format, offset=offset)
                offset += samples.shape[0]
                stats.frames += samples.shape[0]
        # Until audio flows, the first-audio deadline holds however many other bytes arrive,
        # trickling or flooding (a read served from a buffer may never reach a checkpoint).
        wait, setting = timeouts.stall, "stall"
        if offset == 0 and timeouts.first_audio is not None:
            left = sent + timeouts.first_audio - time.monotonic()
            if left <= 0:
                raise _no_audio_yet(request, stats, timeouts.first_audio)
            if wait is None or left < wait:
                wait, setting = left, "first_audio"
        try:
            data = await body.next_within(wait)
        except TimeoutError as exc:
            if setting == "first_audio":
                raise _no_audio_yet(request, stats, timeouts.first_audio) from exc
            raise StreamInterruptedError(
                f"{request.provider}: the audio stream stalled: no data for "
                f"{timeouts.stall:g} s after {stats.bytes_received} bytes; the audio "
                "received so far was played. Raise Timeouts.stall if the server is slow."
            ) from exc
        except httpx.HTTPError as exc:
            raise StreamInterruptedError(
                f"{request.provider}: the connection broke after {stats.bytes_received} "
                f"bytes ({describe(exc)}); the audio received so far was played"
            ) from exc
        if data is None:
            break
    if stats.bytes_received == 0:
        raise NoAudioError(
            f"{request.provider} answered {body.response.status_code} but sent no audio: the "
            "body was empty. The server may have failed to load the voice or the model; "
            "check them, and the server's log."
        )
    samples = decoder.flush()
    if samples.shape[0]:
        assert decoder.format is not None
        stats.frames += samples.shape[0]
        yield AudioChunk(samples, decoder.format, offset=offset)
    elif offset == 0:
        raise NoAudioError(
            f"{request.provider} answered {body.response.status_code} but sent no audio: "
            f"{stats.bytes_received} bytes without a single sample (a header and nothing "
            "else?). The server may have failed to load the voice or the model; check them, "
            "and the server's log."
        )


def _no_audio_yet(
    request: AudioRequest, stats: StreamStats, limit: float | None
) -> APITimeoutError:
    return APITimeoutError(
        f"{request.provider}: no audio within {limit:g} s of sending the request "
        f"({stats.bytes_received} bytes arrived, none of them audio). Raise "
        "Timeouts.first_audio if the server is just slow."
    )


def _is_json(content_type: str | None) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


async def _raise_json_answer(
    body: ResponseBody, first: bytes, request: AudioRequest, content_type: str | None
) -> None:
    """A success labelled JSON is an error some servers send with a 200: show what it says."""
    try:
        rest = await body.read_bounded()
    except httpx.HTTPError:
        rest = b""
    said = server_message(first + rest, content_type)
    status = body.response.status_code
    if said is None:
        raise DecodeError(
            f"{request.provider} sent application/json instead of audio; is base_url pointing "
            "at a text-to-speech endpoint?"
        )
    said = redact(said, request.secrets)
    raise ServerError(
        f"{request.provider} answered {status} with an error instead of audio: {said}. Check "
        "the options sent (model, voice, format) and the server's log.",
        status_code=status,
        server_message=said,
    )


# -- the base of HTTP providers ----------------------------------------------------------------


class HttpProvider(Provider):
    """The base of providers that stream from an HTTP endpoint.

    A subclass implements :meth:`build_request` (text in, :class:`AudioRequest` out) and gets
    the rest: sending, redirects, retries, timeouts, error mapping, decoding, key scrubbing.

    Pass ``client=`` to use your own ``httpx.AsyncClient`` (ttsstream never closes it; its
    ``limits`` decide how many streams run at once). Otherwise a client is made per request, or
    a connection pool is kept for the provider's life inside ``async with provider:`` so that
    connections are reused between utterances. That pool holds up to ``max_connections``
    connections (default 1000), one per concurrent stream; a stream beyond that waits for one
    (:attr:`StreamStats.pool_wait`) up to ``Timeouts.pool`` and then fails with
    :class:`~ttsstream.PoolExhaustedError`.
    ``timeouts`` and ``retries`` default to :class:`Timeouts()` and :class:`Retries()`.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient | None = None,
        timeouts: Timeouts | None = None,
        retries: Retries | None = None,
        pcm_format: AudioFormat | None = None,
        max_connections: int | None = None,
    ) -> None:
        self._user_client = client
        self._pool: ConnectionPool | None = None
        if client is None:
            # Load the CA bundle now (once per process), not on the first call. A provider
            # that sets its base_url before this and names a plain http:// server skips it
            # (the bundle is then loaded if a redirect ever leads to https://).
            if not str(getattr(self, "base_url", "")).startswith("http://"):
                preload()
        elif max_connections is not None:
            raise ConfigurationError(
                "max_connections sizes the pool ttsstream makes; the client passed as client= "
                "has its own: httpx.AsyncClient(limits=httpx.Limits(max_connections=...))"
            )
        #: Connections kept at once inside ``async with provider`` (one per concurrent stream).
        self.max_connections = (
            DEFAULT_MAX_CONNECTIONS
            if max_connections is None
            else check_max_connections(max_connections)
        )
        self.timeouts = timeouts or Timeouts()
        self.retries = retries if retries is not None else Retries()
        #: This server's raw PCM format, when its Content-Type is wrong or silent about it.
        self.pcm_format = pcm_format

    @abc.abstractmethod
    def build_request(self, text: str) -> AudioRequest:
        """The request that synthesizes ``text``."""

    def check_text(self, text: str) -> None:
        """Refuse empty text and text over :attr:`max_input_chars` (a :class:`ConfigurationError`).

        Call it first in :meth:`build_request`; :func:`~ttsstream.speak` and
        :class:`~ttsstream.Speaker` already split long text at sentence boundaries.
        """
        if not text.strip():
            raise ConfigurationError("nothing to say: the text is empty")
        if len(text) > self.max_input_chars:
            raise ConfigurationError(
                f"text of {len(text)} characters is over {self.name}'s limit of "
                f"{self.max_input_chars}; speak() and Speaker split long text for you"
            )

    async def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Synthesize ``text``, yielding chunks as the response body arrives."""
        request = self.build_request(text)
        if self.pcm_format is not None:
            request.server_pcm_format = self.pcm_format
        stats = stats if stats is not None else StreamStats()
        async with (
            self._client(stats) as client,
            contextlib.aclosing(
                stream_audio(
                    client, request, stats=stats, timeouts=self.timeouts, retries=self.retries
                )
            ) as chunks,
        ):
            async for chunk in chunks:
                yield chunk

    @contextlib.asynccontextmanager
    async def _client(self, stats: StreamStats) -> AsyncIterator[httpx.AsyncClient]:
        if self._user_client is not None:
            yield self._user_client
        elif self._pool is not None:
            async with self._pool.client(stats) as client:
                yield client
        else:
            async with new_client(self.timeouts) as own:
                yield own

    async def __aenter__(self: _Self) -> _Self:
        if self._user_client is None and self._pool is None:
            self._pool = ConnectionPool(self.name, self.timeouts, self.max_connections)
        return self

    async def aclose(self) -> None:
        """Close the connections this provider opened (never a client you passed in)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()
