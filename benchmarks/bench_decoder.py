"""Decoder throughput: WavDecoder and PcmDecoder against a plain ``np.frombuffer(...).copy()``.

Every stream is cut into chunks of one size (1 KiB, 4 KiB and 64 KiB, as HTTP hands them out,
and an odd 777 bytes, which leaves a partial frame to carry over on every other call). In the
same run, alternating with the decoder, the baseline copies the very same chunks into numpy
arrays and does nothing else: ``ours/base`` is the decoder's throughput as a share of that
fastest possible per-chunk cost (target: >= 0.5 for 16-bit WAV and PCM in 1 KiB chunks). Each
measurement is repeated; the table shows the best run of each, the JSON also the medians.

The WAV streams have a streaming header (sizes 0xFFFFFFFF, as OpenAI sends them), except
"sized", which has a file's real data size (the decoder counts down to the end of the audio).
``x real time`` is seconds of audio decoded per second: for a 24 kHz mono stream, how many
such streams one core could keep up with.

    python benchmarks/bench_decoder.py [--megabytes 8] [--repeat 7] [--json out.json]
                                       [--plot out.png] [--check]

``--plot`` needs matplotlib (skipped with a note if it is missing); ``--check`` exits with
status 1 when the target is not met.

Compressed formats (mp3, Ogg Opus, AAC, FLAC; needs the ``codecs`` extra, ffmpeg and
espeak-ng, else skipped with a note; ``--no-codecs`` skips them): real speech is encoded by the
ffmpeg CLI into a pipe, as a streaming server does, and each body is measured twice:

* CPU per audio second: ``time.process_time`` to decode the body fed in 1 KiB pieces, best of
  ``--repeat``, divided by the audio's duration (ms of CPU per second of audio);
* time to first audio on the loopback HTTP server, which sends the body at the pace of the
  audio it holds (one piece per 20 ms of audio, as an encoder produces it): the median, over
  ``--ttfa-runs`` requests, of the time from calling ``stream()`` to the first decoded chunk,
  and its difference with WAV of the same speech on the same server ("extra").
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ttsstream import AudioFormat, Encoding, PcmDecoder, WavDecoder

ROOT = Path(__file__).resolve().parent.parent

CHUNK_SIZES = (1024, 4096, 65536, 777)
TARGET_CHUNK = 1024
TARGET_RATIO = 0.5


class _Decoder(Protocol):
    def feed(self, data: bytes) -> npt.NDArray[np.generic]: ...
    def flush(self) -> npt.NDArray[np.generic]: ...


@dataclass(frozen=True)
class Stream:
    """One test stream: a name, its bytes, how many seconds of audio they hold."""

    name: str
    payload: bytes
    seconds: float
    make: Callable[[], _Decoder]
    target: bool  # one of the streams the throughput target is about


@dataclass
class Row:
    stream: str
    chunk: int
    mb_per_s: float
    x_realtime: float
    baseline_mb_per_s: float
    ratio: float
    best_s: float
    median_s: float
    baseline_best_s: float
    baseline_median_s: float


def wav_header(rate: int, channels: int, bits: int, data_size: int = 0xFFFFFFFF) -> bytes:
    """A WAV header; by default a streaming one as OpenAI sends it (sizes 0xFFFFFFFF)."""
    align = channels * bits // 8
    fields = ((1, 2), (channels, 2), (rate, 4), (rate * align, 4), (align, 2), (bits, 2))
    fmt = (
        b"fmt " + (16).to_bytes(4, "little") + b"".join(v.to_bytes(n, "little") for v, n in fields)
    )
    return b"RIFF\xff\xff\xff\xffWAVE" + fmt + b"data" + data_size.to_bytes(4, "little")


def audio_bytes(megabytes: float, frame_bytes: int) -> bytes:
    frames = int(megabytes * 1e6) // frame_bytes
    return np.random.default_rng(0).integers(0, 256, frames * frame_bytes, np.uint8).tobytes()


def streams(megabytes: float) -> list[Stream]:
    def pcm(rate: int, channels: int, encoding: Encoding) -> Callable[[], _Decoder]:
        dtype = {"s16le": "int16", "s24le": "int32", "mulaw": "int16"}[encoding]
        fmt = AudioFormat(sample_rate=rate, channels=channels, dtype=dtype)  # type: ignore[arg-type]
        return lambda: PcmDecoder(fmt, encoding)

    def stream(name: str, rate: int, channels: int, width: int, wav: str, target: bool) -> Stream:
        audio = audio_bytes(megabytes, channels * width)
        seconds = len(audio) / (rate * channels * width)
        if wav:
            size = len(audio) if wav == "sized" else 0xFFFFFFFF
            payload = wav_header(rate, channels, 8 * width, size) + audio
            return Stream(name, payload, seconds, WavDecoder, target)
        encoding: Encoding = "s24le" if width == 3 else "s16le"
        return Stream(name, audio, seconds, pcm(rate, channels, encoding), target)

    mulaw = audio_bytes(megabytes, 1)
    return [
        stream("wav s16 24k mono", 24000, 1, 2, wav="streaming", target=True),
        stream("wav s16 24k sized", 24000, 1, 2, wav="sized", target=True),
        stream("pcm s16 24k mono", 24000, 1, 2, wav="", target=True),
        stream("wav s16 48k stereo", 48000, 2, 2, wav="streaming", target=False),
        stream("wav s24 24k mono", 24000, 1, 3, wav="streaming", target=False),
        stream("pcm s24 24k mono", 24000, 1, 3, wav="", target=False),
        Stream("pcm mu-law 8k mono", mulaw, len(mulaw) / 8000, pcm(8000, 1, "mulaw"), False),
    ]


def split(payload: bytes, size: int) -> list[bytes]:
    return [payload[i : i + size] for i in range(0, len(payload), size)]


def run_decoder(make: Callable[[], _Decoder], chunks: Sequence[bytes]) -> float:
    start = time.perf_counter()
    dec = make()
    for piece in chunks:
        dec.feed(piece)
    dec.flush()
    return time.perf_counter() - start


def run_baseline(chunks: Sequence[bytes]) -> float:
    start = time.perf_counter()
    for piece in chunks:
        np.frombuffer(piece, np.uint8).copy()
    return time.perf_counter() - start


def warm_up(stream: Stream, seconds: float) -> None:
    """Run both sides untimed for a while first: the first row must not pay for a cold CPU."""
    chunks = split(stream.payload, TARGET_CHUNK)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        run_decoder(stream.make, chunks)
        run_baseline(chunks)


def measure(stream: Stream, chunk: int, repeat: int) -> Row:
    chunks = split(stream.payload, chunk)
    ours: list[float] = []
    base: list[float] = []
    gc.collect()
    gc.disable()  # both sides free every array at once; keep the collector's pauses out
    try:
        run_decoder(stream.make, chunks)  # warm up
        for _ in range(repeat):  # alternate, so that both see the same machine state
            ours.append(run_decoder(stream.make, chunks))
            base.append(run_baseline(chunks))
    finally:
        gc.enable()
    mb = len(stream.payload) / 1e6
    return Row(
        stream=stream.name,
        chunk=chunk,
        mb_per_s=mb / min(ours),
        x_realtime=stream.seconds / min(ours),
        baseline_mb_per_s=mb / min(base),
        ratio=min(base) / min(ours),
        best_s=min(ours),
        median_s=statistics.median(ours),
        baseline_best_s=min(base),
        baseline_median_s=statistics.median(base),
    )


def print_table(rows: Sequence[Row]) -> None:
    header = (
        f"{'stream':<20} {'chunk':>6} {'ours MB/s':>10} {'base MB/s':>10} {'ours/base':>10} "
        f"{'x real time':>12}"
    )
    print(header)
    print("-" * len(header))
    previous = ""
    for r in rows:
        if previous and r.stream != previous:
            print()
        previous = r.stream
        print(
            f"{r.stream:<20} {r.chunk:>6} {r.mb_per_s:>10.1f} {r.baseline_mb_per_s:>10.1f} "
            f"{r.ratio:>10.2f} {r.x_realtime:>12,.0f}"
        )


def plot(rows: Sequence[Row], path: Path) -> bool:
    """Bar chart of ours/base per stream and chunk size; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(dict.fromkeys(r.stream for r in rows))
    chunks = list(dict.fromkeys(r.chunk for r in rows))
    ratio = {(r.stream, r.chunk): r.ratio for r in rows}
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(chunks)
    for j, chunk in enumerate(chunks):
        xs = [i + (j - (len(chunks) - 1) / 2) * width for i in range(len(names))]
        label = f"{chunk // 1024} KiB" if chunk % 1024 == 0 else f"{chunk} B"
        ax.bar(xs, [ratio.get((n, chunk), 0.0) for n in names], width, label=label)
    ax.axhline(TARGET_RATIO, color="black", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(names)), names, rotation=15)
    ax.set_ylabel("throughput, ours / np.frombuffer().copy()")
    ax.set_title("ttsstream decoders vs a plain copy of the same chunks")
    ax.legend(title="chunk")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# -- compressed formats ---------------------------------------------------------------------

