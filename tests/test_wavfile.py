"""WavFileSink: every file it leaves behind is a valid WAV holding exactly the samples written,
whether the utterance was drained, aborted half-way or never finished at all.

Files are read back by libsndfile (through ``soundfile``) and by Python's ``wave``, and their
headers are checked byte by byte.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
import pytest
import soundfile

import ttsstream
from ttsstream import AudioFormat
from ttsstream._play import wavfile as wavfile_module
from ttsstream._play.wavfile import WavFileSink

from .fakes import FMT, FakeProvider, audio_for
from .httpfakes import tone

pytestmark = pytest.mark.anyio

Samples = npt.NDArray[Any]

MONO16 = AudioFormat(24000, 1, "int16")
STEREO16 = AudioFormat(22050, 2, "int16")
MONO32 = AudioFormat(16000, 1, "int32")
FLOAT = AudioFormat(48000, 1, "float32")


def make_samples(fmt: AudioFormat, frames: int) -> Samples:
    """Deterministic samples in ``fmt`` that use the full range of its dtype, channels differ."""
    rng = np.random.default_rng(frames * fmt.channels)
    if fmt.dtype == "float32":
        floats = rng.uniform(-1.0, 1.0, (frames, fmt.channels))
        floats[0], floats[1] = -1.0, 1.0
        return floats.astype(np.float32)
    info = np.iinfo(fmt.dtype)
    values = rng.integers(info.min, info.max, (frames, fmt.channels), endpoint=True)
    values[0], values[1] = info.min, info.max  # the extremes survive the round trip
    return values.astype(fmt.numpy_dtype)


def header(path: Path) -> dict[str, int]:
    """The fields of the canonical 44-byte header at the start of ``path``."""
    raw = path.read_bytes()[:44]
    assert len(raw) == 44, f"{path} is shorter than a WAV header"
    (riff, riff_size, wave_id, fmt_id, fmt_size, tag, channels, rate, byte_rate, align, bits) = (
        struct.unpack("<4sI4s4sIHHIIHH", raw[:36])
    )
    data_id, data_size = struct.unpack("<4sI", raw[36:44])
    assert (riff, wave_id, fmt_id, data_id) == (b"RIFF", b"WAVE", b"fmt ", b"data")
    assert fmt_size == 16
    return {
        "riff_size": riff_size,
        "tag": tag,
        "channels": channels,
        "rate": rate,
        "byte_rate": byte_rate,
        "align": align,
        "bits": bits,
        "data_size": data_size,
    }


def assert_valid(path: Path, fmt: AudioFormat, frames: int) -> None:
    """``path`` is a complete WAV of ``frames`` frames in ``fmt``: sizes agree with the file."""
    size = path.stat().st_size
    h = header(path)
    assert h["data_size"] == frames * fmt.bytes_per_frame
    assert h["data_size"] == size - 44
    assert h["riff_size"] == size - 8
    assert h["tag"] == (3 if fmt.dtype == "float32" else 1)
    assert h["channels"] == fmt.channels
    assert h["rate"] == fmt.sample_rate
    assert h["byte_rate"] == fmt.sample_rate * fmt.bytes_per_frame
    assert h["align"] == fmt.bytes_per_frame
    assert h["bits"] == fmt.bytes_per_sample * 8
    info = soundfile.info(str(path))
    assert info.frames == frames
    assert info.channels == fmt.channels
    assert info.samplerate == fmt.sample_rate


def read_soundfile(path: Path, fmt: AudioFormat) -> Samples:
    data, rate = soundfile.read(str(path), dtype=fmt.dtype, always_2d=True)
    assert rate == fmt.sample_rate
    assert data.dtype == fmt.numpy_dtype
    return np.asarray(data)


def read_wave(path: Path) -> tuple[int, Samples]:
    """Read an integer PCM WAV with the standard library: (rate, (frames, channels) array)."""
    with wave.open(str(path), "rb") as w:
        dtype = {2: "<i2", 4: "<i4"}[w.getsampwidth()]
        raw = w.readframes(w.getnframes())
        return w.getframerate(), np.frombuffer(raw, dtype).reshape(-1, w.getnchannels())


async def write_in_pieces(sink: WavFileSink, samples: Samples, sizes: tuple[int, ...]) -> None:
    """Write ``samples`` in pieces of the given sizes (cycled), including an empty one."""
    await sink.write(samples[:0])
    i = k = 0
    while i < len(samples):
        n = sizes[k % len(sizes)]
        await sink.write(samples[i : i + n])
        i += n
        k += 1


# -- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [MONO16, STEREO16, MONO32, FLOAT], ids=str)
async def test_drained_file_reads_back_sample_exactly(tmp_path: Path, fmt: AudioFormat) -> None:
    source = make_samples(fmt, 5000)
    path = tmp_path / "out.wav"
    sink = WavFileSink(path)
    await sink.open(fmt)
    await write_in_pieces(sink, source, (1, 999, 1234))
    await sink.drain()
    # drain() leaves a complete file behind, before aclose().
    assert_valid(path, fmt, 5000)
    np.testing.assert_array_equal(read_soundfile(path, fmt), source)
    assert sink.frames == sink.frames_played == 5000
    assert sink.duration == pytest.approx(5000 / fmt.sample_rate)
    assert sink.format == fmt
    await sink.aclose()
    assert_valid(path, fmt, 5000)
    np.testing.assert_array_equal(read_soundfile(path, fmt), source)


@pytest.mark.parametrize("fmt", [MONO16, STEREO16, MONO32], ids=str)
async def test_integer_files_read_back_with_the_wave_module(
    tmp_path: Path, fmt: AudioFormat
) -> None:
    source = make_samples(fmt, 3001)
    path = tmp_path / "out.wav"
    sink = WavFileSink(path)
    await sink.open(fmt)
    await sink.write(source)
    await sink.drain()
    await sink.aclose()
    rate, samples = read_wave(path)
    assert rate == fmt.sample_rate
    np.testing.assert_array_equal(samples, source)


async def test_stereo_is_interleaved_whatever_the_memory_layout(tmp_path: Path) -> None:
    left = np.arange(1000, dtype=np.int16)
    right = -left - 1
    source = np.stack([left, right], axis=1)
    path = tmp_path / "stereo.wav"
    sink = WavFileSink(path)
    await sink.open(STEREO16)
    await sink.write(np.asfortranarray(source[:500]))  # column-major
    await sink.write(np.stack([left, right])[:, 500:].T)  # a transposed view
    await sink.drain()
    await sink.aclose()
    _, samples = read_wave(path)
    np.testing.assert_array_equal(samples, source)
    np.testing.assert_array_equal(read_soundfile(path, STEREO16), source)


async def test_open_without_audio_leaves_an_empty_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sink = WavFileSink(path)
    await sink.open(MONO16)
    await sink.drain()
    await sink.aclose()
    assert_valid(path, MONO16, 0)
    assert path.stat().st_size == 44
    assert sink.frames == 0
    assert sink.duration == 0.0


# -- interruption ---------------------------------------------------------------------------


async def test_file_is_valid_after_abort_in_the_middle(tmp_path: Path) -> None:
    source = tone(6000)
    path = tmp_path / "aborted.wav"
    sink = WavFileSink(path)
    await sink.open(MONO16)
    await sink.write(source[:2500])
    await sink.abort()
    # Valid while the sink is still open: it holds what was received up to the abort.
    assert_valid(path, MONO16, 2500)
    np.testing.assert_array_equal(read_soundfile(path, MONO16), source[:2500])
    assert sink.frames_played == 2500
    await sink.aclose()
    assert_valid(path, MONO16, 2500)
    _, samples = read_wave(path)
    np.testing.assert_array_equal(samples, source[:2500])


@pytest.mark.parametrize("fmt", [MONO16, STEREO16, FLOAT], ids=str)
async def test_file_is_valid_after_aclose_without_drain(tmp_path: Path, fmt: AudioFormat) -> None:
    source = make_samples(fmt, 4000)
    path = tmp_path / "cut.wav"
    sink = WavFileSink(path)
    await sink.open(fmt)
    await sink.write(source[:1500])
    await sink.write(source[1500:3333])
    # Nothing finalized yet: the header still says 0 bytes of data.
    assert header(path)["data_size"] == 0
    await sink.aclose()  # interrupted: no drain(), no abort()
    assert_valid(path, fmt, 3333)
    np.testing.assert_array_equal(read_soundfile(path, fmt), source[:3333])


async def test_cancelled_speak_leaves_a_valid_file_with_what_arrived(tmp_path: Path) -> None:
    text = "A long sentence that takes a while to arrive, one small chunk at a time."
    provider = FakeProvider(chunk_frames=80, delay=0.01)
    path = tmp_path / "cancelled.wav"
    sink = WavFileSink(path)
    try:
        with anyio.move_on_after(0.15) as scope:
            await ttsstream.speak(text, provider=provider, sink=sink)
        assert scope.cancelled_caught
        assert provider.requests[0].closed_early
        written = sink.frames
        full = audio_for(text)
        assert 0 < written < len(full)
        # speak() aborted the sink, which finalized the header.
        assert_valid(path, FMT, written)
        np.testing.assert_array_equal(read_soundfile(path, FMT), full[:written])
    finally:
        await sink.aclose()
    assert_valid(path, FMT, written)


# -- several utterances ---------------------------------------------------------------------


async def test_two_utterances_in_one_format_are_appended(tmp_path: Path) -> None:
    first, second = tone(3000), tone(1700)[::-1].copy()
    path = tmp_path / "both.wav"
    sink = WavFileSink(path)
    await sink.open(MONO16)
    await sink.write(first)
    await sink.drain()
    assert sink.frames_played == 3000
    assert_valid(path, MONO16, 3000)

    await sink.open(MONO16)
    assert sink.frames_played == 0  # per utterance
    assert sink.frames == 3000  # per file
    await sink.write(second)
    assert sink.frames_played == 1700
    await sink.abort()  # the second one is interrupted
    assert sink.frames == 4700
    assert sink.duration == pytest.approx(4700 / 24000)
    assert_valid(path, MONO16, 4700)
    await sink.aclose()

    assert_valid(path, MONO16, 4700)
    _, samples = read_wave(path)
    np.testing.assert_array_equal(samples, np.concatenate([first, second]))


async def test_second_format_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    source = tone(1000)
    path = tmp_path / "one-format.wav"
    sink = WavFileSink(path)
    await sink.open(MONO16)
    await sink.write(source)
    await sink.drain()
    other = AudioFormat(44100, 2, "int16")
    with pytest.raises(ValueError, match="cannot append") as caught:
        await sink.open(other)
    message = str(caught.value)
    assert str(MONO16) in message
    assert str(other) in message
    assert sink.format == MONO16
    # The sink is still usable in its own format.
    await sink.open(MONO16)
    await sink.write(source)
    await sink.drain()
    await sink.aclose()
    assert_valid(path, MONO16, 2000)
    np.testing.assert_array_equal(read_soundfile(path, MONO16), np.concatenate([source] * 2))


async def test_same_rate_other_dtype_is_another_format(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "x.wav")
    await sink.open(AudioFormat(24000, 1, "int16"))
    with pytest.raises(ValueError, match=r"int16.*float32"):
        await sink.open(AudioFormat(24000, 1, "float32"))
    await sink.aclose()


# -- misuse and life cycle ------------------------------------------------------------------


async def test_write_before_open_raises(tmp_path: Path) -> None:
    path = tmp_path / "never.wav"
    sink = WavFileSink(path)
    with pytest.raises(RuntimeError, match="before open"):
        await sink.write(tone(10))
    assert not path.exists()
    assert sink.frames == 0
    assert sink.frames_played == 0
    assert sink.duration == 0.0
    await sink.aclose()
    assert not path.exists()  # nothing opened, nothing created


async def test_write_and_open_after_aclose_raise(tmp_path: Path) -> None:
    path = tmp_path / "closed.wav"
    sink = WavFileSink(path)
    await sink.open(MONO16)
    await sink.write(tone(100))
    await sink.aclose()
    with pytest.raises(RuntimeError):
        await sink.write(tone(100))
    with pytest.raises(RuntimeError, match="closed"):
        await sink.open(MONO16)
    await sink.drain()  # harmless once closed
    await sink.abort()
    assert_valid(path, MONO16, 100)


async def test_parent_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "speech.wav"
    sink = WavFileSink(str(path))  # a str works as well as a Path
    assert sink.path == path
    assert not path.parent.exists()  # created on open(), not before
    await sink.open(MONO16)
    await sink.write(tone(240))
    await sink.drain()
    await sink.aclose()
    assert_valid(path, MONO16, 240)


async def test_aclose_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "twice.wav"
    source = tone(500)
    async with WavFileSink(path) as sink:
        await sink.open(MONO16)
        await sink.write(source)
        await sink.drain()
        await sink.aclose()
        await sink.aclose()
    # __aexit__ closed it a third time.
    assert_valid(path, MONO16, 500)
    np.testing.assert_array_equal(read_soundfile(path, MONO16), source)


async def test_existing_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "old.wav"
    path.write_bytes(b"x" * 100_000)
    sink = WavFileSink(path)
    await sink.open(MONO16)
    await sink.write(tone(10))
    await sink.aclose()
    assert_valid(path, MONO16, 10)


async def test_wav_size_limit_is_enforced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real limit is 4 GiB; shrink it to 44 + 100 bytes to check the guard.
    monkeypatch.setattr(wavfile_module, "_RIFF_LIMIT", 44 + 100)
    path = tmp_path / "big.wav"
    sink = WavFileSink(path)
    await sink.open(MONO16)
    await sink.write(tone(50))  # exactly 100 bytes: allowed
    with pytest.raises(ValueError, match="4 GiB"):
        await sink.write(tone(1))
    await sink.aclose()
    assert_valid(path, MONO16, 50)  # the refused write left no trace


def test_repr_names_the_path(tmp_path: Path) -> None:
    assert repr(WavFileSink(tmp_path / "r.wav")) == f"WavFileSink({str(tmp_path / 'r.wav')!r})"


# -- with speak() ---------------------------------------------------------------------------


async def test_speak_into_a_wav_file(tmp_path: Path) -> None:
    text = "Saved, not played."
    provider = FakeProvider(chunk_frames=333)
    path = tmp_path / "out" / "speech.wav"
    sink = WavFileSink(path)
    try:
        report = await ttsstream.speak(text, provider=provider, sink=sink)
        expected = audio_for(text)
        # speak() drains but does not close a sink it was given: the file is complete already.
        assert_valid(path, FMT, len(expected))
        np.testing.assert_array_equal(read_soundfile(path, FMT), expected)
        assert report.frames == len(expected) == sink.frames == sink.frames_played
        assert report.format == FMT
        assert report.duration == pytest.approx(sink.duration)

        # A second speak() into the same sink appends the next utterance.
        await ttsstream.speak("And another.", provider=provider, sink=sink)
    finally:
        await sink.aclose()
    both = np.concatenate([audio_for(text), audio_for("And another.")])
    assert_valid(path, FMT, len(both))
    _, samples = read_wave(path)
    np.testing.assert_array_equal(samples, both)
    assert sink.frames_played == len(audio_for("And another."))


async def test_samples_of_the_wrong_shape_or_type_are_refused(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "x.wav")
    await sink.open(AudioFormat(24000, 2, "int16"))
    for bad in (np.zeros(10, np.int16), np.zeros((10, 1), np.int16), np.zeros((10, 2), np.float32)):
        with pytest.raises(ValueError, match="expected"):
            await sink.write(bad)
    await sink.aclose()
    assert sink.frames == 0


async def test_an_unwritable_path_is_a_clear_error_and_the_sink_stays_usable(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("not a directory")
    sink = WavFileSink(tmp_path / "file" / "x.wav")
    with pytest.raises(ttsstream.TTSStreamError, match="cannot write"):
        await sink.open(AudioFormat(24000))
    assert sink.format is None
    await sink.aclose()
