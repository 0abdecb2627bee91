"""Converter, convert_dtype and mix_channels: decoded audio into the format a device takes.

Expected samples are written out by hand; the resampler is checked against soxr itself (the
library it wraps) fed the same way, and against what resampling must keep (length, level).
soxr dithers int16 output with a seed of its own (time and address), so int16 results may
differ by a couple of LSB from run to run: those comparisons allow 2.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsstream import AudioFormat, ResamplerMissingError
from ttsstream._play.convert import Converter, convert_dtype, mix_channels

# -- sample types -----------------------------------------------------------------------------


def column(values: list[float] | list[int], dtype: str) -> np.ndarray:
    return np.array(values, dtype).reshape(-1, 1)


def test_same_type_is_returned_as_it_is() -> None:
    x = column([1, -2, 3], "int16")
    assert convert_dtype(x, "int16") is x


def test_int16_to_int32_is_left_justified() -> None:
    out = convert_dtype(column([1, -1, 32767, -32768, 0], "int16"), "int32")
    assert out.dtype == np.int32
    assert out.ravel().tolist() == [65536, -65536, 2147418112, -(2**31), 0]


def test_int32_to_int16_keeps_the_top_16_bits() -> None:
    out = convert_dtype(
        column([65536, 65535, -1, -65537, 2**31 - 1, -(2**31), 0x12345678], "int32"), "int16"
    )
    assert out.dtype == np.int16
    assert out.ravel().tolist() == [1, 0, -1, -2, 32767, -32768, 0x1234]


def test_int16_to_float32_is_full_scale() -> None:
    out = convert_dtype(column([-32768, -16384, 0, 1, 16384, 32767], "int16"), "float32")
    assert out.dtype == np.float32
    assert out.ravel().tolist() == [-1.0, -0.5, 0.0, 2**-15, 0.5, 32767 / 32768]


def test_int32_to_float32_is_full_scale() -> None:
    out = convert_dtype(column([-(2**31), -(2**29), 0, 2**16, 2**30], "int32"), "float32")
    assert out.dtype == np.float32
    assert out.ravel().tolist() == [-1.0, -0.25, 0.0, 2**-15, 0.5]


def test_float32_to_int16_rounds_to_nearest_and_clips() -> None:
    x = column(
        [0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 0.75 / 32768, -0.75 / 32768, 0.25 / 32768], "float32"
    )
    out = convert_dtype(x, "int16")
    assert out.dtype == np.int16
    assert out.ravel().tolist() == [16384, -16384, 32767, -32768, 32767, -32768, 1, -1, 0]


def test_float32_to_int32_is_exact_at_full_scale_and_clips() -> None:
    x = column([0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 2**-31, np.inf, -np.inf], "float32")
    out = convert_dtype(x, "int32")
    assert out.dtype == np.int32
    assert out.ravel().tolist() == [
        2**30, -(2**30), 2**31 - 1, -(2**31), 2**31 - 1, -(2**31), 1, 2**31 - 1, -(2**31),
    ]  # fmt: skip


@pytest.mark.parametrize("dtype", ["int16", "int32"])
def test_nan_plays_as_silence(dtype: str) -> None:
    # A broken float stream must not become full-scale clicks, nor a warning from the cast.
    out = convert_dtype(column([np.nan, 0.5], "float32"), dtype)  # type: ignore[arg-type]
    assert out.ravel().tolist() == [0, {"int16": 16384, "int32": 2**30}[dtype]]


# -- channels ---------------------------------------------------------------------------------


def test_same_channel_count_is_returned_as_it_is() -> None:
    x = np.array([[1, 2], [3, 4]], np.int16)
    assert mix_channels(x, 2) is x


def test_mono_is_copied_to_every_channel() -> None:
    out = mix_channels(column([1, -2], "int16"), 3)
    assert out.dtype == np.int16
    assert out.tolist() == [[1, 1, 1], [-2, -2, -2]]


def test_integer_channels_are_averaged_to_mono_and_rounded() -> None:
    stereo = np.array([[1, 3], [-2, -4], [1, 2], [1, 4], [32767, 32767], [-32768, -32768]])
    out = mix_channels(stereo.astype(np.int16), 1)
    assert out.dtype == np.int16
    # 1.5 -> 2 and 2.5 -> 2: to the nearest even, as np.rint does; no overflow at full scale.
    assert out.ravel().tolist() == [2, -3, 2, 2, 32767, -32768]


def test_float_channels_are_averaged_to_mono_exactly() -> None:
    out = mix_channels(np.array([[0.25, 0.5], [-1.0, 0.0]], np.float32), 1)
    assert out.dtype == np.float32
    assert out.ravel().tolist() == [0.375, -0.5]


def test_six_channels_average_to_mono() -> None:
    out = mix_channels(np.array([[6, 0, 0, 0, 0, 1]], np.int32), 1)
    assert out.tolist() == [[1]]  # 7 / 6 = 1.17


def test_more_channels_get_silence_and_fewer_keep_the_first() -> None:
    stereo = np.array([[1, 3], [-2, -4]], np.int16)
    assert mix_channels(stereo, 4).tolist() == [[1, 3, 0, 0], [-2, -4, 0, 0]]
    three = np.array([[1, 2, 3], [4, 5, 6]], np.int16)
    out = mix_channels(three, 2)
    assert out.tolist() == [[1, 2], [4, 5]]
    assert out.dtype == np.int16


# -- Converter without a rate change ------------------------------------------------------------

S16_MONO = AudioFormat(24000, 1, "int16")


def test_identity_converter_changes_nothing() -> None:
    conv = Converter(S16_MONO, AudioFormat(24000, 1, "int16"))
    assert conv.identity
    assert not conv.resampling
    assert conv.process(column([5, -5], "int16")).tolist() == [[5], [-5]]
    flushed = conv.flush()
    assert (flushed.shape, flushed.dtype) == ((0, 1), np.int16)


def test_mono_int16_to_stereo_float32() -> None:
    conv = Converter(S16_MONO, AudioFormat(24000, 2, "float32"))
    assert not conv.identity
    assert not conv.resampling
    out = conv.process(column([16384, -32768], "int16"))
    assert out.dtype == np.float32
    assert out.tolist() == [[0.5, 0.5], [-1.0, -1.0]]
    flushed = conv.flush()
    assert (flushed.shape, flushed.dtype) == ((0, 2), np.float32)


def test_stereo_is_mixed_down_before_the_type_changes() -> None:
    # Mixed as int16 (1.5 rounds to 2), then converted: not 1.5 / 32768.
    conv = Converter(AudioFormat(24000, 2, "int16"), AudioFormat(24000, 1, "float32"))
    assert conv.process(np.array([[1, 2]], np.int16)).tolist() == [[2**-14]]


def test_output_is_contiguous_even_from_a_strided_view() -> None:
    conv = Converter(AudioFormat(24000, 2, "int16"), AudioFormat(24000, 2, "int16"))
    x = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.int16)[:, ::2]
    out = conv.process(x)
    assert out.flags.c_contiguous
    assert out.tolist() == [[1, 3], [5, 7]]


# -- Converter with a rate change --------------------------------------------------------------

soxr = pytest.importorskip("soxr")


def reference(x: np.ndarray, pieces: list[int], rates: tuple[int, int], dtype: str) -> np.ndarray:
    """soxr's own stream resampler fed the same pieces (the expected output)."""
    stream = soxr.ResampleStream(rates[0], rates[1], x.shape[1], dtype, "HQ")
    out = [
        stream.resample_chunk(x[a:b]) for a, b in zip([0, *pieces], [*pieces, len(x)], strict=True)
    ]
    out.append(stream.resample_chunk(x[:0], last=True))
    return np.concatenate(out).reshape(-1, x.shape[1])


