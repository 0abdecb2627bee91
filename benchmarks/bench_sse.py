"""SSE parsing cost: linear in the input whatever its shape, however it is split.

Three streams, each fed to :class:`SseAudioDecoder` in pieces of one size (1 KiB by default, as
HTTP hands them out): OpenAI-style deltas (base64 PCM, 4 KiB of audio per event), one event
whose single ``data:`` line is ``--megabytes`` long (a server that sends all its audio as one
event), and the same line cut in 64 KiB pieces. Before the scan position was tracked, the long
line was searched again from its start on every piece (8 MB in 1 KiB pieces: 2.1 s; quadratic).
Prints seconds (best of ``--repeat``) and MB/s.

    python benchmarks/bench_sse.py [--megabytes 8] [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from ttsstream import AudioFormat, PcmDecoder
from ttsstream._decode.sse import SseAudioDecoder

FMT = AudioFormat(24000, 1, "int16")


def deltas(megabytes: float) -> bytes:
    audio = bytes(range(256)) * 16  # 4 KiB
    event = json.dumps({"type": "speech.audio.delta", "audio": base64.b64encode(audio).decode()})
    one = f"event: speech.audio.delta\ndata: {event}\n\n".encode()
    return one * max(1, int(megabytes * 1e6 / len(one)))


def long_line(megabytes: float) -> bytes:
    audio = bytes(range(256)) * int(megabytes * 1e6 * 3 / 4 / 256)
    event = json.dumps({"type": "speech.audio.delta", "audio": base64.b64encode(audio).decode()})
    return f"data: {event}\n\n".encode()


def run(data: bytes, piece: int) -> float:
    dec = SseAudioDecoder(PcmDecoder(FMT), max_event_bytes=len(data) + 1)
    view = memoryview(data)
    start = time.perf_counter()
    for i in range(0, len(data), piece):
        dec.feed(view[i : i + piece])
    dec.flush()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cases = [
        ("deltas, 1 KiB pieces", deltas(args.megabytes), 1024),
        ("one long line, 1 KiB pieces", long_line(args.megabytes), 1024),
        ("one long line, 64 KiB pieces", long_line(args.megabytes), 65536),
    ]
    rows = []
    print(f"{'stream':<32} {'MB':>6} {'seconds':>8} {'MB/s':>8}")
    for name, data, piece in cases:
        best = min(run(data, piece) for _ in range(args.repeat))
        mb = len(data) / 1e6
        rows.append({"stream": name, "megabytes": mb, "seconds": best, "mb_per_s": mb / best})
        print(f"{name:<32} {mb:6.1f} {best:8.3f} {mb / best:8.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
