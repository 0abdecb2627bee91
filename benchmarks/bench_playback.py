"""Playback engine cost: CPU time of the audio callback per second of audio, and peak memory.

The DeviceSink runs against a stand-in PortAudio stream that calls its callback in a loop
(blocks of ``--block`` frames) while a producer feeds it a stream of PCM bytes through a
PcmDecoder, 4 KiB at a time, as an HTTP response would. Each callback is timed with
``time.thread_time`` (CPU, not wall time), so the figure is what the audio thread costs.
Peak memory (tracemalloc) is compared for a 1-minute and a 10-minute stream: the ring buffer is
fixed, so the peak must not grow with the length.

    python benchmarks/bench_playback.py [--minutes 10] [--device pulse --seconds 5]

With ``--device``, the same callback is also timed on a real device for ``--seconds`` of audio.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anyio
import numpy as np
from _common import IMG, audio_for, default_device, pyplot, save

from ttsstream import AudioFormat, DeviceSink, PcmDecoder

FORMAT = AudioFormat(24000, 1, "int16")
CHUNK = 4096


class _Status:
    output_underflow = False


class _ManualStream:
    """A RawOutputStream stand-in: the benchmark calls :meth:`tick` to run one callback."""

    def __init__(self, samplerate: float, channels: int, dtype: str, callback: Any, **_: Any):
        self.samplerate = samplerate
        self.latency = 0.1
        self.active = False
        self.time = 1.0
        self._callback = callback
        self._buf = bytearray(0)
        self._itemsize = np.dtype(dtype).itemsize * channels
        self.cpu = 0.0
        self.calls = 0

    def start(self) -> None:
        self.active = True

    def abort(self, ignore_errors: bool = True) -> None:
        self.active = False

    def close(self, ignore_errors: bool = True) -> None:
        self.active = False

    def tick(self, frames: int) -> None:
        if len(self._buf) != frames * self._itemsize:
            self._buf = bytearray(frames * self._itemsize)
        info = SimpleNamespace(currentTime=self.time, outputBufferDacTime=self.time + self.latency)
        start = time.thread_time()
        self._callback(self._buf, frames, info, _Status)
        self.cpu += time.thread_time() - start
        self.calls += 1
        self.time += frames / self.samplerate


class _Backend:
    """Enough of the sounddevice module for DeviceSink, with one output device."""

    class PortAudioError(Exception):
        pass

    default = SimpleNamespace(device=[0, 0])

    def __init__(self) -> None:
        self.stream: _ManualStream | None = None

    def query_devices(self) -> list[dict[str, Any]]:
        return [
            {"index": 0, "name": "bench", "hostapi": 0, "max_output_channels": 2,
             "default_samplerate": 24000.0}
        ]  # fmt: skip

    def query_hostapis(self) -> tuple[dict[str, Any], ...]:
        return ({"name": "bench"},)

    def check_output_settings(self, **_: Any) -> None:
        return None

    def RawOutputStream(self, **kwargs: Any) -> _ManualStream:
        self.stream = _ManualStream(**kwargs)
        return self.stream


def pcm_stream(seconds: float) -> Iterator[bytes]:
    """``seconds`` of 24 kHz s16le noise in 4 KiB pieces, made as it is consumed."""
    rng = np.random.default_rng(0)
    block = rng.integers(-8000, 8000, size=CHUNK // 2 * 16, dtype=np.int16).tobytes()
    total = int(seconds * FORMAT.sample_rate) * 2
    sent = 0
    while sent < total:
        n = min(CHUNK, total - sent)
        offset = sent % (len(block) - CHUNK)
        yield block[offset : offset + n]
        sent += n


async def play_synthetic(seconds: float, block: int, adaptive: bool = True) -> dict[str, float]:
    """Stream ``seconds`` of audio through a DeviceSink on the manual stream (with the adaptive
    start told the text's length, or with it off)."""
    backend = _Backend()
    sink = DeviceSink(backend=backend, buffer=0.5, prebuffer=0.0, adaptive_start=adaptive)
    decoder = PcmDecoder(FORMAT)
    wall = time.perf_counter()
    async with sink:
        sink.expect(chars=round(seconds * 15), key="bench")
        await sink.open(FORMAT)
        stream = backend.stream
        assert stream is not None
        engine = sink._engine
        assert engine is not None
        for data in pcm_stream(seconds):
            frames = decoder.feed(data)
            while sink._room(engine) - engine.ring.readable < len(frames):
                stream.tick(block)
            await sink.write(frames)
        while sink._engine.ring.readable:
            stream.tick(block)
        for _ in range(int(0.2 * FORMAT.sample_rate / block)):  # the DAC catches up
            stream.tick(block)
        await sink.drain()
    wall = time.perf_counter() - wall
    return {
        "audio_s": seconds,
        "callbacks": stream.calls,
        "callback_cpu_s": stream.cpu,
        "cpu_per_audio_s_pct": 100 * stream.cpu / seconds,
        "us_per_callback": 1e6 * stream.cpu / stream.calls,
        "wall_s": wall,
        "underruns": sink.underruns,
    }


def peak_memory(seconds: float, block: int) -> float:
    """Peak traced memory (MiB) while streaming ``seconds`` of audio."""
    gc.collect()
    tracemalloc.start()
    anyio.run(play_synthetic, seconds, block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


async def play_device(device: str, seconds: float) -> dict[str, float]:
    """Time the real callback on a real device while ``seconds`` of audio play."""
    sink = DeviceSink(device)
    cpu = [0.0, 0]

    def timed(original: Callable[..., None]) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            start = time.thread_time()
            original(*args)
            cpu[0] += time.thread_time() - start
            cpu[1] += 1

        return callback

    sink._callback = timed(sink._callback)  # type: ignore[method-assign]
    decoder = PcmDecoder(FORMAT)
    async with sink:
        await sink.open(FORMAT)
        for data in pcm_stream(seconds):
            await sink.write(decoder.feed(data))
        await sink.drain()
    return {
        "audio_s": seconds,
        "callbacks": cpu[1],
        "callback_cpu_s": cpu[0],
        "cpu_per_audio_s_pct": 100 * cpu[0] / seconds,
        "us_per_callback": 1e6 * cpu[0] / max(1, int(cpu[1])),
        "underruns": sink.underruns,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--block", type=int, default=240, help="frames per callback")
    parser.add_argument("--device", default=default_device(), help="default: pulse if installed")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=IMG / "bench_playback.png")
    args = parser.parse_args()

    cpu = anyio.run(play_synthetic, args.minutes * 60, args.block)
    fixed = anyio.run(play_synthetic, args.minutes * 60, args.block, False)
    short_peak = peak_memory(60.0, args.block)
    long_peak = peak_memory(args.minutes * 60, args.block)
    results: dict[str, Any] = {"synthetic": cpu, "peak_mib_1min": short_peak}
    results["synthetic_fixed_start"] = fixed
    results[f"peak_mib_{args.minutes:g}min"] = long_peak

    print(f"audio callback, 24 kHz int16 mono, {args.block}-frame blocks")
    print(f"{'stream':<12} {'audio s':>8} {'callbacks':>10} {'µs/call':>8} {'CPU % of 1 core':>16}")
    for name, row in (("synthetic", cpu), ("fixed start", fixed)):
        print(
            f"{name:<12} {row['audio_s']:8.0f} {row['callbacks']:10.0f} "
            f"{row['us_per_callback']:8.2f} {row['cpu_per_audio_s_pct']:16.3f}"
            f"   (wall {row['wall_s']:.1f} s, producer included)"
        )
    if args.device:
        with audio_for(args.device):
            real = anyio.run(play_device, args.device, args.seconds)
        results["device"] = real
        print(
            f"{args.device:<12} {real['audio_s']:8.0f} {real['callbacks']:10.0f} "
            f"{real['us_per_callback']:8.2f} {real['cpu_per_audio_s_pct']:16.3f}"
        )
    print()
    print("peak traced memory while streaming (the ring is fixed: must not grow with length)")
    print(f"  1 min of audio: {short_peak:6.2f} MiB")
    print(
        f"{args.minutes:3g} min of audio: {long_peak:6.2f} MiB"
        f"  (ratio {long_peak / short_peak:.2f})"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    plt = pyplot()
    if plt is not None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
        labels, values = ["synthetic"], [cpu["cpu_per_audio_s_pct"]]
        if "device" in results:
            labels.append(str(args.device))
            values.append(results["device"]["cpu_per_audio_s_pct"])
        left.bar(labels, values, color="#2a7")
        left.set_ylabel("audio callback CPU, % of one core")
        right.bar(["1 min", f"{args.minutes:g} min"], [short_peak, long_peak], color="#27a")
        right.set_ylabel("peak traced memory (MiB)")
        save(fig, args.plot)


if __name__ == "__main__":
    main()
