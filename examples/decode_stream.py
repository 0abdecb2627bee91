"""The sans-IO decoder on its own: feed a WAV in awkward pieces, get exact frames out.

    python examples/decode_stream.py some.wav

Splits the file into 1-byte, 1023-byte and 777-byte pieces (the way a network might) and shows
that the decoded samples are the same as decoding it whole. No network and no sound card.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

import ttsstream


def decode(data: bytes, sizes: list[int]) -> tuple[np.ndarray, ttsstream.AudioFormat | None]:
    """Decode ``data`` fed in pieces of ``sizes`` (cycled); return all frames and the format."""
    decoder = ttsstream.WavDecoder()
    frames: list[np.ndarray] = []
    pos = 0
    for size in itertools.cycle(sizes):
        if pos >= len(data):
            break
        out = decoder.feed(data[pos : pos + size])
        if out.shape[0]:
            frames.append(out)
        pos += size
    decoder.flush()
    fmt = decoder.format
    if not frames:
        return np.empty((0, fmt.channels if fmt else 1), np.int16), fmt
    return np.concatenate(frames), fmt


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/decode_stream.py FILE.wav")
    data = Path(sys.argv[1]).read_bytes()
    whole, fmt = decode(data, [len(data)])
    pieces, _ = decode(data, [1, 1023, 777])
    assert fmt is not None
    print(f"{sys.argv[1]}: {fmt}, {whole.shape[0]} frames, {fmt.duration(whole.shape[0]):.2f} s")
    print("identical when fed in 1/1023/777-byte pieces:", np.array_equal(whole, pieces))


if __name__ == "__main__":
    main()
