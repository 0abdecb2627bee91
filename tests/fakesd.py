"""A stand-in for the sounddevice module: fake devices and a fake RawOutputStream.

The fake stream calls the sink's callback from a thread (or when a test calls ``tick()``), with
a fake clock: each block advances the stream time by its duration, and the block's first sample
reaches the "DAC" ``latency`` seconds after the callback. Output buffers start out as garbage
(like PortAudio's uninitialised memory), and everything the callback writes is kept.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

GARBAGE = 0x5A  # what an output buffer holds before the callback fills it


class FakePortAudioError(Exception):
    """Like sounddevice.PortAudioError."""


@dataclass
class Flags:
    output_underflow: bool = False


@dataclass
class Block:
    """One callback: when it ran, when its first sample plays, and what it wrote."""

    time: float
    dac: float
    data: npt.NDArray[np.generic]


@dataclass
class FakeStream:
    backend: FakeSoundDevice
    samplerate: float
    blocksize: int
    device: int
    channels: int
    dtype: str
    latency: float
    callback: Callable[..., None]
    active: bool = False
    closed: bool = False
    clock: float = 100.0
    blocks: list[Block] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _sizes: Any = None

    def __post_init__(self) -> None:
        self._sizes = itertools.cycle(self.backend.block_sizes)
        self.samplerate = float(self.samplerate)

    @property
    def time(self) -> float:
        if self.closed:
            raise FakePortAudioError("stream closed")
        return self.clock

    def start(self) -> None:
        self.active = True
        if self.backend.autorun:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def abort(self, ignore_errors: bool = True) -> None:
        self.active = False
        self._join()

    def close(self, ignore_errors: bool = True) -> None:
        self.active = False
        self._join()
        self.closed = True

    def _join(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while self.active and not self.backend.stalled:
            self.tick()
            time.sleep(self.backend.tick_sleep)
        while self.active and self.backend.stalled:
            time.sleep(0.001)  # a hung device: active, but no more callbacks

    def tick(self, frames: int | None = None, *, lead: float | None = None) -> Block:
        """Run one callback of ``frames`` frames (default: the next of ``block_sizes``).

        The block reaches the DAC ``lead`` seconds from now (default: the stream latency; less
        while a real device is filling its buffer just after starting).
        """
        n = frames if frames is not None else next(self._sizes)
        size = np.dtype(self.dtype).itemsize * self.channels * n
        buf = bytearray([GARBAGE]) * size
        now = self.clock
        ahead = self.latency if lead is None else lead
        info = SimpleNamespace(currentTime=now, outputBufferDacTime=now + ahead)
        self.callback(buf, n, info, Flags(self.backend.underflow_flag))
        block = Block(
            now,
            now + ahead,
            np.frombuffer(bytes(buf), self.dtype).reshape(-1, self.channels),
        )
        self.blocks.append(block)
        self.clock = now + n / self.samplerate
        return block

    def output(self) -> npt.NDArray[np.generic]:
        """Everything the callback wrote, as one ``(frames, channels)`` array."""
        blocks = list(self.blocks)
        if not blocks:
            return np.empty((0, self.channels), self.dtype)
        return np.concatenate([b.data for b in blocks])


def device(index: int, name: str, *, outputs: int = 2, rate: float = 48000.0) -> dict[str, Any]:
    return {
        "index": index,
        "name": name,
        "hostapi": 0,
        "max_input_channels": 2,
        "max_output_channels": outputs,
        "default_samplerate": rate,
    }


DEFAULT_DEVICES = (
    device(0, "HDA Intel PCH: ALC257 Analog (hw:0,0)", rate=48000.0),
    device(1, "Mic only", outputs=0),
    device(2, "pulse", outputs=32, rate=44100.0),
    device(3, "default", outputs=32, rate=44100.0),
)


class FakeSoundDevice:
    """Enough of the sounddevice module for DeviceSink."""

    PortAudioError = FakePortAudioError

    def __init__(
        self,
        devices: Sequence[dict[str, Any]] = DEFAULT_DEVICES,
        *,
        default_output: int = 3,
        accept: Callable[[int, int, str, float], bool] | None = None,
        block_sizes: Sequence[int] = (240,),
        autorun: bool = True,
        tick_sleep: float = 0.0005,
    ) -> None:
        self.devices = list(devices)
        self.default = SimpleNamespace(device=[default_output, default_output])
        self.accept = accept or (lambda dev, ch, dtype, rate: True)
        self.block_sizes = tuple(block_sizes)
        self.autorun = autorun
        self.tick_sleep = tick_sleep
        self.stalled = False
        self.underflow_flag = False
        self.streams: list[FakeStream] = []
        self.checks: list[tuple[int, int, str, float]] = []

    def query_devices(self) -> list[dict[str, Any]]:
        return list(self.devices)

    def query_hostapis(self) -> tuple[dict[str, Any], ...]:
        return ({"name": "ALSA"},)

    def check_output_settings(
        self, device: int, channels: int, dtype: str, samplerate: float
    ) -> None:
        self.checks.append((device, channels, dtype, samplerate))
        if not self.accept(device, channels, dtype, samplerate):
            raise FakePortAudioError("Invalid sample rate", -9997)

    def RawOutputStream(self, **kwargs: Any) -> FakeStream:
        stream = FakeStream(self, **kwargs)
        self.streams.append(stream)
        return stream

    @property
    def stream(self) -> FakeStream:
        """The latest stream opened."""
        return self.streams[-1]
