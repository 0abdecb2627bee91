"""Draw docs/img/naive_vs_ttsstream.png: a streamed WAV decoded naively and by ttsstream.

A 440 Hz int16 tone is packed as a WAV byte stream (44-byte header, as OpenAI streams it), cut
into odd-sized network chunks (1023 bytes), and decoded two ways:

* naively, as many streaming snippets do: ``np.frombuffer`` on each chunk after dropping an odd
  trailing byte, with the header played as if it were samples;
* with :class:`ttsstream.WavDecoder`, fed the very same chunks.

    python docs/scripts/plot_crackle.py [OUTPUT.png]

``nox -s docs`` runs it before building the site, so the picture always matches the code.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt

import ttsstream

RATE = 24000
FREQ = 440.0
SECONDS = 0.25
CHUNK = 1023  # bytes: odd, as HTTP chunks often are
HEADER = 44
OUTPUT = Path(__file__).resolve().parent.parent / "img" / "naive_vs_ttsstream.png"

Int16 = npt.NDArray[np.int16]


def tone() -> Int16:
    t = np.arange(round(RATE * SECONDS)) / RATE
    return (0.5 * 32767 * np.sin(2 * np.pi * FREQ * t)).astype(np.int16)


def streaming_wav(samples: Int16) -> bytes:
    """A mono 16-bit WAV as OpenAI streams it: sizes set to the 0xFFFFFFFF placeholder."""
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", 0xFFFFFFFF, b"WAVE", b"fmt ", 16, 1, 1, RATE, RATE * 2, 2, 16),
        *(b"data", 0xFFFFFFFF),
    )
    assert len(header) == HEADER
    return header + samples.astype("<i2").tobytes()


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def naive(pieces: list[bytes]) -> Int16:
    """Every chunk straight to int16: the header too, an odd last byte dropped."""
    out = [np.frombuffer(p[: len(p) // 2 * 2], dtype="<i2") for p in pieces]
    return np.concatenate(out).astype(np.int16)


def with_ttsstream(pieces: list[bytes]) -> Int16:
    decoder = ttsstream.WavDecoder()
    out = [decoder.feed(p) for p in pieces]
    out.append(decoder.flush())
    return np.concatenate(out)[:, 0].astype(np.int16)


def main(output: Path) -> None:
    source = tone()
    pieces = chunks(streaming_wav(source))
    bad = naive(pieces)
    good = with_ttsstream(pieces)
    assert np.array_equal(good, source), "WavDecoder must reproduce the source exactly"

    header_samples = HEADER // 2
    # Where the naive output's audio lines up with the source: after the header "samples".
    bad_audio = bad[header_samples:]
    n = min(len(bad_audio), len(source))
    bad_error = bad_audio[:n].astype(np.int32) - source[:n]
    good_error = good.astype(np.int32) - source
    ms = 1000 / RATE
    # The first chunk boundary, in source samples: the chunk ends inside sample `boundary`.
    boundary = (CHUNK - HEADER) // 2

    fig, axes = plt.subplots(2, 2, figsize=(11, 6.6), layout="constrained")
    (start_ax, bound_ax), (good_ax, err_ax) = axes
    fig.suptitle(
        f"A {FREQ:g} Hz tone streamed as WAV in {CHUNK}-byte chunks: "
        "decoded naively and by ttsstream.WavDecoder"
    )

    k = np.arange(60)
    audio = k[: len(k) - header_samples]
    start_ax.plot((audio + header_samples) * ms, source[audio], color="0.7", lw=3, label="source")
    start_ax.plot(
        k * ms, bad[: len(k)], color="tab:red", marker=".", lw=1, label="naive: header played"
    )
    start_ax.axvspan(0, header_samples * ms, color="tab:red", alpha=0.12)
    start_ax.set_title("Start: the 44-byte header is played as 22 samples")

    window = np.arange(boundary - 40, boundary + 60)
    bound_ax.plot(window * ms, source[window], color="0.7", lw=3, label="source")
    bound_ax.plot(
        window * ms,
        bad_audio[window],
        color="tab:red",
        marker=".",
        lw=1,
        label="naive: odd byte dropped",
    )
    bound_ax.axvline(boundary * ms, color="k", ls="--", lw=1)
    bound_ax.set_title("Chunk boundary: the next chunk is byte-shifted noise")

    good_ax.plot(window * ms, source[window], color="0.7", lw=3, label="source")
    good_ax.plot(window * ms, good[window], color="tab:blue", marker=".", lw=1, label="ttsstream")
    good_ax.axvline(boundary * ms, color="k", ls="--", lw=1)
    good_ax.set_title("ttsstream.WavDecoder, same chunks: exact")

    t = np.arange(n) * ms
    err_ax.plot(t, bad_error, color="tab:red", lw=0.6, label="naive - source")
    err_ax.plot(
        np.arange(len(good_error)) * ms,
        good_error,
        color="tab:blue",
        lw=1.5,
        label=f"ttsstream - source (max |error| = {int(np.abs(good_error).max())})",
    )
    err_ax.set_title("Error versus the source, whole clip")
    err_ax.set_xlim(-5, 1000 * SECONDS + 5)

    for ax in (start_ax, bound_ax, good_ax, err_ax):
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("int16 sample")
        ax.set_ylim(-36000, 36000)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize="small", framealpha=0.95)

    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100, metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {output}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
