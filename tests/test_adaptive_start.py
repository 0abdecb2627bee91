"""The adaptive start through DeviceSink, speak() and Speaker, on a fake device and a fake clock.

The "server" is an ``httpx.MockTransport`` body paced on the fake device's clock: before it
hands over a burst of audio it runs the device's callback block by block until the stream time
reaches the moment the burst is due (a server generating at ``rate`` x real time sends each
burst when it is complete). Nothing waits on a real clock, so the machine's load cannot change
what is heard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import anyio
import anyio.lowlevel
import httpx
import numpy as np
import pytest

import ttsstream
from ttsstream import AudioFormat, Retries
from ttsstream._play.device import DeviceSink
from ttsstream._play.policy import VoiceStats

from .fakesd import FakeSoundDevice, FakeStream
from .httpfakes import client_for, split, streaming_wav

pytestmark = pytest.mark.anyio

S16 = AudioFormat(24000, 1, "int16")
RATE = 24000
KEY = "sk-test-key-0000000000"
TEXT = "x" * 130  # ~10 s of speech at the default 13 characters per second


def speech(seconds: float) -> np.ndarray:
    """Audio with no exact 0: any 0 between the first and last sample played is a gap."""
    rng = np.random.default_rng(5)
    samples = rng.integers(1, 8000, size=(round(seconds * RATE), 1)).astype(np.int16)
    return samples


class PacedBody(httpx.AsyncByteStream):
    """A WAV body sent at ``rate`` x real time on the fake device's clock, ``burst`` seconds of
    audio at a time (in odd-sized pieces, or whole), the header alone after ``ttfb``.

    Each piece becomes one write, and DeviceSink runs one callback (10 ms) per write on this
    fake device: the pieces of a burst come 10 ms apart, as over a slow network."""

    def __init__(
        self,
        stream: FakeStream,
        audio: np.ndarray,
        rate: float,
        burst: float,
        ttfb: float,
        whole: bool = False,
        written: Callable[[], int] | None = None,
        sink: DeviceSink | None = None,
    ) -> None:
        self.stream = stream
        self.written = written
        self.sink = sink
        self.audio = audio
        self.rate = rate
        self.burst = round(burst * RATE)
        self.ttfb = ttfb
        self.whole = whole
        self.t0 = stream.clock  # the request is sent now

    async def run_until(self, due: float, sent: int) -> None:
        """Run the device until ``due``, once the ``sent`` frames were written to the sink (a
        reader in another task than the writer must not run the device ahead of it)."""
        if self.written is not None:
            with anyio.fail_after(10):
                while self.written() < sent or (sent == 0 and not told(self.sink)):
                    await anyio.sleep(0.0005)
        while self.stream.clock < due - 1e-9:
            self.stream.tick(240)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        wav = streaming_wav(self.audio, RATE)
        await self.run_until(self.t0 + self.ttfb, 0)
        yield wav[:44]
        data = wav[44:]
        sent = 0
        while sent < len(self.audio):
            end = min(len(self.audio), sent + self.burst)
            await self.run_until(self.t0 + self.ttfb + end / RATE / self.rate, sent)
            sizes = [len(data)] if self.whole else [1023, 777, 4095]
            for piece in split(data[sent * 2 : end * 2], sizes):
                yield piece
                await anyio.lowlevel.checkpoint()
            sent = end


def paced_openai(
    sd: FakeSoundDevice,
    audio: np.ndarray,
    rate: float,
    *,
    burst: float = 0.2,
    ttfb: float = 0.05,
    whole: bool = False,
    sink: DeviceSink | None = None,
) -> ttsstream.OpenAI:
    written = None if sink is None else (lambda: sink._utt_frames_in)

    def respond(request: httpx.Request) -> httpx.Response:
        body = PacedBody(sd.stream, audio, rate, burst, ttfb, whole, written, sink)
        return httpx.Response(200, headers={"content-type": "audio/wav"}, stream=body)

    return ttsstream.OpenAI(api_key=KEY, retries=Retries(0), client=client_for(respond))


async def device_sink(sd: FakeSoundDevice, **options: object) -> DeviceSink:
    """A DeviceSink on ``sd`` with its own voice statistics, the device open and its clock the
    fake stream's."""
    sink = DeviceSink(backend=sd, latency=0.05, **options)  # type: ignore[arg-type]
    sink._voices = VoiceStats()
    await sink.prepare(S16)
    sink._clock = lambda: sd.stream.clock
    return sink


