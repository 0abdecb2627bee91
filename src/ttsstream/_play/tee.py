""":class:`TeeSink`: one stream of audio into several sinks, e.g. play it and save it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from .sink import Samples, Sink

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from .._format import AudioFormat

__all__ = ["TeeSink"]


class TeeSink(Sink):
    """Send the same audio to several sinks at once.

    >>> async with TeeSink(DeviceSink(), WavFileSink("speech.wav")) as sink:  # doctest: +SKIP
    ...     await ttsstream.speak("Heard and saved.", sink=sink)

    Samples go to the sinks in the order given, so the slowest one (usually a device, which
    waits for room in its buffer) paces the others. ``frames_played`` is the smallest of the
    sinks' counts (what has been heard *and* stored); ``underruns`` and ``gap_seconds`` are
    sums. ``abort()`` and ``aclose()`` reach every sink even when one of them fails, then raise
    the first error.
    """

    def __init__(self, *sinks: Sink) -> None:
        if not sinks:
            raise ValueError("TeeSink needs at least one sink")
        #: The sinks audio goes to, in order.
        self.sinks: tuple[Sink, ...] = sinks

    @property
    def realtime(self) -> bool:  # type: ignore[override]
        """True if any of the sinks plays in real time."""
        return any(sink.realtime for sink in self.sinks)

    async def prepare(self, format: AudioFormat | None = None) -> None:
        """Prepare every sink."""
        for sink in self.sinks:
            await sink.prepare(format)

    async def open(self, format: AudioFormat) -> None:
        """Open every sink; if one fails, the ones already opened are aborted."""
        opened: list[Sink] = []
        try:
            for sink in self.sinks:
                await sink.open(format)
                opened.append(sink)
        except BaseException:
            await _every(opened, lambda s: s.abort())
            raise

    async def write(self, samples: Samples) -> None:
        """Write ``samples`` to every sink, one after the other."""
        for sink in self.sinks:
            await sink.write(samples)

    async def drain(self) -> None:
        """Return once every sink has played (or stored) what was written."""
        for sink in self.sinks:
            await sink.drain()

    async def abort(self) -> None:
        """Abort every sink."""
        await _every(self.sinks, lambda s: s.abort())

    async def aclose(self) -> None:
        """Close every sink."""
        await _every(self.sinks, lambda s: s.aclose())

    def expect(self, *, chars: int, key: str, requested_at: float | None = None) -> None:
        """Pass the hint on to every sink."""
        for sink in self.sinks:
            sink.expect(chars=chars, key=key, requested_at=requested_at)

    @property
    def start_delay(self) -> float | None:
        """The first sink's start delay that is known (the device's, usually)."""
        return next((s.start_delay for s in self.sinks if s.start_delay is not None), None)

    @property
    def start_reason(self) -> str:
        """The first sink's start reason that is known."""
        return next((s.start_reason for s in self.sinks if s.start_reason), "")

    def set_paused(self, paused: bool) -> None:
        """Pause or resume every sink that can."""
        for sink in self.sinks:
            sink.set_paused(paused)

    @property
    def frames_played(self) -> int:
        """The smallest ``frames_played`` among the sinks."""
        return min(sink.frames_played for sink in self.sinks)

    @property
    def frames_sent(self) -> int:
        """The smallest ``frames_sent`` among the sinks."""
        return min(sink.frames_sent for sink in self.sinks)

    @property
    def underruns(self) -> int:
        """Underruns of all the sinks together."""
        return sum(sink.underruns for sink in self.sinks)

    @property
    def gap_seconds(self) -> float:
        """Seconds of silence the sinks' gaps inserted, all together."""
        return sum(sink.gap_seconds for sink in self.sinks)

    def __repr__(self) -> str:
        return f"TeeSink({', '.join(map(repr, self.sinks))})"


async def _every(sinks: Iterable[Sink], method: Callable[[Sink], Awaitable[None]]) -> None:
    """Call ``method`` on every sink, shielded from cancellation; raise the first error after."""
    first: BaseException | None = None
    with anyio.CancelScope(shield=True):
        for sink in sinks:
            try:
                await method(sink)
            except Exception as exc:
                first = first or exc
    if first is not None:
        raise first
