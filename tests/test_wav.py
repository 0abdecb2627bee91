"""WavDecoder, h11 style: every stream is fed whole, one byte at a time and in random splits,
and must decode to exactly the same samples.

Headers come from three places: a small WAV builder below (every container, chunk order, fmt
size and encoding the decoder claims to handle), real tools run at test time (sox, ffmpeg,
espeak-ng, libsndfile through soundfile, Python's ``wave``), and hypothesis (fuzzing).
Real-tool tests skip when the tool is missing, unless ``TTSSTREAM_REQUIRE_AUDIO=1``.
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import shutil
import struct
import subprocess
import tracemalloc
import wave
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ttsstream import AudioFormat, DecodeError, WavDecoder, WavInfo

REQUIRE_TOOLS = os.environ.get("TTSSTREAM_REQUIRE_AUDIO") == "1"

# When a property fails, hypothesis' report hook touches mypy_extensions.TypedDict, whose
# DeprecationWarning (an error under this project's filterwarnings) would turn the failure
# into a pytest INTERNALERROR that hides the falsifying example.
HYPOTHESIS_REPORT_WARNING = "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
pytestmark = pytest.mark.filterwarnings(HYPOTHESIS_REPORT_WARNING)

Samples = npt.NDArray[Any]

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the split-invariance helper ------------------------------------------------------------


class Decoder(Protocol):
    def feed(self, data: bytes) -> Samples: ...
    def flush(self) -> Samples: ...


def split_at(payload: bytes, points: Iterable[int]) -> list[bytes]:
    """Cut ``payload`` at the given offsets (any order, duplicates allowed: empty pieces)."""
    cuts = [0, *sorted(p for p in points if 0 <= p <= len(payload)), len(payload)]
    return [payload[a:b] for a, b in itertools.pairwise(cuts)]


def decode_pieces(make: Callable[[], Decoder], pieces: Iterable[bytes]) -> tuple[Samples, Decoder]:
    """Feed ``pieces`` to a new decoder, flush it, return every frame it produced."""
    dec = make()
    out = [dec.feed(p) for p in pieces]
    out.append(dec.flush())
    for arr in out:
        assert arr.ndim == 2, arr.shape
    # Before the header is complete a WAV decoder hands out (0, 1) int16 placeholders.
    frames = [arr for arr in out if arr.shape[0]]
    for arr in frames:
        assert arr.shape[1:] == out[-1].shape[1:]
        assert arr.dtype == out[-1].dtype
    return (np.concatenate(frames) if frames else out[-1]), dec


def assert_same_samples(got: Samples, expected: Samples) -> None:
    """Exact equality: dtype, shape and every bit (so -0.0 and NaN payloads count too)."""
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if got.tobytes() != expected.tobytes():
        bad = np.flatnonzero(got.reshape(-1).view(np.uint8) != expected.reshape(-1).view(np.uint8))
        raise AssertionError(f"samples differ from byte {bad[0]} on ({bad.size} bytes differ)")


def assert_split_invariant(
    payload: bytes,
    expected: Samples,
    *,
    make: Callable[[], Decoder] = WavDecoder,
    data: st.DataObject | None = None,
    splits: Sequence[Sequence[int]] = (),
    bytewise: bool = True,
) -> list[Decoder]:
    """Decode ``payload`` whole, one byte at a time, and split at random points (drawn from
    ``data`` when given, plus the explicit ``splits``); every way must give ``expected``.

    Returns the decoders (first: the one fed whole) so callers can check their state.
    """
    ways: list[list[bytes]] = [[payload]]
    if bytewise:
        ways.append([payload[i : i + 1] for i in range(len(payload))])
    ways.extend(split_at(payload, s) for s in splits)
    if data is not None:
        points = data.draw(st.lists(st.integers(0, len(payload)), max_size=24), label="splits")
        ways.append(split_at(payload, points))
        size = data.draw(st.integers(1, max(1, len(payload))), label="fixed piece size")
        ways.append([payload[i : i + size] for i in range(0, len(payload), size)])
    decoders = []
    for pieces in ways:
        got, dec = decode_pieces(make, pieces)
        assert_same_samples(got, expected)
        decoders.append(dec)
    return decoders


def wav_info(decoders: Sequence[Decoder]) -> WavInfo:
    """The header details of the first decoder (a :class:`WavDecoder` that reached the data)."""
    dec = decoders[0]
    assert isinstance(dec, WavDecoder)
    assert dec.info is not None
    return dec.info


BUFFER_KINDS = ("bytes", "bytearray", "memoryview", "memoryview-slice", "memoryview-int16")


def decode_mixed_buffers(
    make: Callable[[], Decoder], pieces: Sequence[bytes], kinds: Sequence[str]
) -> tuple[Samples, Decoder]:
    """Like :func:`decode_pieces`, but each piece arrives as another kind of buffer (cycling
    through ``kinds``), and every writable buffer is scribbled over as soon as feed() returns:
    a decoder that kept a reference to the caller's memory hands out wrong samples."""
    dec = make()
    out = []
    for i, piece in enumerate(pieces):
        kind = kinds[i % len(kinds)]
        if kind == "memoryview-int16" and len(piece) % 2:
            kind = "bytearray"
        backing = bytearray(b"\xa5" * 3 + piece + b"\x5a" * 3)
        buf: bytes | bytearray | memoryview
        if kind == "bytes":
            buf = piece
        elif kind == "bytearray":
            buf = backing[3:-3]
            backing = buf
        elif kind == "memoryview":
            backing = bytearray(piece)
            buf = memoryview(backing)
        elif kind == "memoryview-slice":
            buf = memoryview(backing)[3 : 3 + len(piece)]
        else:  # a memoryview of 2-byte items: feed() must count bytes, not items
            backing = bytearray(piece)
            buf = memoryview(backing).cast("h")
        out.append(dec.feed(buf))  # type: ignore[arg-type]
        if isinstance(buf, memoryview):
            buf.release()
        backing[:] = b"\xee" * len(backing)
    out.append(dec.flush())
    frames = [arr for arr in out if arr.shape[0]]
    return (np.concatenate(frames) if frames else out[-1]), dec


# -- building WAV files ---------------------------------------------------------------------

_KS_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def chunk(cid: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk: id, size (default: the body's), body, pad byte if the body is odd."""
    assert len(cid) == 4
    return (
        cid
        + struct.pack("<I", len(body) if size is None else size)
        + body
        + b"\0" * (len(body) & 1)
    )


def fmt_body(
    tag: int,
    channels: int,
    rate: int,
    bits: int,
    *,
    size: int = 16,
    valid_bits: int | None = None,
    block_align: int | None = None,
) -> bytes:
    """A ``fmt `` body of 16, 18 or 40 bytes (40: WAVE_FORMAT_EXTENSIBLE around ``tag``);
    other sizes pad the 18-byte form with junk bytes (cbSize says so)."""
    align = channels * ((bits + 7) // 8) if block_align is None else block_align
    head_tag = 0xFFFE if size == 40 else tag
    body = struct.pack("<HHIIHH", head_tag, channels, rate, rate * align, align, bits)
    if size == 16:
        return body
    if size == 40:
        mask = (1 << channels) - 1 if channels <= 18 else 0
        sub = struct.pack("<H", tag) + _KS_TAIL
        return body + struct.pack("<HHI", 22, valid_bits or bits, mask) + sub
    assert size >= 18
    return body + struct.pack("<H", size - 18) + bytes(range(size - 18))


def build_wav(
    fmt: bytes,
    audio: bytes,
    *,
    container: bytes = b"RIFF",
    before: Sequence[bytes] = (),
    after: Sequence[bytes] = (),
    data_size: int | None = None,
    ds64_data_size: int | None = None,
    riff_size: int | None = None,
    fmt_chunk_size: int | None = None,
) -> bytes:
    """A whole WAV stream. ``before`` chunks go between ``fmt `` and ``data``; ``after`` bytes
    follow the audio (and its pad byte). RF64/BW64 get a ``ds64`` chunk with the real sizes
    unless ``ds64_data_size`` says otherwise, and a data chunk size of 0xFFFFFFFF."""
    pad = b"\0" * (len(audio) & 1) if after else b""
    rest = chunk(b"fmt ", fmt, fmt_chunk_size) + b"".join(before)
    tail = b"".join(after)
    if container == b"RIFF":
        size = len(audio) if data_size is None else data_size
        rest += b"data" + struct.pack("<I", size) + audio + pad + tail
        head = b"RIFF" + struct.pack("<I", 4 + len(rest) if riff_size is None else riff_size)
        return head + b"WAVE" + rest
    real = len(audio) if ds64_data_size is None else ds64_data_size
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 4 + 36 + len(rest) + 8 + len(audio), real, 0, 0))
    rest = ds64 + rest + b"data" + struct.pack("<I", 0xFFFFFFFF if data_size is None else data_size)
    return container + b"\xff\xff\xff\xffWAVE" + rest + audio + pad + tail


# -- encodings and reference decoding -------------------------------------------------------


def ulaw_reference(byte: int) -> int:
    """G.711 mu-law expansion written from the spec: invert, then sign/exponent/mantissa."""
    v = ~byte & 0xFF
    exponent, mantissa = (v >> 4) & 7, v & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -magnitude if v & 0x80 else magnitude


def alaw_reference(byte: int) -> int:
    """G.711 A-law expansion written from the spec: even bits toggled, sign bit 1 = positive."""
    v = byte ^ 0x55
    exponent, mantissa = (v >> 4) & 7, v & 0x0F
    step = (mantissa << 4) + 8 if exponent == 0 else (mantissa << 4) + 0x108
    magnitude = step << max(exponent - 1, 0)
    return magnitude if v & 0x80 else -magnitude


ULAW_REF = np.array([ulaw_reference(b) for b in range(256)], np.int16)
ALAW_REF = np.array([alaw_reference(b) for b in range(256)], np.int16)


@dataclass(frozen=True)
class Enc:
    """One wire encoding: its WAV tag and sizes, and how to make bytes + expected samples."""

    name: str
    tag: int
    bits: int
    dtype: str  # what the decoder hands out

    def make(self, rng: np.random.Generator, frames: int, channels: int) -> tuple[bytes, Samples]:
        shape = (frames, channels)
        if self.name == "u8":
            raw = rng.integers(0, 256, shape, np.uint8)
            return raw.tobytes(), ((raw.astype(np.int32) - 128) * 256).astype(np.int16)
        if self.name == "s16":
            v = rng.integers(-(2**15), 2**15, shape, np.int16)
            return v.astype("<i2").tobytes(), v
        if self.name == "s24":
            v = rng.integers(-(2**23), 2**23, shape, np.int64)
            raw = (v & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(*shape, 4)[..., :3]
            return raw.tobytes(), (v * 256).astype(np.int32)
        if self.name == "s24in32":  # 24 valid bits in 32-bit containers (extensible)
            v = rng.integers(-(2**23), 2**23, shape, np.int64) * 256
            return v.astype("<i4").tobytes(), v.astype(np.int32)
        if self.name == "s32":
            v = rng.integers(-(2**31), 2**31, shape, np.int64).astype(np.int32)
            return v.astype("<i4").tobytes(), v
        if self.name == "f32":
            v = rng.standard_normal(shape).astype(np.float32)
            specials = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, 1e-42], np.float32)
            flat = v.reshape(-1)
            flat[: min(flat.size, specials.size)] = specials[: flat.size]
            return v.astype("<f4").tobytes(), v
        if self.name == "f64":
            v = rng.standard_normal(shape) * 10.0 ** rng.integers(-5, 5, shape)
            return v.astype("<f8").tobytes(), v.astype(np.float32)
        raw = rng.integers(0, 256, shape, np.uint8)
        table = ULAW_REF if self.name == "mulaw" else ALAW_REF
        return raw.tobytes(), table[raw]

    @property
    def width(self) -> int:
        return {"u8": 1, "s16": 2, "s24": 3, "mulaw": 1, "alaw": 1, "f64": 8}.get(self.name, 4)

    def fmt(self, channels: int, rate: int, size: int = 16) -> bytes:
        valid = 24 if self.name == "s24in32" else None
        return fmt_body(self.tag, channels, rate, self.bits, size=size, valid_bits=valid)


