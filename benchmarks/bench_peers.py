"""ttsstream against the usual ways to play streamed TTS, on the same server and the same sink.

One loopback HTTP server plays the part of OpenAI's ``/audio/speech``: it answers with real
speech (the Piper voice, resampled to OpenAI's 24 kHz), after ``--ttfb`` seconds, in odd-sized
HTTP chunks (1023, 777, 1 bytes, cycled) at ``--speedup`` times real time; ``wav`` comes with the
"until end of stream" header OpenAI sends, ``pcm`` raw. Each contender runs in its own process,
playing through PortAudio into the same PulseAudio null sink of a private daemon, whose monitor
is recorded. Everything is measured from the recording, not from what the library reports:

* time to first audio: from the moment the program calls the library to the first sample
  reaching the sink (recorder timestamps; the same ~10 ms recorder latency for all);
* correctness: the fraction of source samples captured exactly (and within 2 LSB, for float
  paths), samples missing at the start and the end, samples added (noise or silence);
* CPU seconds per audio second and peak RSS of the contender's process.

Contenders: ttsstream ``speak()``; the naive snippet (requests ``iter_content(1024)`` into a
PyAudio blocking stream); openai-python's ``LocalAudioPlayer().play()`` on a streaming response;
RealtimeTTS's ``OpenAIEngine``. Each is used as its documentation shows; the only change is
pointing it at the loopback server and the ``pulse`` device. Missing packages are reported.

    python benchmarks/bench_peers.py [--runs 3] [--ttfb 0.2] [--speedup 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import resource
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

TEXT = "The quick brown fox jumps over the lazy dog while the band plays a happy tune."
RATE = 24000
SINK = "ttsstream_test"
CONTENDERS = ("ttsstream", "naive", "openai", "realtimetts")
IMPORTS = {
    # anyio imports its asyncio backend (and asyncio) on the first anyio.run(): an import too.
    # ttsstream imports what a call needs on first use (for a fast cold start, measured by
    # bench_coldstart.py); here those imports are made before the timed call, as requests'
    # are for the naive snippet.
    "ttsstream": [
        "anyio",
        "anyio._backends._asyncio",
        "ttsstream",
        "sounddevice",
        "httpx",
        "ttsstream._speak",
        "ttsstream._providers.openai",
        "ttsstream._providers.http",
        "ttsstream._providers.netio",
        "ttsstream._play.device",
        "ttsstream._play.engine",
        "ttsstream._play.convert",
        "ttsstream._decode.sniff",
        "ttsstream._decode.wav",
        "ttsstream._decode.pcm",
        "ttsstream._decode.sse",
        "ttsstream._text.check",
    ],
    "naive": ["pyaudio", "requests"],
    "openai": ["openai", "openai.helpers", "sounddevice"],
    "realtimetts": ["pyaudio", "RealtimeTTS"],
}
Int16 = npt.NDArray[np.int16]


# -- the contenders, each run in a child process ---------------------------------------------


def _pulse_index(names: list[str]) -> int:
    return names.index("pulse")


def run_ttsstream(url: str) -> int:
    import anyio

    import ttsstream

    async def main() -> int:
        provider = ttsstream.OpenAI(api_key="sk-bench", base_url=url)
        report = await ttsstream.speak(TEXT, provider=provider, device="pulse")
        return report.frames

    return anyio.run(main)


def run_naive(url: str) -> int:
    import pyaudio
    import requests

    p = pyaudio.PyAudio()
    names = [str(p.get_device_info_by_index(i)["name"]) for i in range(p.get_device_count())]
    stream = p.open(
        format=pyaudio.paInt16,
        channels=1,
        rate=24000,
        output=True,
        output_device_index=_pulse_index(names),
    )
    response = requests.post(
        f"{url}/audio/speech",
        headers={"Authorization": "Bearer sk-bench"},
        json={"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "wav"},
        stream=True,
    )
    written = 0
    for chunk in response.iter_content(chunk_size=1024):
        stream.write(chunk)
        written += len(chunk)
    stream.stop_stream()
    stream.close()
    p.terminate()
    return written // 2


def run_openai(url: str) -> int:
    import asyncio

    import sounddevice as sd
    from openai import AsyncOpenAI
    from openai.helpers import LocalAudioPlayer

    sd.default.device = "pulse"  # the only change: play into the benchmark's sink

    async def main() -> int:
        client = AsyncOpenAI(api_key="sk-bench", base_url=url)
        async with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="alloy", input=TEXT, response_format="pcm"
        ) as response:
            await LocalAudioPlayer().play(response)
        return 0

    return asyncio.run(main())


def run_realtimetts(url: str) -> int:
    import pyaudio
    from RealtimeTTS import OpenAIEngine, TextToAudioStream

    os.environ["OPENAI_BASE_URL"] = url
    p = pyaudio.PyAudio()
    names = [str(p.get_device_info_by_index(i)["name"]) for i in range(p.get_device_count())]
    p.terminate()
    engine = OpenAIEngine(api_key="sk-bench", response_format="pcm")
    # Its default sentence tokenizer downloads nltk data at run time; offline, use its rules.
    stream = TextToAudioStream(
        engine, output_device_index=_pulse_index(names), tokenizer="rule-based"
    )
    stream.feed(TEXT)
    stream.play(tokenizer="rule-based")
    engine.shutdown()
    return 0


def child(name: str, url: str) -> None:
    """Run one contender; print one JSON line: when it was called, CPU and memory it used."""
    runner = globals()[f"run_{name}"]
    for module in IMPORTS[name]:  # importing is not part of the call being timed
        importlib.import_module(module)
    loaded = set(sys.modules)
    threads_before = _thread_cpu()
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    error = None
    try:
        runner(url)
    except Exception as exc:  # reported in the table, not raised
        error = f"{type(exc).__name__}: {exc}"[:300]
    t1 = time.monotonic()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    imported = sorted(set(sys.modules) - loaded)  # during the call: its CPU is in `cpu`
    if os.environ.get("BENCH_PEERS_THREADS"):
        _print_thread_cpu(threads_before)
    line = {
        "t0": t0,
        "t1": t1,
        "cpu": cpu,
        "maxrss_kib": after.ru_maxrss,
        "error": error,
        "imported": imported,
    }
    print("RESULT " + json.dumps(line), flush=True)
    os._exit(0)  # some contenders leave non-daemon threads behind


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process still alive (Linux), by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        seconds[task.name] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def _print_thread_cpu(before: dict[str, float]) -> None:
    """The CPU each thread used since ``before`` (threads that ended are not seen), to stderr."""
    main = str(os.getpid())
    for tid, cpu in sorted(_thread_cpu().items()):
        name = "main" if tid == main else f"thread {tid}"
        print(f"thread {name}: {cpu - before.get(tid, 0.0):.3f} s", file=sys.stderr)


# -- the parent: server, recorder, analysis ----------------------------------------------------


def speech() -> Int16:
    """Real speech at 24 kHz: the Piper voice, resampled once (cached next to this file)."""
    cache = ROOT / "benchmarks" / ".cache" / "speech24k.npy"
    if cache.exists():
        return np.load(cache)
    import anyio
    import soxr

    import ttsstream

    async def synth() -> npt.NDArray[np.int16]:
        sink = ttsstream.MemorySink()
        await ttsstream.speak(TEXT, provider=ttsstream.Piper(), sink=sink)
        return sink.samples()[:, 0]

    voice = anyio.run(synth)
    resampled = soxr.resample(voice.astype(np.float32) / 32768, 22050, RATE)
    out = np.clip(np.round(resampled * 32768), -32768, 32767).astype(np.int16)
    out[out == 0] = 1  # no exact zeros: silence in the capture then always means "not played"
    cache.parent.mkdir(exist_ok=True)
    np.save(cache, out)
    return out


@dataclass
class Run:
    contender: str
    ok: bool
    error: str | None = None
    ttfa: float | None = None
    exact: float | None = None
    within2: float | None = None
    missing_start: int | None = None
    missing_end: int | None = None
    added: int | None = None
    cpu_per_audio_s: float | None = None
    peak_rss_mib: float | None = None
    requests: int = 0
    imported_in_call: int = 0  # modules first imported during the timed call


def analyse(
    source: Int16, capture: Int16, times: npt.NDArray[np.float64], run: Run, t0: float
) -> None:
    from tests.audio import locate, nonsilent_span

    first, end = nonsilent_span(capture)
    if end == first:
        run.ok = False
        run.error = run.error or "nothing reached the sink"
        return
    run.ttfa = float(times[first] - t0)
    # Align on a stretch of the middle of the source, then compare sample by sample.
    mid = len(source) // 2
    needle = source[mid : mid + RATE // 2]
    offset = locate(capture, needle) - mid
    idx = np.arange(len(source)) + offset
    inside = (idx >= 0) & (idx < len(capture))
    got = np.zeros(len(source), np.int32)
    got[inside] = capture[idx[inside]]
    diff = np.abs(got - source.astype(np.int32))
    run.exact = float(np.mean(diff == 0))
    run.within2 = float(np.mean(diff <= 2))
    # The source has no zero samples: a zero where it should be is a sample that was not played.
    present = got != 0
    run.missing_start = int(np.argmax(present)) if present.any() else len(source)
    run.missing_end = int(np.argmax(present[::-1])) if present.any() else len(source)
    # Beyond the source's own span: noise (a header played as audio) or inserted silence.
    run.added = int((end - first) - (len(source) - run.missing_start - run.missing_end))


def run_one(name: str, url: str, source: Int16, server_requests: list[object]) -> Run:
    env = {**os.environ, "PULSE_SINK": SINK}
    recorder = Recorder()
    time.sleep(0.3)  # the monitor is streaming silence by now
    seen = len(server_requests)
    run = Run(name, ok=True)
    stderr = ""
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", name, "--url", url],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        output, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout if isinstance(exc.stdout, str) else ""
        run.error = "timed out after 90 s"
    time.sleep(0.5)
    capture, times = recorder.stop()
    run.requests = len(server_requests) - seen
    result = next(
        (json.loads(line[7:]) for line in output.splitlines() if line.startswith("RESULT ")), None
    )
    if result is None:
        run.ok = False
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        run.error = run.error or f"crashed: {last[0]}"[:300]
        return run
    run.error = result["error"]
    run.ok = result["error"] is None
    run.cpu_per_audio_s = result["cpu"] / (len(source) / RATE)
    run.peak_rss_mib = result["maxrss_kib"] / 1024
    run.imported_in_call = len(result.get("imported", []))
    for line in stderr.splitlines():
        if line.startswith("thread "):
            print(f"  {name} {line}", flush=True)
    if os.environ.get("BENCH_PEERS_IMPORTS"):
        print(f"  {name} imported during the call: {result.get('imported')}", flush=True)
    analyse(source, capture, times, run, result["t0"])
    return run


def available(name: str) -> str | None:
    """Why a contender cannot run here, or None."""
    for module in IMPORTS[name]:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    return None


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for name in CONTENDERS:
        mine = [r for r in runs if r.contender == name]
        if not mine:
            continue
        good = [r for r in mine if r.ttfa is not None]

        def med(field: str, rs: list[Run] = good) -> float | None:
            values = [getattr(r, field) for r in rs if getattr(r, field) is not None]
            return statistics.median(values) if values else None

        rows.append(
            {
                "contender": name,
                "runs": len(mine),
                "errors": sorted({r.error for r in mine if r.error}),
                "ttfa_s": med("ttfa"),
                "exact": med("exact"),
                "within2": med("within2"),
                "missing_start": med("missing_start"),
                "missing_end": med("missing_end"),
                "added": med("added"),
                "cpu_per_audio_s": med("cpu_per_audio_s"),
                "peak_rss_mib": med("peak_rss_mib"),
                "requests": med("requests", mine),
            }
        )
    return rows


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace, duration: float) -> None:
    print(
        f"\nSpeech: {duration:.2f} s at 24 kHz; server: first byte after {args.ttfb:.3f} s, "
        f"{args.speedup:g}x real time, chunks of 1023/777/1 bytes; medians of {args.runs} runs\n"
    )
    head = (
        f"{'contender':<12} {'TTFA s':>7} {'exact':>7} {'<=2LSB':>7} {'miss start':>10} "
        f"{'miss end':>8} {'added':>7} {'CPU s/s':>8} {'RSS MiB':>8} {'reqs':>4}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['contender']:<12} {fmt(r['ttfa_s'], '7.3f')} {fmt(r['exact'], '7.1%')} "
            f"{fmt(r['within2'], '7.1%')} {fmt(r['missing_start'], '10.0f')} "
            f"{fmt(r['missing_end'], '8.0f')} {fmt(r['added'], '7.0f')} "
            f"{fmt(r['cpu_per_audio_s'], '8.3f')} {fmt(r['peak_rss_mib'], '8.1f')} "
            f"{fmt(r['requests'], '4.0f')}"
        )
        for error in r["errors"]:
            print(f"{'':<12} error: {error}")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    names = [r["contender"] for r in rows]
    panels = [
        ("time to first audio (s)", "ttfa_s", 1.0),
        ("samples exactly right (%)", "exact", 100.0),
        ("CPU s per audio s", "cpu_per_audio_s", 1.0),
        ("peak RSS (MiB)", "peak_rss_mib", 1.0),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4))
    for ax, (title, key, scale) in zip(axes, panels, strict=True):
        values = [(r[key] or 0.0) * scale for r in rows]
        colors = ["#2a7" if n == "ttsstream" else "#999" for n in names]
        ax.bar(names, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--ttfb", type=float, default=0.2)
    parser.add_argument("--speedup", type=float, default=2.0)
    parser.add_argument("--only", nargs="*", choices=CONTENDERS)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, default=IMG / "bench_peers.png")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return

    from tests.loopback import LoopbackServer, Request, Step, audio_response, json_response
    from tests.pulsed import private_pulse

    source = speech()
    wav = _streaming_wav(source)
    pcm = source.astype("<i2").tobytes()
    chunk_audio = (1023 + 777 + 1) / 3 / 2 / RATE  # seconds of audio per chunk, on average
    pace = chunk_audio / args.speedup
    requests: list[object] = []

    def script(request: Request, n: int) -> list[Step]:
        requests.append(request)
        body = request.json()
        wanted = body.get("response_format", "mp3") if isinstance(body, dict) else "mp3"
        if wanted not in ("wav", "pcm"):
            return json_response(400, {"error": {"message": f"bench server: no {wanted}"}})
        payload, ctype = (wav, "audio/wav") if wanted == "wav" else (pcm, "audio/pcm")
        return audio_response(
            payload, (1023, 777, 1), pace=pace, first_byte_delay=args.ttfb, content_type=ctype
        )

    runs: list[Run] = []
    with private_pulse(), LoopbackServer(script) as server:
        for name in args.only or CONTENDERS:
            reason = available(name)
            if reason:
                runs.append(Run(name, ok=False, error=f"not run: {reason}"))
                continue
            for _ in range(args.runs):
                run = run_one(name, server.url, source, requests)
                runs.append(run)
                print(
                    f"  {name}: ttfa {fmt(run.ttfa, '.3f')} s, exact {fmt(run.exact, '.1%')}, "
                    f"{run.imported_in_call} modules imported in the call"
                    + (f" ({run.error})" if run.error else ""),
                    flush=True,
                )
    rows = summarize(runs)
    print_table(rows, args, len(source) / RATE)
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    plot(rows, args.plot)
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "runs": [asdict(r) for r in runs]}, indent=1)
        )


def _streaming_wav(source: Int16) -> bytes:
    from tests.httpfakes import streaming_wav

    return streaming_wav(source.reshape(-1, 1))


if __name__ == "__main__":
    main()
