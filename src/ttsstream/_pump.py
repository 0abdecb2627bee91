"""The pump: how audio moves from a provider into a sink, shared by ``speak()`` and ``Speaker``.

An :class:`Output` is a sink and the session open on it (one format, frames counted since
``open``): writing a chunk of another format drains the session and opens a new one. :func:`pump`
writes a stream of chunks into an output and tracks its progress; a provider error after audio
arrived ends the stream (it is reported in :attr:`Progress.error`, so the audio that arrived is
played first), while a sink error leaves at once. :func:`play` is the whole life of one
``speak()``: the sink prepared (device opened for the provider's expected format) while the
first chunk is awaited, every chunk written, then drained, or aborted on cancellation.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from ._errors import TTSStreamError
from ._format import AudioChunk, AudioFormat
from ._play.sink import Sink
from ._providers.base import Provider, StreamStats
from ._text.sentences import SentenceSplitter

__all__ = [
    "Gaps",
    "Output",
    "Progress",
    "concurrently",
    "play",
    "pump",
    "speech_key",
    "split_for",
]


@dataclass(frozen=True)
class Gaps:
    """A sink's gap counters: gaps a listener heard, and the seconds of silence they inserted."""

    count: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, sink: Sink) -> Gaps:
        """The counters of ``sink`` now."""
        return cls(sink.underruns, sink.gap_seconds)

    def __sub__(self, earlier: Gaps) -> Gaps:
        return Gaps(self.count - earlier.count, self.seconds - earlier.seconds)


@dataclass
class Progress:
    """How far one stream of chunks got into an output."""

    #: Format of the first chunk written.
    format: AudioFormat | None = None
    #: ``time.monotonic()`` when the first chunk had been handed to the sink.
    first_audio: float | None = None
    #: Frames written.
    frames: int = 0
    #: The source's error that ended the stream early (audio before it was written).
    error: TTSStreamError | None = None


class Output:
    """A sink and the session open on it: the format, and frames written since ``open()``.

    ``on_drained(format, frames)`` is called after the session was drained (everything written
    heard), before any new one opens.
    """

    def __init__(
        self, sink: Sink, on_drained: Callable[[AudioFormat, int], None] | None = None
    ) -> None:
        self.sink = sink
        self.on_drained = on_drained
        #: The open session's format; ``None`` while closed.
        self.format: AudioFormat | None = None
        #: Frames written since the session opened (the scale of ``sink.frames_played``).
        self.frames = 0

    @property
    def is_open(self) -> bool:
        """Whether a session is open (audio written and not yet drained or aborted)."""
        return self.format is not None

    async def write(self, chunk: AudioChunk) -> int:
        """Write ``chunk``, (re)opening the sink for its format; return the frame it starts at."""
        if chunk.format != self.format:
            await self.drain()
            await self.sink.open(chunk.format)
            self.format = chunk.format
            self.frames = 0
        start = self.frames
        await self.sink.write(chunk.samples)
        self.frames += chunk.frames
        return start

    async def drain(self) -> None:
        """Wait until everything written has been heard, and close the session."""
        fmt = self.format
        if fmt is None:
            return
        await self.sink.drain()
        self.format = None
        if self.on_drained is not None:
            self.on_drained(fmt, self.frames)

    async def abort(self) -> None:
        """Silence now, buffered audio dropped; runs even inside a cancelled scope."""
        if self.format is None:
            return
        with anyio.CancelScope(shield=True):
            await self.sink.abort()
        self.format = None


async def pump(
    chunks: AsyncIterator[AudioChunk],
    output: Output,
    *,
    on_chunk: Callable[[AudioChunk, int], None] | None = None,
) -> Progress:
    """Write ``chunks`` into ``output`` until they end, and return how far they got.

    ``on_chunk(chunk, start)`` is called after each write with the session frame the chunk
    starts at. A :class:`TTSStreamError` from ``chunks`` ends the pump (see
    :attr:`Progress.error`); an error from the sink propagates.
    """
    progress = Progress()
    while True:
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            break
        except TTSStreamError as exc:
            progress.error = exc
            break
        start = await output.write(chunk)
        if progress.first_audio is None:
            progress.first_audio = time.monotonic()
            progress.format = chunk.format
        progress.frames += chunk.frames
        if on_chunk is not None:
            on_chunk(chunk, start)
    return progress


