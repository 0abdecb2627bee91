"""Fake providers and sinks for Speaker tests: no network, no sound card."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

import anyio
import numpy as np

from ttsstream import AudioChunk, AudioFormat, Provider, Sink, StreamStats, TTSStreamError
from ttsstream._play.sink import Samples

FMT = AudioFormat(8000, 1, "int16")
FRAMES_PER_CHAR = 80  # 10 ms of audio per character


def audio_for(text: str, index: int = 0) -> np.ndarray:
    """The samples FakeProvider returns for ``text``: distinct per text, never silent."""
    n = len(text) * FRAMES_PER_CHAR
    seed = sum(map(ord, text)) + index
    return (np.arange(n, dtype=np.int64) * 7 + seed * 131).astype(np.int16).reshape(-1, 1) | 1


@dataclass
class FakeRequest:
    text: str
    started: float
    finished: float | None = None
    closed_early: bool = False


@dataclass
class FakeProvider(Provider):
    """Synthesizes deterministic audio, ``chunk_frames`` at a time, ``delay`` s apart."""

    chunk_frames: int = 400
    delay: float = 0.0
    first_delay: float = 0.0
    fail: dict[str, int] = field(default_factory=dict)  # text -> fail after this many chunks
    requests: list[FakeRequest] = field(default_factory=list)
    name: str = "fake"
    max_input_chars: int = 1000

    async def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        request = FakeRequest(text, time.monotonic())
        self.requests.append(request)
        samples = audio_for(text)
        try:
            if stats is not None:
                stats.request_sent = time.monotonic()
            if self.first_delay:
                await anyio.sleep(self.first_delay)
            for k, i in enumerate(range(0, len(samples), self.chunk_frames)):
                if text in self.fail and k == self.fail[text]:
                    raise TTSStreamError(f"fake failure in {text!r}")
                if k and self.delay:
                    await anyio.sleep(self.delay)
                if stats is not None and stats.first_byte is None:
                    stats.first_byte = time.monotonic()
                yield AudioChunk(samples[i : i + self.chunk_frames], FMT)
            request.finished = time.monotonic()
        finally:
            if request.finished is None:
                request.closed_early = True


class ClockSink(Sink):
    """Plays at ``speed`` times real time on a simulated clock; records what was 'heard'.

    Like a device, it counts an underrun (a gap) each time an utterance that has started
    playing runs dry before ``drain()``, and the seconds of audio time the gaps last.
    """

    realtime = True

    def __init__(self, speed: float = 10.0, capacity: int | None = None) -> None:
        self.speed = speed
        self.capacity = capacity
        self.format: AudioFormat | None = None
        self.buffer = np.empty((0, 1), np.int16)
        self.heard: list[np.ndarray] = []
        self.calls: list[str] = []
        self._played = 0
        self._last: float | None = None
        self._paused = False
        self._draining = False
        self._dry = False  # in a gap: ran dry mid-utterance, nothing played since
        self.underrun_count = 0
        self.gap_total = 0.0

    def _advance(self) -> None:
        now = time.monotonic()
        if self.format is None or self._last is None:
            self._last = now
            return
        if not self._paused:
            n = int((now - self._last) * self.format.sample_rate * self.speed)
            play = min(n, max(0, self.buffer.shape[0] - self._played))
            if play > 0:
                self._dry = False
                self.heard.append(self.buffer[self._played : self._played + play].copy())
                self._played += play
            if n > play and self._played and not self._draining:
                # Started and not finished, and nothing to play: the listener hears a gap,
                # and the time is lost to silence (a device does not catch up afterwards).
                if not self._dry:
                    self.underrun_count += 1
                    self._dry = True
                self.gap_total += self.format.duration(n - play)
            elif play <= 0:
                return  # keep the fractional time for the next call
        self._last = now

    async def open(self, format: AudioFormat) -> None:
        self.calls.append("open")
        self.format = format
        self.buffer = np.empty((0, format.channels), np.int16)
        self._played = 0
        self._draining = self._dry = False
        self._last = time.monotonic()

    async def write(self, samples: Samples) -> None:
        while self.capacity is not None and self.buffer.shape[0] - self._played >= self.capacity:
            await anyio.sleep(0.002)
            self._advance()
        self._advance()
        self.buffer = np.concatenate([self.buffer, samples])

    async def drain(self) -> None:
        self.calls.append("drain")
        self._advance()
        self._draining = True
        while True:
            self._advance()
            if self._played >= self.buffer.shape[0]:
                return
            await anyio.sleep(0.002)

    async def abort(self) -> None:
        self.calls.append("abort")
        self._advance()
        self._draining = True
        self.buffer = self.buffer[: self._played]

    async def aclose(self) -> None:
        self.calls.append("aclose")

    def set_paused(self, paused: bool) -> None:
        self._advance()
        self._paused = paused
        self.calls.append("pause" if paused else "resume")

    @property
    def frames_played(self) -> int:
        self._advance()
        return self._played

    @property
    def underruns(self) -> int:
        return self.underrun_count

    @property
    def gap_seconds(self) -> float:
        return self.gap_total

    def heard_audio(self) -> np.ndarray:
        return np.concatenate(self.heard) if self.heard else np.empty((0, 1), np.int16)
