"""A TTS server slower than real time: real speech sent in irregular bursts on a fixed schedule.

A server generating at ``speed`` x real time finishes each stretch of audio ``1 / speed``
seconds of wall time per second of audio after it started, and sends it then, in one burst of
several HTTP chunks (odd sizes) back to back. Between bursts the connection is idle. The
schedule is absolute (every burst is due at a fixed offset from the moment the request was
read) so a late wake-up on a busy machine does not slow the whole answer down: the average rate
is exactly ``speed``. Used by the real-audio test of the start policy and by
``benchmarks/bench_slow_server.py``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .httpfakes import streaming_wav
from .loopback import End, Request, Send, Sleep, Status, Step

#: HTTP chunk sizes inside a burst (bytes, cycled): odd, so samples are split across chunks.
PIECES = (1023, 777, 4095, 1, 2501)


@dataclass(frozen=True)
class Burst:
    """Audio ``[start, end)`` (in frames) sent at ``at`` seconds after the request was read."""

    at: float
    start: int
    end: int


@dataclass
class SlowSpeech:
    """The answer to one request: ``samples`` (int16 mono) at ``speed`` x real time.

    ``ttfb`` is when the WAV header (alone) goes out; the audio follows in bursts of
    ``burst_seconds`` (a range: each burst's length is drawn from it with ``seed``).
    """

    samples: npt.NDArray[np.int16]
    rate: int
    speed: float
    ttfb: float = 0.1
    burst_seconds: tuple[float, float] = (0.15, 0.9)
    seed: int = 13
    bursts: list[Burst] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        bursts: list[Burst] = []
        pos, total = 0, len(self.samples)
        lo, hi = self.burst_seconds
        while pos < total:
            end = min(total, pos + max(1, round(rng.uniform(lo, hi) * self.rate)))
            bursts.append(Burst(self.ttfb + end / self.rate / self.speed, pos, end))
            pos = end
        self.bursts = bursts

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return len(self.samples) / self.rate

    def min_start(self) -> float:
        """The earliest start (seconds after the request) that never runs dry on this schedule.

        Frame ``start`` of a burst arrives at ``at`` and plays ``start / rate`` seconds after
        playback starts, so the start must be at least ``at - start / rate`` for every burst.
        """
        return max(b.at - b.start / self.rate for b in self.bursts)

    def steps(self, request: Request, log: list[tuple[float, int]] | None = None) -> Iterator[Step]:
        """The response, paced from ``request.received_at``; ``log`` gets (sent at, frames)."""
        t0 = request.received_at
        data = self.samples.reshape(-1, 1)
        yield Status(200, {"Content-Type": "audio/wav"})
        yield Sleep(max(0.0, t0 + self.ttfb - time.monotonic()))
        yield Send(streaming_wav(data[:0], self.rate))  # the 44-byte header alone
        k = 0
        for burst in self.bursts:
            yield Sleep(max(0.0, t0 + burst.at - time.monotonic()))
            body = data[burst.start : burst.end].astype("<i2").tobytes()
            for piece in _pieces(body, PIECES, k):
                yield Send(piece)
                k += 1
            if log is not None:
                log.append((time.monotonic(), burst.end))
        yield End()


def _pieces(data: bytes, sizes: Sequence[int], k: int) -> Iterator[bytes]:
    i = 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        yield data[i : i + n]
        i += n
        k += 1


class SlowServerScript:
    """A :class:`~tests.loopback.LoopbackServer` script answering every request with ``speech``.

    The request's ``input`` is kept in :attr:`texts`; the send times of the bursts of the latest
    answer in :attr:`log` (monotonic seconds, frames sent so far).
    """

    def __init__(self, speech: SlowSpeech) -> None:
        self.speech = speech
        self.texts: list[str] = []
        self.log: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request, n: int) -> Iterator[Step]:
        body = request.json()
        text = body.get("input") if isinstance(body, dict) else None
        with self._lock:
            self.texts.append(str(text))
            self.log = []
            log = self.log
        return self.speech.steps(request, log)


@dataclass(frozen=True)
class Heard:
    """A recording compared with the source it should contain (see :func:`compare`)."""

    #: Every source sample was recorded, in order, and nothing but silence was added.
    exact: bool
    #: Recording index of the source's first sample (-1 when nothing was heard).
    first: int
    #: Lengths (frames) of the runs of silence inserted between source samples.
    gaps: list[int]


def compare(recording: npt.NDArray[np.int16], source: npt.NDArray[np.int16]) -> Heard:
    """Align ``recording`` with ``source`` sample by sample and find the silence inserted.

    ``source`` must contain no exact 0 (see :func:`no_zeros`): then every 0 between the first
    and the last recorded source sample is silence the player inserted, whatever pauses the
    speech itself has, and the other samples must be the source itself, in order.
    """
    src = np.asarray(source).ravel()
    rec = np.asarray(recording).ravel()
    assert not (src == 0).any(), "the source must contain no exact 0"
    nz = np.flatnonzero(rec)
    if len(nz) == 0:
        return Heard(False, -1, [])
    first, end = int(nz[0]), int(nz[-1]) + 1
    exact = len(nz) == len(src) and bool(np.array_equal(rec[nz], src))
    steps = np.diff(nz)
    gaps = [int(s) - 1 for s in steps[steps > 1]]
    assert end - first == len(nz) + sum(gaps)
    return Heard(exact, first, gaps)


def no_zeros(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """``samples`` with every exact 0 made 1 (inaudible): silence in a recording is then news."""
    out = np.array(samples, np.int16).ravel()
    out[out == 0] = 1
    return out