SPEECH = (
    "Streaming speech should start at once. This sentence is here so that the clip lasts a "
    "few seconds, like a chatbot's answer."
)
CODEC_PIECE_SECONDS = 0.02  # the server sends one piece per 20 ms of audio


@dataclass(frozen=True)
class CodecBody:
    name: str
    content_type: str
    response_format: str
    payload: bytes
    seconds: float


@dataclass
class CodecRow:
    format: str
    kbit_per_s: float
    cpu_ms_per_audio_s: float
    ttfa_ms: float
    extra_ttfa_ms: float


# name -> (response_format, content type, ffmpeg output arguments)
CODECS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "wav (s16 24 kHz)": ("wav", "audio/wav", ("-c:a", "pcm_s16le", "-f", "wav")),
    "pcm (s16 24 kHz)": ("pcm", "audio/pcm", ("-c:a", "pcm_s16le", "-f", "s16le")),
    "mp3 48 kbit/s": ("mp3", "audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "48k", "-f", "mp3")),
    "mp3 128 kbit/s": ("mp3", "audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3")),
    "opus 32 kbit/s, 20 ms pages": (
        "opus",
        "audio/ogg",
        ("-c:a", "libopus", "-b:a", "32k", "-page_duration", "20000", "-f", "ogg"),
    ),
    "opus 32 kbit/s, 1 s pages": (
        "opus",
        "audio/ogg",
        ("-c:a", "libopus", "-b:a", "32k", "-f", "ogg"),  # ffmpeg's default page duration
    ),
    "aac 48 kbit/s (ADTS)": ("aac", "audio/aac", ("-c:a", "aac", "-b:a", "48k", "-f", "adts")),
    "flac": ("flac", "audio/flac", ("-c:a", "flac", "-f", "flac")),
}


