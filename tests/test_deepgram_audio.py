"""speak() with Deepgram's raw linear16 through real parts: a loopback server speaking
Deepgram's wire format (``audio/l16;rate=24000``, little-endian samples), PortAudio, and a
PulseAudio null sink recorded sample by sample."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

import ttsstream
from ttsstream import Retries

from .audio import PulseServer, noise, nonsilent_span
from .loopback import LoopbackServer, Request, Step, audio_response

pytestmark = [pytest.mark.audio, pytest.mark.anyio]

KEY = "dg-secret-key-0123456789abcdef"
L16 = "audio/l16;rate=24000"


def deepgram(server: LoopbackServer) -> ttsstream.Deepgram:
    return ttsstream.Deepgram(api_key=KEY, base_url=server.root, retries=Retries(max_retries=0))


async def test_speak_plays_deepgram_audio_bit_exact_on_a_real_device(pulse: PulseServer) -> None:
    source = noise(24000, seed=31)  # 1 s, never 0: any inserted silence shows
    payload = source.astype("<i2").tobytes()

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(
            payload, (1, 1023, 777), pace=0.001, content_type="audio/l16;rate=24000"
        )

    with LoopbackServer(script) as server, pulse.record() as rec:
        sink = ttsstream.DeviceSink("pulse")
        try:
            with anyio.fail_after(15):
                report = await ttsstream.speak("Hello.", provider=deepgram(server), sink=sink)
        finally:
            await sink.aclose()
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    assert end - first == len(source)
    np.testing.assert_array_equal(rec.samples[first:end], source[:, 0])
    assert report.frames == len(source)
    assert report.underruns == 0
