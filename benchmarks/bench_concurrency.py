"""How many 24 kHz streams one process receives and decodes at real time.

``N`` concurrent :func:`ttsstream.stream` calls, each through the full client path (request,
HTTP response, WAV decoder, :class:`~ttsstream.AudioChunk`), each body paced at real time
(4 KiB = 85.3 ms of 24 kHz 16-bit audio per chunk, on an absolute schedule per stream, the
streams' starts spread over one period), each chunk counted into a MemorySink-like counter.
Two transports, reported side by side:

* ``tcp``: real loopback TCP. The server is another process (``_paced_server.py``: one asyncio
  loop, a timer per chunk, framed chunks prepared once) so it never competes with the client's
  event loop; its CPU and how late its own timers fired are reported, to show it is not the
  bottleneck. All streams share one provider inside ``async with`` (one connection pool, sized
  with ``max_connections=``), as an application serving many listeners would.
* ``mock``: ``httpx.MockTransport`` in the same process: ttsstream and httpx without sockets.

A stream keeps up when every chunk reaches the sink soon after the server's schedule made it
due; the table gives the lateness (p50/p99/max over all chunks of all streams), whether all
audio arrived, and the CPU used (share of one core) by the client and by the server.

    python benchmarks/bench_concurrency.py [--streams 100 150 250 500 750] [--seconds 4]
        [--transport tcp mock] [--loop asyncio]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
from _common import IMG, pyplot, save
from _paced_server import CHUNK, CHUNK_SECONDS, RATE, wav_body

import ttsstream

#: A stream is "real time" when its chunks are never later than this (a device buffer covers it).
LATE_LIMIT = 0.1


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


class Lateness:
    """Chunk arrival against the schedule: chunk ``k`` of stream ``i`` is due at
    ``starts[i] + k * 85.3 ms`` and carries frames up to ``(k + 1) * 2048``."""

    def __init__(self, starts: list[float]) -> None:
        self.starts = starts
        self.frames = [0] * len(starts)
        self.late: list[float] = []

    def arrived(self, i: int, frames: int) -> None:
        self.frames[i] += frames  # the MemorySink-like counter
        k = -(-self.frames[i] // (CHUNK // 2)) - 1
        self.late.append(time.monotonic() - (self.starts[i] + k * CHUNK_SECONDS))

    def row(self, streams: int, seconds: float, cpu: float, wall: float) -> dict[str, Any]:
        late = sorted(self.late) or [float("inf")]
        complete = all(f == int(seconds * RATE) for f in self.frames)
        return {
            "streams": streams,
            "audio_complete": complete,
            "late_p50_ms": 1000 * statistics.median(late),
            "late_p99_ms": 1000 * late[int(0.99 * (len(late) - 1))],
            "late_max_ms": 1000 * late[-1],
            "cpu_share": cpu / wall,
            "real_time": complete and late[int(0.99 * (len(late) - 1))] <= LATE_LIMIT,
        }


def schedule(streams: int) -> list[float]:
    """Each stream's first due time: after every stream was set up, spread over one period."""
    start = time.monotonic() + 1.0 + streams * 0.002
    return [start + CHUNK_SECONDS * i / streams for i in range(streams)]


async def trial_mock(streams: int, seconds: float) -> dict[str, Any]:
    data = wav_body(seconds)
    starts = schedule(streams)

    async def handler(request: httpx.Request) -> httpx.Response:
        i = int(request.headers["x-stream"])
        return httpx.Response(
            200, headers={"Content-Type": "audio/wav"}, stream=PacedBody(data, starts[i])
        )

    sched = Lateness(starts)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:

        async def one(i: int) -> None:
            provider = ttsstream.OpenAI(
                api_key="sk-bench", client=client, extra_headers={"x-stream": str(i)}
            )
            async with ttsstream.stream("Hello.", provider=provider) as audio:
                async for chunk in audio:
                    sched.arrived(i, chunk.frames)

        cpu0, wall0 = time.process_time(), time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(streams):
                tg.start_soon(one, i)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return sched.row(streams, seconds, cpu, wall)