def assert_close_int16(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype == np.int16
    assert np.abs(got.astype(np.int32) - expected).max(initial=0) <= 2


def run(conv: Converter, x: np.ndarray, pieces: list[int]) -> np.ndarray:
    bounds = zip([0, *pieces], [*pieces, len(x)], strict=True)
    return np.concatenate([*(conv.process(x[a:b]) for a, b in bounds), conv.flush()])


def noise(frames: int, channels: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-20000, 20000, (frames, channels), np.int16)


@given(data=st.data())
@settings(max_examples=15, deadline=None)
def test_int16_is_resampled_as_int16_by_soxr_however_it_is_split(data: st.DataObject) -> None:
    x = noise(data.draw(st.integers(0, 3000)), 1, data.draw(st.integers(0, 2**16)))
    pieces = sorted(data.draw(st.lists(st.integers(0, len(x)), max_size=6)))
    conv = Converter(AudioFormat(22050, 1, "int16"), AudioFormat(48000, 1, "int16"))
    assert conv.resampling
    assert not conv.identity
    out = run(conv, x, pieces)
    assert out.dtype == np.int16
    assert_close_int16(out, reference(x, pieces, (22050, 48000), "int16"))


def test_a_second_of_audio_stays_a_second_long() -> None:
    x = noise(22050, 1, seed=3)
    conv = Converter(AudioFormat(22050, 1, "int16"), AudioFormat(48000, 1, "int16"))
    out = run(conv, x, [1000, 5000, 5001, 20000])
    assert out.shape == (48000, 1)


def test_a_level_is_kept_through_resampling_and_type_change() -> None:
    # 0.5 full scale at 8 kHz becomes 16384 at 16 kHz (away from the edges, where the filter rings).
    conv = Converter(AudioFormat(8000, 1, "float32"), AudioFormat(16000, 1, "int16"))
    out = run(conv, np.full((800, 1), 0.5, np.float32), [400])
    assert out.shape == (1600, 1)
    assert out.dtype == np.int16
    assert np.abs(out[200:1400, 0].astype(np.int32) - 16384).max() <= 16


def test_stereo_is_mixed_down_before_resampling_and_mono_spread_after() -> None:
    left, right = np.full((1000, 1), 10000, np.int16), np.full((1000, 1), 20000, np.int16)
    down = Converter(AudioFormat(16000, 2, "int16"), AudioFormat(48000, 1, "int16"))
    mono = run(down, np.hstack([left, right]), [500])
    assert mono.shape == (3000, 1)
    assert np.abs(mono[500:2500, 0].astype(np.int32) - 15000).max() <= 16
    up = Converter(AudioFormat(16000, 1, "int16"), AudioFormat(48000, 2, "float32"))
    stereo = run(up, left, [500])
    assert stereo.shape == (3000, 2)
    assert stereo.dtype == np.float32
    np.testing.assert_array_equal(stereo[:, 0], stereo[:, 1])
    assert np.abs(stereo[500:2500] - 10000 / 32768).max() <= 1e-3


def test_resampling_into_a_wider_type_keeps_float32_precision() -> None:
    # int16 -> int32 is resampled in float32: not in int16 and then shifted into 65536-steps.
    x = noise(2000, 1, seed=8)
    conv = Converter(AudioFormat(16000, 1, "int16"), AudioFormat(24000, 1, "int32"))
    out = run(conv, x, [700])
    assert out.dtype == np.int32
    assert np.count_nonzero(out % 65536) > 2900
    in_int16 = reference(x, [700], (16000, 24000), "int16").astype(np.int64) << 16
    assert np.abs(out - in_int16).max() <= 2 * 65536


def test_strided_input_is_resampled() -> None:
    x = noise(1000, 2, seed=4)
    conv = Converter(AudioFormat(16000, 1, "int16"), AudioFormat(32000, 1, "int16"))
    out = run(conv, x[:, 1:], [])  # a column view, not contiguous
    assert_close_int16(out, reference(np.ascontiguousarray(x[:, 1:]), [], (16000, 32000), "int16"))


def test_a_missing_resampler_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "soxr", None)  # import soxr now raises ImportError
    message = (
        "the output device needs a different sample rate and the resampler is not installed: "
        "pip install 'ttsstream[resample]' (or pip install soxr)"
    )
    with pytest.raises(ResamplerMissingError, match=f"^{re.escape(message)}$"):
        Converter(AudioFormat(22050), AudioFormat(48000))
    # No rate change: the resampler is not needed, so not imported.
    assert Converter(AudioFormat(22050), AudioFormat(22050, 2)).process(
        column([7], "int16")
    ).tolist() == [[7, 7]]
