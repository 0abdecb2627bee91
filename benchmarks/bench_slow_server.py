"""A server slower than real time: start at once (today's behaviour) against the start policy.

A loopback server plays an OpenAI-compatible ``/v1/audio/speech``: for the request's text it
answers with real speech (the Piper voice saying exactly that text, resampled to 24 kHz, cached
in ``benchmarks/.cache/``) as a 16-bit WAV with OpenAI's streaming header, at ``--rates`` times
real time. The audio goes out in irregular bursts (0.15-0.9 s of audio each, split into odd
HTTP chunks sent back to back, then a pause) on an absolute schedule: each burst is sent when a
server generating at that rate would have finished it, so the average rate is exact and a late
wake-up does not slow the rest down (``tests/slow_server.py``).

Each run is ``speak(text, OpenAI(base_url=...), sink=DeviceSink("pulse", adaptive_start=...))``
in its own process (so nothing learned in one run helps the next), playing through PortAudio
into the null sink of a private PulseAudio daemon whose monitor is recorded. Measured from the
recording, compared with the source sample by sample (the source has no exact 0, so every 0
between its first and last sample is inserted silence, whatever pauses the speech has):

* gaps: runs of inserted silence mid-speech, and their total seconds;
* time to first sound: from the ``speak()`` call to the first sample at the sink monitor
  (recorder timestamps: up to ~20 ms late), next to the least possible for zero gaps on this
  schedule (the latest ``arrival - position`` over all bursts, from the request) plus the
  device's output latency;
* the library's own report: underruns, gap_seconds, start_delay, start_reason;
* the buffer level over time (audio handed to the sink minus audio heard, by
  ``DeviceSink.frames_played``, sampled every 10 ms in the child) for the plot in the docs.

Modes: ``today`` (``adaptive_start=False``: start at the 30 ms prebuffer), ``policy`` (the
default, in a fresh process: the voice's speaking rate is not known yet) and ``warm`` (the
default, after one sentence from the same server at the same rate: the voice is learned, as in
a chatbot's second answer); ``--modes`` may add ``fastwarm`` (that sentence at 2x real time:
the server was fast a moment ago and is slow now). They alternate within each repetition; the
table shows medians.
About 10 minutes with the defaults, 1 minute with ``--quick``; ``--data`` (default
``docs/data/slow_server.json``, not written with ``--quick``) keeps the table and one run per
mode at ``--plot-rate`` for ``docs/scripts/plot_slow_server.py``, which this script runs.

    python benchmarks/bench_slow_server.py [--runs 3] [--rates 0.6 0.8 0.95 1.5] [--quick]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import IMG, ROOT
from _recorder import Recorder

TEXT = (
    "Local voices on a laptop often speak slower than they can be heard. "
    "A player can start at once and stop again and again, or wait a moment "
    "and play the whole answer without a single break."
)
RATE = 24000
SINK = "ttsstream_test"
#: Said first, in the ``warm`` mode, by the same server at the same rate.
WARM_TEXT = "First a short sentence, so that the voice is known."
MODES = ("today", "policy", "warm")
#: ``--modes`` may add ``fastwarm``: the first sentence comes at 2x real time (the server was
#: fast a moment ago), then the measured text at the run's rate.
ALL_MODES = (*MODES, "fastwarm")
FAST = 2.0
DATA = ROOT / "docs" / "data" / "slow_server.json"
Int16 = npt.NDArray[np.int16]


# -- the child: one speak() call ---------------------------------------------------------------


def has_policy() -> bool:
    """Whether this ttsstream has the start policy's switch (``DeviceSink(adaptive_start=)``)."""
    from ttsstream import DeviceSink

    return "adaptive_start" in inspect.signature(DeviceSink).parameters