ENCODINGS = [
    Enc("u8", 1, 8, "int16"),
    Enc("s16", 1, 16, "int16"),
    Enc("s24", 1, 24, "int32"),
    Enc("s32", 1, 32, "int32"),
    Enc("f32", 3, 32, "float32"),
    Enc("f64", 3, 64, "float32"),
    Enc("mulaw", 7, 8, "int16"),
    Enc("alaw", 6, 8, "int16"),
]
EXT_ONLY = [Enc("s24in32", 1, 32, "int32")]


def test_g711_references_agree_with_known_values() -> None:
    # Values from ITU-T G.711 tables / CCITT reference code (and libsndfile's tables).
    ulaw = [ulaw_reference(b) for b in (0x00, 0x7F, 0x80, 0xFF, 0x0F)]
    alaw = [alaw_reference(b) for b in (0x55, 0xD5, 0x2A, 0xAA, 0x00)]
    assert ulaw == [-32124, 0, 32124, 0, -16764]
    assert alaw == [-8, 8, -32256, 32256, -5504]
    assert len(set(ULAW_REF.tolist())) == 255  # 0 twice (0x7F and 0xFF)
    assert len(set(ALAW_REF.tolist())) == 256


# -- every encoding, every fmt size, any channels and rate -----------------------------------


@pytest.mark.parametrize(
    ("enc", "fmt_size"),
    [(e, size) for e in ENCODINGS for size in (16, 18, 40)] + [(e, 40) for e in EXT_ONLY],
    ids=lambda v: v.name if isinstance(v, Enc) else f"fmt{v}",
)
@given(data=st.data())
@settings(max_examples=8, deadline=None)
def test_encodings_and_fmt_sizes(enc: Enc, fmt_size: int, data: st.DataObject) -> None:
    channels = data.draw(st.sampled_from([1, 2, 3, 6]), label="channels")
    rate = data.draw(st.sampled_from([8000, 11025, 16000, 22050, 24000, 44100, 48000, 96000]))
    frames = data.draw(st.integers(0, 30), label="frames")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    audio, expected = enc.make(rng, frames, channels)
    payload = build_wav(enc.fmt(channels, rate, fmt_size), audio)
    dec = assert_split_invariant(payload, expected, data=data)[0]
    assert isinstance(dec, WavDecoder)
    assert dec.format == AudioFormat(sample_rate=rate, channels=channels, dtype=enc.dtype)  # type: ignore[arg-type]
    assert dec.info is not None
    assert dec.info.data_size == (len(audio) or None)  # a data size of 0 is a placeholder
    assert dec.info.data_offset == len(payload) - len(audio)
    assert dec.info.format_tag == enc.tag
    assert dec.frames_decoded == frames
    assert dec.dropped_bytes == 0
    assert dec.trailing_bytes == 0


def test_format_known_before_audio_arrives() -> None:
    payload = build_wav(fmt_body(1, 2, 24000, 16), b"\x01\x00\x02\x00" * 3)
    dec = WavDecoder()

    def seen() -> tuple[AudioFormat | None, bool]:  # (format, whether data has started)
        return dec.format, dec.info is not None

    stereo = AudioFormat(sample_rate=24000, channels=2, dtype="int16")
    assert seen() == (None, False)
    assert dec.feed(payload[:35]).shape == (0, 1)  # fmt not complete: no format yet
    assert seen() == (None, False)
    assert dec.feed(payload[35:36]).shape == (0, 2)  # fmt parsed, no data yet
    assert seen() == (stereo, False)
    assert dec.feed(payload[36:44]).shape == (0, 2)
    assert seen() == (stereo, True)
    assert dec.feed(payload[44:]).tolist() == [[1, 2]] * 3


def test_wave_module_doctest_shape() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(3)
        w.setsampwidth(3)
        w.setframerate(32000)
        w.writeframes(bytes(range(9 * 5)))
    expected = np.frombuffer(bytes(range(45)), np.uint8).reshape(5, 3, 3)
    wide = np.zeros((5, 3, 4), np.uint8)
    wide[..., 1:] = expected
    assert_split_invariant(buf.getvalue(), wide.view("<i4")[..., 0].astype(np.int32))


# -- containers, chunk order, placeholder sizes, trailers ------------------------------------

