"""Play noise through a DeviceSink on the ALSA ``pulse`` device; print the gaps it counted.

Run as a subprocess by ``test_device_faults_audio.py``, which stops this process for a moment
(SIGSTOP) while it plays and compares what it prints with a recording of the sink. Prints
``playing`` once the device is open, then one JSON line when done.
"""

from __future__ import annotations

import json
import sys

import anyio
import numpy as np

from ttsstream import AudioFormat
from ttsstream._play.device import DeviceSink

RATE = 24000


def source(seconds: float) -> np.ndarray:
    """Noise that is never exactly 0: any 0 in the recording is silence that was inserted."""
    rng = np.random.default_rng(7)
    x = np.clip(rng.standard_normal(round(RATE * seconds)) * 6000, -32767, 32767)
    x = x.astype(np.int16)
    x[x == 0] = 1
    return x.reshape(-1, 1)


async def main(seconds: float) -> None:
    samples = source(seconds)
    async with DeviceSink("pulse") as sink:
        await sink.open(AudioFormat(RATE, 1, "int16"))
        print("playing", flush=True)
        for i in range(0, len(samples), 2400):
            await sink.write(samples[i : i + 2400])
        await sink.drain()
        report = {
            "gaps": sink.gaps,
            "gap_seconds": sink.gap_seconds,
            "underruns": sink.underruns,
            "buffer_underruns": sink.buffer_underruns,
            "device_underflows": sink.device_underflows,
        }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    anyio.run(main, float(sys.argv[1]))
