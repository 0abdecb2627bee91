"""Time-to-first-audio overhead of speak(): ``ttfa - ttfb`` on loopback, p50/p95.

``ttfb`` is the server's time to first byte as the client sees it (request sent to first body
byte); ``ttfa`` is the call to the first sample handed to the sink. Their difference is what
ttsstream adds: building the request, connecting, decoding the header, opening the sink.
The server waits ``--server-delay`` seconds before its first byte, as a real TTS service thinks.

    python benchmarks/bench_ttfa.py [--runs 50] [--device pulse] [--json out.json]

Without ``--device`` the sink is a MemorySink (the library alone); with it, a real DeviceSink,
whose opening overlaps the server's delay.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import anyio
from _common import IMG, audio_for, default_device, pyplot, save
from tests.httpfakes import streaming_wav, tone
from tests.loopback import LoopbackServer, audio_response

import ttsstream


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def measure(
    runs: int, server_delay: float, device: str | None, reuse: bool
) -> dict[str, object]:
    payload = streaming_wav(tone(2400))  # 0.1 s of audio: the tail of the call is not measured
    overheads: list[float] = []
    ttfas: list[float] = []
    with LoopbackServer(
        lambda r, n: audio_response(payload, (4096,), first_byte_delay=server_delay)
    ) as server:
        provider = ttsstream.OpenAI(api_key="bench", base_url=server.url)
        async with provider if reuse else _nothing():
            for _ in range(runs):
                sink: ttsstream.Sink
                if device is None:
                    sink = ttsstream.MemorySink()
                else:
                    sink = ttsstream.DeviceSink(device=device)
                async with sink:
                    report = await ttsstream.speak("Benchmark.", provider=provider, sink=sink)
                assert report.ttfa is not None
                assert report.ttfb is not None
                overheads.append(report.ttfa - report.ttfb)
                ttfas.append(report.ttfa)
    return {
        "sink": device or "memory",
        "connection": "reused" if reuse else "new per call",
        "runs": runs,
        "server_delay_ms": server_delay * 1000,
        "overhead_p50_ms": percentile(overheads, 0.5) * 1000,
        "overhead_p95_ms": percentile(overheads, 0.95) * 1000,
        "ttfa_p50_ms": percentile(ttfas, 0.5) * 1000,
        "ttfa_p95_ms": percentile(ttfas, 0.95) * 1000,
        "overhead_mean_ms": statistics.fmean(overheads) * 1000,
    }


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--server-delay", type=float, default=0.05)
    parser.add_argument(
        "--device", default=default_device(), help="also measure a DeviceSink (default: pulse)"
    )
    parser.add_argument("--plot", type=Path, default=IMG / "bench_ttfa.png")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    rows = [
        anyio.run(measure, args.runs, args.server_delay, None, True),
        anyio.run(measure, args.runs, args.server_delay, None, False),
    ]
    if args.device:
        with audio_for(args.device):
            rows.append(anyio.run(measure, args.runs, args.server_delay, args.device, True))
    print(f"time-to-first-audio overhead (ttfa - ttfb), {args.runs} runs, loopback server")
    print(f"{'sink':<10} {'connection':<14} {'p50 ms':>8} {'p95 ms':>8} {'ttfa p50':>9}")
    for r in rows:
        print(
            f"{r['sink']!s:<10} {r['connection']!s:<14} {r['overhead_p50_ms']:8.2f} "
            f"{r['overhead_p95_ms']:8.2f} {r['ttfa_p50_ms']:9.2f}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"ttfa": rows}, indent=2))
    plt = pyplot()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        labels = [f"{r['sink']}\n{r['connection']}" for r in rows]
        p50 = [float(r["overhead_p50_ms"]) for r in rows]  # type: ignore[arg-type]
        p95 = [float(r["overhead_p95_ms"]) for r in rows]  # type: ignore[arg-type]
        x = range(len(rows))
        ax.bar([i - 0.2 for i in x], p50, width=0.4, label="p50")
        ax.bar([i + 0.2 for i in x], p95, width=0.4, label="p95")
        ax.set_xticks(list(x), labels, fontsize=8)
        ax.set_ylabel("ttfa - ttfb (ms)")
        ax.legend()
        save(fig, args.plot)


if __name__ == "__main__":
    main()
