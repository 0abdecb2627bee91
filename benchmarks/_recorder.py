"""Record a PulseAudio null sink's monitor with the arrival time of every block (benchmarks)."""

from __future__ import annotations

import subprocess
import threading
import time

import numpy as np
import numpy.typing as npt
from _common import ROOT  # noqa: F401 - puts the repository on sys.path
from tests.pulsed import parec_command

Int16 = npt.NDArray[np.int16]


class Recorder:
    """``parec`` on the sink monitor, with the arrival time of every block it reads."""

    def __init__(self, sink: str = "ttsstream_test", rate: int = 24000) -> None:
        self.proc = subprocess.Popen(parec_command(sink, rate), stdout=subprocess.PIPE)
        self.blocks: list[tuple[float, bytes]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        while data := self.proc.stdout.read1(960):  # type: ignore[attr-defined]
            self.blocks.append((time.monotonic(), data))

    def stop(self) -> tuple[Int16, npt.NDArray[np.float64]]:
        """The samples, and for each sample the time its block was read."""
        self.proc.terminate()
        self.proc.wait(timeout=5)
        self.thread.join(timeout=5)
        data = b"".join(d for _, d in self.blocks)
        samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.int16)
        times = np.empty(len(samples))
        nbytes = 0
        for t, d in self.blocks:
            start, nbytes = nbytes // 2, nbytes + len(d)
            times[start : nbytes // 2] = t
        return samples, times
