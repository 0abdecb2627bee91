"""The real Piper voice through real PortAudio into a PulseAudio null sink."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

import ttsstream

from .audio import PulseServer, nonsilent_span
from .test_piper import require_piper

pytestmark = [pytest.mark.audio, pytest.mark.piper, pytest.mark.anyio]

TEXT = "Streaming speech from a local voice. It should never stutter. The end is heard too."


async def test_piper_plays_without_underruns_and_nothing_is_cut(pulse: PulseServer) -> None:
    require_piper()
    provider = ttsstream.Piper()
    await provider.load()  # the model load is not what this test is about
    sink = ttsstream.DeviceSink("pulse")
    with pulse.record() as rec:
        try:
            with anyio.fail_after(30):
                report = await ttsstream.speak(TEXT, provider=provider, sink=sink)
        finally:
            await sink.aclose()
    assert report.underruns == 0
    assert report.ttfa is not None
    assert report.ttfa < report.duration  # speech started long before all of it was made
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    heard = (end - first) / 24000  # the sink runs at 24 kHz; PulseAudio resampled 22050 Hz
    # Everything synthesized came out: the span matches the audio's length (Piper's own quiet
    # head and tail samples may round to silence at the edges), with no gaps added.
    assert report.duration - 0.1 <= heard <= report.duration + 0.01
    loud = np.abs(rec.samples[first:end].astype(np.int32))
    assert float(np.sqrt(np.mean(loud.astype(np.float64) ** 2))) > 500
