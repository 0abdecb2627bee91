"""Speaker through a real loopback HTTP server and real PortAudio into a PulseAudio null sink."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

import anyio
import numpy as np
import pytest

import ttsstream
from ttsstream import Speaker, UtteranceState
from ttsstream._play.device import DeviceSink

from .audio import PulseServer, noise, nonsilent_span
from .httpfakes import streaming_wav
from .loopback import LoopbackServer, Request, Step, audio_response

pytestmark = [pytest.mark.audio, pytest.mark.anyio]

LIMIT = 20
SENTENCES = ["The first sentence is here.", "Then a second one.", "And the third, the last."]


def audio_of(text: str, seconds: float = 0.4) -> np.ndarray:
    """What the fake TTS server says for ``text``: noise seeded by the text (never 0)."""
    return noise(int(24000 * seconds), seed=zlib.crc32(text.encode()), level=0.2)


def tts_server(seconds: float = 0.4) -> LoopbackServer:
    def script(request: Request, n: int) -> list[Step]:
        text = request.json()["input"]  # type: ignore[index]
        return audio_response(streaming_wav(audio_of(text, seconds)), (1, 1023, 777))

    return LoopbackServer(script)


async def llm(text: str) -> AsyncIterator[str]:
    for i in range(0, len(text), 3):
        yield text[i : i + 3]
        await anyio.sleep(0.001)


async def test_say_stream_is_gapless_through_the_device(pulse: PulseServer) -> None:
    with tts_server() as server:
        provider = ttsstream.OpenAI(api_key="k", base_url=server.url)
        sink = DeviceSink("pulse")
        with pulse.record() as rec:
            async with Speaker(provider, sink=sink, first_min_chars=1000) as speaker:
                with anyio.fail_after(LIMIT):
                    utterances = await speaker.say_stream(llm(" ".join(SENTENCES)))
            await sink.aclose()
    assert [u.text for u in utterances] == SENTENCES
    assert all(u.state is UtteranceState.DONE for u in utterances)
    expected = np.concatenate([audio_of(t) for t in SENTENCES])[:, 0]
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    # Back to back: no silence inserted between sentences (noise is never 0), nothing lost.
    assert end - first == len(expected)
    np.testing.assert_array_equal(rec.samples[first:end], expected)
    assert sink.underruns == 0


async def test_interrupt_is_silent_within_a_block_plus_the_fade(pulse: PulseServer) -> None:
    with tts_server(seconds=2.0) as server:
        provider = ttsstream.OpenAI(api_key="k", base_url=server.url)
        sink = DeviceSink("pulse")
        with pulse.record() as rec:
            async with Speaker(provider, sink=sink) as speaker:
                with anyio.fail_after(LIMIT):
                    handle = speaker.enqueue("A long sentence that will be cut off.")
                    queued = speaker.enqueue("Never heard.")
                    while sink.frames_played < 12000:  # half a second heard
                        await anyio.sleep(0.01)
                    sent = sink.frames_sent  # frames already handed to PortAudio
                    speaker.interrupt()
                    report = await speaker.stop()
                    cut, dropped = await handle, await queued
                    after = await speaker.say("Still works.")
            block = sink.block_frames
            await sink.aclose()
    assert cut.state is UtteranceState.INTERRUPTED
    assert dropped.state is UtteranceState.CANCELLED
    assert report.partial is cut
    assert report.dropped == [dropped]
    assert 0.5 <= cut.heard_seconds < 2.0
    assert after.state is UtteranceState.DONE
    source = audio_of(cut.text, 2.0)[:, 0]
    assert rec.samples is not None
    first, _ = nonsilent_span(rec.samples)
    played = rec.samples[first:]
    # The noise is never 0, so the first 0 is where the fade ended (or rounded to 0 near it);
    # "Still works." comes after that silence.
    stop = int(np.flatnonzero(played == 0)[0])
    fade = int(0.005 * 24000)
    # What was heard of it is exactly its beginning, except the faded samples at the end ...
    np.testing.assert_array_equal(played[: stop - fade - block], source[: stop - fade - block])
    # ... and silence came within one block (plus the fade) of what had been handed over.
    assert sent <= stop <= sent + 2 * block + fade
    assert abs(stop - cut.heard_seconds * 24000) <= 2 * block + fade
