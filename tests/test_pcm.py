"""PcmDecoder (headerless streams: OpenAI ``pcm``, ElevenLabs ``pcm_24000`` / ``ulaw_8000``).

Same h11-style harness as the WAV tests: every stream is fed whole, byte by byte and in random
splits, and must give exactly the expected samples.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsstream import AudioFormat, Encoding, PcmDecoder
from ttsstream._decode.pcm import (
    _copy,
    _copy_codec,
    _g711_alaw_table,
    _g711_ulaw_table,
    _table,
    output_dtype,
)

from .test_wav import (
    ALAW_REF,
    BUFFER_KINDS,
    HYPOTHESIS_REPORT_WARNING,
    ULAW_REF,
    Decoder,
    Enc,
    Samples,
    assert_same_samples,
    assert_split_invariant,
    decode_mixed_buffers,
    decode_pieces,
    split_at,
)

pytestmark = pytest.mark.filterwarnings(HYPOTHESIS_REPORT_WARNING)

#: wire encoding -> (generator in test_wav's terms, bytes per sample, output dtype)
ENCODINGS: dict[Encoding, tuple[str, int, str]] = {
    "u8": ("u8", 1, "int16"),
    "s16le": ("s16", 2, "int16"),
    "s16be": ("s16", 2, "int16"),
    "s24le": ("s24", 3, "int32"),
    "s32le": ("s32", 4, "int32"),
    "f32le": ("f32", 4, "float32"),
    "f64le": ("f64", 8, "float32"),
    "mulaw": ("mulaw", 1, "int16"),
    "alaw": ("alaw", 1, "int16"),
}


def make_stream(encoding: Encoding, frames: int, channels: int, seed: int) -> tuple[bytes, Samples]:
    name, _, dtype = ENCODINGS[encoding]
    raw, expected = Enc(name, 0, 0, dtype).make(np.random.default_rng(seed), frames, channels)
    if encoding == "s16be":  # audio/L16: network byte order
        raw = expected.astype(">i2").tobytes()
    return raw, expected


def factory(encoding: Encoding, channels: int, rate: int = 24000) -> Callable[[], Decoder]:
    fmt = AudioFormat(sample_rate=rate, channels=channels, dtype=ENCODINGS[encoding][2])  # type: ignore[arg-type]
    return partial(PcmDecoder, fmt, encoding)


def test_every_encoding_is_covered() -> None:
    assert set(ENCODINGS) == set(Encoding.__args__)  # type: ignore[attr-defined]
    for encoding, (_, _, dtype) in ENCODINGS.items():
        assert output_dtype(encoding) == dtype


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_every_encoding_any_split(encoding: Encoding, data: st.DataObject) -> None:
    channels = data.draw(st.sampled_from([1, 2, 3, 6]), label="channels")
    frames = data.draw(st.integers(0, 40), label="frames")
    payload, expected = make_stream(
        encoding, frames, channels, data.draw(st.integers(0, 2**32 - 1))
    )
    for dec in assert_split_invariant(
        payload, expected, make=factory(encoding, channels), data=data
    ):
        assert isinstance(dec, PcmDecoder)
        assert dec.frames_decoded == frames
        assert dec.dropped_bytes == 0
        assert dec.encoding == encoding


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_partial_last_frame_is_dropped_and_reported(
    encoding: Encoding, data: st.DataObject
) -> None:
    channels = data.draw(st.sampled_from([1, 2, 6]), label="channels")
    frames = data.draw(st.integers(0, 10), label="frames")
    payload, expected = make_stream(encoding, frames, channels, data.draw(st.integers(0, 2**16)))
    frame_bytes = ENCODINGS[encoding][1] * channels
    if frame_bytes == 1:
        return  # one-byte frames cannot be partial
    dangling = data.draw(st.integers(1, frame_bytes - 1), label="dangling")
    payload += b"\x7f" * dangling
    for dec in assert_split_invariant(
        payload, expected, make=factory(encoding, channels), data=data
    ):
        assert isinstance(dec, PcmDecoder)
        assert dec.dropped_bytes == dangling
        assert dec.frames_decoded == frames


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@given(data=st.data())
@settings(max_examples=20, deadline=None)
def test_mixed_buffer_types_any_split(encoding: Encoding, data: st.DataObject) -> None:
    """Fast path (bytes, whole frames) and carry-over path in any order, with bytearray and
    memoryview pieces that the caller overwrites right after feed() returns."""
    channels = data.draw(st.sampled_from([1, 2, 3]), label="channels")
    frames = data.draw(st.integers(0, 60), label="frames")
    payload, expected = make_stream(encoding, frames, channels, data.draw(st.integers(0, 2**16)))
    frame_bytes = ENCODINGS[encoding][1] * channels
    # Cut mostly at frame boundaries (the fast path), sometimes inside a frame.
    cuts = st.integers(0, frames).map(lambda f: f * frame_bytes) | st.integers(0, len(payload))
    points = data.draw(st.lists(cuts, max_size=12), label="splits")
    kinds = data.draw(st.lists(st.sampled_from(BUFFER_KINDS), min_size=1, max_size=6))
    got, dec = decode_mixed_buffers(factory(encoding, channels), split_at(payload, points), kinds)
    assert_same_samples(got, expected)
    assert isinstance(dec, PcmDecoder)
    assert dec.frames_decoded == frames


def test_partial_frame_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    dec = PcmDecoder(AudioFormat(sample_rate=24000, channels=2, dtype="int16"))
    with caplog.at_level(logging.WARNING, logger="ttsstream"):
        assert dec.feed(b"\x01\x00\x02\x00\x03").tolist() == [[1, 2]]
        assert dec.dropped_bytes == 0  # not dropped yet: it may still be completed
        assert dec.flush().shape == (0, 2)
    assert dec.dropped_bytes == 1
    assert caplog.messages == [
        "audio stream ended inside a frame: dropped 1 trailing byte(s) of a 4-byte frame"
    ]


def test_carried_bytes_complete_across_calls() -> None:
    dec = PcmDecoder(AudioFormat(sample_rate=24000, channels=1, dtype="int32"), "s24le")
    assert dec.feed(b"\x01").shape == (0, 1)
    assert dec.feed(b"\x02").shape == (0, 1)
    assert dec.feed(b"\x03\x04\x05").tolist() == [[0x03020100]]
    assert dec.feed(b"\x86").tolist() == [[0x86050400 - 2**32]]
    assert dec.flush().shape == (0, 1)
    assert (dec.frames_decoded, dec.dropped_bytes) == (2, 0)


@pytest.mark.parametrize(
    ("dtype", "encoding"), [("int16", "s16le"), ("int32", "s32le"), ("float32", "f32le")]
)
def test_default_encoding_is_the_dtype_little_endian(dtype: str, encoding: str) -> None:
    dec = PcmDecoder(AudioFormat(sample_rate=16000, channels=1, dtype=dtype))  # type: ignore[arg-type]
    assert dec.encoding == encoding
    value = np.array([[-7]], dtype=dtype)
    assert_same_samples(dec.feed(value.astype(np.dtype(dtype).newbyteorder("<")).tobytes()), value)


def test_openai_pcm_and_elevenlabs_ulaw() -> None:
    """OpenAI ``pcm``: 24 kHz s16le mono. ElevenLabs ``ulaw_8000``: G.711 mu-law to int16."""
    openai = PcmDecoder(AudioFormat(sample_rate=24000, channels=1, dtype="int16"))
    assert openai.feed(b"\x00\x80\xff\x7f\x01").tolist() == [[-32768], [32767]]
    eleven = PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="int16"), "mulaw")
    assert_same_samples(eleven.feed(bytes(range(256))), ULAW_REF.reshape(-1, 1))
    alaw = PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="int16"), "alaw")
    assert_same_samples(alaw.feed(bytes(range(256))), ALAW_REF.reshape(-1, 1))


def test_u8_and_s24_output_rules() -> None:
    u8 = PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="int16"), "u8")
    assert u8.feed(bytes([0, 1, 127, 128, 129, 255])).ravel().tolist() == [
        -32768, -32512, -256, 0, 256, 32512,
    ]  # fmt: skip
    s24 = PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="int32"), "s24le")
    out = s24.feed(b"\xff\xff\x7f\x00\x00\x80\x01\x00\x00\xff\xff\xff")
    assert out.ravel().tolist() == [0x7FFFFF00, -(2**31), 256, -256]


def test_float64_is_narrowed_to_float32_without_warnings() -> None:
    dec = PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="float32"), "f64le")
    values = np.array([1e300, -1e300, 0.1, -0.0, 1e-300, np.nan], "<f8")
    out = dec.feed(values.tobytes()).ravel()  # pytest turns warnings into errors here
    assert out.dtype == np.float32
    assert out[:2].tolist() == [np.inf, -np.inf]
    assert out[2] == np.float32(0.1)
    assert np.signbit(out[3])
    assert out[4] == 0
    assert np.isnan(out[5])


def test_a_signalling_nan_in_float64_is_narrowed_without_warnings() -> None:
    # A NaN with a payload and the quiet bit clear: numpy flags "invalid value" on the cast.
    dec = PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="float32"), "f64le")
    out = dec.feed(bytes.fromhex("010000000000f07f")).ravel()
    assert out.dtype == np.float32
    assert np.isnan(out[0])


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_output_is_native_contiguous_and_owns_its_memory(encoding: Encoding) -> None:
    channels = 2
    payload, expected = make_stream(encoding, 16, channels, seed=9)
    dec = factory(encoding, channels)()
    assert isinstance(dec, PcmDecoder)
    buf = bytearray(payload)
    first = dec.feed(memoryview(buf)[:-5])
    second = dec.feed(buf[-5:])
    buf[:] = b"\x55" * len(buf)  # the caller reuses its buffer
    got = np.concatenate([first, second])
    assert_same_samples(got, expected)
    for arr in (first, second):
        assert arr.dtype.isnative
        assert arr.flags.c_contiguous
        assert arr.flags.writeable
        assert arr.dtype == np.dtype(ENCODINGS[encoding][2])
        assert arr.ndim == 2
        assert arr.shape[1] == channels


def test_accepts_bytes_bytearray_memoryview_even_of_wider_items() -> None:
    samples = np.array([1, -2, 3, -4, 5], np.int16)
    dec = PcmDecoder(AudioFormat(sample_rate=24000, channels=1, dtype="int16"))
    out = [
        dec.feed(samples[:1].tobytes()[:1]),
        dec.feed(samples.tobytes()[1:5]),
        dec.feed(bytearray(samples.tobytes()[5:6])),
        dec.feed(samples[3:5].data),  # a memoryview of int16 items
    ]
    assert np.concatenate(out).ravel().tolist() == [1, -2, 3, -4, 5]


def test_empty_feed_and_flush_shapes() -> None:
    dec = PcmDecoder(AudioFormat(sample_rate=48000, channels=6, dtype="float32"))
    for arr in (dec.feed(b""), dec.feed(b"\0" * 23), dec.flush(), dec.flush()):
        assert arr.shape == (0, 6)
        assert arr.dtype == np.float32
    assert dec.dropped_bytes == 23
    with pytest.raises(
        RuntimeError,
        match=r"^feed\(\) called after flush\(\); create a new decoder per stream$",
    ):
        dec.feed(b"\0" * 24)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="s24le decodes to int32, but the format says int16"):
        PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="int16"), "s24le")
    with pytest.raises(ValueError, match="mulaw decodes to int16, but the format says float32"):
        PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="float32"), "mulaw")
    message = (
        "unknown encoding 'opus'; one of u8, s16le, s16be, s24le, s32le, f32le, f64le, mulaw, alaw"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PcmDecoder(AudioFormat(sample_rate=8000), "opus")  # type: ignore[arg-type]


def test_repr() -> None:
    dec = PcmDecoder(AudioFormat(sample_rate=8000, channels=1, dtype="int16"), "alaw")
    assert repr(dec) == "PcmDecoder(8000 Hz, 1 ch, int16, encoding='alaw')"
    assert dec.format == AudioFormat(sample_rate=8000, channels=1, dtype="int16")


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@given(blob=st.binary(max_size=300), points=st.lists(st.integers(0, 300), max_size=10))
@settings(max_examples=30, deadline=None)
def test_fuzz_any_bytes_decode(encoding: Encoding, blob: bytes, points: list[int]) -> None:
    """Headerless PCM has no invalid input: any bytes decode, and the count is exact."""
    channels = 3
    frame_bytes = ENCODINGS[encoding][1] * channels
    whole, dec = decode_pieces(factory(encoding, channels), [blob])
    split, _ = decode_pieces(factory(encoding, channels), split_at(blob, points))
    assert_same_samples(split, whole)
    assert whole.shape == (len(blob) // frame_bytes, channels)
    assert isinstance(dec, PcmDecoder)
    assert dec.dropped_bytes == len(blob) % frame_bytes


# The codec table is built when the module is imported; these tests call its builders directly,
# so that a broken builder fails a test (and mutation testing, which swaps functions only after
# import, sees them).


def test_g711_tables_match_the_reference_expansion() -> None:
    assert_same_samples(_g711_ulaw_table(), ULAW_REF)
    assert_same_samples(_g711_alaw_table(), ALAW_REF)
    # Two hand-checked points each: silence and the loudest negative code.
    assert (_g711_ulaw_table()[0xFF], _g711_ulaw_table()[0x00]) == (0, -32124)
    assert (_g711_alaw_table()[0xD5], _g711_alaw_table()[0x2A]) == (8, -32256)


@pytest.mark.parametrize(
    ("wire", "data", "expected"),
    [
        ("<i2", b"\x01\x00\xff\xff\x00\x80\x02\x00", [[1, -1], [-32768, 2]]),
        (">i2", b"\x00\x01\xff\xff\x80\x00\x00\x02", [[1, -1], [-32768, 2]]),
        ("<i4", b"\x01\x00\x00\x00\x00\x00\x00\x80", [[1, -(2**31)]]),
        ("<f4", b"\x00\x00\x80\x3f\x00\x00\x00\xbf", [[1.0, -0.5]]),
    ],
)
def test_copy_converters_give_native_frames(
    wire: str, data: bytes, expected: list[list[float]]
) -> None:
    out = _copy(wire)(2)(data)
    assert out.tolist() == expected
    assert out.dtype == np.dtype(wire).newbyteorder("=")
    assert out.dtype.isnative
    assert out.flags.writeable  # a copy, not a read-only view of the bytes


def test_table_converter_maps_each_byte() -> None:
    table = np.arange(256, dtype=np.int16) * -3
    assert _table(table)(2)(b"\x00\x01\x02\xff").tolist() == [[0, -3], [-6, -765]]


def test_copy_codec_records_its_wire_type() -> None:
    codec = _copy_codec(2, "int16", ">i2")
    assert (codec.width, codec.dtype, codec.wire) == (2, "int16", ">i2")
    assert codec.make(1)(b"\x01\x02").tolist() == [[0x0102]]


def test_frames_decoded_counts_whole_frames_as_an_int() -> None:
    dec = PcmDecoder(AudioFormat(sample_rate=24000, channels=2, dtype="int16"))
    dec.feed(b"\x01\x00\x02\x00\x03\x00\x04\x00")  # two whole frames, fed as bytes
    dec.feed(bytearray(b"\x05\x00\x06"))  # one more frame begins
    assert (dec.frames_decoded, type(dec.frames_decoded)) == (2, int)
    dec.feed(b"\x00")
    assert (dec.frames_decoded, type(dec.frames_decoded)) == (3, int)