async def play(
    provider: Provider,
    pieces: Sequence[str],
    sink: Sink,
    *,
    stats: StreamStats,
    on_audio: Callable[[AudioChunk], None] | None = None,
) -> Progress:
    """Speak ``pieces`` (texts the provider accepts) one after another into ``sink``; return
    once they have been heard.

    The sink's slow set-up (``prepare``, told the provider's expected format so a device can
    open early) overlaps the wait for the first chunk; the pieces play back to back. If the
    provider fails after audio arrived, that audio is still played, then the error is raised.
    If the caller is cancelled (or the sink fails), the sink is aborted (silence within a block)
    and the request closed.
    """
    output = Output(sink)
    total = Progress()
    callback = None if on_audio is None else (lambda chunk, _start: on_audio(chunk))
    try:
        key = speech_key(provider)
        for index, piece in enumerate(pieces):
            sink.expect(chars=len(piece), key=key)
            chunks = provider.stream(piece, stats=stats)
            async with contextlib.aclosing(chunks):
                source: AsyncIterator[AudioChunk] = chunks
                if index == 0:
                    source = await _preparing(sink, provider.expected_format, chunks)
                done = await pump(source, output, on_chunk=callback)
            total.frames += done.frames
            total.format = total.format or done.format
            total.first_audio = total.first_audio or done.first_audio
            if done.error is not None:
                await output.drain()
                raise done.error
        await output.drain()
    except BaseException:
        await output.abort()
        raise
    return total


async def _preparing(
    sink: Sink, expected: AudioFormat | None, chunks: AsyncIterator[AudioChunk]
) -> AsyncIterator[AudioChunk]:
    """Wait for the first chunk while the sink prepares; return the chunks from the first on."""

    async def prepare() -> None:
        # Runs once the request is out (the first task waits on the network by then).
        preload_decoders()
        await sink.prepare(expected)

    first, _ = await concurrently(lambda: anext(chunks, None), prepare)
    return _Prepended(first, chunks)


_decoders_loading: list[threading.Thread] = []


def preload_decoders() -> None:
    """Import the decoders (and numpy) in a thread, once per process: the first bytes of the
    first answer then find them loaded instead of waiting ~15 ms for the imports."""
    if _decoders_loading or "ttsstream._decode.sniff" in sys.modules:
        return
    # Not a daemon: an interpreter that exits while an extension module is being imported in
    # a daemon thread can crash; this one finishes its imports first (tens of ms at most).
    thread = threading.Thread(target=_import_decoders, name="ttsstream-decoders")
    _decoders_loading.append(thread)
    thread.start()


def _import_decoders() -> None:
    with contextlib.suppress(Exception):  # the decoding code imports them again, and raises
        importlib.import_module("._decode.sniff", __package__)


class _Prepended:
    """``first`` (if any), then the chunks of ``rest``; closing stays with ``rest``'s owner."""

    def __init__(self, first: AudioChunk | None, rest: AsyncIterator[AudioChunk]) -> None:
        self._first = first
        self._rest = rest
        self._started = False

    def __aiter__(self) -> _Prepended:
        return self

    async def __anext__(self) -> AudioChunk:
        if not self._started:
            self._started = True
            if self._first is None:
                raise StopAsyncIteration
            return self._first
        return await anext(self._rest)


async def concurrently(
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


def speech_key(provider: Provider) -> str:
    """The key under which a sink learns how a provider's voice speaks (characters per second,
    arrival rate): the provider's name and its voice (or voice id, or model)."""
    voice = getattr(provider, "voice", None)
    for attr in ("voice_id", "model"):
        if voice is None:
            voice = getattr(provider, attr, None)
    return f"{provider.name}:{type(provider).__qualname__}:{voice}"


def split_for(provider: Provider, text: str) -> list[str]:
    """``text`` cut at sentence boundaries into pieces the provider accepts."""
    if len(text) <= provider.max_input_chars:
        return [text]
    splitter = SentenceSplitter(max_chars=provider.max_input_chars)
    sentences = [*splitter.feed(text), *splitter.flush()]
    pieces: list[str] = []
    for sentence in sentences:
        if pieces and len(pieces[-1]) + 1 + len(sentence) <= provider.max_input_chars:
            pieces[-1] += " " + sentence
        else:
            pieces.append(sentence)
    return pieces
