"""Speaker on a real device: gaps between streamed sentences, and how fast interrupt() is heard.

A loopback server plays a TTS service (first byte after ``--ttfb`` s, then 2x real time, odd
chunks; each sentence's audio is noise that is never 0, so any 0 in the recording is a gap).
Playback goes through PortAudio into a private PulseAudio null sink whose monitor is recorded
with the arrival time of every block.

* **Gaps**: ``say_stream()`` speaks six sentences streamed like LLM deltas; the gaps between
  them are the runs of silence in the recording. Side by side: the same sentences said one
  after the other with ``await speaker.say(s)``, so each request starts only once the previous
  sentence has been heard, as most libraries do.
* **Interrupt**: a 3-second utterance is interrupted at a random moment; the latency is from
  the ``interrupt()`` call to the last non-silent sample reaching the sink monitor (this
  includes the device's output latency, ~50 ms by default, and the 5 ms fade).

    python benchmarks/bench_speaker.py [--runs 5] [--ttfb 0.15]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
from _common import IMG, pyplot, save
from _recorder import Recorder

import ttsstream

RATE = 24000
SENTENCES = [
    "The weather today is mild and sunny.",
    "Tomorrow brings a little rain in the morning.",
    "By the afternoon the clouds clear again.",
    "The weekend looks warm and dry.",
    "Winds stay light from the west.",
    "That is all for now.",
]


def audio_of(text: str, seconds: float) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    x = np.clip(rng.standard_normal(int(RATE * seconds)) * 6000, -32767, 32767).astype(np.int16)
    x[x == 0] = 1
    return x.reshape(-1, 1)


async def llm(text: str) -> AsyncIterator[str]:
    """Deltas of a few characters, 60 per second: a typical LLM pace."""
    for i in range(0, len(text), 4):
        yield text[i : i + 4]
        await anyio.sleep(1 / 60)


def zero_runs(samples: npt.NDArray[np.int16]) -> list[int]:
    """Lengths of the runs of 0 between the first and the last non-zero sample."""
    nz = np.flatnonzero(samples)
    if len(nz) < 2:
        return []
    steps = np.diff(nz)
    return [int(s - 1) for s in steps if s > 1]


@contextlib.asynccontextmanager
async def recorded_speaker(
    url: str, recording: dict[str, Any]
) -> AsyncIterator[tuple[ttsstream.Speaker, ttsstream.DeviceSink]]:
    """A Speaker on the ``pulse`` device while the sink is recorded; fills ``recording``."""
    provider = ttsstream.OpenAI(api_key="sk-bench", base_url=url)
    sink = ttsstream.DeviceSink("pulse")
    recorder = Recorder()
    await anyio.sleep(0.3)
    try:
        async with ttsstream.Speaker(provider, sink=sink) as speaker:
            yield speaker, sink
    finally:
        await sink.aclose()
        await anyio.sleep(0.3)
        recording["samples"], recording["times"] = recorder.stop()


async def gaps_once(url: str, streamed: bool) -> list[float]:
    recording: dict[str, Any] = {}
    async with recorded_speaker(url, recording) as (speaker, _):
        if streamed:
            await speaker.say_stream(llm(" ".join(SENTENCES)))
        else:
            for sentence in SENTENCES:
                await speaker.say(sentence)
    # Between sentences only: the stream starts and ends in silence anyway.
    return [1000 * n / RATE for n in zero_runs(recording["samples"])]


async def interrupt_once(url: str, rng: random.Random) -> float:
    recording: dict[str, Any] = {}
    async with recorded_speaker(url, recording) as (speaker, sink):
        speaker.enqueue("A long sentence that will be cut off somewhere in the middle.")
        while sink.frames_played == 0:  # noqa: ASYNC110 - polls the device clock
            await anyio.sleep(0.005)
        await anyio.sleep(rng.uniform(0.3, 1.5))
        called = time.monotonic()
        await speaker.stop()
    last = int(np.flatnonzero(recording["samples"])[-1])
    return 1000 * (float(recording["times"][last]) - called)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ttfb", type=float, default=0.15)
    parser.add_argument("--seconds", type=float, default=1.2, help="audio per sentence")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=IMG / "bench_speaker.png")
    args = parser.parse_args()

    from tests.httpfakes import streaming_wav
    from tests.loopback import LoopbackServer, Request, Step, audio_response
    from tests.pulsed import private_pulse

    pace = (1023 + 777 + 1) / 3 / 2 / RATE / 2  # 2x real time

    def script(request: Request, n: int) -> list[Step]:
        body = request.json()
        text = body["input"] if isinstance(body, dict) else ""
        payload = streaming_wav(audio_of(str(text), args.seconds))
        long = str(text).startswith("A long sentence")
        if long:
            payload = streaming_wav(audio_of(str(text), 3.0))
        return audio_response(payload, (1023, 777, 1), pace=pace, first_byte_delay=args.ttfb)

    results: dict[str, Any] = {}
    rng = random.Random(7)
    with private_pulse(), LoopbackServer(script) as server:
        import sounddevice  # noqa: F401 - PortAudio lists devices now, with the daemon up

        for mode in ("streamed", "sequential"):
            gaps: list[float] = []
            for _ in range(args.runs):
                gaps += anyio.run(gaps_once, server.url, mode == "streamed")
            results[f"gaps_{mode}"] = gaps
        latencies = [anyio.run(interrupt_once, server.url, rng) for _ in range(args.runs * 2)]
        results["interrupt_ms"] = latencies

    print(
        f"\nServer: first byte after {args.ttfb:.2f} s, then 2x real time; six sentences of "
        f"{args.seconds:g} s streamed at LLM pace; {args.runs} runs\n"
    )
    print(f"{'gaps between sentences':<34} {'count':>5} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    for mode in ("streamed", "sequential"):
        g = results[f"gaps_{mode}"]
        label = "say_stream (queued, prefetch)" if mode == "streamed" else "await say() one by one"
        n_pairs = args.runs * (len(SENTENCES) - 1)
        padded = g + [0.0] * max(0, n_pairs - len(g))  # sentence pairs with no gap count as 0
        print(
            f"{label:<34} {len(g):>5} {pct(padded, 0.5):7.1f} {pct(padded, 0.95):7.1f} "
            f"{max(g, default=0.0):7.1f}"
        )
    lat = results["interrupt_ms"]
    print(
        f"\ninterrupt() to silence at the sink: p50 {statistics.median(lat):.1f} ms, "
        f"p95 {pct(lat, 0.95):.1f} ms, max {max(lat):.1f} ms ({len(lat)} runs; includes the "
        "device's ~50 ms output latency)"
    )
    plt = pyplot()
    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
        data = [results["gaps_streamed"] or [0.0], results["gaps_sequential"] or [0.0]]
        axes[0].boxplot(data, tick_labels=["say_stream", "say() one by one"])
        axes[0].set_ylabel("silence between sentences (ms)")
        axes[1].hist(lat, bins=10, color="#2a7")
        axes[1].set_xlabel("interrupt() to silence at the sink (ms)")
        save(fig, args.plot)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