def codec_bodies() -> list[CodecBody] | str:
    """The speech in every format, or why the codec benchmark cannot run."""
    import importlib.util
    import shutil
    import subprocess

    missing = [t for t in ("ffmpeg", "espeak-ng") if shutil.which(t) is None]
    if missing:
        return f"{' and '.join(missing)} not installed"
    if importlib.util.find_spec("av") is None:
        return "PyAV is not installed (pip install 'ttsstream[codecs]')"
    raw = subprocess.run(["espeak-ng", "--stdout", SPEECH], capture_output=True, check=True).stdout

    def ffmpeg(*args: str, stdin: bytes) -> bytes:
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", "-", "-ar", "24000", "-ac", "1", *args]
        return subprocess.run([*cmd, "-"], input=stdin, capture_output=True, check=True).stdout

    pcm = ffmpeg("-f", "s16le", stdin=raw)
    seconds = len(pcm) / 48000
    wav = ffmpeg("-f", "wav", stdin=raw)
    out = []
    for name, (fmt, ctype, args) in CODECS.items():
        payload = ffmpeg(*args, stdin=wav)
        out.append(CodecBody(name, ctype, fmt, payload, seconds))
    return out


def codec_cpu(body: CodecBody, repeat: int) -> float:
    """Best CPU seconds to decode the body in 1 KiB pieces."""
    from ttsstream._decode.sniff import choose_decoder

    class Asked:
        provider = "bench"
        expect = body.response_format
        pcm_format = AudioFormat(24000)
        pcm_encoding = "s16le"

    chunks = split(body.payload, TARGET_CHUNK)
    best = float("inf")
    for _ in range(repeat + 1):
        start = time.process_time()
        dec = choose_decoder(body.content_type, Asked())  # type: ignore[arg-type]
        for piece in chunks:
            dec.feed(piece)
        dec.flush()
        best = min(best, time.process_time() - start)
    return best


def codec_ttfa(bodies: Sequence[CodecBody], runs: int) -> dict[str, list[float]]:
    """Seconds from ``stream()`` to the first chunk, per body, on a real-time-paced server."""
    import anyio

    sys.path.insert(0, str(ROOT))
    from tests.loopback import End, LoopbackServer, Request, Send, Sleep, Status, Step

    import ttsstream

    by_format = {b.response_format + b.content_type + b.name: b for b in bodies}
    current: list[CodecBody] = []

    def script(request: Request, n: int) -> list[Step]:
        body = current[0]
        piece = max(1, round(len(body.payload) / body.seconds * CODEC_PIECE_SECONDS))
        steps: list[Step] = [Status(200, {"Content-Type": body.content_type})]
        for i in range(0, len(body.payload), piece):
            steps += [Send(body.payload[i : i + piece]), Sleep(CODEC_PIECE_SECONDS)]
        return [*steps, End()]

    times: dict[str, list[float]] = {b.name: [] for b in bodies}

    async def one(server: LoopbackServer, body: CodecBody) -> float:
        tts = ttsstream.OpenAI(base_url=server.url, response_format=body.response_format)
        async with tts:
            start = time.perf_counter()
            async with ttsstream.stream("Hello.", provider=tts) as audio:
                async for _chunk in audio:
                    return time.perf_counter() - start
        raise RuntimeError(f"{body.name}: no audio")

    async def run_all() -> None:
        with LoopbackServer(script) as server:
            for _ in range(runs):  # round robin, so every format sees the same machine state
                for body in by_format.values():
                    current[:] = [body]
                    times[body.name].append(await one(server, body))

    anyio.run(run_all)
    return times


