"""``speak()`` and ``stream()``: the one-call entry points, and the playback loop they share."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from ._errors import ConfigurationError, TTSStreamError
from ._format import AudioChunk, AudioFormat
from ._play.sink import Sink
from ._providers.base import Provider, StreamStats
from ._providers.registry import default_provider

__all__ = ["AudioStream", "SpeakReport", "default_provider", "speak", "stream"]


@dataclass(frozen=True)
class SpeakReport:
    """What happened during one :func:`speak` call. Times are in seconds."""

    #: From sending the request to the first byte of the response body.
    ttfb: float | None
    #: From the call to the first sample handed to the sink (device).
    ttfa: float | None
    #: Seconds of audio played.
    duration: float
    #: Times the device ran dry and played silence.
    underruns: int
    #: Response body bytes received.
    bytes_received: int
    #: Frames played.
    frames: int
    #: Wall time of the whole call, including the final drain.
    elapsed: float
    #: Requests retried before audio arrived.
    retries: int
    #: Format of the audio, or ``None`` if none arrived.
    format: AudioFormat | None
    #: The provider's name (``"openai"``, ``"piper"``, ...).
    provider: str


@dataclass
class _Playback:
    """Progress of one utterance through a sink."""

    format: AudioFormat | None = None
    first_audio: float | None = None
    frames: int = 0


async def _concurrently(
    first: Callable[[], Awaitable[Any]], second: Callable[[], Awaitable[Any]]
) -> tuple[Any, Any]:
    """Run two awaitables at once; re-raise the first error as itself (no ExceptionGroup)."""
    results: list[Any] = [None, None]
    errors: list[BaseException] = []

    async def run(index: int, fn: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[index] = await fn()
        except Exception as exc:
            errors.append(exc)
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, 0, first)
        tg.start_soon(run, 1, second)
    if errors:
        raise errors[0]
    return results[0], results[1]


async def play(
    chunks: AsyncGenerator[AudioChunk, None],
    sink: Sink,
    *,
    prepare: bool = True,
    expected: AudioFormat | None = None,
    on_audio: Callable[[AudioChunk], None] | None = None,
) -> _Playback:
    """Pump ``chunks`` into ``sink`` and wait until they have been heard.

    The sink's slow set-up (``prepare``, told the ``expected`` format so a device can open
    early) overlaps the wait for the first chunk. If the stream
    fails after audio arrived, that audio is still played, then the error is raised. If the
    caller is cancelled, the sink is aborted (silence within a block) and the stream closed.
    """
    progress = _Playback()
    opened = False
    async with contextlib.aclosing(chunks):
        try:
            if prepare:
                first, _ = await _concurrently(
                    lambda: anext(chunks, None), lambda: sink.prepare(expected)
                )
            else:
                first = await anext(chunks, None)
            if first is not None:
                await sink.open(first.format)
                opened = True
                progress.format = first.format
                await _write(sink, first, progress, on_audio)
                async for chunk in chunks:
                    await _write(sink, chunk, progress, on_audio)
        except TTSStreamError:
            if opened:
                await sink.drain()
            raise
        except BaseException:
            if opened:
                with anyio.CancelScope(shield=True):
                    await sink.abort()
            raise
        if opened:
            try:
                await sink.drain()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await sink.abort()
                raise
    return progress


async def _write(
    sink: Sink,
    chunk: AudioChunk,
    progress: _Playback,
    on_audio: Callable[[AudioChunk], None] | None,
) -> None:
    if chunk.format != progress.format:
        await sink.drain()
        await sink.open(chunk.format)
        progress.format = chunk.format
    await sink.write(chunk.samples)
    if progress.first_audio is None:
        progress.first_audio = time.monotonic()
    progress.frames += chunk.frames
    if on_audio is not None:
        on_audio(chunk)


async def speak(
    text: str,
    provider: Provider | None = None,
    *,
    sink: Sink | None = None,
    device: int | str | None = None,
    on_audio: Callable[[AudioChunk], None] | None = None,
) -> SpeakReport:
    """Say ``text`` and return once it has been heard.

    Audio starts playing as soon as the first bytes arrive; the output device is opened while
    the request is in flight. ``provider`` defaults to :func:`default_provider`; ``sink``
    defaults to a :class:`DeviceSink` on ``device`` (index or part of a name; default: the
    system's default output). Cancelling the call stops the sound within one audio block,
    closes the connection and frees the device. ``on_audio`` is called with every chunk as it
    is handed to the sink.
    """
    started = time.monotonic()
    own_provider = provider is None
    if sink is not None and device is not None:
        raise ConfigurationError("pass either sink= or device=, not both")
    provider = provider if provider is not None else default_provider()
    own_sink = sink is None
    if sink is None:
        from ._play.device import DeviceSink

        sink = DeviceSink(device=device)
    stats = StreamStats(started=started)
    try:
        progress = _Playback()
        for piece in split_for(provider, text):
            done = await play(
                provider.stream(piece, stats=stats),
                sink,
                expected=provider.expected_format,
                on_audio=on_audio,
            )
            progress.frames += done.frames
            progress.format = progress.format or done.format
            progress.first_audio = progress.first_audio or done.first_audio
    finally:
        with anyio.CancelScope(shield=True):
            if own_sink:
                await sink.aclose()
            if own_provider:
                await provider.aclose()
    fmt = progress.format
    return SpeakReport(
        ttfb=stats.ttfb,
        ttfa=None if progress.first_audio is None else progress.first_audio - started,
        duration=fmt.duration(progress.frames) if fmt else 0.0,
        underruns=sink.underruns,
        bytes_received=stats.bytes_received,
        frames=progress.frames,
        elapsed=time.monotonic() - started,
        retries=stats.retries,
        format=fmt,
        provider=provider.name,
    )


def split_for(provider: Provider, text: str) -> list[str]:
    """``text`` cut at sentence boundaries into pieces the provider accepts."""
    if len(text) <= provider.max_input_chars:
        return [text]
    from ._text.sentences import SentenceSplitter

    splitter = SentenceSplitter(max_chars=provider.max_input_chars)
    sentences = [*splitter.feed(text), *splitter.flush()]
    pieces: list[str] = []
    for sentence in sentences:
        if pieces and len(pieces[-1]) + 1 + len(sentence) <= provider.max_input_chars:
            pieces[-1] += " " + sentence
        else:
            pieces.append(sentence)
    return pieces


class AudioStream:
    """The audio of one request: an async iterator of :class:`AudioChunk` (see :func:`stream`)."""

    def __init__(self, chunks: AsyncGenerator[AudioChunk, None], stats: StreamStats) -> None:
        self._chunks = chunks
        #: Timings and counts, filled in as the audio arrives.
        self.stats = stats
        #: The audio format, known once the first chunk arrived.
        self.format: AudioFormat | None = None

    def __aiter__(self) -> AsyncIterator[AudioChunk]:
        return self

    async def __anext__(self) -> AudioChunk:
        chunk = await self._chunks.__anext__()
        self.format = chunk.format
        return chunk


@contextlib.asynccontextmanager
async def stream(text: str, provider: Provider | None = None) -> AsyncIterator[AudioStream]:
    """Synthesize ``text`` and iterate over its audio as it arrives; no device needed.

    >>> async with ttsstream.stream("Hi", provider=ttsstream.OpenAI()) as audio:  # doctest: +SKIP
    ...     async for chunk in audio:
    ...         handle(chunk.samples, chunk.format)

    Leaving the block early closes the HTTP response.
    """
    own_provider = provider is None
    provider = provider if provider is not None else default_provider()
    stats = StreamStats()
    chunks = provider.stream(text, stats=stats)
    try:
        yield AudioStream(chunks, stats)
    finally:
        with anyio.CancelScope(shield=True):
            await chunks.aclose()
            if own_provider:
                await provider.aclose()
