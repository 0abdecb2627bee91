"""speak() and stream() with fake transports and in-memory sinks."""

from __future__ import annotations

import anyio
import httpx
import numpy as np
import pytest

import ttsstream
from ttsstream import MemorySink, Retries, StreamInterruptedError

from .httpfakes import Body, client_for, split, streaming_wav, tone

pytestmark = pytest.mark.anyio

KEY = "sk-test-key-0000000000"


def wav_provider(source: np.ndarray, **body_options: object) -> ttsstream.OpenAI:
    pieces = split(streaming_wav(source), [1023, 777, 1])
    return ttsstream.OpenAI(
        api_key=KEY,
        retries=Retries(0),
        client=client_for(
            lambda r: httpx.Response(
                200, headers={"content-type": "audio/wav"}, stream=Body(pieces, **body_options)
            )
        ),
    )


class RecordingSink(MemorySink):
    """A MemorySink that logs the calls made on it, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.expected: ttsstream.AudioFormat | None = None

    async def prepare(self, format: ttsstream.AudioFormat | None = None) -> None:
        self.calls.append("prepare")
        self.expected = format

    async def open(self, format: ttsstream.AudioFormat) -> None:
        self.calls.append("open")
        await super().open(format)

    async def drain(self) -> None:
        self.calls.append("drain")
        await super().drain()

    async def abort(self) -> None:
        self.calls.append("abort")
        await super().abort()

    async def aclose(self) -> None:
        self.calls.append("aclose")
        await super().aclose()


async def test_speak_plays_everything_and_reports() -> None:
    source = tone(12000)
    sink = RecordingSink()
    report = await ttsstream.speak("Hello.", provider=wav_provider(source), sink=sink)
    np.testing.assert_array_equal(sink.samples(), source)
    assert sink.calls == ["prepare", "open", "drain"]  # a sink we were given is not closed
    assert sink.expected == ttsstream.AudioFormat(24000)  # told early, to open the device
    assert report.frames == 12000
    assert report.duration == pytest.approx(0.5)
    assert report.bytes_received == 44 + 24000
    assert report.format == ttsstream.AudioFormat(24000, 1, "int16")
    assert report.provider == "openai"
    assert report.underruns == 0
    assert report.retries == 0
    assert report.ttfb is not None
    assert report.ttfa is not None
    assert 0 <= report.ttfb <= report.elapsed
    assert 0 <= report.ttfa <= report.elapsed


async def test_speak_plays_received_audio_then_raises_on_a_cut_stream() -> None:
    source = tone(12000)
    sink = RecordingSink()
    with pytest.raises(StreamInterruptedError):
        await ttsstream.speak("Hello.", provider=wav_provider(source, fail_after=10), sink=sink)
    received = sink.samples()
    assert received.shape[0] > 0
    np.testing.assert_array_equal(received, source[: received.shape[0]])
    assert sink.calls == ["prepare", "open", "drain"]


async def test_cancelling_speak_aborts_the_sink_and_closes_the_response() -> None:
    source = tone(24000)
    pieces = split(streaming_wav(source), [4800])
    body = Body(pieces, stall_after=3)
    tts = ttsstream.OpenAI(
        api_key=KEY,
        client=client_for(
            lambda r: httpx.Response(200, headers={"content-type": "audio/wav"}, stream=body)
        ),
    )
    sink = RecordingSink()
    with anyio.move_on_after(0.2) as scope:
        await ttsstream.speak("Hello.", provider=tts, sink=sink)
    assert scope.cancelled_caught
    assert sink.calls == ["prepare", "open", "abort"]
    assert body.closed


async def test_error_before_audio_leaves_the_sink_unopened() -> None:
    tts = ttsstream.OpenAI(
        api_key=KEY, retries=Retries(0), client=client_for(lambda r: httpx.Response(401))
    )
    sink = RecordingSink()
    with pytest.raises(ttsstream.AuthenticationError):
        await ttsstream.speak("Hello.", provider=tts, sink=sink)
    assert "open" not in sink.calls
    assert sink.chunks == []


async def test_long_text_is_split_into_requests_under_the_limit() -> None:
    texts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        texts.append(json.loads(request.content)["input"])
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(tone(240))
        )

    tts = ttsstream.OpenAI(api_key=KEY, client=client_for(handler), max_input_chars=60)
    text = " ".join(f"This is sentence number {i}." for i in range(10))
    sink = RecordingSink()
    report = await ttsstream.speak(text, provider=tts, sink=sink)
    assert all(len(t) <= 60 for t in texts)
    assert len(texts) >= 5
    assert " ".join(texts).split() == text.split()
    assert report.frames == 240 * len(texts) == sink.frames
    # The pieces play back to back: one session on the sink, drained once at the end.
    assert sink.calls == ["prepare", "open", "drain"]


async def test_a_failing_sink_is_aborted_not_drained() -> None:
    class BrokenSink(RecordingSink):
        async def write(self, samples: object) -> None:
            raise ttsstream.AudioDeviceError("the device went away")

    sink = BrokenSink()
    with pytest.raises(ttsstream.AudioDeviceError, match="went away"):
        await ttsstream.speak("Hello.", provider=wav_provider(tone(2400)), sink=sink)
    assert sink.calls == ["prepare", "open", "abort"]


async def test_speak_rejects_sink_and_device_together() -> None:
    with pytest.raises(ttsstream.ConfigurationError, match="not both"):
        await ttsstream.speak(
            "x", provider=wav_provider(tone(10)), sink=MemorySink(), device="pulse"
        )


async def test_stream_yields_chunks_and_closes_early() -> None:
    source = tone(24000)
    body = Body(split(streaming_wav(source), [1000]))
    tts = ttsstream.OpenAI(
        api_key=KEY,
        client=client_for(
            lambda r: httpx.Response(200, headers={"content-type": "audio/wav"}, stream=body)
        ),
    )
    async with ttsstream.stream("Hello", provider=tts) as audio:
        async for chunk in audio:
            assert isinstance(chunk, ttsstream.AudioChunk)
            assert chunk.samples.shape[1] == 1
            break
        assert audio.format == ttsstream.AudioFormat(24000, 1, "int16")
        assert audio.stats.ttfb is not None
    assert body.closed
    assert body.sent < len(body.pieces)


def test_default_provider_order(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TTSSTREAM_PROVIDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ELEVENLABS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    assert isinstance(ttsstream.default_provider(), ttsstream.OpenAI)
    monkeypatch.setenv("TTSSTREAM_PROVIDER", "elevenlabs")
    assert isinstance(ttsstream.default_provider(), ttsstream.ElevenLabs)
    monkeypatch.setenv("TTSSTREAM_PROVIDER", "nope")
    with pytest.raises(ttsstream.ConfigurationError, match="unknown provider 'nope'"):
        ttsstream.default_provider()
    monkeypatch.setenv("TTSSTREAM_PROVIDER", "azure")
    with pytest.raises(ttsstream.ConfigurationError, match="deployment"):
        ttsstream.default_provider()
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("TTSSTREAM_PROVIDER", "piper")
    assert isinstance(ttsstream.default_provider(), ttsstream.Piper)


def test_no_provider_error_lists_the_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    for name in ("TTSSTREAM_PROVIDER", "OPENAI_API_KEY", "OPENAI_BASE_URL", "ELEVENLABS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "piper" else real(n, *a)
    )
    with pytest.raises(ttsstream.ConfigurationError) as info:
        ttsstream.default_provider()
    message = str(info.value)
    assert "ttsstream[piper]" in message
    assert "OPENAI_API_KEY" in message
    assert "TTSSTREAM_PROVIDER" in message


def recording_provider() -> tuple[ttsstream.OpenAI, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, headers={"content-type": "audio/wav"}, content=b"")

    return ttsstream.OpenAI(api_key=KEY, client=client_for(handler)), requests


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            b"Hello",
            r'^text must be a str, not bytes: decode it first, e\.g\. data\.decode\("utf-8"\)$',
        ),
        (None, r"^text must be a str, not NoneType$"),
        (["Hello"], r"^text must be a str, not list$"),
    ],
)
async def test_text_that_is_not_a_str_is_a_type_error_at_the_call(
    text: object, message: str
) -> None:
    provider, requests = recording_provider()
    with pytest.raises(TypeError, match=message):
        await ttsstream.speak(text, provider=provider, sink=MemorySink())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        ttsstream.stream(text, provider=provider)  # type: ignore[arg-type]
    assert requests == []


async def test_a_lone_surrogate_is_a_configuration_error_that_says_so() -> None:
    provider, requests = recording_provider()
    message = r"^text contains a lone surrogate \(U\+D800\) at index 3, which cannot be encoded"
    with pytest.raises(ttsstream.ConfigurationError, match=message):
        await ttsstream.speak("Hi \ud800 there", provider=provider, sink=MemorySink())
    with pytest.raises(ttsstream.ConfigurationError, match=r"\(U\+DC80\) at index 0"):
        ttsstream.stream("\udc80", provider=provider)
    assert requests == []


class GappySink(MemorySink):
    """Counts a gap of 10 ms at every write, like a device running dry between chunks."""

    def __init__(self) -> None:
        super().__init__()
        self.gaps = 0
        self.silence = 0.0

    async def write(self, samples: np.ndarray) -> None:  # type: ignore[override]
        await super().write(samples)
        self.gaps += 1
        self.silence += 0.01

    @property
    def underruns(self) -> int:
        return self.gaps

    @property
    def gap_seconds(self) -> float:
        return self.silence


async def test_the_report_counts_the_gaps_of_this_call_only() -> None:
    sink = GappySink()
    sink.gaps, sink.silence = 5, 0.5  # from earlier use of the same sink
    source = tone(2400)
    pieces = split(streaming_wav(source), [44 + 1200, 1200, 1200, 1200])  # four chunks of 600
    tts = ttsstream.OpenAI(
        api_key=KEY,
        retries=Retries(0),
        client=client_for(
            lambda r: httpx.Response(
                200, headers={"content-type": "audio/wav"}, stream=Body(pieces)
            )
        ),
    )
    report = await ttsstream.speak("Hello.", provider=tts, sink=sink)
    writes = len(sink.chunks)
    assert writes == 4
    assert report.underruns == writes
    assert report.gap_seconds == pytest.approx(0.01 * writes)
