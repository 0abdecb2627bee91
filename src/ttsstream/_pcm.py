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

from ._errors import DecodeError
from ._format import AudioFormat, SampleDType

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


def _u8(b: _Buffer) -> _Samples:
    return ((np.frombuffer(b, np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)


def _s24(b: _Buffer) -> _Samples:
    # Left-justify each 3-byte sample in an int32: [0, lo, mid, hi] read as little-endian.
    raw = np.frombuffer(b, np.uint8).reshape(-1, 3)
    wide = np.zeros((raw.shape[0], 4), np.uint8)
    wide[:, 1:] = raw
    return wide.view("<i4").reshape(-1).astype(np.int32)


def _copy(dtype: str) -> Callable[[_Buffer], _Samples]:
    out = np.dtype(dtype).newbyteorder("=")

    def convert(b: _Buffer) -> _Samples:
        return np.frombuffer(b, dtype).astype(out)  # astype copies: the result owns its memory

    return convert


def _table(table: npt.NDArray[np.int16]) -> Callable[[_Buffer], _Samples]:
    def convert(b: _Buffer) -> _Samples:
        return table[np.frombuffer(b, np.uint8)]

    return convert


@dataclass(frozen=True)
class _Codec:
    width: int  # bytes per sample on the wire
    dtype: SampleDType  # what the decoder hands out
    convert: Callable[[_Buffer], _Samples]


_CODECS: dict[str, _Codec] = {
    "u8": _Codec(1, "int16", _u8),
    "s16le": _Codec(2, "int16", _copy("<i2")),
    "s16be": _Codec(2, "int16", _copy(">i2")),
    "s24le": _Codec(3, "int32", _s24),
    "s32le": _Codec(4, "int32", _copy("<i4")),
    "f32le": _Codec(4, "float32", _copy("<f4")),
    "f64le": _Codec(8, "float32", lambda b: np.frombuffer(b, "<f8").astype(np.float32)),
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
        self._convert = codec.convert
        self._frame_bytes = codec.width * format.channels
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
        """
        if self._flushed:
            raise RuntimeError("feed() called after flush(); create a new decoder per stream")
        fb = self._frame_bytes
        if self._partial:
            self._partial += data
            whole = len(self._partial) - len(self._partial) % fb
            block = bytes(self._partial[:whole])
            del self._partial[:whole]
        else:
            view = memoryview(data).cast("B")
            whole = len(view) - len(view) % fb
            block = view[:whole]
            if whole < len(view):
                self._partial += view[whole:]
        if not whole:
            return self._format.empty()
        samples = self._convert(block).reshape(-1, self._format.channels)
        self.frames_decoded += samples.shape[0]
        return samples

    def flush(self) -> _Samples:
        """Signal the end of the stream and return the frames still held (always none).

        A dangling partial frame cannot be decoded: it is dropped, counted in
        :attr:`dropped_bytes` and logged, because playing half a sample is what makes noise.
        """
        self._flushed = True
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

