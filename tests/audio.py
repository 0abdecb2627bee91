"""Helpers for real-audio tests: record a PulseAudio null sink, and find a signal in a recording."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ttsstream import AudioFormat
from ttsstream._play.sink import Sink

from .pulsed import parec_command

Int16 = npt.NDArray[np.int16]

#: Odd chunk sizes, like HTTP hands them out; cycled over the source.
ODD_CHUNKS = (1, 777, 3001, 5, 12345, 64, 2048, 333)


@dataclass
class Recording:
    """What ``parec`` captured from a sink monitor; ``samples`` is filled when recording stops."""

    path: Path
    samples: Int16 | None = None


@dataclass
class PulseServer:
    """A running private PulseAudio daemon (see the ``pulse`` fixture)."""

    runtime: Path
    sinks: dict[str, int]

    @contextmanager
    def record(self, sink: str = "ttsstream_test", *, tail: float = 0.15) -> Iterator[Recording]:
        """Record ``sink``'s monitor (s16le mono at the sink's rate) while the block runs.

        Recording starts before the block (the sink is running by then) and goes on ``tail``
        seconds after it, so whatever was played inside the block is in :attr:`Recording.samples`.
        """
        rate = self.sinks[sink]
        rec = Recording(self.runtime / f"rec-{time.monotonic_ns()}.raw")
        with rec.path.open("wb") as out:
            proc = subprocess.Popen(
                parec_command(sink, rate),
                stdout=out,
                stderr=subprocess.PIPE,
            )
        try:
            deadline = time.monotonic() + 10
            while rec.path.stat().st_size == 0:  # the monitor streams silence once connected
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"parec did not start recording: {err}")
                time.sleep(0.01)
            yield rec
            time.sleep(tail)
        finally:
            proc.terminate()
            proc.wait(timeout=5)
            if proc.stderr:
                proc.stderr.close()
        data = rec.path.read_bytes()
        rec.samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.int16)
        rec.path.unlink()


def noise(frames: int, *, seed: int = 0, level: float = 0.25) -> Int16:
    """White noise, never exactly zero: unambiguous to align, and silence never hides in it."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.standard_normal(frames) * level * 32767, -32767, 32767).astype(np.int16)
    x[x == 0] = 1
    return x.reshape(-1, 1)


def locate(haystack: npt.NDArray[np.generic], needle: npt.NDArray[np.generic]) -> int:
    """Offset in ``haystack`` where ``needle`` (1-D, shorter) matches best (cross-correlation)."""
    h = np.asarray(haystack, np.float64).ravel()
    n = np.asarray(needle, np.float64).ravel()
    size = 1 << int(np.ceil(np.log2(len(h) + len(n))))
    corr = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(n, size)), size)
    return int(np.argmax(corr[: len(h) - len(n) + 1]))


def chunked(
    samples: npt.NDArray[np.generic], sizes: Iterable[int] = ODD_CHUNKS
) -> Iterator[npt.NDArray[np.generic]]:
    """Split ``samples`` into consecutive pieces of the given sizes (cycled)."""
    sizes = tuple(sizes)
    i = k = 0
    while i < len(samples):
        n = sizes[k % len(sizes)]
        yield samples[i : i + n]
        i += n
        k += 1


async def play(sink: Sink, samples: npt.NDArray[np.generic], fmt: AudioFormat) -> None:
    """One utterance: open, write in odd-sized chunks, drain."""
    await sink.open(fmt)
    for piece in chunked(samples):
        await sink.write(piece)
    await sink.drain()


def nonsilent_span(samples: npt.NDArray[np.generic]) -> tuple[int, int]:
    """``(first, last + 1)`` of the non-zero samples; ``(0, 0)`` if all are zero."""
    nz = np.flatnonzero(samples)
    return (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)