def child(mode: str, url: str, text: str) -> None:
    import anyio

    import ttsstream

    options: dict[str, Any] = {}
    if has_policy():
        options["adaptive_start"] = mode != "today"
    elif mode != "today":
        raise SystemExit("this ttsstream has no start policy (DeviceSink(adaptive_start=))")

    async def main() -> dict[str, Any]:
        provider = ttsstream.OpenAI(
            api_key="sk-bench", base_url=url, retries=ttsstream.Retries(max_retries=0)
        )
        sink = ttsstream.DeviceSink("pulse", **options)
        await sink.prepare()  # PortAudio's device list: not part of what is measured
        if mode in ("warm", "fastwarm"):  # one sentence first: the voice is learned
            await ttsstream.speak(WARM_TEXT, provider=provider, sink=sink)
        # The parent starts recording now, and says when to go.
        print("READY", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        received = 0
        timeline: list[tuple[float, int, int]] = []

        def on_audio(chunk: ttsstream.AudioChunk) -> None:
            nonlocal received
            received += len(chunk.samples)

        async def sample() -> None:
            while True:
                # Until its first chunk opens this utterance the sink still counts the last one.
                played = sink.frames_played if received else 0
                timeline.append((time.monotonic(), received, played))
                await anyio.sleep(0.01)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sample)
                t0 = time.monotonic()
                report = await ttsstream.speak(
                    text, provider=provider, sink=sink, on_audio=on_audio
                )
                t1 = time.monotonic()
                tg.cancel_scope.cancel()
            latency = sink.latency
        finally:
            await sink.aclose()
        return {
            "t0": t0,
            "t1": t1,
            "latency": latency,
            "report": {
                "ttfb": report.ttfb,
                "ttfa": report.ttfa,
                "duration": report.duration,
                "underruns": report.underruns,
                "gap_seconds": report.gap_seconds,
                "frames": report.frames,
                "start_delay": getattr(report, "start_delay", None),
                "start_reason": getattr(report, "start_reason", None),
            },
            "timeline": timeline,
        }

    print("RESULT " + json.dumps(anyio.run(main)), flush=True)


# -- the parent: server, recorder, analysis ----------------------------------------------------


def speech(text: str) -> Int16:
    """The Piper voice saying ``text`` at 24 kHz with no exact 0 (cached per text)."""
    cache = ROOT / "benchmarks" / ".cache" / f"slow_{zlib.crc32(text.encode()):08x}.npy"
    if cache.exists():
        return np.asarray(np.load(cache), np.int16)
    import anyio
    import soxr
    from tests.slow_server import no_zeros

    import ttsstream

    async def synth() -> npt.NDArray[np.int16]:
        sink = ttsstream.MemorySink()
        await ttsstream.speak(text, provider=ttsstream.Piper(), sink=sink)
        return sink.samples()[:, 0]

    voice = anyio.run(synth)
    resampled = soxr.resample(voice.astype(np.float32) / 32768, 22050, RATE)
    out = no_zeros(np.clip(np.round(resampled * 32768), -32768, 32767).astype(np.int16))
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, out)
    return out


@dataclass
class Run:
    rate: float
    mode: str
    error: str | None = None
    exact: bool = False
    gaps: int = 0
    silence: float = 0.0
    ttfs: float | None = None
    minimum: float | None = None  # least start (from the call) for zero gaps, plus latency
    latency: float | None = None
    late: float = 0.0  # how late the server's latest burst went out
    report: dict[str, Any] = field(default_factory=dict)
    timeline: list[tuple[float, float, float]] = field(default_factory=list)


class Server:
    """The loopback server's script: the speech of the current run, and what it was asked."""

    def __init__(self) -> None:
        from tests.slow_server import SlowServerScript

        self.current: SlowServerScript | None = None
        self.warm: SlowServerScript | None = None
        self.requests: list[Any] = []

    def __call__(self, request: Any, n: int) -> Any:
        assert self.current is not None
        assert self.warm is not None
        body = request.json()
        if isinstance(body, dict) and body.get("input") == WARM_TEXT:
            return self.warm(request, n)
        self.requests.append(request)
        return self.current(request, n)


def run_one(server: Server, url: str, rate: float, mode: str, text: str, source: Int16) -> Run:
    from tests.slow_server import SlowServerScript, SlowSpeech, compare

    slow = SlowSpeech(source, RATE, rate)
    server.current = script = SlowServerScript(slow)
    warm_rate = FAST if mode == "fastwarm" else rate
    server.warm = SlowServerScript(SlowSpeech(speech(WARM_TEXT), RATE, warm_rate, seed=3))
    run = Run(rate, mode)
    output = stderr = ""
    recorder: Recorder | None = None
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--url", url, "--text", text],
        env={**os.environ, "PULSE_SINK": SINK},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        ready = proc.stdout.readline()  # after the warm-up sentence, if any
        if ready.strip() == "READY":
            server.requests.clear()
            recorder = Recorder(SINK)
            time.sleep(0.3)  # the monitor is streaming silence by now
            proc.stdin.write("go\n")
            proc.stdin.flush()
        output, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, stderr = proc.communicate()
        run.error = "timed out after 120 s"
    time.sleep(0.3)
    capture, times = recorder.stop() if recorder else (np.zeros(0, np.int16), np.zeros(0))
    result = next(
        (json.loads(line[7:]) for line in output.splitlines() if line.startswith("RESULT ")), None
    )
    if result is None:
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        run.error = run.error or f"crashed: {last[0]}"[:300]
        return run
    if script.texts != [text] or len(server.requests) != 1:
        run.error = f"the server was asked {script.texts!r}"
    t0 = result["t0"]
    run.report = result["report"]
    run.latency = result["latency"]
    heard = compare(capture, source)
    run.exact = heard.exact
    run.gaps = len(heard.gaps)
    run.silence = sum(heard.gaps) / RATE
    if heard.first >= 0:
        run.ttfs = float(times[heard.first]) - t0
    asked = server.requests[0].received_at - t0
    run.minimum = asked + slow.min_start() + result["latency"]
    run.late = max(
        (
            sent - (server.requests[0].received_at + b.at)
            for (sent, _), b in zip(script.log, slow.bursts, strict=False)
        ),
        default=0.0,
    )
    run.timeline = [
        (round(t - t0, 3), got / RATE, played / RATE) for t, got, played in result["timeline"]
    ]
    return run