def told(sink: DeviceSink | None) -> bool:
    """Whether ``sink`` has been told the text (by ``expect()``) of the utterance to come."""
    if sink is None:
        return True
    return bool(sink._expected) or (sink._policy is not None and sink._policy.known_text)


def heard(stream: FakeStream) -> np.ndarray:
    out = stream.output()[:, 0]
    nz = np.flatnonzero(out)
    return out[nz[0] : nz[-1] + 1]


def gaps_in(stream: FakeStream) -> int:
    """Runs of silence between the first and the last sample played."""
    inner = heard(stream) == 0
    return int(np.count_nonzero(np.diff(inner.astype(np.int8)) == 1))


# -- speak() --------------------------------------------------------------------------------


async def test_speak_on_a_slow_server_waits_then_plays_without_a_gap() -> None:
    sd = FakeSoundDevice()
    audio = speech(10.0)
    sink = await device_sink(sd)
    async with sink:
        report = await ttsstream.speak(TEXT, provider=paced_openai(sd, audio, 0.6), sink=sink)
    np.testing.assert_array_equal(heard(sd.stream), audio[:, 0])  # every sample, no gap
    assert report.underruns == 0
    assert report.gap_seconds == 0.0
    # the least for 10 s at 0.6x in 0.2 s bursts: the last burst (sent 10 / 0.6 s after the
    # first audio could be) plays 9.8 s after the start
    least = 10 / 0.6 - 9.8 - 0.2 / 0.6
    assert report.start_delay is not None
    assert least <= report.start_delay <= 1.3 * least + 0.1, (report.start_delay, least)
    assert report.start_reason.startswith("arrival 0.60x real time, ~10.0 s of speech left: ")
    # the voice was learned: 130 characters made 10 s
    assert sink._voices.chars_per_second("openai:OpenAI:alloy") == pytest.approx(13.0)


async def test_speak_with_the_adaptive_start_off_plays_at_once_and_stutters() -> None:
    sd = FakeSoundDevice()
    audio = speech(10.0)
    sink = await device_sink(sd, adaptive_start=False)
    async with sink:
        report = await ttsstream.speak(TEXT, provider=paced_openai(sd, audio, 0.6), sink=sink)
    assert report.underruns > 5
    assert gaps_in(sd.stream) == report.underruns
    assert report.start_delay is not None
    assert report.start_delay <= 0.02 + 1e-9  # the next block or two
    assert report.start_reason == "adaptive start off: started at the 30 ms prebuffer"
    assert sink._voices.chars_per_second("openai:OpenAI:alloy") is None


async def test_speak_on_a_fast_server_starts_at_the_prebuffer_as_before() -> None:
    sd = FakeSoundDevice()
    audio = speech(3.0)
    sink = await device_sink(sd)
    async with sink:
        report = await ttsstream.speak(
            "y" * 39, provider=paced_openai(sd, audio, 2.0, burst=0.3, whole=True), sink=sink
        )
    np.testing.assert_array_equal(heard(sd.stream), audio[:, 0])
    assert report.underruns == 0
    assert report.start_delay is not None
    assert report.start_delay <= 0.01 + 1e-9  # the next block
    # the first 0.3 s arrived 0.2 s after the request
    assert (
        report.start_reason
        == "server faster than real time (1.50x): started at the 30 ms prebuffer"
    )


