"""DeviceSink on a real PulseAudio daemon, through PortAudio's ALSA ``pulse`` device.

A null sink's monitor is recorded with ``parec``; at the sink's own rate and format what
PortAudio plays arrives bit-exact, so these tests compare sample by sample.
"""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from ttsstream import AudioFormat
from ttsstream._play.device import DeviceSink

from .audio import PulseServer, chunked, locate, noise, nonsilent_span, play

pytestmark = [pytest.mark.audio, pytest.mark.anyio]

S16_24K = AudioFormat(24000, 1, "int16")


async def test_plays_every_sample_bit_exact_and_nothing_else(pulse: PulseServer) -> None:
    source = noise(36000, seed=1)  # 1.5 s
    sink = DeviceSink("pulse")
    with pulse.record() as rec:
        try:
            await play(sink, source, S16_24K)
            heard = sink.frames_played
            # Stop PortAudio the hard way (dropping whatever the device still buffers) the moment
            # drain() returns: everything must have been played already.
            await anyio.to_thread.run_sync(sink._stream.abort)
        finally:
            await sink.aclose()
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    # No sample lost at either end, no silence inserted (noise is never 0), no garbage around.
    assert end - first == len(source)
    np.testing.assert_array_equal(rec.samples[first:end], source[:, 0])
    assert heard == len(source)
    assert sink.underruns == 0


async def test_resamples_without_clicks_and_keeps_the_tail(
    pulse: PulseServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    soxr = pytest.importorskip("soxr")
    # A 48 kHz null sink, and a stream forced to 48 kHz: the 22050 Hz source goes through the
    # sink's streaming resampler (the path taken when a device refuses the source's rate).
    monkeypatch.setenv("PULSE_SINK", "ttsstream_test48")
    fmt = AudioFormat(22050, 1, "int16")
    source = noise(22050, seed=2)  # 1 s
    expected = soxr.resample(source, 22050, 48000, "HQ")[:, 0]  # the whole signal at once
    sink = DeviceSink("pulse", samplerate=48000)
    with pulse.record("ttsstream_test48") as rec:
        try:
            await play(sink, source, fmt)
            assert sink.stream_format == AudioFormat(48000, 1, "int16")
            heard = sink.frames_played
        finally:
            await sink.aclose()
    captured = rec.samples
    assert captured is not None
    at = locate(captured, expected)
    got = captured[at : at + len(expected)].astype(np.int32)
    assert len(got) == len(expected)  # the flushed tail was played, not cut off
    # Chunk-by-chunk resampling matches resampling the whole signal: no clicks at chunk edges.
    assert np.abs(got - expected).max() <= 4
    assert not captured[:at].any()
    assert not captured[at + len(expected) :].any()
    assert heard == len(source)


async def test_abort_fades_out_then_the_open_device_plays_another_format(
    pulse: PulseServer,
) -> None:
    soxr = pytest.importorskip("soxr")
    first = noise(36000, seed=3)  # 1.5 s, but aborted after about 0.4 s
    second_fmt = AudioFormat(16000, 1, "int16")
    second = noise(4800, seed=4)  # 0.3 s, resampled into the open 24 kHz stream
    sink = DeviceSink("pulse")
    with pulse.record() as rec:
        try:
            await sink.open(S16_24K)
            for piece in chunked(first):
                await sink.write(piece)
            stream = sink._stream
            while sink.frames_played < 9600:
                await anyio.sleep(0.01)
            await sink.abort()
            heard = sink.frames_played
            await play(sink, second, second_fmt)
            assert sink._stream is stream  # the device stayed open
        finally:
            await sink.aclose()
    captured = rec.samples
    assert captured is not None
    fade = round(0.005 * 24000)
    start = locate(captured, first[:4800])
    clean = heard - fade
    # Unchanged up to the fade, then at most 5 ms fading out, never louder than the source...
    np.testing.assert_array_equal(captured[start : start + clean], first[:clean, 0])
    faded = captured[start + clean : start + heard].astype(np.int32)
    assert (np.abs(faded) <= np.abs(first[clean:heard, 0].astype(np.int32))).all()
    # ...then digital silence until the next utterance, which plays in full.
    expected = soxr.resample(second, 16000, 24000, "HQ")[:, 0]
    at = locate(captured, expected)
    assert not captured[start + heard : at].any()
    assert at - (start + heard) > 0
    np.testing.assert_allclose(captured[at : at + len(expected)], expected, atol=4)
    assert not captured[at + len(expected) :].any()
