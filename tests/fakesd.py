"""A stand-in for the sounddevice module: fake devices and a fake RawOutputStream.

The fake stream has no thread: it calls the sink's callback when a test calls ``tick()``, or,
with ``auto_tick`` (the default), once each time the sink looks at ``stream.active`` (which
DeviceSink does before each of its waits), so the device keeps pace with the sink's own polling
whatever the machine's load. The clock is fake: each block advances the stream time by its
duration, and the block's first sample reaches the "DAC" ``latency`` seconds after the callback.
Output buffers start out as garbage (like PortAudio's uninitialised memory), and everything the
callback writes is kept.
"""

from __future__ import annotations

import itertools
import threading
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
    started: bool = False
    closed: bool = False
    clock: float = 100.0
    blocks: list[Block] = field(default_factory=list)
    _sizes: Any = None

    def __post_init__(self) -> None:
        self._sizes = itertools.cycle(self.backend.block_sizes)
        self.samplerate = float(self.samplerate)

    @property
    def time(self) -> float:
        if self.closed:
            raise FakePortAudioError("stream closed")
        return self.clock

    @property
    def active(self) -> bool:
        """Started and not stopped; with ``auto_tick``, each look runs one callback first."""
        backend = self.backend
        if self.started and backend.auto_tick and not backend.stalled:
            self.tick()
        return self.started and not backend.dead

    @active.setter
    def active(self, value: bool) -> None:
        self.started = value

    def start(self) -> None:
        self.backend.calls.append("start")
        self.backend.block_if_wedged()
        self.started = True

    def abort(self, ignore_errors: bool = True) -> None:
        self.backend.calls.append("abort")
        self.backend.block_if_wedged()
        self.started = False

    def close(self, ignore_errors: bool = True) -> None:
        self.backend.calls.append("close")
        self.backend.block_if_wedged()
        self.started = False
        self.closed = True

    def tick(
        self, frames: int | None = None, *, lead: float | None = None, advance: bool = True
    ) -> Block:
        """Run one callback of ``frames`` frames (default: the next of ``block_sizes``).

        The block reaches the DAC ``lead`` seconds from now (default: the stream latency; less
        while a real device is filling its buffer just after starting). The clock then moves on
        by the block's duration, unless ``advance`` is false (the callbacks of a start-up burst
        come back to back, with the DAC time growing and the clock standing still).
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
        if advance:
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
        auto_tick: bool = True,
    ) -> None:
        self.devices = list(devices)
        self.default = SimpleNamespace(device=[default_output, default_output])
        self.accept = accept or (lambda dev, ch, dtype, rate: True)
        self.block_sizes = tuple(block_sizes)
        self.auto_tick = auto_tick
        #: The device stopped calling back, but still says it is active (a hung server).
        self.stalled = False
        #: The device is gone: streams report inactive (a killed server, an unplugged headset).
        self.dead = False
        #: Stream calls (start, abort, close) block until :meth:`unwedge`, like PortAudio's on a
        #: hung sound server.
        self.wedged = False
        self._unwedged = threading.Event()
        self.calls: list[str] = []
        self.underflow_flag = False
        self.streams: list[FakeStream] = []
        self.checks: list[tuple[int, int, str, float]] = []

    def wedge(self) -> None:
        self.wedged = True
        self._unwedged.clear()

    def unwedge(self) -> None:
        self.wedged = False
        self._unwedged.set()

    def block_if_wedged(self) -> None:
        if self.wedged:
            self._unwedged.wait(30)

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
