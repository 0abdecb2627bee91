"""``speak()`` and ``stream()``: the one-call entry points (the playback itself is in ``_pump``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

import anyio

from ._errors import ConfigurationError
from ._format import AudioChunk, AudioFormat
from ._play.sink import Sink
from ._providers.base import Provider, StreamStats
from ._providers.registry import default_provider
from ._pump import Gaps, play, split_for
from ._text.check import check_text

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
    #: Gaps heard during this call: times the device ran dry and played silence.
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
    #: Seconds of silence the gaps inserted (sinks that measure it: :class:`DeviceSink`).
    gap_seconds: float = 0.0
    #: Seconds the audio waited in the sink before playing: from the first audio handed to the
    #: sink to the audio callback that started playing it (the device's output latency comes
    #: on top). Chosen by the adaptive start on a slow server; ``None`` when nothing played or
    #: the sink does not play in real time.
    start_delay: float | None = None
    #: Why it started then, in words, e.g. ``"server faster than real time (3.10x): started at
    #: the 30 ms prebuffer"`` or ``"arrival 0.71x real time, ~8.2 s of speech left: waited for
    #: 2.42 s of audio"``.
    start_reason: str = ""


async def speak(
    text: str,
    provider: Provider | None = None,
    *,
    sink: Sink | None = None,
    device: int | str | None = None,
    on_audio: Callable[[AudioChunk], None] | None = None,
    adaptive_start: bool = True,
) -> SpeakReport:
    """Say ``text`` and return once it has been heard.

    Audio starts playing as soon as the first bytes arrive; the output device is opened while
    the request is in flight. ``provider`` defaults to :func:`default_provider`; ``sink``
    defaults to a :class:`DeviceSink` on ``device`` (index or part of a name; default: the
    system's default output). Cancelling the call stops the sound within one audio block,
    closes the connection and frees the device. ``on_audio`` is called with every chunk as it
    is handed to the sink.

    On a server slower than real time the device sink waits, before it starts, until the rest
    of the speech will arrive before it is needed (estimated from the text's length and the
    measured arrival rate), so it plays without gaps; a fast server starts at once. The report's
    ``start_delay`` and ``start_reason`` say what it did. ``adaptive_start=False`` turns this off
    for the sink ``speak()`` makes (for a sink you pass, give it to the sink:
    ``DeviceSink(adaptive_start=False)``).
    """
    started = time.monotonic()
    check_text(text)
    own_provider = provider is None
    if sink is not None and device is not None:
        raise ConfigurationError("pass either sink= or device=, not both")
    provider = provider if provider is not None else default_provider()
    own_sink = sink is None
    if sink is None:
        from ._play.device import DeviceSink  # PortAudio loads only when needed

        sink = DeviceSink(device=device, adaptive_start=adaptive_start)
    stats = StreamStats(started=started)
    gaps_before = Gaps.of(sink)
    try:
        progress = await play(
            provider, split_for(provider, text), sink, stats=stats, on_audio=on_audio
        )
        gaps = Gaps.of(sink) - gaps_before
        start_delay, start_reason = sink.start_delay, sink.start_reason
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
        underruns=gaps.count,
        bytes_received=stats.bytes_received,
        frames=progress.frames,
        elapsed=time.monotonic() - started,
        retries=stats.retries,
        format=fmt,
        provider=provider.name,
        gap_seconds=gaps.seconds,
        start_delay=start_delay,
        start_reason=start_reason,
    )


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


def stream(
    text: str, provider: Provider | None = None
) -> contextlib.AbstractAsyncContextManager[AudioStream]:
    """Synthesize ``text`` and iterate over its audio as it arrives; no device needed.

    >>> async with ttsstream.stream("Hi", provider=ttsstream.OpenAI()) as audio:  # doctest: +SKIP
    ...     async for chunk in audio:
    ...         handle(chunk.samples, chunk.format)

    Leaving the block early closes the HTTP response.
    """
    return _stream(check_text(text), provider)


@contextlib.asynccontextmanager
async def _stream(text: str, provider: Provider | None) -> AsyncIterator[AudioStream]:
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
