"""speak() end to end with real parts: a loopback HTTP server, PortAudio, a PulseAudio null sink."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

import ttsstream
from ttsstream import DeviceSink, Retries

from .audio import PulseServer, noise, nonsilent_span
from .httpfakes import streaming_wav
from .loopback import Drop, LoopbackServer, Request, Send, Status, Step, audio_response

pytestmark = [pytest.mark.audio, pytest.mark.anyio]

LIMIT = 15


def provider(server: LoopbackServer) -> ttsstream.OpenAI:
    return ttsstream.OpenAI(api_key="sk-test", base_url=server.url, retries=Retries(max_retries=0))


async def test_odd_chunks_with_an_unknown_length_header_play_bit_exact(
    pulse: PulseServer,
) -> None:
    source = noise(36000, seed=21)  # 1.5 s, never 0: any inserted silence shows
    payload = streaming_wav(source, size=0xFFFFFFFF)  # the "until end of stream" placeholder

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(payload, (1, 1023, 777), pace=0.001)

    with LoopbackServer(script) as server, pulse.record() as rec:
        sink = DeviceSink("pulse")
        try:
            with anyio.fail_after(LIMIT):
                report = await ttsstream.speak("Hello.", provider=provider(server), sink=sink)
        finally:
            await sink.aclose()
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    assert end - first == len(source)  # first and last sample there, nothing inserted
    np.testing.assert_array_equal(rec.samples[first:end], source[:, 0])
    assert report.underruns == 0
    assert report.frames == len(source)
    assert report.ttfb is not None
    assert report.ttfa is not None
    assert report.ttfb < report.ttfa < 1.0


async def test_a_connection_dropped_mid_stream_plays_what_arrived_then_raises(
    pulse: PulseServer,
) -> None:
    source = noise(24000, seed=22)
    payload = streaming_wav(source)
    cut = 44 + 2 * 12000 + 1  # half a second and an odd byte

    def script(r: Request, n: int) -> list[Step]:
        steps = audio_response(payload[:cut], (1, 1023, 777))
        return [*[s for s in steps if isinstance(s, Status | Send)], Drop()]

    with LoopbackServer(script) as server, pulse.record() as rec:
        sink = DeviceSink("pulse")
        try:
            with anyio.fail_after(LIMIT), pytest.raises(ttsstream.StreamInterruptedError) as info:
                await ttsstream.speak("Hello.", provider=provider(server), sink=sink)
        finally:
            await sink.aclose()
    assert "sk-test" not in str(info.value)
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    # Every whole frame that arrived was heard before the error was raised.
    np.testing.assert_array_equal(rec.samples[first:end], source[:12000, 0])
