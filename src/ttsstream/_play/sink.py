"""The sink interface that :func:`ttsstream.speak` and :class:`ttsstream.Speaker` drive,
and :class:`MemorySink`, the simplest sink.

Life cycle: ``prepare()`` (optional slow set-up that needs no format, e.g. loading PortAudio
and finding the device, run while the HTTP request is in flight), ``open(format)``, any number of
``write(samples)``, then ``drain()`` (returns once everything written has been heard) or
``abort()`` (silence now, buffered audio dropped), and finally ``aclose()``. After ``drain()`` or
``abort()`` a sink may be ``open()``-ed again, possibly with another format, for the next
utterance; sinks that hold a device keep it open across utterances.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .._format import AudioChunk, AudioFormat

__all__ = ["MemorySink", "Sink"]

_Self = TypeVar("_Self", bound="Sink")

Samples = npt.NDArray[np.generic]


class Sink(abc.ABC):
    """Where decoded audio goes. Subclass it to send audio somewhere new."""

    #: Whether the sink plays at the pace of a clock (a sound device) rather than taking audio
    #: as fast as it comes. Real-time sinks report progress through :attr:`frames_played`.
    realtime: bool = False

    async def prepare(self, format: AudioFormat | None = None) -> None:  # noqa: B027
        """Do slow set-up ahead of :meth:`open`, while the request is in flight. Optional.

        ``format`` is the format the audio will probably have (the provider's
        :attr:`~ttsstream.Provider.expected_format`), when known: a device may open its output
        for it in advance, so the first sound is not delayed by opening it. ``open()`` with
        another format still works.
        """

    @abc.abstractmethod
    async def open(self, format: AudioFormat) -> None:
        """Get ready to receive audio in ``format``."""

    @abc.abstractmethod
    async def write(self, samples: Samples) -> None:
        """Queue ``samples`` (shape ``(frames, channels)``, the opened format's dtype).

        May wait while the sink's buffer is full (backpressure).
        """

    @abc.abstractmethod
    async def drain(self) -> None:
        """Return once every sample written so far has been played (or stored)."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Stop as fast as possible and drop what is buffered. Safe to call at any time."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release everything the sink holds. Idempotent."""

    def expect(  # noqa: B027 - a hint, optional
        self, *, chars: int, key: str, requested_at: float | None = None
    ) -> None:
        """Hint: a text of ``chars`` characters in voice ``key`` was requested (at
        ``time.monotonic()`` ``requested_at``; ``None``: just now), and its audio is what
        :meth:`write` gets next. :class:`DeviceSink` uses it to decide when to start on a slow
        server (its ``adaptive_start``); other sinks ignore it."""

    @property
    def start_delay(self) -> float | None:
        """Seconds the latest utterance waited in the sink before it started playing, or
        ``None`` (not started, or a sink that does not play in real time)."""
        return None

    @property
    def start_reason(self) -> str:
        """Why the latest utterance started when it did, in words (``""``: not known)."""
        return ""

    def set_paused(self, paused: bool) -> None:  # noqa: B027 - no-op unless real-time
        """Pause or resume playback without losing buffered audio (real-time sinks only)."""

    @property
    def frames_played(self) -> int:
        """Frames heard since the last ``open()`` (frames written, for non-device sinks)."""
        return 0

    @property
    def frames_sent(self) -> int:
        """Frames since the last ``open()`` that left the sink's own buffer for the output.

        Ahead of :attr:`frames_played` by the output's latency on a device; the same elsewhere.
        """
        return self.frames_played

    @property
    def underruns(self) -> int:
        """Gaps heard: times playback ran dry and silence was played. Always 0 off-device."""
        return 0

    @property
    def gap_seconds(self) -> float:
        """Seconds of silence those gaps inserted into the sound. Always 0 off-device."""
        return 0.0

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class MemorySink(Sink):
    """Keep every chunk in memory: handy in tests, and to get audio as a numpy array.

    >>> import anyio, numpy as np
    >>> async def main():
    ...     sink = MemorySink()
    ...     await sink.open(AudioFormat(sample_rate=8000))
    ...     await sink.write(np.zeros((80, 1), np.int16))
    ...     await sink.drain()
    ...     return sink.samples().shape, sink.duration
    >>> anyio.run(main)
    ((80, 1), 0.01)
    """

    def __init__(self) -> None:
        self.chunks: list[AudioChunk] = []
        self.format: AudioFormat | None = None
        self.drained = False
        self.aborted = False
        self.closed = False
        self._frames_this_utterance = 0
        self._frames = 0

    async def open(self, format: AudioFormat) -> None:
        if self.format is not None and self.format != format and self.chunks:
            raise ValueError(f"MemorySink holds {self.format} audio; cannot add {format}")
        self.format = format
        self.drained = self.aborted = False
        self._frames_this_utterance = 0

    async def write(self, samples: Samples) -> None:
        if self.format is None:
            raise RuntimeError("write() before open()")
        chunk = AudioChunk(samples, self.format, offset=self._frames)
        self.chunks.append(chunk)
        self._frames += chunk.frames
        self._frames_this_utterance += chunk.frames

    async def drain(self) -> None:
        self.drained = True

    async def abort(self) -> None:
        self.aborted = True

    async def aclose(self) -> None:
        self.closed = True

    @property
    def frames(self) -> int:
        """Frames received in total."""
        return self._frames

    @property
    def frames_played(self) -> int:
        return self._frames_this_utterance

    @property
    def duration(self) -> float:
        """Seconds of audio received in total."""
        return self.format.duration(self.frames) if self.format else 0.0

    def samples(self) -> Samples:
        """Everything received, as one ``(frames, channels)`` array."""
        if not self.chunks:
            return np.empty((0, self.format.channels if self.format else 1), np.int16)
        return np.concatenate([c.samples for c in self.chunks])