PEAK = chunk(b"PEAK", struct.pack("<II", 1, 0) + struct.pack("<fI", 0.5, 3))
BEFORE_CHUNKS = {
    "LIST": chunk(b"LIST", b"INFOISFT" + struct.pack("<I", 9) + b"ttsstrea\0"),
    "LIST-odd": chunk(b"LIST", b"INFOINAM" + struct.pack("<I", 5) + b"odd!\0"),
    "fact": chunk(b"fact", struct.pack("<I", 12345)),
    "PEAK": PEAK,
    "junk": chunk(b"junk", b"\0" * 28),
    "JUNK-odd": chunk(b"JUNK", b"\xaa" * 27),
    "unknown": chunk(b"zzzz", b"abcde"),
    "empty": chunk(b"emty", b""),
    "bext-odd": chunk(b"bext", bytes(range(101))),
    "ds64-in-RIFF": chunk(b"ds64", b"\xff" * 28),  # meaningless in RIFF: skipped
}
AFTER_CHUNKS = {
    "LIST": chunk(b"LIST", b"INFOICMT" + struct.pack("<I", 7) + b"comment\0"),
    "id3": chunk(b"id3 ", b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x11" * 10 + b"\x33"),
    "C2PA": chunk(b"C2PA", b"\x7f" * 61),
    "garbage": b"\xde\xad\xbe\xef\x01",
}


@st.composite
def wav_streams(draw: st.DrawFn) -> tuple[bytes, Samples, dict[str, Any]]:
    """A random WAV stream, its expected samples and what the decoder should report."""
    enc = draw(st.sampled_from(ENCODINGS + EXT_ONLY))
    fmt_size = 40 if enc in EXT_ONLY else draw(st.sampled_from([16, 18, 19, 40]))
    channels = draw(st.sampled_from([1, 2, 5, 6, 8]))
    rate = draw(st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000, 192000]))
    frames = draw(st.integers(0, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    audio, expected = enc.make(rng, frames, channels)
    container = draw(st.sampled_from([b"RIFF", b"RF64", b"BW64"]))
    names = sorted(n for n in BEFORE_CHUNKS if container == b"RIFF" or not n.startswith("ds64"))
    before = draw(st.lists(st.sampled_from(names), max_size=4))
    size_mode = draw(st.sampled_from(["real", "zero", "ffff", "7fff", "larger"]))
    kw: dict[str, Any] = {}
    placeholder = {"zero": 0, "ffff": 0xFFFFFFFF, "7fff": 0x7FFFFFFF}
    if size_mode in placeholder:
        if container == b"RIFF":
            kw["data_size"] = placeholder[size_mode]
        else:
            kw["ds64_data_size"] = placeholder[size_mode] if size_mode == "zero" else 2**64 - 1
        after: list[str] = []
    elif size_mode == "larger":
        extra = draw(st.integers(1, 10_000))
        kw["ds64_data_size" if container != b"RIFF" else "data_size"] = len(audio) + extra
        after = []
    elif frames == 0:  # a real size of 0 is indistinguishable from the placeholder 0
        size_mode, after = "zero", []
    else:
        after = draw(st.lists(st.sampled_from(sorted(AFTER_CHUNKS)), max_size=3))
    payload = build_wav(
        enc.fmt(channels, rate, fmt_size),
        audio,
        container=container,
        before=[BEFORE_CHUNKS[b] for b in before],
        after=[AFTER_CHUNKS[a] for a in after],
        **kw,
    )
    real_size = size_mode == "real" or size_mode == "larger"
    facts = {
        "container": container.decode(),
        "format": AudioFormat(sample_rate=rate, channels=channels, dtype=enc.dtype),  # type: ignore[arg-type]
        "data_size": (
            kw.get("data_size", kw.get("ds64_data_size", len(audio))) if real_size else None
        )
        or None,
        "after_len": sum(len(AFTER_CHUNKS[a]) for a in after) + ((len(audio) & 1) if after else 0),
        "frames": frames,
    }
    return payload, expected, facts


@given(stream=wav_streams(), data=st.data())
@settings(max_examples=150, deadline=None)
def test_any_wav_any_split(
    stream: tuple[bytes, Samples, dict[str, Any]], data: st.DataObject
) -> None:
    payload, expected, facts = stream
    for dec in assert_split_invariant(payload, expected, data=data):
        assert isinstance(dec, WavDecoder)
        assert dec.format == facts["format"]
        assert dec.info is not None
        assert dec.info.container == facts["container"]
        assert dec.info.data_size == facts["data_size"]
        assert dec.frames_decoded == facts["frames"]
        assert dec.trailing_bytes == facts["after_len"]
        assert dec.dropped_bytes == 0


@given(stream=wav_streams(), data=st.data())
@settings(max_examples=60, deadline=None)
def test_any_wav_mixed_buffer_types(
    stream: tuple[bytes, Samples, dict[str, Any]], data: st.DataObject
) -> None:
    """bytes, bytearray and memoryviews (sliced, of wider items) in any mix and split: the
    same samples, and none of them refer to the caller's (reused) buffers."""
    payload, expected, facts = stream
    points = data.draw(st.lists(st.integers(0, len(payload)), max_size=16), label="splits")
    kinds = data.draw(st.lists(st.sampled_from(BUFFER_KINDS), min_size=1, max_size=6))
    got, dec = decode_mixed_buffers(WavDecoder, split_at(payload, points), kinds)
    assert_same_samples(got, expected)
    assert isinstance(dec, WavDecoder)
    assert dec.trailing_bytes == facts["after_len"]


@pytest.mark.parametrize("order", [["LIST", "fact", "PEAK"], ["JUNK-odd", "unknown", "LIST-odd"]])
@pytest.mark.parametrize("fmt_first", [True, False])
def test_chunks_before_and_around_fmt(order: list[str], fmt_first: bool) -> None:
    """Any chunk order: metadata chunks may also come before ``fmt ``."""
    audio, expected = Enc("s16", 1, 16, "int16").make(np.random.default_rng(1), 9, 2)
    chunks = [BEFORE_CHUNKS[name] for name in order]
    fmt = chunk(b"fmt ", fmt_body(1, 2, 44100, 16))
    body = (fmt + b"".join(chunks)) if fmt_first else (b"".join(chunks) + fmt)
    body += chunk(b"data", audio)
    payload = b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body
    assert_split_invariant(
        payload, expected, splits=[[13, 21, 37], list(range(0, len(payload), 7))]
    )


@pytest.mark.parametrize(
    ("size", "reported"),
    [(0, None), (0xFFFFFFFF, None), (0x7FFFFFFF, None), (0x7FFFF000, 0x7FFFF000), (10**6, 10**6)],
)
def test_placeholder_and_oversized_data_play_to_end_of_stream(
    size: int, reported: int | None
) -> None:
    audio, expected = Enc("s16", 1, 16, "int16").make(np.random.default_rng(2), 100, 1)
    payload = build_wav(fmt_body(1, 1, 24000, 16), audio, data_size=size, riff_size=0xFFFFFFFF)
    dec = assert_split_invariant(payload, expected, splits=[[45, 46, 47]])[0]
    assert isinstance(dec, WavDecoder)
    assert dec.info is not None
    assert dec.info.data_size == reported


def test_real_data_size_is_honoured_metadata_after_is_never_played() -> None:
    # Odd-sized 8-bit data: the pad byte and the LIST/id3/C2PA chunks after it must not play.
    audio = bytes([0x80, 0xFF, 0x00])
    after = [AFTER_CHUNKS["LIST"], AFTER_CHUNKS["id3"], AFTER_CHUNKS["C2PA"], b"trailing junk"]
    payload = build_wav(fmt_body(1, 1, 8000, 8), audio, after=after)
    expected = np.array([[0], [127 * 256], [-32768]], np.int16)
    for dec in assert_split_invariant(payload, expected, splits=[[47, 48]]):
        assert isinstance(dec, WavDecoder)
        assert dec.trailing_bytes == 1 + sum(len(a) for a in after)
        assert dec.frames_decoded == 3


def test_rf64_real_sizes_and_placeholders() -> None:
    audio, expected = Enc("f32", 3, 32, "float32").make(np.random.default_rng(3), 20, 2)
    tail = [AFTER_CHUNKS["LIST"]]
    fmt = fmt_body(3, 2, 48000, 32)
    real = build_wav(fmt, audio, container=b"RF64", after=tail)
    dec = assert_split_invariant(real, expected)[0]
    assert isinstance(dec, WavDecoder)
    assert dec.info is not None
    assert (dec.info.container, dec.info.data_size) == ("RF64", len(audio))
    assert dec.trailing_bytes == len(tail[0])
    # ds64 says 0 (ffmpeg writing RF64 to a pipe): until the end of the stream.
    streaming = build_wav(fmt, audio, container=b"RF64", ds64_data_size=0)
    dec = assert_split_invariant(streaming, expected)[0]
    assert isinstance(dec, WavDecoder)
    assert dec.info is not None
    assert dec.info.data_size is None
    # An RF64 data chunk with a real 32-bit size uses it.
    sized = build_wav(fmt, audio, container=b"RF64", data_size=len(audio), after=tail)
    assert_split_invariant(sized, expected)


def test_data_end_drops_partial_frame_and_ignores_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A data size that is not a whole number of frames: the partial frame is dropped, reported.
    audio = struct.pack("<4h", 1, 2, 3, 4) + b"\x05"
    payload = build_wav(fmt_body(1, 2, 16000, 16), audio, after=[AFTER_CHUNKS["LIST"]])
    with caplog.at_level(logging.WARNING, logger="ttsstream"):
        for dec in assert_split_invariant(payload, np.array([[1, 2], [3, 4]], np.int16)):
            assert isinstance(dec, WavDecoder)
            assert dec.dropped_bytes == 1
    assert "dropped 1 trailing byte" in caplog.text


@pytest.mark.parametrize("dangling", [1, 2, 3, 5])
def test_dangling_partial_frame_at_end_of_stream(
    dangling: int, caplog: pytest.LogCaptureFixture
) -> None:
    audio, expected = Enc("s24", 1, 24, "int32").make(np.random.default_rng(4), 7, 2)
    payload = build_wav(fmt_body(1, 2, 24000, 24), audio + b"\x01" * dangling, data_size=0xFFFFFFFF)
    with caplog.at_level(logging.WARNING, logger="ttsstream"):
        for dec in assert_split_invariant(payload, expected):
            assert isinstance(dec, WavDecoder)
            assert dec.dropped_bytes == dangling
            assert dec.frames_decoded == 7
    assert f"dropped {dangling} trailing byte(s) of a 6-byte frame" in caplog.text


@pytest.mark.parametrize("data_size", [None, 0xFFFFFFFF])
def test_flush_is_idempotent_and_feed_after_flush_is_a_bug(data_size: int | None) -> None:
    dec = WavDecoder()
    dec.feed(build_wav(fmt_body(1, 1, 8000, 16), b"\x01\x00", data_size=data_size))
    assert dec.flush().shape == (0, 1)
    assert dec.flush().shape == (0, 1)
    with pytest.raises(RuntimeError, match="after flush"):
        dec.feed(b"\0\0")


def test_accepts_bytearray_and_memoryview() -> None:
    payload = build_wav(fmt_body(1, 1, 8000, 16), struct.pack("<3h", -1, 0, 1))
    dec = WavDecoder()
    out = [dec.feed(bytearray(payload[:30])), dec.feed(memoryview(payload)[30:43])]
    buf = bytearray(payload[43:])
    out.append(dec.feed(buf))
    buf[:] = b"\xff" * len(buf)  # the caller reuses its buffer: decoded samples must not change
    out.append(dec.flush())
    assert np.concatenate(out).tolist() == [[-1], [0], [1]]


# -- errors ---------------------------------------------------------------------------------


def decode_error(payload: bytes, *, bytewise: bool = True) -> str:
    """The DecodeError message for ``payload``, checked to be the same whole and byte-wise."""
    messages = []
    for pieces in (
        [payload],
        [payload[i : i + 1] for i in range(len(payload))] if bytewise else [],
    ):
        if not pieces:
            continue
        with pytest.raises(DecodeError) as info:
            decode_pieces(WavDecoder, pieces)
        messages.append(str(info.value))
    assert len(set(messages)) == 1, messages
    return messages[0]


def test_zero_channels_names_the_byte() -> None:
    msg = decode_error(build_wav(fmt_body(1, 0, 24000, 16, block_align=2), b""))
    assert msg == "fmt chunk declares 0 channels at byte 22"


def test_zero_rate_names_the_byte() -> None:
    assert "sample rate of 0 at byte 24" in decode_error(build_wav(fmt_body(1, 1, 0, 16), b""))


@pytest.mark.parametrize(
    ("tag", "name"),
    [(0x0055, "MP3"), (0x0002, "Microsoft ADPCM"), (0x0011, "IMA ADPCM"), (0x1234, None)],
)
def test_unsupported_format_tag(tag: int, name: str | None) -> None:
    msg = decode_error(build_wav(fmt_body(tag, 1, 24000, 16), b"\0" * 10))
    assert f"unsupported WAV format tag 0x{tag:04X}" in msg
    if name:
        assert f"0x{tag:04X} ({name})" in msg
    assert "wav" in msg
    assert "pcm" in msg


def test_unsupported_format_tag_inside_extensible() -> None:
    msg = decode_error(build_wav(fmt_body(0x0055, 2, 24000, 16, size=40), b""))
    assert "0x0055 (MP3)" in msg


def test_extensible_fmt_one_byte_short_is_not_completed_by_its_pad_byte() -> None:
    fmt = fmt_body(1, 2, 24000, 16, size=40)[:39]
    assert len(chunk(b"fmt ", fmt)) == 48  # 39 bytes and a pad byte
    assert "is 39 bytes; it needs 40" in decode_error(build_wav(fmt, b""))


def test_unknown_extensible_subformat_guid() -> None:
    fmt = bytearray(fmt_body(1, 2, 24000, 16, size=40))
    fmt[30] ^= 0xFF  # corrupt the GUID's tail
    msg = decode_error(build_wav(bytes(fmt), b""))
    assert "unsupported WAVE_FORMAT_EXTENSIBLE sub-format" in msg
    assert "at byte 44" in msg


def test_extensible_needs_40_bytes() -> None:
    fmt = fmt_body(1, 2, 24000, 16, size=18)
    fmt = struct.pack("<H", 0xFFFE) + fmt[2:]
    assert "needs 40" in decode_error(build_wav(fmt, b""))


@pytest.mark.parametrize(
    ("tag", "bits", "needle"),
    [
        (1, 40, "unsupported PCM sample size: 40 bits"),
        (1, 0, "unsupported PCM sample size: 0 bits"),
        (3, 16, "unsupported IEEE float sample size: 16 bits"),
        (7, 16, "G.711 stream declares 16 bits per sample"),
        (6, 16, "G.711 stream declares 16 bits per sample"),
    ],
)
def test_unsupported_sample_sizes(tag: int, bits: int, needle: str | None) -> None:
    msg = decode_error(
        build_wav(fmt_body(tag, 1, 8000, bits, block_align=(bits + 7) // 8 or 0), b"")
    )
    if needle:
        assert needle in msg
    if tag == 1:
        assert "fmt chunk at byte 12" in msg


@pytest.mark.parametrize(
    ("start", "hint"),
    [
        (b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00", "an MP3 stream"),
        (b"\xff\xfb\x90\x00" + b"\0" * 20, "an MP3 stream"),
        (b"OggS\x00\x02" + b"\0" * 20, "Ogg"),
        (b"fLaC\x00\x00\x00\x22" + b"\0" * 20, "FLAC"),
        (b'{"error": {"message": "Invalid API key"}}', "JSON"),
        (b"<html><body>502 Bad Gateway</body></html>", "HTML"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "it starts with b'RIFF$"),
    ],
)
def test_not_a_wav_stream(start: bytes, hint: str) -> None:
    msg = decode_error(start)
    assert msg.startswith("not a WAV stream")
    assert hint in msg
    assert "ask the server for response_format 'wav' or 'pcm'" in msg


def test_data_before_fmt() -> None:
    payload = b"RIFF\xff\xff\xff\xffWAVE" + chunk(b"data", b"\0\0")
    assert decode_error(payload).startswith("data chunk at byte 12 comes before any fmt chunk")


def test_second_fmt_chunk() -> None:
    fmt = chunk(b"fmt ", fmt_body(1, 1, 8000, 16))
    payload = b"RIFF\xff\xff\xff\xffWAVE" + fmt + fmt + chunk(b"data", b"\0\0")
    assert decode_error(payload) == "second fmt chunk at byte 36"


@pytest.mark.parametrize("size", [0, 14, 15, 4097, 0xFFFFFFFF])
def test_fmt_chunk_size_out_of_range(size: int) -> None:
    payload = b"RIFF\xff\xff\xff\xffWAVE" + b"fmt " + struct.pack("<I", size) + b"\0" * 16
    msg = decode_error(payload)
    assert f"fmt chunk at byte 12 declares {size} bytes" in msg


def test_ds64_chunk_size_out_of_range() -> None:
    payload = b"RF64\xff\xff\xff\xffWAVEds64" + struct.pack("<I", 8) + b"\0" * 8
    assert "ds64 chunk at byte 12 declares 8 bytes" in decode_error(payload)


def test_empty_stream() -> None:
    dec = WavDecoder()
    assert dec.feed(b"").shape == (0, 1)
    with pytest.raises(DecodeError, match="empty: no WAV header arrived"):
        dec.flush()


@pytest.mark.parametrize(
    ("cut", "where"),
    [
        (5, "inside the 12-byte RIFF header"),
        (12, "between chunks, before any data chunk"),
        (15, "between chunks, before any data chunk"),
        (30, "inside the 'fmt ' chunk at byte 12"),
        (36, "between chunks, before any data chunk"),
        (40, "between chunks, before any data chunk"),  # inside LIST's 8-byte header
        (50, "inside the 'LIST' chunk at byte 36"),
        (60, "between chunks, before any data chunk"),
    ],
)
def test_truncated_header_flush_raises(cut: int, where: str) -> None:
    full = build_wav(fmt_body(1, 1, 8000, 16), b"\0" * 8, before=[chunk(b"LIST", b"x" * 16)])
    assert full[60:64] == b"data"
    payload = full[:cut]
    for pieces in ([payload], [payload[i : i + 1] for i in range(cut)]):
        dec = WavDecoder()
        for piece in pieces:
            assert dec.feed(piece).shape[0] == 0
        with pytest.raises(DecodeError) as info:
            dec.flush()
        msg = str(info.value)
        assert msg.startswith(
            f"the WAV stream ended after {cut} bytes, {where}, before any audio data"
        )


def test_stream_ending_right_after_data_header_is_not_an_error() -> None:
    dec = WavDecoder()
    assert dec.feed(build_wav(fmt_body(1, 1, 8000, 16), b"", data_size=0xFFFFFFFF)).shape == (0, 1)
    assert dec.flush().shape == (0, 1)
    assert dec.frames_decoded == 0


# -- bounded memory ---------------------------------------------------------------------------


def _header_with_list(list_size: int) -> bytes:
    head = b"RIFF\xff\xff\xff\xffWAVE" + chunk(b"fmt ", fmt_body(1, 1, 24000, 16))
    return head + b"LIST" + struct.pack("<I", list_size)


def test_huge_list_chunk_is_skipped_as_it_streams_never_held() -> None:
    dec = WavDecoder()
    assert dec.feed(_header_with_list(2_000_000_000)).shape == (0, 1)
    block = bytes(64 * 1024)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(800):  # 50 MiB of the 2 GB chunk
            assert dec.feed(block).shape[0] == 0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < 256 * 1024, f"decoder held {peak - before} bytes while skipping"
    assert len(dec._buf) == 0
    assert "skip" in repr(dec)  # still inside the LIST chunk
    assert dec.info is None


def test_big_list_chunk_then_audio() -> None:
    size = 5 * 1024 * 1024 + 1  # odd: a pad byte follows
    audio, expected = Enc("s16", 1, 16, "int16").make(np.random.default_rng(5), 50, 1)
    tail = b"\0" + chunk(b"data", audio)
    dec = WavDecoder()
    out = [dec.feed(_header_with_list(size))]
    block = bytes(777 * 64)
    left = size
    while left:
        n = min(left, len(block))
        out.append(dec.feed(block[:n]))
        left -= n
        assert len(dec._buf) <= 8
    out.extend(dec.feed(tail[i : i + 3]) for i in range(0, len(tail), 3))
    out.append(dec.flush())
    assert_same_samples(np.concatenate(out), expected)


def _raise_or_decode(pieces: Iterable[bytes]) -> Samples | None:
    """Decode; DecodeError is the only exception allowed. Buffers must stay bounded."""
    dec = WavDecoder()
    out = []
    try:
        for piece in pieces:
            arr = dec.feed(piece)
            assert arr.ndim == 2
            out.append(arr)
            assert len(dec._buf) <= 65536 + 1
        out.append(dec.flush())
    except DecodeError as exc:
        if not str(exc):
            raise AssertionError("DecodeError without a message") from exc
        return None
    fmt = dec.format
    assert fmt is not None
    frames = [arr for arr in out if arr.shape[0]]
    result = np.concatenate(frames) if frames else fmt.empty()
    assert result.shape[1] == fmt.channels
    assert result.dtype == fmt.numpy_dtype
    return result


@given(blob=st.binary(max_size=400), data=st.data())
@settings(max_examples=200, deadline=None)
@example(blob=b"RIFF\0\0\0\0WAVE", data=None)
@example(blob=b"RF64\xff\xff\xff\xffWAVEds64\x1c\0\0\0" + b"\xff" * 28, data=None)
def test_fuzz_random_bytes(blob: bytes, data: st.DataObject | None) -> None:
    whole = _raise_or_decode([blob])
    points = data.draw(st.lists(st.integers(0, len(blob)), max_size=8)) if data else [3, 17]
    split = _raise_or_decode(split_at(blob, points))
    assert (whole is None) == (split is None)
    if whole is not None and split is not None:
        assert_same_samples(split, whole)


@st.composite
def mutated_wavs(draw: st.DrawFn) -> bytes:
    stream, _, _ = draw(wav_streams())
    buf = bytearray(stream)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["set", "insert", "delete", "truncate", "size"]))
        pos = draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "set" and buf:
            buf[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del buf[pos : pos + draw(st.integers(1, 8))]
        elif op == "truncate":
            del buf[pos:]
        elif len(buf) >= pos + 4:  # a 32-bit field set to an interesting value
            value = draw(st.sampled_from([0, 1, 2, 3, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFE]))
            buf[pos : pos + 4] = struct.pack("<I", value)
    return bytes(buf)


@given(blob=mutated_wavs(), data=st.data())
@settings(max_examples=300, deadline=None)
def test_fuzz_mutated_headers(blob: bytes, data: st.DataObject) -> None:
    whole = _raise_or_decode([blob])
    points = data.draw(st.lists(st.integers(0, len(blob)), max_size=12))
    split = _raise_or_decode(split_at(blob, points))
    assert (whole is None) == (split is None)
    if whole is not None and split is not None:
        assert_same_samples(split, whole)


# -- real tools --------------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if REQUIRE_TOOLS:
        pytest.fail(f"TTSSTREAM_REQUIRE_AUDIO=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        _unavailable(f"{name} is not installed (apt-get install {package})")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def sf() -> Any:
    """The soundfile module (libsndfile): the reference reader."""
    try:
        import soundfile
    except (ImportError, OSError) as exc:
        _unavailable(f"soundfile/libsndfile is not available (pip install soundfile): {exc}")
    return soundfile


@pytest.fixture(scope="module")
def sox() -> str:
    return _tool("sox", "sox")


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    return _tool("ffmpeg", "ffmpeg")


@pytest.fixture(scope="module")
def espeak() -> str:
    return _tool("espeak-ng", "espeak-ng")


def _run(cmd: list[str]) -> bytes:
    done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}): {done.stderr.decode()}")
    return done.stdout


def _reference(sf: Any, payload: bytes, dtype: str) -> Samples:
    samples, _ = sf.read(io.BytesIO(payload), dtype=dtype, always_2d=True)
    return np.ascontiguousarray(samples)


def _check_against_soundfile(sf: Any, payload: bytes, dtype: str, seed: int) -> WavDecoder:
    """Our decoding of ``payload`` (whole, byte-wise, random splits) equals libsndfile's."""
    expected = _reference(sf, payload, dtype)
    assert expected.shape[0] > 0
    rng = np.random.default_rng(seed)
    splits = [sorted(rng.integers(0, len(payload), 40).tolist()) for _ in range(3)]
    splits.append(list(range(0, len(payload), 777)))
    dec = assert_split_invariant(payload, expected, splits=splits)[0]
    assert isinstance(dec, WavDecoder)
    assert dec.format is not None
    assert dec.format.dtype == dtype
    return dec


SOX_CASES = [
    ("s16-mono-8k", ["-r", "8000", "-c", "1", "-e", "signed", "-b", "16"], "int16"),
    ("s16-stereo-44k", ["-r", "44100", "-c", "2", "-e", "signed", "-b", "16"], "int16"),
    ("s24-mono-48k", ["-r", "48000", "-c", "1", "-e", "signed", "-b", "24"], "int32"),
    ("s24-6ch-48k", ["-r", "48000", "-c", "6", "-e", "signed", "-b", "24"], "int32"),
    ("s32-stereo-96k", ["-r", "96000", "-c", "2", "-e", "signed", "-b", "32"], "int32"),
    ("f32-mono-22k", ["-r", "22050", "-c", "1", "-e", "floating-point", "-b", "32"], "float32"),
    ("f64-stereo-16k", ["-r", "16000", "-c", "2", "-e", "floating-point", "-b", "64"], "float32"),
    ("ulaw-mono-8k", ["-r", "8000", "-c", "1", "-e", "u-law"], "int16"),
    ("alaw-stereo-8k", ["-r", "8000", "-c", "2", "-e", "a-law"], "int16"),
    ("u8-mono-11k", ["-r", "11025", "-c", "1", "-e", "unsigned", "-b", "8"], "int16"),
    ("u8-6ch-22k", ["-r", "22050", "-c", "6", "-e", "unsigned", "-b", "8"], "int16"),
]


@pytest.mark.parametrize(("name", "opts", "dtype"), SOX_CASES, ids=[c[0] for c in SOX_CASES])
def test_sox_files(
    sox: str, sf: Any, tmp_path: Path, name: str, opts: list[str], dtype: str
) -> None:
    path = tmp_path / f"{name}.wav"
    _run([sox, "-V1", "-R", "-n", *opts, str(path), "synth", "0.02", "whitenoise", "vol", "0.9"])
    payload = path.read_bytes()
    dec = _check_against_soundfile(sf, payload, dtype, seed=len(name))
    assert dec.info is not None
    assert dec.info.data_size is not None  # a file: real sizes
    # sox streams to a pipe too (placeholder sizes or not, same samples).
    piped = _run([sox, "-V1", str(path), "-t", "wav", "-"])
    got, _ = decode_pieces(WavDecoder, [piped[i : i + 1000] for i in range(0, len(piped), 1000)])
    assert_same_samples(got, _reference(sf, payload, dtype))


FFMPEG_CODECS = [
    ("pcm_u8", "int16"),
    ("pcm_s16le", "int16"),
    ("pcm_s24le", "int32"),
    ("pcm_s32le", "int32"),
    ("pcm_f32le", "float32"),
    ("pcm_f64le", "float32"),
    ("pcm_mulaw", "int16"),
    ("pcm_alaw", "int16"),
]


def _ffmpeg_cmd(ffmpeg: str, codec: str, channels: int, rate: int, *extra: str) -> list[str]:
    src = f"anoisesrc=d=0.02:r={rate}:a=0.8:seed={channels * 7 + rate % 97}"
    quiet = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    return [ffmpeg, *quiet, "-f", "lavfi", "-i", src, "-ac", str(channels), "-c:a", codec, *extra]


@pytest.mark.parametrize(("codec", "dtype"), FFMPEG_CODECS)
@pytest.mark.parametrize(("channels", "rate"), [(1, 24000), (2, 44100), (6, 48000)])
def test_ffmpeg_file_pipe_and_rf64(
    ffmpeg: str, sf: Any, tmp_path: Path, codec: str, dtype: str, channels: int, rate: int
) -> None:
    if channels == 6 and codec in ("pcm_mulaw", "pcm_alaw", "pcm_u8"):
        channels = 3  # keep the matrix small; still more than stereo
    path = tmp_path / "out.wav"
    _run([*_ffmpeg_cmd(ffmpeg, codec, channels, rate), str(path)])
    file_bytes = path.read_bytes()
    _check_against_soundfile(sf, file_bytes, dtype, seed=rate + channels)
    expected = _reference(sf, file_bytes, dtype)

    # To a pipe: ffmpeg cannot seek back, so RIFF and data sizes stay 0xFFFFFFFF.
    piped = _run([*_ffmpeg_cmd(ffmpeg, codec, channels, rate), "-f", "wav", "-"])
    data_at = piped.index(b"data")
    assert piped[4:8] == b"\xff\xff\xff\xff"
    assert piped[data_at + 4 : data_at + 8] == b"\xff\xff\xff\xff"
    info = wav_info(
        assert_split_invariant(piped, expected, splits=[list(range(0, len(piped), 1024))])
    )
    assert info.data_size is None

    # RF64 always: a ds64 chunk, to a file (real sizes) and to a pipe (ds64 sizes 0).
    rf64 = tmp_path / "rf64.wav"
    _run([*_ffmpeg_cmd(ffmpeg, codec, channels, rate), "-rf64", "always", str(rf64)])
    rf64_bytes = rf64.read_bytes()
    assert rf64_bytes[:4] == b"RF64"
    assert rf64_bytes[12:16] == b"ds64"
    info = wav_info(
        assert_split_invariant(rf64_bytes, expected, splits=[[1, 2, 3, 100]], bytewise=False)
    )
    assert info.container == "RF64"
    assert info.data_size == len(file_bytes) - (file_bytes.index(b"data") + 8)
    rf64_piped = _run(
        [*_ffmpeg_cmd(ffmpeg, codec, channels, rate), "-rf64", "always", "-f", "wav", "-"]
    )
    info = wav_info(
        assert_split_invariant(rf64_piped, expected, splits=[[5, 50, 500]], bytewise=False)
    )
    assert info.data_size is None


def test_ffmpeg_metadata_after_data_is_not_played(ffmpeg: str, sf: Any, tmp_path: Path) -> None:
    """A real data size from ffmpeg, with chunks appended after the audio: never played."""
    path = tmp_path / "meta.wav"
    _run([*_ffmpeg_cmd(ffmpeg, "pcm_s16le", 1, 22050), "-metadata", "title=x", str(path)])
    payload = path.read_bytes()
    expected = _reference(sf, payload, "int16")
    extra = AFTER_CHUNKS["LIST"] + AFTER_CHUNKS["id3"] + AFTER_CHUNKS["C2PA"]
    for dec in assert_split_invariant(payload + extra, expected, splits=[[len(payload)]]):
        assert isinstance(dec, WavDecoder)
        assert dec.trailing_bytes == len(extra)


def test_espeak_streaming_header(espeak: str, sf: Any) -> None:
    """espeak-ng --stdout writes its header before knowing the length (sizes 0x7FFFF000)."""
    payload = _run([espeak, "--stdout", "Hi there."])
    assert payload[40:44] == struct.pack("<I", 0x7FFFF000)
    expected = np.frombuffer(payload[44:], "<i2").astype(np.int16).reshape(-1, 1)
    assert_same_samples(_reference(sf, payload, "int16"), expected)
    rng = np.random.default_rng(0)
    splits = [
        sorted(rng.integers(0, len(payload), 200).tolist()),
        list(range(0, len(payload), 333)),
    ]
    dec = assert_split_invariant(payload, expected, splits=splits)[0]
    assert isinstance(dec, WavDecoder)
    assert dec.format == AudioFormat(sample_rate=22050, channels=1, dtype="int16")


SF_SUBTYPES = [
    ("PCM_U8", "int16"),
    ("PCM_16", "int16"),
    ("PCM_24", "int32"),
    ("PCM_32", "int32"),
    ("FLOAT", "float32"),
    ("DOUBLE", "float32"),
    ("ULAW", "int16"),
    ("ALAW", "int16"),
]


@pytest.mark.parametrize(("subtype", "dtype"), SF_SUBTYPES)
@pytest.mark.parametrize("container", ["WAV", "WAVEX", "RF64"])
def test_soundfile_writes(sf: Any, container: str, subtype: str, dtype: str) -> None:
    channels = {"WAV": 1, "WAVEX": 6, "RF64": 2}[container]
    rng = np.random.default_rng(len(subtype) * 31 + channels)
    signal = rng.uniform(-1, 1, (301, channels))
    buf = io.BytesIO()
    sf.write(buf, signal, 32000, format=container, subtype=subtype)
    payload = buf.getvalue()
    dec = _check_against_soundfile(sf, payload, dtype, seed=channels)
    assert dec.info is not None
    assert dec.info.container == ("RF64" if container == "RF64" else "RIFF")


@pytest.mark.parametrize("tag", [6, 7])
def test_g711_all_256_codes_match_libsndfile_and_reference(sf: Any, tag: int) -> None:
    audio = bytes(range(256))
    payload = build_wav(fmt_body(tag, 1, 8000, 8), audio)
    expected = (ALAW_REF if tag == 6 else ULAW_REF).reshape(-1, 1)
    assert_same_samples(_reference(sf, payload, "int16"), expected)
    assert_split_invariant(payload, expected)


# -- several files in one stream, trailers, RIFX (issue 11) ----------------------------------


def decode_by_format(
    pieces: Iterable[bytes],
) -> tuple[list[tuple[AudioFormat, Samples]], WavDecoder]:
    """Feed ``pieces``, reading ``format`` after every call as stream_audio does; group the
    frames by format (consecutive runs)."""
    dec = WavDecoder()
    runs: list[tuple[AudioFormat, Samples]] = []

    def take(arr: Samples) -> None:
        if not arr.shape[0]:
            return
        assert dec.format is not None
        assert arr.dtype == np.dtype(dec.format.dtype)
        assert arr.shape[1] == dec.format.channels
        if runs and runs[-1][0] == dec.format:
            runs[-1] = (dec.format, np.concatenate([runs[-1][1], arr]))
        else:
            runs.append((dec.format, arr))

    for p in pieces:
        take(dec.feed(p))
        while dec.pending:  # as stream_audio does
            take(dec.feed(b""))
    take(dec.flush())
    return runs, dec


def assert_runs(
    got: list[tuple[AudioFormat, Samples]], want: list[tuple[AudioFormat, Samples]]
) -> None:
    assert [f for f, _ in got] == [f for f, _ in want]
    for (_, a), (_, b) in zip(got, want, strict=True):
        assert_same_samples(a, b)


def merge_runs(parts: list[tuple[AudioFormat, Samples]]) -> list[tuple[AudioFormat, Samples]]:
    out: list[tuple[AudioFormat, Samples]] = []
    for f, s in parts:
        if not s.shape[0]:
            continue
        if out and out[-1][0] == f:
            out[-1] = (f, np.concatenate([out[-1][1], s]))
        else:
            out.append((f, s))
    return out


@st.composite
def concatenated_files(draw: st.DrawFn) -> tuple[bytes, list[tuple[AudioFormat, Samples]], int]:
    """2 to 4 complete files with true sizes, each in its own format, some with metadata
    after their audio (Kokoro-FastAPI before 2025, mlx-audio, ChatTTS)."""
    payload, parts = b"", []
    count = draw(st.integers(2, 4))
    for k in range(count):
        enc = draw(st.sampled_from(ENCODINGS))
        channels = draw(st.sampled_from([1, 2]))
        rate = draw(st.sampled_from([16000, 24000]))
        frames = draw(st.integers(1, 9))
        audio, expected = enc.make(np.random.default_rng(k), frames, channels)
        after = draw(st.lists(st.sampled_from(["LIST", "id3", "C2PA"]), max_size=2))
        payload += build_wav(enc.fmt(channels, rate), audio, after=[AFTER_CHUNKS[a] for a in after])
        parts.append((AudioFormat(rate, channels, enc.dtype), expected))  # type: ignore[arg-type]
    return payload, merge_runs(parts), count


@given(stream=concatenated_files(), data=st.data())
@settings(max_examples=80, deadline=None)
def test_concatenated_files_all_play_in_order_any_split(
    stream: tuple[bytes, list[tuple[AudioFormat, Samples]], int], data: st.DataObject
) -> None:
    payload, want, count = stream
    points = data.draw(st.lists(st.integers(0, len(payload)), max_size=12), label="splits")
    for pieces in (
        [payload],
        [payload[i : i + 1] for i in range(len(payload))],
        split_at(payload, points),
    ):
        got, dec = decode_by_format(pieces)
        assert_runs(got, want)
        assert dec.files == count
        assert dec.frames_decoded == sum(s.shape[0] for _, s in want)


def test_a_format_change_inside_one_piece_waits_for_the_next_call() -> None:
    a = struct.pack("<3h", 1, 2, 3)
    b = struct.pack("<2h", 4, 5)
    payload = build_wav(fmt_body(1, 1, 24000, 16), a) + build_wav(fmt_body(1, 1, 16000, 16), b)
    dec = WavDecoder()
    first = dec.feed(payload)
    assert first.tolist() == [[1], [2], [3]]
    assert dec.format == AudioFormat(24000, 1, "int16")
    second = dec.feed(b"")
    assert second.tolist() == [[4], [5]]
    assert dec.format == AudioFormat(16000, 1, "int16")
    assert dec.flush().shape[0] == 0
    # flush() delivers what was held, too
    dec = WavDecoder()
    assert dec.feed(payload).shape[0] == 3
    assert dec.flush().tolist() == [[4], [5]]
    assert dec.format == AudioFormat(16000, 1, "int16")


def test_same_format_files_in_one_piece_come_out_together() -> None:
    a, b = struct.pack("<2h", 1, 2), struct.pack("<2h", 3, 4)
    fmt = fmt_body(1, 1, 24000, 16)
    dec = WavDecoder()
    assert dec.feed(build_wav(fmt, a) + build_wav(fmt, b)).tolist() == [[1], [2], [3], [4]]


def test_two_format_changes_in_the_last_piece_undrained_lose_the_last_file_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = [
        build_wav(fmt_body(1, 1, r, 16), struct.pack("<h", r // 1000)) for r in (8000, 16000, 24000)
    ]
    dec = WavDecoder()
    assert dec.feed(files[0][:-2]).shape[0] == 0
    with caplog.at_level(logging.WARNING, logger="ttsstream"):
        assert dec.feed(files[0][-2:] + files[1] + files[2]).tolist() == [[8]]
        assert dec.flush().tolist() == [[16]]
    assert "were not decoded" in caplog.text
    assert dec.dropped_bytes == 8 + 2  # the last file's data chunk (its fmt had been read)


def _streaming_header(riff: int, data: int, rate: int = 24000) -> bytes:
    return build_wav(fmt_body(1, 1, rate, 16), b"", data_size=data, riff_size=riff)


@pytest.mark.parametrize(
    ("riff", "data"),
    [(0xFFFFFFFF, 0xFFFFFFFF), (0x7FFFFFFF, 0x7FFFFFFF), (0x7FFFFFDB, 0xFFFFFFFF), (36, 0)],
    ids=["openai-ffff", "elevenlabs-7fff", "chatterbox", "python-wave-0"],
)
def test_next_header_at_a_write_start_inside_streaming_audio(riff: int, data: int) -> None:
    a, b = struct.pack("<3h", 1, 2, 3), struct.pack("<2h", -4, -5)
    head = _streaming_header(riff, data)
    writes = [head + a, head, b, head]  # the last file is a header and nothing else
    expected = np.array([[1], [2], [3], [-4], [-5]], np.int16)
    for cut in range(13):  # every way of splitting the next header over two pieces
        pieces = [writes[0], writes[1][:cut], writes[1][cut:], writes[2], writes[3]]
        got, dec = decode_by_format(pieces)
        assert_runs(got, [(AudioFormat(24000, 1, "int16"), expected)])
        assert dec.files == 3
    got, dec = decode_by_format([bytes([x]) for x in b"".join(writes)])
    assert_runs(got, [(AudioFormat(24000, 1, "int16"), expected)])
    assert dec.info is not None
    assert dec.info.data_size is None


def test_header_lookalike_off_a_frame_boundary_is_audio() -> None:
    odd = b"\x01" + b"RIFF\xff\xff\xff\xffWAVE" + b"\x02"  # 14 bytes: 7 frames
    payload = _streaming_header(0xFFFFFFFF, 0xFFFFFFFF) + odd
    got, _ = decode_by_format([payload[:45], payload[45:]])
    assert_runs(got, [(AudioFormat(24000, 1, "int16"), np.frombuffer(odd, "<i2").reshape(-1, 1))])


@pytest.mark.parametrize(
    "start",
    [b"RIFX\xff\xff\xff\xffWAVX", b"RIF", b"BW", b"\0\0\0\0\x01", b"R" * 12, b"B"],
)
def test_piece_starts_that_only_look_suspect_are_audio(start: bytes) -> None:
    body = start + b"\x07" * (len(start) % 2)
    payload = _streaming_header(0xFFFFFFFF, 0xFFFFFFFF)
    got, _ = decode_by_format([payload, body])
    expected = np.frombuffer(body, "<i2").reshape(-1, 1)
    assert_runs(got, [(AudioFormat(24000, 1, "int16"), expected)])


def _kokoro_trailer(audio_len: int, header_len: int = 78) -> bytes:
    block = bytearray(header_len)
    block[4:8] = struct.pack("<I", audio_len + header_len - 8)
    block[-4:] = struct.pack("<I", audio_len)
    return bytes(block)


def _ffmpeg_header() -> bytes:
    isft = b"Lavf61.7.100\0\0"
    info = b"INFO" + b"ISFT" + struct.pack("<I", len(isft)) + isft
    return build_wav(
        fmt_body(1, 1, 24000, 16),
        b"",
        before=[chunk(b"LIST", info)],
        data_size=0xFFFFFFFF,
        riff_size=0xFFFFFFFF,
    )


def test_kokoro_trailer_is_not_played_wherever_the_pieces_end() -> None:
    head = _ffmpeg_header()
    assert len(head) == 78
    audio = np.arange(-60, 60, dtype=np.int16).reshape(-1, 1)
    trailer = _kokoro_trailer(audio.nbytes)
    writes = [head + audio[:50].tobytes(), audio[50:].tobytes(), trailer]
    want = [(AudioFormat(24000, 1, "int16"), audio)]
    for cut in range(0, 79, 7):
        got, dec = decode_by_format([writes[0], writes[1], trailer[:cut], trailer[cut:]])
        assert_runs(got, want)
        assert dec.trailing_bytes == 78
    got, dec = decode_by_format([bytes([x]) for x in b"".join(writes)])
    assert_runs(got, want)
    # and a next file after the trailer plays too
    got, dec = decode_by_format([*writes, head, audio.tobytes()])
    assert_runs(got, [(AudioFormat(24000, 1, "int16"), np.concatenate([audio, audio]))])


@pytest.mark.parametrize(
    "block",
    [
        _kokoro_trailer(240 + 2),  # the data size is not the audio's
        _kokoro_trailer(240)[:4] + struct.pack("<I", 240 + 71) + _kokoro_trailer(240)[8:],
        _kokoro_trailer(240)[:10] + b"\x01" + _kokoro_trailer(240)[11:],  # not zero inside
        b"\x01" + _kokoro_trailer(240)[1:],
        bytes(78),  # silence
        bytes(40),  # a short silence at the end
        _kokoro_trailer(240)[:76],  # two bytes short: audio after all
    ],
)
def test_what_only_resembles_the_trailer_is_audio(block: bytes) -> None:
    audio = np.arange(-60, 60, dtype=np.int16).reshape(-1, 1)
    block = block + b"\x00" * (len(block) % 2)
    expected = np.concatenate([audio, np.frombuffer(block, "<i2").reshape(-1, 1)])
    for pieces in (
        [_ffmpeg_header(), audio.tobytes(), block],
        [_ffmpeg_header() + audio.tobytes() + block],
    ):
        got, _ = decode_by_format(pieces)
        assert_runs(got, [(AudioFormat(24000, 1, "int16"), expected)])


def test_kokoro_030_writer_bytes_from_pyav() -> None:
    """Kokoro-FastAPI 0.3.0's StreamingAudioWriter: PyAV's wav muxer into a buffer emptied
    after every chunk, closed before the last read, so its header patch lands in a 78-byte
    block of its own."""
    av = pytest.importorskip("av")
    out = io.BytesIO()
    container = av.open(out, mode="w", format="wav")
    stream = container.add_stream("pcm_s16le", rate=24000, layout="mono")
    writes, pts, heard = [], 0, []
    for k in range(3):
        samples = (np.arange(480) * (k + 3) % 4000 - 2000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = 24000, pts
        pts += samples.size
        for packet in stream.encode(frame):
            container.mux(packet)
        writes.append(out.getvalue())
        out.seek(0)
        out.truncate(0)
        heard.append(samples)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    writes.append(out.getvalue())
    assert len(writes[-1]) == 78
    want = [(AudioFormat(24000, 1, "int16"), np.concatenate(heard).reshape(-1, 1))]
    for pieces in (writes, [bytes([x]) for x in b"".join(writes)]):
        got, dec = decode_by_format(pieces)
        assert_runs(got, want)
        assert dec.trailing_bytes == 78


def test_junk_and_truncated_headers_after_the_audio_are_ignored() -> None:
    fmt = fmt_body(1, 1, 8000, 16)
    one = build_wav(fmt, struct.pack("<2h", 1, 2))
    for tail in [
        b"RIFF\x10\x00\x00\x00AVI ",
        b"RIFF\x10\x00",
        b"\xff\xfe\xfd\xfc\x00\x00\x00\x00",
        b"LIST\x04",
    ]:
        got, dec = decode_by_format([one + tail])
        assert_runs(got, [(AudioFormat(8000, 1, "int16"), np.array([[1], [2]], np.int16))])
        assert dec.trailing_bytes == len(tail)
    head = _streaming_header(0xFFFFFFFF, 0xFFFFFFFF)
    got, dec = decode_by_format(
        [head + b"\x01\x00", _kokoro_trailer(2, 44), b"not a header at all"]
    )
    assert_runs(got, [(AudioFormat(24000, 1, "int16"), np.array([[1]], np.int16))])
    assert dec.trailing_bytes == 44 + 19


def _rifx(bits: int, samples: Samples, channels: int = 1) -> bytes:
    width = (bits + 7) // 8
    fmt = struct.pack(
        ">4sIHHIIHH",
        b"fmt ",
        16,
        1,
        channels,
        8000,
        8000 * width * channels,
        width * channels,
        bits,
    )
    data = (
        samples.astype(">i2").tobytes()
        if bits == 16
        else (samples.astype(np.int32) // 256 + 128).astype(np.uint8).tobytes()
    )
    body = fmt + struct.pack(">4sI", b"data", len(data)) + data
    return b"RIFX" + struct.pack(">I", 4 + len(body)) + b"WAVE" + body


def test_rifx_big_endian_decodes() -> None:
    samples = np.array([[1, -2], [256, -32768], [32767, 0]], np.int16)
    dec = assert_split_invariant(_rifx(16, samples, 2), samples)[0]
    assert wav_info([dec]).container == "RIFX"
    eight = np.array([[-32768], [0], [127 * 256]], np.int16)
    assert_split_invariant(_rifx(8, eight), eight)


def test_rifx_matches_libsndfile(sf: Any) -> None:
    samples = np.random.default_rng(5).integers(-32768, 32767, (50, 2), np.int16)
    buf = io.BytesIO()
    sf.write(buf, samples, 16000, format="WAV", subtype="PCM_16", endian="BIG")
    payload = buf.getvalue()
    assert payload.startswith(b"RIFX")
    assert_split_invariant(payload, _reference(sf, payload, "int16"))


@pytest.mark.parametrize("bits", [24, 32])
def test_rifx_wider_than_16_bits_is_a_clear_error(bits: int) -> None:
    payload = _rifx(16, np.zeros((1, 1), np.int16))
    payload = payload[:32] + struct.pack(">HH", bits // 8, bits) + payload[36:]
    msg = decode_error(payload)
    assert msg.startswith("unsupported big-endian (RIFX) format: tag 0x0001, ")
    assert f"{bits} bits" in msg
    assert "8 and 16-bit RIFX PCM" in msg


@pytest.mark.parametrize(
    ("channels", "bits", "align"), [(1, 12, 1), (2, 16, 3), (2, 24, 2), (1, 32, 3)]
)
def test_block_align_too_small_for_a_frame(channels: int, bits: int, align: int) -> None:
    msg = decode_error(build_wav(fmt_body(1, channels, 8000, bits, block_align=align), b""))
    assert msg == (
        f"fmt chunk at byte 12 declares {align}-byte blocks, too small for one frame of "
        f"{channels} x {bits}-bit samples"
    )


def test_block_align_of_one_sample_in_stereo_is_tolerated() -> None:
    samples = np.array([[1, 2], [3, 4]], np.int16)
    payload = build_wav(fmt_body(1, 2, 8000, 16, block_align=2), samples.astype("<i2").tobytes())
    assert_split_invariant(payload, samples)


@pytest.mark.parametrize(("tag", "bits"), [(0x0002, 4), (0x0011, 4), (1, 48), (1, 64)])
def test_adpcm_and_wide_integer_pcm_stay_clear_errors(tag: int, bits: int) -> None:
    msg = decode_error(build_wav(fmt_body(tag, 1, 8000, bits, block_align=0), b""))
    if tag == 1:
        assert msg.startswith(f"unsupported PCM sample size: {bits} bits")
    else:
        assert "ADPCM" in msg


def test_a_piece_start_is_held_only_while_it_may_still_be_a_header() -> None:
    dec = WavDecoder()
    dec.feed(_streaming_header(0xFFFFFFFF, 0xFFFFFFFF) + b"\x01\x00")
    assert dec.feed(b"RI").shape[0] == 0  # may be a header: held
    assert dec.feed(b"FF\x00\x00\x00\x00WA").shape[0] == 0  # still may be
    assert dec.feed(b"X\x00").shape[0] == 6  # "WAX": it was audio after all
    for start in (b"RX", b"BWX4", b"RIFF\x00\x00\x00\x00WX", b"R" + b"\x00" * 9):
        assert dec.feed(start).shape[0] == len(start) // 2, start
    assert dec.feed(b"\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00").shape[0] == 5  # not a trailer


@pytest.mark.parametrize(
    ("cid", "skipped"),
    [
        (b"id3 ", True),
        (b"C2PA", True),
        (b"LIS\x7f", False),
        (b"\x1fABC", False),
        (b"L\xc9ST", False),
    ],
)
def test_what_counts_as_a_chunk_after_the_audio(cid: bytes, skipped: bool) -> None:
    one = build_wav(fmt_body(1, 1, 8000, 16), struct.pack("<h", 7))
    after = cid + struct.pack("<I", 2) + b"\x00\x00"
    two = build_wav(fmt_body(1, 1, 8000, 16), struct.pack("<h", 9))
    got, dec = decode_by_format([one + after + two])
    want = [[7], [9]] if skipped else [[7]]
    assert got[0][1].tolist() == want
    assert dec.files == (2 if skipped else 1)


@pytest.mark.parametrize(
    ("start", "frames"),
    [
        (b"\x00\x01", 1),  # a zero byte, but not four
        (b"\x00\x00\x00\x00\xaa\xbb\xcc\xdd\x01\x00", 5),  # the zeros after the RIFF size end
        (bytes(4) + b"\x01\x02\x03\x04" + bytes(65) + b"\x01\x00\x00", 38),  # byte 73 is not 0
    ],
)
def test_piece_starts_that_cannot_be_the_trailer_play_at_once(start: bytes, frames: int) -> None:
    dec = WavDecoder()
    dec.feed(_ffmpeg_header() + b"\x01\x00")
    assert dec.feed(start).shape[0] == frames


def test_a_trailer_prefix_is_held_until_it_is_told_apart() -> None:
    dec = WavDecoder()
    dec.feed(_ffmpeg_header() + b"\x01\x00")
    assert dec.feed(bytes(4) + b"\x01\x02\x03\x04" + bytes(66)).shape[0] == 0
    assert dec.feed(b"\x05\x00").shape[0] == 0  # the data size is still to come
    assert dec.feed(b"\x00\x00").shape[0] == 39  # not the trailer's sizes: it was audio


@pytest.mark.parametrize("container", [b"RIFF", b"BW64"])
def test_next_file_at_a_piece_start_with_three_byte_frames(container: bytes) -> None:
    """24-bit mono: the frame boundary test must count the bytes consumed, not their parity."""
    enc = Enc("s24", 1, 24, "int32")
    a, want_a = enc.make(np.random.default_rng(7), 5, 1)
    b, want_b = enc.make(np.random.default_rng(8), 4, 1)
    head = build_wav(enc.fmt(1, 24000), b"", data_size=0xFFFFFFFF, riff_size=0xFFFFFFFF)
    nxt = build_wav(enc.fmt(1, 24000), b, container=container, ds64_data_size=2**64 - 1)
    got, dec = decode_by_format([head + a, nxt])
    assert_runs(got, [(AudioFormat(24000, 1, "int32"), np.concatenate([want_a, want_b]))])
    assert dec.files == 2


def test_rifx_streaming_trailer_is_big_endian() -> None:
    samples = np.array([[1], [-2], [3]], np.int16)
    fmt = struct.pack(">4sIHHIIHH", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16)
    head = b"RIFX\xff\xff\xff\xffWAVE" + fmt + b"data\xff\xff\xff\xff"
    audio = samples.astype(">i2").tobytes()
    big = bytearray(44)
    big[4:8] = struct.pack(">I", len(audio) + 36)
    big[40:] = struct.pack(">I", len(audio))
    got, dec = decode_by_format([head + audio, bytes(big)])
    assert_runs(got, [(AudioFormat(8000, 1, "int16"), samples)])
    assert dec.trailing_bytes == 44
    little = _kokoro_trailer(len(audio), 44)  # the wrong byte order: audio
    got, _ = decode_by_format([head + audio, little])
    assert got[0][1].shape[0] == 3 + 22


def test_trailing_bytes_add_up_over_files_and_positions_stay_true() -> None:
    fmt = fmt_body(1, 1, 24000, 16)
    first = build_wav(fmt, struct.pack("<h", 5), after=[AFTER_CHUNKS["LIST"]])
    audio = np.arange(4, dtype=np.int16).reshape(-1, 1)
    second = _ffmpeg_header() + audio.tobytes()
    got, dec = decode_by_format([first, second, _kokoro_trailer(audio.nbytes)])
    assert dec.trailing_bytes == len(AFTER_CHUNKS["LIST"]) + 78
    assert got[0][1].tolist() == [[5], *audio.tolist()]
    # A broken third file after the trailer: the error names its true stream offset.
    bad = build_wav(fmt_body(1, 0, 24000, 16), b"")
    offset = len(first) + len(second) + 78
    dec = WavDecoder()
    for piece in (first, second, _kokoro_trailer(audio.nbytes)):
        dec.feed(piece)
    with pytest.raises(DecodeError) as info:
        dec.feed(bad)
    assert str(info.value) == f"fmt chunk declares 0 channels at byte {offset + 12 + 8 + 2}"


def test_a_whole_header_as_one_piece_starts_the_next_file_at_once() -> None:
    head = _streaming_header(0xFFFFFFFF, 0xFFFFFFFF)
    dec = WavDecoder()
    dec.feed(head + b"\x01\x00")
    dec.feed(head[:12])
    assert dec.files == 2
    assert dec.feed(head[12:] + b"\x02\x00").tolist() == [[2]]
    assert dec.frames_decoded == 2


def test_a_zero_start_with_other_bytes_where_zeros_belong_plays_at_once() -> None:
    dec = WavDecoder()
    dec.feed(_ffmpeg_header() + b"\x01\x00")
    assert dec.feed(bytes(4) + b"\x01\x02\x03\x04" + b"X\x00").shape[0] == 5


@pytest.mark.parametrize("pad", [b"\x00", b""], ids=["pad-byte", "pad-omitted"])
def test_odd_sized_audio_then_the_next_file(pad: bytes) -> None:
    fmt = fmt_body(1, 1, 8000, 8)
    first = build_wav(fmt, b"\x80\xff\x00") + pad  # 3 bytes of 8-bit audio: odd
    second = build_wav(fmt, b"\x81")
    expected = np.array([[0], [127 * 256], [-32768], [256]], np.int16)
    for dec in assert_split_invariant(first + second, expected):
        assert isinstance(dec, WavDecoder)
        assert dec.files == 2
        assert dec.trailing_bytes == len(pad)


# -- exact messages, edge sizes and counters (each pins one behaviour mutation testing found loose)


def test_empty_stream_message_in_full() -> None:
    with pytest.raises(DecodeError) as info:
        WavDecoder().flush()
    assert str(info.value) == "the audio stream was empty: no WAV header arrived"


def test_truncated_header_message_in_full() -> None:
    payload = build_wav(fmt_body(1, 1, 8000, 16), b"")[:5]
    dec = WavDecoder()
    dec.feed(payload)
    with pytest.raises(DecodeError) as info:
        dec.flush()
    assert str(info.value) == (
        "the WAV stream ended after 5 bytes, inside the 12-byte RIFF header, before any audio "
        "data; the connection may have been cut or the server sent an empty file"
    )


def test_data_before_fmt_message_in_full() -> None:
    payload = b"RIFF\xff\xff\xff\xffWAVE" + chunk(b"data", b"\0\0")
    assert decode_error(payload) == (
        "data chunk at byte 12 comes before any fmt chunk; the stream's format is unknown"
    )


def test_rifx_unsupported_format_message_in_full() -> None:
    fmt = struct.pack(">HHIIHH", 3, 1, 8000, 32000, 4, 32)
    payload = b"RIFX" + struct.pack(">I", 36) + b"WAVEfmt " + struct.pack(">I", 16) + fmt
    assert decode_error(payload) == (
        "unsupported big-endian (RIFX) format: tag 0x0003, 32 bits (fmt chunk at byte 12); "
        "ttsstream decodes 8 and 16-bit RIFX PCM"
    )


def test_float_sample_size_message_in_full() -> None:
    assert decode_error(build_wav(fmt_body(3, 1, 8000, 16), b"")) == (
        "unsupported IEEE float sample size: 16 bits (fmt chunk at byte 12); "
        "ttsstream decodes 32 and 64-bit float"
    )


def test_unnamed_format_tag_message_in_full() -> None:
    assert decode_error(build_wav(fmt_body(0x1234, 1, 8000, 16), b"")) == (
        "unsupported WAV format tag 0x1234; ask the server for response_format 'wav' or 'pcm'"
    )


def test_extensible_sub_format_tag_is_unsigned() -> None:
    assert decode_error(build_wav(fmt_body(0x8001, 1, 8000, 16, size=40), b"")) == (
        "unsupported WAV format tag 0x8001; ask the server for response_format 'wav' or 'pcm'"
    )


def test_extensible_fmt_longer_than_40_bytes() -> None:
    fmt = fmt_body(1, 1, 8000, 16, size=40) + b"\0\0"
    payload = build_wav(fmt, struct.pack("<2h", 7, -7))
    assert_split_invariant(payload, np.array([[7], [-7]], np.int16))


def _rf64(ds64_body: bytes, fmt: bytes, audio: bytes) -> bytes:
    rest = chunk(b"ds64", ds64_body) + chunk(b"fmt ", fmt) + b"data\xff\xff\xff\xff" + audio
    return b"RF64\xff\xff\xff\xffWAVE" + rest


@pytest.mark.parametrize("ds64_size", [24, 25, 65536])
def test_ds64_chunk_sizes_at_the_limits(ds64_size: int) -> None:
    audio = struct.pack("<2h", 3, -3)
    body = struct.pack("<QQQ", 0, len(audio), 1).ljust(ds64_size, b"\0")
    payload = _rf64(body, fmt_body(1, 1, 8000, 16), audio + b"LIST\0\0\0\0")
    (dec, *_) = assert_split_invariant(payload, np.array([[3], [-3]], np.int16))
    assert isinstance(dec, WavDecoder)
    assert dec.info is not None
    assert dec.info.data_size == 4


@pytest.mark.parametrize("extra", [1, 4096 - 16])
def test_fmt_chunk_odd_and_largest_sizes(extra: int) -> None:
    fmt = fmt_body(1, 1, 8000, 16) + b"\0" * extra
    assert_split_invariant(build_wav(fmt, struct.pack("<h", 9)), np.array([[9]], np.int16))


def test_bits_per_sample_reported() -> None:
    dec = WavDecoder()
    dec.feed(build_wav(fmt_body(1, 1, 8000, 24), b"\0\0\0"))
    assert dec.info is not None
    assert dec.info.bits_per_sample == 24
    assert dec.info.data_size == 3


def test_rf64_data_chunk_size_wins_when_it_is_not_a_placeholder() -> None:
    payload = build_wav(
        fmt_body(1, 1, 8000, 16),
        struct.pack("<h", 5),
        container=b"RF64",
        data_size=2,
        ds64_data_size=1,
    )
    assert_split_invariant(payload, np.array([[5]], np.int16))


def test_ds64_data_size_of_2_to_the_62_means_to_the_end_of_the_stream() -> None:
    payload = build_wav(
        fmt_body(1, 1, 8000, 16), struct.pack("<h", 5), container=b"RF64", ds64_data_size=1 << 62
    )
    (dec, *_) = assert_split_invariant(payload, np.array([[5]], np.int16))
    assert isinstance(dec, WavDecoder)
    assert dec.info is not None
    assert dec.info.data_size is None


def test_zero_bits_per_sample_takes_the_width_from_block_align() -> None:
    payload = build_wav(fmt_body(1, 2, 8000, 0, block_align=4), struct.pack("<2h", 1, -1))
    assert_split_invariant(payload, np.array([[1, -1]], np.int16))


@pytest.mark.parametrize(
    ("channels", "align", "width"),
    [(2, 3, 0), (1, 5, 5)],
)
def test_zero_bits_per_sample_and_unusable_block_align(
    channels: int, align: int, width: int
) -> None:
    payload = build_wav(fmt_body(1, channels, 8000, 0, block_align=align), b"")
    assert decode_error(payload) == (
        f"unsupported PCM sample size: 0 bits in {width}-byte containers (fmt chunk at byte 12); "
        "ttsstream decodes 8, 16, 24 and 32-bit PCM"
    )


def test_dropped_bytes_add_up_over_files() -> None:
    fmt = fmt_body(1, 1, 8000, 16)
    dec = WavDecoder()
    out = dec.feed(b"".join(build_wav(fmt, struct.pack("<h", k) + b"\x7f") for k in (1, 2, 3)))
    assert out.tolist() == [[1], [2], [3]]
    assert dec.flush().shape == (0, 1)
    assert dec.dropped_bytes == 3
    assert dec.frames_decoded == 3


def test_last_file_lost_at_flush_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    files = [
        build_wav(fmt_body(1, 1, 8000, 16), b"\x08\x00\x09"),
        build_wav(fmt_body(1, 1, 16000, 16), struct.pack("<h", 16)),
        build_wav(fmt_body(1, 1, 24000, 16), struct.pack("<h", 24)),
    ]
    dec = WavDecoder()
    assert dec.feed(files[0][:-3]).shape[0] == 0
    with caplog.at_level(logging.WARNING, logger="ttsstream"):
        assert dec.feed(files[0][-3:] + files[1] + files[2]).tolist() == [[8]]
        assert dec.pending
        assert dec.flush().tolist() == [[16]]
    assert caplog.messages == [
        "audio stream ended inside a frame: dropped 1 trailing byte(s) of a 2-byte frame",
        "WAV stream: 10 bytes of a further file in another format at the very end were not decoded",
    ]
    assert dec.dropped_bytes == 1 + 10
    assert not dec.pending
    assert dec.flush().shape == (0, 1)


def test_nothing_decoded_yet_is_int16() -> None:
    dec = WavDecoder()
    for got in (dec.feed(b""), dec.feed(b"RIFF")):
        assert got.shape == (0, 1)
        assert got.dtype == np.int16


def test_feeding_nothing_after_flush_is_a_bug_too() -> None:
    dec = WavDecoder()
    assert dec.feed(build_wav(fmt_body(1, 1, 8000, 16), struct.pack("<h", 4))).tolist() == [[4]]
    dec.flush()
    with pytest.raises(RuntimeError, match="feed\\(\\) called after flush\\(\\)"):
        dec.feed(b"")
    cut = WavDecoder()  # flush() raised: no audio format, no PCM decoder behind it
    cut.feed(b"RIFF")
    with pytest.raises(DecodeError):
        cut.flush()
    for nothing in (b"", memoryview(b"")):
        with pytest.raises(RuntimeError, match="feed\\(\\) called after flush\\(\\)"):
            cut.feed(nothing)


def test_trailing_bytes_add_up_over_files_pads_and_a_false_riff() -> None:
    fmt = fmt_body(1, 1, 8000, 8)
    odd = build_wav(fmt, b"\x81", after=[chunk(b"LIST", b"abcd")])  # pad 1 + LIST 12
    payload = odd + build_wav(fmt, b"\x82", after=[b"RIFF\0\0\0\0AVI abc"])  # pad 1 + 15
    decoders = assert_split_invariant(payload, np.array([[256], [512]], np.int16))
    for dec in decoders:
        assert isinstance(dec, WavDecoder)
        assert dec.trailing_bytes == 1 + 12 + 1 + 15


def test_stream_cut_right_after_an_empty_chunk_is_between_chunks() -> None:
    payload = (
        b"RIFF\xff\xff\xff\xffWAVE" + chunk(b"fmt ", fmt_body(1, 1, 8000, 16)) + b"JUNK\0\0\0\0"
    )
    dec = WavDecoder()
    dec.feed(payload)
    with pytest.raises(DecodeError) as info:
        dec.flush()
    assert str(info.value).startswith(
        "the WAV stream ended after 44 bytes, between chunks, before any data chunk"
    )


@pytest.mark.parametrize("header_len", [4096, 4098])
def test_trailer_is_looked_for_after_headers_up_to_4096_bytes(header_len: int) -> None:
    head = build_wav(
        fmt_body(1, 1, 24000, 16),
        b"",
        before=[chunk(b"LIST", b"\0" * (header_len - 52))],
        data_size=0xFFFFFFFF,
        riff_size=0xFFFFFFFF,
    )
    assert len(head) == header_len
    audio = struct.pack("<2h", 5, -5)
    trailer = _kokoro_trailer(len(audio), header_len)
    dec = WavDecoder()
    got = [dec.feed(head + audio), dec.feed(trailer), dec.flush()]
    frames = np.concatenate(got).tolist()
    if header_len == 4096:
        assert frames == [[5], [-5]]
        assert dec.trailing_bytes == 4096
    else:  # too long to be looked for: it plays
        assert frames == [[5], [-5], *np.frombuffer(trailer, "<i2").reshape(-1, 1).tolist()]
        assert dec.trailing_bytes == 0


def test_a_new_decoder_has_nothing_to_report() -> None:
    dec = WavDecoder()
    assert repr(dec) == "WavDecoder(format=None, state=riff)"
    assert (dec.format, dec.info, dec.pending) == (None, None, False)
    assert (dec.frames_decoded, dec.dropped_bytes, dec.trailing_bytes, dec.files) == (0, 0, 0, 0)
    assert dec.feed(b"").shape == (0, 1)
    assert dec.feed(memoryview(b"")).shape == (0, 1)
    assert (dec.files, dec.pending) == (0, False)
