"""How many 24 kHz streams one process decodes at real time.

``N`` concurrent :func:`ttsstream.stream` calls, each through the full client path (request,
HTTP response, WAV decoder, :class:`~ttsstream.AudioChunk`) over an ``httpx.MockTransport``
whose bodies are paced at real time (4 KiB = 85 ms of 24 kHz s16 audio per chunk), each chunk
counted into a MemorySink-like counter. A stream keeps up when every chunk is decoded soon
after it was due; the table gives the lateness (p50/p99/max over all chunks of all streams),
the audio delivered, and the share of one core used. The plot shows lateness against ``N``.

    python benchmarks/bench_concurrency.py [--streams 100 250 500 1000 1500] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
from _common import IMG, pyplot, save

import ttsstream

RATE = 24000
CHUNK = 4096
CHUNK_SECONDS = CHUNK / 2 / RATE
#: A stream is "real time" when its chunks are never later than this (a device buffer covers it).
LATE_LIMIT = 0.1


def wav_body(seconds: float) -> bytes:
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(int(seconds * RATE)) * 3000).astype("<i2").tobytes()
    size = 0xFFFFFFFF
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", size, b"WAVE", b"fmt ", 16, 1, 1, RATE, RATE * 2, 2, 16, b"data", size),
    )
    return header + pcm


class PacedBody(httpx.AsyncByteStream):
    """The response body: one 4 KiB chunk every 85 ms from ``start``, as a service streams."""

    def __init__(self, data: bytes, start: float) -> None:
        self.data = data
        self.start = start

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # The header goes with the first chunk, so chunk k carries audio up to (k+1)*85 ms.
        first = 44 + CHUNK
        yield self.data[:first]
        k = 1
        for i in range(first, len(self.data), CHUNK):
            due = self.start + k * CHUNK_SECONDS
            delay = due - time.monotonic()
            if delay > 0:
                await anyio.sleep(delay)
            yield self.data[i : i + CHUNK]
            k += 1


async def trial(streams: int, seconds: float) -> dict[str, Any]:
    data = wav_body(seconds)
    start = time.monotonic() + 0.5 + streams * 0.0005  # every stream set up before the first due

    # Streams start spread over one chunk period, as independent requests would.
    starts = [start + CHUNK_SECONDS * i / streams for i in range(streams)]

    async def handler(request: httpx.Request) -> httpx.Response:
        i = int(request.headers["x-stream"])
        return httpx.Response(
            200, headers={"Content-Type": "audio/wav"}, stream=PacedBody(data, starts[i])
        )

    lateness: list[float] = []
    frames = [0] * streams
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:

        async def one(i: int) -> None:
            provider = ttsstream.OpenAI(
                api_key="sk-bench", client=client, extra_headers={"x-stream": str(i)}
            )
            async with ttsstream.stream("Hello.", provider=provider) as audio:
                async for chunk in audio:
                    frames[i] += chunk.frames  # the MemorySink-like counter
                    # Chunk k (from 0) carries frames up to (k + 1) * 2048 and is due k * 85 ms.
                    k = -(-frames[i] // (CHUNK // 2)) - 1
                    due = starts[i] + k * CHUNK_SECONDS
                    lateness.append(time.monotonic() - due)

        cpu0, wall0 = time.process_time(), time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(streams):
                tg.start_soon(one, i)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    late = sorted(lateness)
    expected = int(seconds * RATE)
    return {
        "streams": streams,
        "audio_complete": all(f == expected for f in frames),
        "late_p50_ms": 1000 * statistics.median(late),
        "late_p99_ms": 1000 * late[int(0.99 * (len(late) - 1))],
        "late_max_ms": 1000 * late[-1],
        "cpu_share": cpu / wall,
        "real_time": all(f == expected for f in frames) and late[-1] <= LATE_LIMIT,
    }


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    n = [r["streams"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(n, [r["late_p99_ms"] for r in rows], "o-", label="p99 lateness")
    ax.plot(n, [r["late_max_ms"] for r in rows], "s--", label="max lateness")
    ax.axhline(LATE_LIMIT * 1000, color="#c33", lw=1, label=f"{LATE_LIMIT * 1000:.0f} ms")
    ax.set_xlabel("concurrent 24 kHz streams in one process")
    ax.set_ylabel("chunk decoded after due (ms)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="*", default=[100, 250, 500, 750, 1000, 1500])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=IMG / "bench_concurrency.png")
    args = parser.parse_args()
    rows = []
    print(
        f"{'streams':>7} {'complete':>8} {'late p50':>9} {'late p99':>9} {'late max':>9} "
        f"{'CPU':>5} {'real time':>9}"
    )
    for n in args.streams:
        r = anyio.run(trial, n, args.seconds)
        rows.append(r)
        print(
            f"{n:>7} {('yes' if r['audio_complete'] else 'NO'):>8} {r['late_p50_ms']:7.1f}ms "
            f"{r['late_p99_ms']:7.1f}ms {r['late_max_ms']:7.1f}ms {r['cpu_share']:5.0%} "
            f"{('yes' if r['real_time'] else 'no'):>9}",
            flush=True,
        )
    best = max((r["streams"] for r in rows if r["real_time"]), default=0)
    print(f"\nmost streams at real time (every chunk within {LATE_LIMIT * 1000:.0f} ms): {best}")
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, args.plot)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
