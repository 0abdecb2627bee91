"""AudioFormat and AudioChunk: what they accept, what they refuse (and say), their arithmetic."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from ttsstream import AudioChunk, AudioFormat


@pytest.mark.parametrize(
    ("dtype", "channels", "bytes_per_sample", "bytes_per_frame"),
    [
        ("int16", 1, 2, 2),
        ("int16", 2, 2, 4),
        ("int32", 1, 4, 4),
        ("int32", 6, 4, 24),
        ("float32", 2, 4, 8),
    ],
)
def test_sample_and_frame_sizes(
    dtype: str, channels: int, bytes_per_sample: int, bytes_per_frame: int
) -> None:
    fmt = AudioFormat(48000, channels, dtype)  # type: ignore[arg-type]
    assert fmt.numpy_dtype == np.dtype(dtype)
    assert fmt.bytes_per_sample == bytes_per_sample
    assert fmt.bytes_per_frame == bytes_per_frame


def test_defaults_are_mono_int16() -> None:
    fmt = AudioFormat(22050)
    assert (fmt.sample_rate, fmt.channels, fmt.dtype) == (22050, 1, "int16")


def test_the_smallest_valid_rate_and_channel_count_is_one() -> None:
    fmt = AudioFormat(1, 1)
    assert (fmt.sample_rate, fmt.channels) == (1, 1)


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        (0, "sample_rate must be a positive int, got 0"),
        (-8000, "sample_rate must be a positive int, got -8000"),
        (24000.0, "sample_rate must be a positive int, got 24000.0"),
        ("24000", "sample_rate must be a positive int, got '24000'"),
    ],
)
def test_a_bad_sample_rate_is_refused(rate: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        AudioFormat(rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channels", "message"),
    [
        (0, "channels must be a positive int, got 0"),
        (-2, "channels must be a positive int, got -2"),
        (2.0, "channels must be a positive int, got 2.0"),
        (None, "channels must be a positive int, got None"),
    ],
)
def test_a_bad_channel_count_is_refused(channels: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        AudioFormat(24000, channels)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", ["int8", "float64", "INT16", "s16le"])
def test_a_sample_type_portaudio_does_not_take_is_refused(dtype: str) -> None:
    message = f"dtype must be one of int16, int32, float32; got {dtype!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        AudioFormat(24000, 1, dtype)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rate", "frames", "seconds"),
    [(24000, 12000, 0.5), (8000, 8000, 1.0), (44100, 441, 0.01), (16000, 0, 0.0), (2, 3, 1.5)],
)
def test_duration_of_frames(rate: int, frames: int, seconds: float) -> None:
    assert AudioFormat(rate).duration(frames) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    ("rate", "seconds", "frames"),
    [
        (24000, 0.5, 12000),
        (8000, 2.0, 16000),
        (22050, 0.1, 2205),
        (48000, 0.0, 0),
        (3, 1 / 3, 1),
        (8000, 0.00019, 2),  # 1.52 frames: nearest, not truncated
        (8000, 0.00011, 1),  # 0.88 frames
    ],
)
def test_frames_in_seconds_round_to_the_nearest_frame(
    rate: int, seconds: float, frames: int
) -> None:
    got = AudioFormat(rate).frames(seconds)
    assert got == frames
    assert type(got) is int


@pytest.mark.parametrize(("channels", "dtype"), [(1, "int16"), (2, "float32"), (6, "int32")])
def test_empty_is_zero_frames_of_the_format(channels: int, dtype: str) -> None:
    empty = AudioFormat(24000, channels, dtype).empty()  # type: ignore[arg-type]
    assert empty.shape == (0, channels)
    assert empty.dtype == np.dtype(dtype)
    # An empty array of the format is a valid chunk.
    assert AudioChunk(empty, AudioFormat(24000, channels, dtype)).frames == 0  # type: ignore[arg-type]


def test_str_reads_as_rate_channels_type() -> None:
    assert str(AudioFormat(24000, 2, "float32")) == "24000 Hz, 2 ch, float32"
    assert str(AudioFormat(8000)) == "8000 Hz, 1 ch, int16"


def test_formats_are_values() -> None:
    assert AudioFormat(24000, 1, "int16") == AudioFormat(24000)
    assert AudioFormat(24000) != AudioFormat(24000, 2)
    assert len({AudioFormat(24000), AudioFormat(24000, 1, "int16"), AudioFormat(16000)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        AudioFormat(24000).sample_rate = 16000  # type: ignore[misc]


def test_chunk_counts_frames_and_seconds() -> None:
    fmt = AudioFormat(8000, 2, "int16")
    chunk = AudioChunk(np.zeros((2000, 2), np.int16), fmt, offset=4000)
    assert chunk.frames == 2000
    assert len(chunk) == 2000
    assert chunk.duration == 0.25
    assert chunk.offset == 4000


def test_chunk_offset_is_not_part_of_equality() -> None:
    fmt = AudioFormat(8000)
    samples = np.zeros((3, 1), np.int16)
    assert AudioChunk(samples, fmt, offset=0) == AudioChunk(samples, fmt, offset=9)


@pytest.mark.parametrize(
    ("shape", "channels", "message"),
    [
        ((4,), 1, "samples must have shape (frames, 1), got (4,)"),
        ((4, 1, 1), 1, "samples must have shape (frames, 1), got (4, 1, 1)"),
        ((4, 2), 1, "samples must have shape (frames, 1), got (4, 2)"),
        ((4, 1), 2, "samples must have shape (frames, 2), got (4, 1)"),
        ((0, 1), 2, "samples must have shape (frames, 2), got (0, 1)"),
    ],
)
def test_chunk_refuses_samples_of_the_wrong_shape(
    shape: tuple[int, ...], channels: int, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        AudioChunk(np.zeros(shape, np.int16), AudioFormat(24000, channels))


@pytest.mark.parametrize(
    ("samples", "fmt_dtype", "message"),
    [
        (np.zeros((2, 1), np.float32), "int16", "samples are float32, format says int16"),
        (np.zeros((2, 1), np.int16), "int32", "samples are int16, format says int32"),
        (np.zeros((2, 1), np.float64), "float32", "samples are float64, format says float32"),
    ],
)
def test_chunk_refuses_samples_of_another_type(
    samples: np.ndarray, fmt_dtype: str, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        AudioChunk(samples, AudioFormat(24000, 1, fmt_dtype))  # type: ignore[arg-type]