async def test_speak_with_adaptive_start_false_builds_a_fixed_sink(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[DeviceSink] = []

    class Recording(DeviceSink):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

        async def prepare(self, format: AudioFormat | None = None) -> None:
            pass  # no device in this test

    monkeypatch.setattr("ttsstream._play.device.DeviceSink", Recording)
    provider = ttsstream.OpenAI(
        api_key=KEY, retries=Retries(0), client=client_for(lambda r: httpx.Response(401))
    )
    for flag in (False, True):
        with pytest.raises(ttsstream.AuthenticationError):
            await ttsstream.speak("Hi.", provider=provider, adaptive_start=flag)
    with pytest.raises(ttsstream.AuthenticationError):
        await ttsstream.speak("Hi.", provider=provider)
    assert [sink.adaptive_start for sink in made] == [False, True, True]


# -- DeviceSink -----------------------------------------------------------------------------


async def test_without_a_text_length_the_device_sink_starts_at_the_prebuffer() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    sink = await device_sink(sd)
    async with sink:
        await sink.open(S16)
        await sink.write(speech(0.05))
        block = sd.stream.tick(240)
        assert block.data.all()
        assert sink.start_delay == 0.0
        assert sink.start_reason == "no text length given: started at the 30 ms prebuffer"


async def test_while_it_waits_the_buffer_may_hold_more_than_buffer_seconds() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    sink = await device_sink(sd, buffer=0.1)
    async with sink:
        sink.expect(chars=130, key="k")
        await sink.open(S16)
        for _ in range(20):
            sd.stream.tick(240)
        await sink.write(speech(0.05))  # 0.05 s after 0.2 s: looks slow, so it measures
        assert sink._hold is not None
        assert sink._hold.reason == "measuring the arrival rate"
        engine = sink._engine
        assert engine is not None
        for _ in range(100):
            sd.stream.tick(240)
        with anyio.fail_after(5):  # 0.4 s a second later: 0.4x; all of it fits, no waiting
            await sink.write(speech(0.4))
        assert sink._hold.reason.startswith("arrival 0.40x real time")
        assert engine.ring.readable == round(0.45 * RATE)
        assert not sd.stream.tick(240).data.any()
        assert not engine.started
        await sink.abort()


async def test_a_slow_server_holds_the_device_sink_and_the_reason_tells() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    sink = await device_sink(sd)
    async with sink:
        sink.expect(chars=130, key="k")  # 10 s of speech
        await sink.open(S16)
        chunk = speech(0.25)
        for _ in range(4):  # 0.25 s of audio every 0.5 s: 0.5x
            for _ in range(50):
                assert not sd.stream.tick(240).data.any()
            await sink.write(chunk)
        assert sink.start_delay is None
        hold = sink._hold
        assert hold is not None
        assert hold.rate == pytest.approx(0.5, rel=0.01)
        assert hold.reason.startswith("arrival 0.50x real time, ~10.0 s of speech left: waited")
        for _ in range(50):
            assert not sd.stream.tick(240).data.any()  # 1 s buffered: still waiting
        await sink.abort()
    assert sink.start_delay is None  # it never started


# -- Speaker --------------------------------------------------------------------------------


async def test_speaker_tells_the_sink_each_text_and_the_utterance_reports_the_start() -> None:
    sd = FakeSoundDevice()
    audio = speech(10.0)
    sink = await device_sink(sd)
    # The speaker's fetcher reads the body (and so runs the fake device) in its own task: it
    # waits for the player to take up the text (at once, as for a first utterance) and to write
    # what it got before running the device on.
    provider = paced_openai(sd, audio, 0.6, sink=sink)
    async with sink, ttsstream.Speaker(provider=provider, sink=sink) as speaker:
        first = await speaker.say(TEXT)
    np.testing.assert_array_equal(heard(sd.stream), audio[:, 0])
    assert first.state is ttsstream.UtteranceState.DONE
    assert first.underruns == 0
    assert first.start_delay is not None
    least = 10 / 0.6 - 9.8 - 0.2 / 0.6
    assert least <= first.start_delay <= 1.3 * least + 0.1
    assert first.start_reason.startswith("arrival 0.60x real time, ~10.0 s of speech left: ")
    assert sink._voices.chars_per_second("openai:OpenAI:alloy") == pytest.approx(13.0)


async def test_speaker_with_the_adaptive_start_off_on_its_own_sink() -> None:
    speaker = ttsstream.Speaker(provider=ttsstream.OpenAI(api_key=KEY), adaptive_start=False)
    assert speaker.adaptive_start is False
    assert ttsstream.Speaker(provider=ttsstream.OpenAI(api_key=KEY)).adaptive_start is True


# -- other sinks ----------------------------------------------------------------------------


async def test_sinks_that_do_not_play_in_real_time_report_no_start() -> None:
    sink = ttsstream.MemorySink()
    sink.expect(chars=10, key="k")  # a hint it ignores
    provider = ttsstream.OpenAI(
        api_key=KEY,
        retries=Retries(0),
        client=client_for(
            lambda r: httpx.Response(
                200, headers={"content-type": "audio/wav"}, content=streaming_wav(speech(0.1))
            )
        ),
    )
    report = await ttsstream.speak("Hi.", provider=provider, sink=sink)
    assert report.frames == round(0.1 * RATE)
    assert (report.start_delay, report.start_reason) == (None, "")


async def test_a_tee_passes_the_hint_on_and_reports_the_device_s_start() -> None:
    class Hinted(ttsstream.MemorySink):
        def __init__(self) -> None:
            super().__init__()
            self.hints: list[tuple[int, str]] = []

        def expect(self, *, chars: int, key: str, requested_at: float | None = None) -> None:
            self.hints.append((chars, key))

        @property
        def start_delay(self) -> float | None:
            return 0.25 if self.hints else None

        @property
        def start_reason(self) -> str:
            return "because" if self.hints else ""

    quiet, hinted = ttsstream.MemorySink(), Hinted()
    tee = ttsstream.TeeSink(quiet, hinted)
    assert (tee.start_delay, tee.start_reason) == (None, "")
    tee.expect(chars=12, key="k")
    assert hinted.hints == [(12, "k")]
    assert (tee.start_delay, tee.start_reason) == (0.25, "because")


async def test_a_text_shorter_than_announced_starts_when_it_ends_and_says_so() -> None:
    sd = FakeSoundDevice()
    sink = await device_sink(sd)
    async with sink:
        sink.expect(chars=130, key="k")  # ~10 s announced...
        await sink.open(S16)
        for _ in range(30):
            sd.stream.tick(240)
        await sink.write(speech(0.2))  # ...0.2 s after 0.3 s, and that is all
        await sink.drain()
        assert sink.start_reason == (
            "all of its audio had arrived, so it started at once (the policy: measuring the "
            "arrival rate)"
        )
        assert sink.start_delay is not None
        # The stream opened ahead by prepare() starts with its first audio, so the first
        # callback can be the one that starts playing: no delay at all.
        assert 0 <= sink.start_delay < 0.1
        np.testing.assert_array_equal(heard(sd.stream), speech(0.2)[:, 0])


async def test_a_text_requested_earlier_counts_from_its_request() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    sink = await device_sink(sd)
    async with sink:
        await sink.open(S16)
        for _ in range(50):
            sd.stream.tick(240)  # now 100.5
        # asked 0.4 s ago; 0.5 s of audio arrives now: 1.25x since the request, so fast
        sink.expect(chars=130, key="k", requested_at=sd.stream.clock - 0.4)
        await sink.write(speech(0.5))
        assert sink._hold is not None
        assert sink._hold.reason == (
            "server faster than real time (1.25x): started at the 30 ms prebuffer"
        )
        sink.expect(chars=130, key="k")  # the next text, asked just now: looks slower
        for _ in range(20):
            sd.stream.tick(240)
        await sink.write(speech(0.1))
        assert sink._hold.reason == "measuring the arrival rate"
        assert sink._hold.then_reason.startswith("arrival 0.50x")  # 0.1 s in 0.2 s
        await sink.abort()


async def test_speaker_hints_each_text_with_the_time_of_its_request() -> None:
    import time

    class Hinted(ttsstream.MemorySink):
        def __init__(self) -> None:
            super().__init__()
            self.hints: list[tuple[int, str, float | None]] = []

        def expect(self, *, chars: int, key: str, requested_at: float | None = None) -> None:
            self.hints.append((chars, key, requested_at))

    provider = ttsstream.OpenAI(
        api_key=KEY,
        retries=Retries(0),
        client=client_for(
            lambda r: httpx.Response(
                200, headers={"content-type": "audio/wav"}, content=streaming_wav(speech(0.1))
            )
        ),
    )
    sink = Hinted()
    before = time.monotonic()
    async with ttsstream.Speaker(provider=provider, sink=sink) as speaker:
        await speaker.say("One two.")
        await speaker.say("Three.")
    after = time.monotonic()
    assert [(c, k) for c, k, _ in sink.hints] == [
        (8, "openai:OpenAI:alloy"),
        (6, "openai:OpenAI:alloy"),
    ]
    times = [t for _, _, t in sink.hints]
    assert all(t is not None and before <= t <= after for t in times)
    assert times[0] < times[1]  # type: ignore[operator]
