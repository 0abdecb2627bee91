"""A server slower than real time, heard through real PortAudio in a PulseAudio null sink.

The loopback server sends real speech (the Piper voice) at 0.7x real time in irregular bursts.
By arithmetic, playing at once must run dry: the burst schedule starts with short bursts, so
the last frame arrives at least 0.4 s after it would be due; the test checks
that the old behaviour (``adaptive_start=False``) does insert silence on this server, and that
the start policy (the default) waits instead and then plays every sample, in order, without a
single hole. No timing is bet on: the old behaviour's shortfall is fixed by the schedule, and
a busy machine only makes the server later, which the policy measures.
"""

from __future__ import annotations

import anyio
import numpy as np
import numpy.typing as npt
import pytest

import ttsstream
from ttsstream import DeviceSink, Retries

from .audio import PulseServer
from .loopback import LoopbackServer
from .slow_server import SlowServerScript, SlowSpeech, compare, no_zeros
from .test_piper import require_piper

pytestmark = [pytest.mark.audio, pytest.mark.piper, pytest.mark.anyio, pytest.mark.timeout(90)]

TEXT = "Slow, but never a break."
RATE = 24000  # the null sink's rate: at it, what PortAudio plays is recorded bit-exact
SPEED = 0.7
LIMIT = 30
VOICE = "slow-server-test"


@pytest.fixture(scope="module")
def speech() -> npt.NDArray[np.int16]:
    """The Piper voice saying TEXT, moved to 24 kHz, with no exact 0 (about 1.7 s)."""
    require_piper()

    async def synth() -> npt.NDArray[np.int16]:
        sink = ttsstream.MemorySink()
        report = await ttsstream.speak(TEXT, provider=ttsstream.Piper(), sink=sink)
        assert report.format is not None
        voice = sink.samples()[:, 0].astype(np.float64)
        rate = report.format.sample_rate
        t = np.arange(round(len(voice) * RATE / rate)) / RATE
        return no_zeros(np.round(np.interp(t, np.arange(len(voice)) / rate, voice)))

    return anyio.run(synth)


def slow(speech: npt.NDArray[np.int16]) -> SlowSpeech:
    # Short bursts: the first arrives after at most 0.1 + 0.2 / 0.7 s, so starting then leaves
    # the schedule short by 0.1 + D / 0.7 - 0.39 - D >= 0.4 s (D ~ 1.7 s): silence is certain.
    return SlowSpeech(speech, RATE, SPEED, ttfb=0.1, burst_seconds=(0.08, 0.2), seed=5)


async def speak_slowly(
    pulse: PulseServer, speech: npt.NDArray[np.int16], **sink_options: bool
) -> tuple[ttsstream.SpeakReport, npt.NDArray[np.int16]]:
    script = SlowServerScript(slow(speech))
    with LoopbackServer(script) as server, pulse.record() as rec:
        # A voice of its own: what the policy learned in this process from other tests' fast
        # servers (and their made-up audio) must not decide this one.
        provider_ = ttsstream.OpenAI(
            api_key="sk-test", base_url=server.url, voice=VOICE, retries=Retries(max_retries=0)
        )
        sink = DeviceSink("pulse", **sink_options)
        try:
            with anyio.fail_after(LIMIT):
                report = await ttsstream.speak(TEXT, provider=provider_, sink=sink)
        finally:
            await sink.aclose()
    assert script.texts == [TEXT]  # the server was asked for the real text
    assert rec.samples is not None
    return report, rec.samples


def test_the_schedule_leaves_playing_at_once_short(speech: npt.NDArray[np.int16]) -> None:
    s = slow(speech)
    first_arrival = s.bursts[0].at
    last_due_if_started_then = first_arrival + s.duration
    assert s.bursts[-1].at - last_due_if_started_then > 0.4
    assert s.min_start() > first_arrival + 0.4


async def test_the_policy_waits_and_plays_every_sample_without_a_hole(
    pulse: PulseServer, speech: npt.NDArray[np.int16]
) -> None:
    report, recording = await speak_slowly(pulse, speech)
    heard = compare(recording, speech)
    assert heard.exact  # every sample, in order, nothing but silence around it
    assert heard.gaps == []  # and no silence inside it
    assert report.underruns == 0
    assert report.frames == len(speech)
    assert report.start_delay is not None
    assert report.start_delay > 0
    assert report.start_reason


async def test_starting_at_once_runs_dry_on_the_same_server(
    pulse: PulseServer, speech: npt.NDArray[np.int16]
) -> None:
    report, recording = await speak_slowly(pulse, speech, adaptive_start=False)
    heard = compare(recording, speech)
    assert heard.exact  # every sample still plays, in order...
    assert heard.gaps  # ...but with holes of silence in the speech
    assert sum(heard.gaps) / RATE > 0.2
    assert report.underruns >= 1