def measure_codecs(repeat: int, runs: int) -> list[CodecRow] | str:
    bodies = codec_bodies()
    if isinstance(bodies, str):
        return bodies
    ttfa = codec_ttfa(bodies, runs)
    wav_ttfa = statistics.median(ttfa[bodies[0].name])
    rows = []
    for body in bodies:
        median = statistics.median(ttfa[body.name])
        rows.append(
            CodecRow(
                format=body.name,
                kbit_per_s=len(body.payload) * 8 / body.seconds / 1000,
                cpu_ms_per_audio_s=codec_cpu(body, repeat) / body.seconds * 1000,
                ttfa_ms=median * 1000,
                extra_ttfa_ms=(median - wav_ttfa) * 1000,
            )
        )
    return rows


def print_codec_table(rows: Sequence[CodecRow]) -> None:
    header = (
        f"{'format':<28} {'kbit/s':>7} {'CPU ms per audio s':>19} {'TTFA ms':>8} "
        f"{'extra over wav ms':>18}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.format:<28} {r.kbit_per_s:>7.0f} {r.cpu_ms_per_audio_s:>19.2f} "
            f"{r.ttfa_ms:>8.1f} {r.extra_ttfa_ms:>18.1f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--megabytes", type=float, default=8.0, help="audio bytes per stream")
    parser.add_argument("--repeat", type=int, default=7, help="runs per measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "docs" / "img" / "bench_decoder.png",
        help="draw a PNG chart here (matplotlib)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is not met")
    parser.add_argument("--no-codecs", action="store_true", help="skip the compressed formats")
    parser.add_argument("--codecs-only", action="store_true", help="only the compressed formats")
    parser.add_argument("--ttfa-runs", type=int, default=7, help="requests per format")
    args = parser.parse_args(argv)

    codec_rows: list[CodecRow] | str = "skipped (--no-codecs)"
    if not args.no_codecs:
        print(
            "compressed formats: CPU to decode 1 KiB pieces (best of "
            f"{args.repeat}); time to first audio on a loopback server pacing each body at "
            f"real time (median of {args.ttfa_runs})\n"
        )
        codec_rows = measure_codecs(args.repeat, args.ttfa_runs)
        if isinstance(codec_rows, str):
            print(f"compressed formats not measured: {codec_rows}\n")
        else:
            print_codec_table(codec_rows)
            print()
    if args.codecs_only:
        if args.json and not isinstance(codec_rows, str):
            args.json.parent.mkdir(parents=True, exist_ok=True)
            codec_json = {"codecs": [asdict(r) for r in codec_rows]}
            args.json.write_text(json.dumps(codec_json, indent=2) + "\n")
        return 0

    print(
        f"decoder throughput, {args.megabytes:g} MB of audio per stream, best of {args.repeat} "
        f"(Python {platform.python_version()}, numpy {np.__version__}, {platform.machine()})"
    )
    print(
        "base = np.frombuffer(chunk, np.uint8).copy() of the same chunks, timed in the same run\n"
    )
    all_streams = streams(args.megabytes)
    warm_up(all_streams[0], seconds=0.5)
    rows = [measure(s, c, args.repeat) for s in all_streams for c in CHUNK_SIZES]
    print_table(rows)

    targeted = {s.name for s in all_streams if s.target}
    target_rows = [r for r in rows if r.chunk == TARGET_CHUNK and r.stream in targeted]
    worst = min(target_rows, key=lambda r: r.ratio)
    ok = worst.ratio >= TARGET_RATIO
    print(
        f"\ntarget ours/base >= {TARGET_RATIO} for 16-bit WAV and PCM in {TARGET_CHUNK}-byte "
        f"chunks: worst {worst.ratio:.2f} ({worst.stream}) -> {'met' if ok else 'NOT met'}"
    )

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {
            "megabytes": args.megabytes,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "rows": [asdict(r) for r in rows],
            "target": {"chunk": TARGET_CHUNK, "ratio": TARGET_RATIO, "met": ok},
            "codecs": codec_rows
            if isinstance(codec_rows, str)
            else [asdict(r) for r in codec_rows],
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        if plot(rows, args.plot):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib is not installed: no plot", file=sys.stderr)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