def med(values: list[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def summarize(runs: list[Run], rates: list[float], modes: list[str]) -> list[dict[str, Any]]:
    rows = []
    for rate in rates:
        for mode in modes:
            mine = [r for r in runs if r.rate == rate and r.mode == mode and r.error is None]
            if not mine:
                continue
            reasons = sorted({str(r.report.get("start_reason")) for r in mine})
            rows.append(
                {
                    "rate": rate,
                    "mode": mode,
                    "runs": len(mine),
                    "exact": all(r.exact for r in mine),
                    "gaps": med([r.gaps for r in mine]),
                    "gaps_max": max(r.gaps for r in mine),
                    "silence_s": med([r.silence for r in mine]),
                    "ttfs_s": med([r.ttfs for r in mine]),
                    "minimum_s": med([r.minimum for r in mine]),
                    "latency_s": med([r.latency for r in mine]),
                    "underruns": med([r.report.get("underruns") for r in mine]),
                    "gap_seconds": med([r.report.get("gap_seconds") for r in mine]),
                    "start_delay_s": med([r.report.get("start_delay") for r in mine]),
                    "start_reason": " / ".join(reasons),
                    "late_max_s": max(r.late for r in mine),
                }
            )
    return rows


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]], duration: float, runs: int) -> None:
    print(
        f"\nSpeech: {duration:.2f} s (Piper, 24 kHz); bursts of 0.15-0.9 s of audio; first byte "
        f"after 0.1 s; medians of {runs} runs\n"
    )
    head = (
        f"{'rate':>5} {'mode':<7} {'gaps':>5} {'silence s':>9} {'TTFS s':>7} {'min+lat s':>9} "
        f"{'ratio':>6} {'underruns':>9} {'gap_s':>6} {'start_delay':>11} {'exact':>5}  reason"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = None
        if r["ttfs_s"] is not None and r["minimum_s"]:
            ratio = r["ttfs_s"] / r["minimum_s"]
        print(
            f"{r['rate']:>5.2f} {r['mode']:<7} {fmt(r['gaps'], '5.0f')} "
            f"{fmt(r['silence_s'], '9.2f')} {fmt(r['ttfs_s'], '7.2f')} "
            f"{fmt(r['minimum_s'], '9.2f')} {fmt(ratio, '6.2f')} {fmt(r['underruns'], '9.0f')} "
            f"{fmt(r['gap_seconds'], '6.2f')} {fmt(r['start_delay_s'], '11.2f')} "
            f"{'yes' if r['exact'] else 'NO':>5}  {r['start_reason']}"
        )


LABELS = {
    "today": "start at once",
    "policy": "policy, first text",
    "warm": "policy, voice known",
    "fastwarm": "policy, voice fast before",
}


def print_markdown(rows: list[dict[str, Any]]) -> None:
    """The table as Markdown, for benchmarks/README.md."""
    print(
        "\n| rate | mode | gaps | silence inserted | time to first sound | least possible "
        "| ratio | report: underruns, gap s | start_delay | start_reason |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "-"
        if r["ttfs_s"] is not None and r["minimum_s"] and r["rate"] < 1:
            ratio = f"{r['ttfs_s'] / r['minimum_s']:.2f}"
        gaps = f"{r['gaps']:.0f}" + (
            f" (max {r['gaps_max']})" if r["gaps_max"] != r["gaps"] else ""
        )
        print(
            f"| {r['rate']:g}x | {LABELS[r['mode']]} | {gaps} | {fmt(r['silence_s'], '.2f')} s "
            f"| {fmt(r['ttfs_s'], '.2f')} s | {fmt(r['minimum_s'], '.2f')} s | {ratio} "
            f"| {fmt(r['underruns'], '.0f')}, {fmt(r['gap_seconds'], '.2f')} "
            f"| {fmt(r['start_delay_s'], '.2f')} s | {r['start_reason']} |"
        )


def save_data(
    path: Path, rows: list[dict[str, Any]], runs: list[Run], plot_rate: float, meta: dict[str, Any]
) -> None:
    """The table and one run per mode at ``plot_rate`` (buffer level every 50 ms) for the plot."""
    timelines: dict[str, list[list[float]]] = {}
    for mode in ALL_MODES:
        mine = [r for r in runs if r.rate == plot_rate and r.mode == mode and r.error is None]
        if not mine:
            continue
        run = mine[0]
        points: list[list[float]] = []
        next_t = 0.0
        for t, got, played in run.timeline:
            if t >= next_t:
                points.append([round(t, 3), round(got, 3), round(played, 3)])
                next_t = t + 0.05
        timelines[mode] = points
    data = {"meta": {**meta, "plot_rate": plot_rate}, "rows": rows, "timelines": timelines}
    path.parent.mkdir(parents=True, exist_ok=True)
    # One line per point: a small file whose diffs can be read.
    head = json.dumps({k: v for k, v in data.items() if k != "timelines"}, indent=1)
    lines = [
        f'  "{mode}": [\n' + ",\n".join(f"   {json.dumps(p)}" for p in points) + "\n  ]"
        for mode, points in timelines.items()
    ]
    text = head[: -len("\n}")] + ',\n "timelines": {\n' + ",\n".join(lines) + "\n }\n}\n"
    json.loads(text)
    path.write_text(text)
    print(f"data: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.6, 0.8, 0.95, 1.5])
    parser.add_argument("--quick", action="store_true", help="one repetition at 0.8x and 1.5x")
    parser.add_argument("--plot-rate", type=float, default=0.8)
    parser.add_argument(
        "--data",
        type=Path,
        help=f"JSON for the docs' plot (default {DATA.relative_to(ROOT)}, "
        "not written with --quick)",
    )
    parser.add_argument("--json", type=Path, help="every run, in full")
    parser.add_argument(
        "--modes", nargs="+", choices=ALL_MODES, default=list(MODES), help="default: %(default)s"
    )
    parser.add_argument("--child", choices=ALL_MODES, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--text", default=TEXT, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.text)
        return
    if args.quick:
        args.runs, args.rates = 1, [0.8, 1.5]
    elif args.data is None:
        args.data = DATA

    from tests.loopback import LoopbackServer
    from tests.pulsed import private_pulse

    source = speech(TEXT)
    modes = args.modes if has_policy() else ["today"]
    if len(modes) == 1:
        print("(this ttsstream has no start policy: today's behaviour only)")
    runs: list[Run] = []
    server = Server()
    with private_pulse(), LoopbackServer(server) as loop:
        for rep in range(args.runs):
            for rate in args.rates:
                for mode in modes if rep % 2 == 0 else modes[::-1]:
                    run = run_one(server, loop.url, rate, mode, TEXT, source)
                    runs.append(run)
                    print(
                        f"  {rate:.2f}x {mode:<6}: gaps {run.gaps}, silence {run.silence:.2f} s, "
                        f"TTFS {fmt(run.ttfs, '.2f')} s (min {fmt(run.minimum, '.2f')}), "
                        f"report {run.report.get('underruns')} underruns, start_delay "
                        f"{fmt(run.report.get('start_delay'), '.2f')}"
                        + (f" ({run.error})" if run.error else ""),
                        flush=True,
                    )
    rows = summarize(runs, args.rates, modes)
    duration = len(source) / RATE
    print_table(rows, duration, args.runs)
    print_markdown(rows)
    load = os.getloadavg()
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "speech_s": round(duration, 2),
        "runs": args.runs,
        "load": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
    }
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    if args.data is not None and args.plot_rate in args.rates:
        save_data(args.data, rows, runs, args.plot_rate, meta)
        sys.path.insert(0, str(ROOT / "docs" / "scripts"))
        from plot_slow_server import main as draw

        # The docs' figure only from the docs' data; any other data gets its picture beside it.
        draw(
            args.data,
            IMG / "slow_server.png" if args.data == DATA else args.data.with_suffix(".png"),
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs]))


if __name__ == "__main__":
    main()