async def server_stats(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    response = await client.get(f"{url}/stats")
    stats: dict[str, float] = response.json()
    return stats


async def trial_tcp(streams: int, seconds: float, url: str) -> dict[str, Any]:
    starts = schedule(streams)
    sched = Lateness(starts)
    provider = ttsstream.OpenAI(api_key="sk-bench", base_url=url, max_connections=streams)
    async with provider, httpx.AsyncClient() as control:
        before = await server_stats(control, url)

        async def one(i: int) -> None:
            text = f"start={starts[i]:.6f} seconds={seconds}"  # the server's schedule
            async with ttsstream.stream(text, provider=provider) as audio:
                async for chunk in audio:
                    sched.arrived(i, chunk.frames)

        cpu0, wall0 = time.process_time(), time.monotonic()
        async with anyio.create_task_group() as tg:
            for i in range(streams):
                tg.start_soon(one, i)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        after = await server_stats(control, url)
    row = sched.row(streams, seconds, cpu, wall)
    row["server_cpu_share"] = (after["cpu"] - before["cpu"]) / wall
    row["server_timer_late_p99_ms"] = 1000 * after["timer_late_p99"]
    row["server_timer_late_max_ms"] = 1000 * after["timer_late_max"]
    return row


class PacedServer:
    """``_paced_server.py`` in its own process; stops when its stdin closes."""

    def __enter__(self) -> str:
        script = Path(__file__).with_name("_paced_server.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"the paced server did not start: {line!r}")
        return f"http://127.0.0.1:{int(line.split()[1])}"

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for transport, style in (("tcp", "o-"), ("mock", "s--")):
        mine = [r for r in rows if r["transport"] == transport]
        if mine:
            label = "loopback TCP" if transport == "tcp" else "MockTransport"
            n = [r["streams"] for r in mine]
            ax.plot(n, [r["late_p99_ms"] for r in mine], style, label=f"p99, {label}")
    ax.axhline(LATE_LIMIT * 1000, color="#c33", lw=1, label=f"{LATE_LIMIT * 1000:.0f} ms")
    ax.set_xlabel("concurrent 24 kHz streams in one process")
    ax.set_ylabel("chunk arrival after due (ms)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    save(fig, path)


def run(transport: str, streams: int, seconds: float, url: str, loop: str) -> dict[str, Any]:
    backend = "trio" if loop == "trio" else "asyncio"
    options = {"use_uvloop": True} if loop == "uvloop" else {}
    if transport == "tcp":
        row = anyio.run(trial_tcp, streams, seconds, url, backend=backend, backend_options=options)
    else:
        row = anyio.run(trial_mock, streams, seconds, backend=backend, backend_options=options)
    row["transport"] = transport
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, nargs="*", default=[100, 150, 250, 500, 750])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--transport", nargs="*", choices=["tcp", "mock"], default=["tcp", "mock"])
    parser.add_argument("--loop", choices=["asyncio", "uvloop", "trio"], default="asyncio")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=IMG / "bench_concurrency.png")
    args = parser.parse_args()
    rows = []
    print(
        f"{'transport':<9} {'streams':>7} {'complete':>8} {'late p50':>9} {'late p99':>9} "
        f"{'late max':>9} {'client CPU':>10} {'server CPU':>10} {'server timers p99/max':>21}"
    )
    with PacedServer() as url:
        for n in args.streams:
            for transport in args.transport:
                r = run(transport, n, args.seconds, url, args.loop)
                rows.append(r)
                server = (
                    f"{r['server_cpu_share']:10.0%} {r['server_timer_late_p99_ms']:9.1f}ms/"
                    f"{r['server_timer_late_max_ms']:.1f}ms"
                    if transport == "tcp"
                    else f"{'(same)':>10}"
                )
                print(
                    f"{transport:<9} {n:>7} {('yes' if r['audio_complete'] else 'NO'):>8} "
                    f"{r['late_p50_ms']:7.1f}ms {r['late_p99_ms']:7.1f}ms "
                    f"{r['late_max_ms']:7.1f}ms {r['cpu_share']:10.0%} {server}",
                    flush=True,
                )
    for transport in args.transport:
        best = max(
            (r["streams"] for r in rows if r["real_time"] and r["transport"] == transport),
            default=0,
        )
        print(
            f"{transport}: most streams at real time (all audio, p99 within "
            f"{LATE_LIMIT * 1000:.0f} ms): {best}"
        )
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, args.plot)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
