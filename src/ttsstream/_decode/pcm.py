"""Sample encodings and the headerless PCM decoder (sans-IO: no I/O, no event loop).

A decoder turns bytes into device-ready frames. Bytes arrive in arbitrary pieces, so the
decoder keeps the tail of an incomplete frame and joins it to the next piece: however the
stream is split, the output is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from .._format import AudioFormat, SampleDType

__all__ = ["Encoding", "PcmDecoder"]

logger = logging.getLogger("ttsstream")

Encoding = Literal["u8", "s16le", "s16be", "s24le", "s32le", "f32le", "f64le", "mulaw", "alaw"]
"""How samples are laid out on the wire (interleaved channels; little-endian except ``s16be``,
which is ``audio/L16``'s network byte order)."""

_Samples = npt.NDArray[np.generic]
_Buffer = bytes | bytearray | memoryview


def _g711_ulaw_table() -> npt.NDArray[np.int16]:
    # ITU-T G.711 mu-law expansion, as in CCITT's reference code (and libsndfile, audioop).
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _g711_alaw_table() -> npt.NDArray[np.int16]:
    # ITU-T G.711 A-law expansion (even bits inverted with 0x55).
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW = _g711_ulaw_table()
_ALAW = _g711_alaw_table()


# A converter turns whole frames of wire bytes into a new ``(frames, channels)`` array that owns
# its memory (never a view of the caller's buffer). Converters are built per channel count, so
# the common case is a single ``frombuffer`` with a sub-array dtype plus one copy.
_Convert = Callable[[_Buffer], _Samples]
_frombuffer = np.frombuffer


def _u8(channels: int) -> _Convert:
    def convert(b: _Buffer) -> _Samples:
        raw = np.frombuffer(b, np.uint8).reshape(-1, channels)
        return ((raw.astype(np.int16) - 128) << 8).astype(np.int16)

    return convert


_S24_MASK = np.int32(-256)


def _s24(channels: int) -> _Convert:
    # Left-justify each 3-byte sample in an int32. With one byte in front of the stream, the
    # little-endian int32 that ends at sample i's last byte is [previous byte, lo, mid, hi]:
    # an unaligned, overlapping read with a 3-byte stride, then the low byte cleared.
    frame = 3 * channels

    def convert(b: _Buffer) -> _Samples:
        padded = b"\0" + b
        words: _Samples = np.ndarray((len(b) // frame, channels), "<i4", padded, 0, (frame, 3))
        out: _Samples = np.bitwise_and(words, _S24_MASK, dtype=np.int32)
        return out

    return convert


def _copy(dtype: str) -> Callable[[int], _Convert]:
    wire = np.dtype(dtype)
    native = wire.newbyteorder("=")

    def make(channels: int) -> _Convert:
        frame = np.dtype((wire, (channels,)))  # frombuffer gives (frames, channels) directly
        if wire == native:

            def convert(b: _Buffer) -> _Samples:
                out: _Samples = np.frombuffer(b, frame).copy()
                return out

        else:

            def convert(b: _Buffer) -> _Samples:
                return np.frombuffer(b, frame).astype(native)

        return convert

    return make


def _f64(channels: int) -> _Convert:
    frame = np.dtype(("<f8", (channels,)))

    def convert(b: _Buffer) -> _Samples:
        # Doubles beyond float32's range become +-inf, as a C cast does, and NaN stays NaN; not
        # worth a warning (which an application running with warnings as errors would get as an
        # exception).
        with np.errstate(over="ignore", invalid="ignore"):
            return np.frombuffer(b, frame).astype(np.float32)

    return convert


def _table(table: npt.NDArray[np.int16]) -> Callable[[int], _Convert]:
    def make(channels: int) -> _Convert:
        def convert(b: _Buffer) -> _Samples:
            return table.take(np.frombuffer(b, np.uint8).reshape(-1, channels))

        return convert

    return make


@dataclass(frozen=True)
class _Codec:
    width: int  # bytes per sample on the wire
    dtype: SampleDType  # what the decoder hands out
    make: Callable[[int], _Convert]  # channels -> converter
    wire: str | None = None  # the wire dtype when decoding is a plain copy of it


def _copy_codec(width: int, dtype: SampleDType, wire: str) -> _Codec:
    return _Codec(width, dtype, _copy(wire), wire)


_CODECS: dict[str, _Codec] = {
    "u8": _Codec(1, "int16", _u8),
    "s16le": _copy_codec(2, "int16", "<i2"),
    "s16be": _copy_codec(2, "int16", ">i2"),
    "s24le": _Codec(3, "int32", _s24),
    "s32le": _copy_codec(4, "int32", "<i4"),
    "f32le": _copy_codec(4, "float32", "<f4"),
    "f64le": _Codec(8, "float32", _f64),
    "mulaw": _Codec(1, "int16", _table(_ULAW)),
    "alaw": _Codec(1, "int16", _table(_ALAW)),
}
assert set(_CODECS) == set(get_args(Encoding))

_DEFAULT_ENCODING: dict[str, Encoding] = {"int16": "s16le", "int32": "s32le", "float32": "f32le"}


def output_dtype(encoding: Encoding) -> SampleDType:
    """The sample type that ``encoding`` decodes to."""
    return _CODECS[encoding].dtype


class PcmDecoder:
    """Decode a headerless stream of interleaved little-endian samples.

    ``format`` describes the decoded output (rate, channels, dtype). ``encoding`` says how the
    bytes are laid out when it is not simply ``format.dtype`` in little-endian (for example
    ``"mulaw"`` for ElevenLabs' ``ulaw_8000``, which decodes to ``int16``).

    >>> dec = PcmDecoder(AudioFormat(sample_rate=24000, channels=1, dtype="int16"))
    >>> dec.feed(b"\\x01\\x00\\x02").tolist()   # the odd byte waits for its partner
    [[1]]
    >>> dec.feed(b"\\x00").tolist()
    [[2]]
    """

    def __init__(self, format: AudioFormat, encoding: Encoding | None = None) -> None:
        if encoding is None:
            encoding = _DEFAULT_ENCODING[format.dtype]
        if encoding not in _CODECS:
            raise ValueError(f"unknown encoding {encoding!r}; one of {', '.join(_CODECS)}")
        codec = _CODECS[encoding]
        if codec.dtype != format.dtype:
            raise ValueError(
                f"{encoding} decodes to {codec.dtype}, but the format says {format.dtype}"
            )
        self._format = format
        self._encoding: Encoding = encoding
        self._convert = codec.make(format.channels)
        self._frame_bytes = codec.width * format.channels
        # Set when the wire bytes already are the output samples (s16le, s32le, f32le on a
        # little-endian machine): feed() then decodes with one frombuffer and one copy, inline.
        self._copy_frame: np.dtype[np.generic] | None = None
        if codec.wire is not None and np.dtype(codec.wire).isnative:
            self._copy_frame = np.dtype((codec.wire, (format.channels,)))
        # _copy_frame while nothing is carried over and the stream is open, else None: the one
        # test feed() needs before taking the fast path (kept up to date by _feed and flush).
        self._fast_frame: np.dtype[np.generic] | None = self._copy_frame
        self._partial = bytearray()
        self._flushed = False
        #: Frames handed out so far.
        self.frames_decoded = 0
        #: Bytes of an incomplete last frame that :meth:`flush` had to drop.
        self.dropped_bytes = 0

    @property
    def format(self) -> AudioFormat:
        """The format of the decoded frames."""
        return self._format

    @property
    def encoding(self) -> Encoding:
        """The wire encoding of the input bytes."""
        return self._encoding

    def feed(self, data: _Buffer) -> _Samples:
        """Decode ``data`` and return every frame completed by it, shape ``(frames, channels)``.

        Bytes of an incomplete frame are kept for the next call; nothing is dropped or padded.
        The result is a new array: ``data`` may be reused by the caller afterwards.
        """
        frame = self._fast_frame
        if frame is not None and type(data) is bytes:
            # Fast path, nearly every call of a 16-bit stream: bytes in, nothing carried,
            # whole frames only, and the wire bytes already are the samples.
            n = len(data)
            fb = self._frame_bytes
            if not n % fb:
                self.frames_decoded += n // fb
                samples: _Samples = _frombuffer(data, frame).copy()
                return samples
        return self._feed(data)

    def _feed(self, data: _Buffer) -> _Samples:
        if self._flushed:
            raise RuntimeError("feed() called after flush(); create a new decoder per stream")
        if type(data) is memoryview:
            data = data.cast("B")  # lengths below are in bytes
        fb = self._frame_bytes
        samples: _Samples
        if self._partial:
            # Complete the carried frame: join it and the new bytes once (into a new buffer
            # that nobody else holds), decode the whole frames from there, keep the new tail.
            buf = self._partial + data
            n = len(buf)
            whole = n - n % fb
            if not whole:
                self._partial = buf
                return self._format.empty()
            self._partial = buf[whole:]
            frame = self._copy_frame
            if frame is not None:
                # The joined buffer is private: hand out a view of it, not a second copy.
                samples = _frombuffer(buf, frame, whole // fb)
            else:
                samples = self._convert(memoryview(buf)[:whole])
        else:
            n = len(data)
            rest = n % fb
            if rest:
                self._partial = bytearray(data[n - rest :])
                self._fast_frame = None
                if n == rest:
                    return self._format.empty()
                samples = self._convert(memoryview(data)[: n - rest])
            elif n:
                samples = self._convert(data)
            else:
                return self._format.empty()
        self._fast_frame = None if self._partial else self._copy_frame
        self.frames_decoded += len(samples)
        return samples

    def flush(self) -> _Samples:
        """Signal the end of the stream and return the frames still held (always none).

        A dangling partial frame cannot be decoded: it is dropped, counted in
        :attr:`dropped_bytes` and logged, because playing half a sample is what makes noise.
        """
        self._flushed = True
        self._fast_frame = None
        if self._partial:
            self.dropped_bytes = len(self._partial)
            logger.warning(
                "audio stream ended inside a frame: dropped %d trailing byte(s) of a %d-byte frame",
                self.dropped_bytes,
                self._frame_bytes,
            )
            self._partial.clear()
        return self._format.empty()

    def __repr__(self) -> str:
        return f"PcmDecoder({self._format}, encoding={self._encoding!r})"
