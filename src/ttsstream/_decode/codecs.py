"""Compressed formats (mp3, Ogg Opus, AAC in ADTS, FLAC), decoded with PyAV (sans-IO).

Each decoder has the shape of :class:`~ttsstream.WavDecoder`: ``feed(bytes) -> ndarray``,
``flush() -> ndarray`` and ``format``, fed pieces of any size. The framing is done here, in
Python, so that every packet reaches FFmpeg's decoder (through ``av.CodecContext``, never
``av.open``, which probes about a second of input first) as soon as its last byte is in:

* **mp3**: frames split by their headers (FFmpeg's parser decodes a cut-off end differently
  depending on how the bytes were split); ID3 tags are skipped; a Xing/Info frame is dropped
  and its LAME tag's encoder delay and padding are trimmed as FFmpeg does (start: delay + 529,
  end: padding - 529).
* **Ogg Opus**: :class:`~ttsstream._decode.ogg.OggReader` checks every page's CRC; ``OpusHead``
  configures the decoder (which applies its pre-skip); the end-of-stream page's granule
  position trims the padding of the last packet. Always 48 kHz.
* **AAC** in ADTS frames.
* **FLAC**: metadata blocks skipped (STREAMINFO kept for the decoder), frames split on their
  sync code and header CRC-8 (FFmpeg's own parser waits for ten frames), each frame's CRC-16
  checked by the decoder. Bit-exact.

Output types: lossy codecs hand out ``float32`` (their decoders compute in float; turning that
into ``int16`` would only add a rounding step the sound card does anyway); FLAC hands out
``int16`` for 16-bit (and 8-bit) streams and ``int32`` for 24/32-bit ones, left-justified as
the WAV decoder does. Malformed input raises :class:`~ttsstream.DecodeError`; every error from
FFmpeg is turned into one. PyAV is imported when a decoder is created, not with ttsstream; it
comes with the ``codecs`` extra (``pip install 'ttsstream[codecs]'``).
"""

from __future__ import annotations

import importlib.util
import logging
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import ConfigurationError, DecodeError
from .._format import AudioFormat, SampleDType
from .ogg import OggReader

__all__ = [
    "AacDecoder",
    "FlacDecoder",
    "Mp3Decoder",
    "OpusDecoder",
    "codecs_available",
    "require_codecs",
]

logger = logging.getLogger("ttsstream")

_Samples = npt.NDArray[np.generic]
_Buffer = bytes | bytearray | memoryview

# Make FFmpeg's decoders report damage instead of concealing it ("explode": stop at the
# first error; "crccheck": verify the checksums that FLAC frames and some mp3/AAC frames carry).
_STRICT = {"err_detect": "crccheck+bitstream+explode"}
_MAX_FLAC_FRAME = 1 << 22  # beyond any real frame (65535 samples x 8 channels x 32 bits)
_MP3_DECODER_DELAY = 529  # samples FFmpeg's mp3 decoder delays its output by (as in LAME)

_DTYPES: dict[str, SampleDType] = {
    "s16": "int16",
    "s16p": "int16",
    "s32": "int32",
    "s32p": "int32",
    "flt": "float32",
    "fltp": "float32",
    "dbl": "float32",
    "dblp": "float32",
}


def codecs_available() -> bool:
    """Whether PyAV (the ``codecs`` extra) is installed; does not import it."""
    return importlib.util.find_spec("av") is not None


def require_codecs(what: str) -> None:
    """Raise :class:`ConfigurationError` naming the extra when PyAV is missing."""
    if not codecs_available():
        raise ConfigurationError(
            f"{what} needs PyAV: pip install 'ttsstream[codecs]' (or use 'wav' or 'pcm', "
            "which need nothing and stream with less latency)"
        )


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise ConfigurationError(
            "decoding compressed audio needs PyAV: pip install 'ttsstream[codecs]'"
        ) from exc
    return av


class _AvDecoder:
    """What the four decoders share: an FFmpeg decoder, frame conversion, trimming."""

    _codec = ""
    _label = ""

    def __init__(self) -> None:
        self._av = _av()
        self._ctx: Any = None  # an av.AudioCodecContext once the stream says enough
        self._format: AudioFormat | None = None
        self._flushed = False
        self._bytes = 0  # bytes fed so far
        self._skip = 0  # frames still to drop at the start
        self._hold = 0  # frames to keep back: the end padding, dropped at flush
        self._held: _Samples | None = None
        self._limit: int | None = None  # total frames the stream has, when it says
        #: Frames handed out so far.
        self.frames_decoded = 0
        #: Bytes of an incomplete last frame dropped at the end of the stream.
        self.dropped_bytes = 0

    @property
    def format(self) -> AudioFormat | None:
        """The decoded audio's format, or ``None`` until the first frame is decoded."""
        return self._format

    def _empty(self) -> _Samples:
        if self._format is not None:
            return self._format.empty()
        return np.empty((0, 1), np.float32)

    def _open(self, extradata: bytes | None = None) -> None:
        try:
            ctx = self._av.CodecContext.create(self._codec, "r")
            ctx.options = dict(_STRICT)
            if extradata is not None:
                ctx.extradata = extradata
        except Exception as exc:
            raise DecodeError(f"cannot set up FFmpeg's {self._label} decoder: {exc}") from exc
        self._ctx = ctx

    def _decode(self, packet: bytes | None) -> list[_Samples]:
        """Decode one packet (``None``: drain the decoder); return its frames, trimmed."""
        assert self._ctx is not None
        try:
            frames = self._ctx.decode(None if packet is None else self._av.Packet(packet))
            arrays = [self._convert(f) for f in frames]
        except DecodeError:
            raise
        except Exception as exc:
            raise DecodeError(
                f"the {self._label} stream is corrupted: FFmpeg's decoder failed after "
                f"{self._bytes} bytes ({exc})"
            ) from exc
        return [a for a in (self._trim(x) for x in arrays) if a.shape[0]]

    def _convert(self, frame: Any) -> _Samples:
        name = frame.format.name
        dtype = _DTYPES.get(name)
        if dtype is None:
            raise DecodeError(f"FFmpeg's {self._label} decoder gave unexpected samples ({name})")
        channels = frame.layout.nb_channels
        fmt = AudioFormat(int(frame.sample_rate), channels, dtype)
        if self._format is None:
            self._format = fmt
        elif fmt != self._format:
            raise DecodeError(
                f"the {self._label} stream changed format mid-stream, from {self._format} to "
                f"{fmt}; ttsstream plays one format per stream"
            )
        data = frame.to_ndarray()
        out: _Samples = data.T if frame.format.is_planar else data.reshape(-1, channels)
        if out.dtype != fmt.numpy_dtype:
            out = out.astype(fmt.numpy_dtype)
        if dtype == "float32" and not np.isfinite(out).all():
            raise DecodeError(f"FFmpeg's {self._label} decoder produced non-finite samples")
        return np.ascontiguousarray(out)

    def _trim(self, x: _Samples) -> _Samples:
        if self._skip:
            k = min(self._skip, x.shape[0])
            x = x[k:]
            self._skip -= k
        if self._limit is not None:
            x = x[: max(0, self._limit - self.frames_decoded)]
        if self._hold:
            if self._held is not None and self._held.shape[0]:
                x = np.concatenate([self._held, x])
            keep = max(0, x.shape[0] - self._hold)
            self._held = x[keep:].copy()
            x = x[:keep]
        self.frames_decoded += x.shape[0]
        return x

    def _join(self, parts: list[_Samples]) -> _Samples:
        if not parts:
            return self._empty()
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _check_open(self) -> None:
        if self._flushed:
            raise RuntimeError("feed() called after flush(); create a new decoder per stream")

    def _drain(self) -> list[_Samples]:
        if self._ctx is None:
            return []
        return self._decode(None)

    def _no_audio(self) -> DecodeError:
        if self._bytes == 0:
            return DecodeError(f"the audio stream was empty: no {self._label} data arrived")
        return DecodeError(
            f"the {self._label} stream ended after {self._bytes} bytes without a complete "
            "audio frame; the connection may have been cut or the server sent no audio"
        )

    def _drop_tail(self, nbytes: int, exc: DecodeError) -> None:
        self.dropped_bytes = nbytes
        logger.warning(
            "the %s stream ended inside a frame: dropped its last %d byte(s) (%s)",
            self._label,
            nbytes,
            exc,
        )


# -- mp3 ------------------------------------------------------------------------------------

_MP3_BITRATES = {  # (MPEG-1?, layer III) kbit/s by index
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_frame_size(head: bytes) -> tuple[int, int, int] | None:
    """Length in bytes, sample rate and channels of the MPEG layer III frame whose 4-byte
    header is ``head``, or ``None`` if it is not one (free format is not supported)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    version = (head[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = (head[1] >> 1) & 3  # 1: layer III
    index, rate_index = head[2] >> 4, (head[2] >> 2) & 3
    if version == 1 or layer != 1 or index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES[mpeg1][index] * 1000
    rate = _MP3_RATES[version][rate_index]
    padding = (head[2] >> 1) & 1
    size = (144 if mpeg1 else 72) * bitrate // rate + padding
    channels = 1 if head[3] >> 6 == 3 else 2
    return size, rate, channels


def lame_trim(frame: bytes) -> tuple[int, int] | None:
    """If ``frame`` is a Xing/Info frame: the LAME tag's (encoder delay, padding), or (0, 0)
    when it has none. ``None`` if it is an audio frame."""
    info = mp3_frame_size(frame[:4])
    if info is None:
        return None
    mpeg1 = (frame[1] >> 3) & 3 == 3
    mono = info[2] == 1
    at = 4 + (17 if mono else 32) if mpeg1 else 4 + (9 if mono else 17)
    if frame[at : at + 4] not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(frame[at + 4 : at + 8], "big")
    lame = at + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4)
    lame += 4 * bool(flags & 8)
    if frame[lame : lame + 4] not in (b"LAME", b"Lavf", b"Lavc") or len(frame) < lame + 24:
        return 0, 0
    v = int.from_bytes(frame[lame + 21 : lame + 24], "big")
    return v >> 12, v & 0xFFF


class Mp3Decoder(_AvDecoder):
    """Decode an mp3 stream fed in pieces of any size (``float32`` out).

    ID3v2 tags (at the start or between frames, as per-sentence servers send them) and ID3v1
    trailers are skipped; a Xing/Info header frame is not played, and the encoder delay and
    padding that the first one's LAME tag gives are trimmed, as FFmpeg does. Frames are split
    by their headers, here, so that any split of the bytes decodes to the same samples.
    """

    _codec = "mp3float"
    _label = "mp3"

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self._skip_tag = 0  # bytes of a tag still to skip
        self._frames = 0  # frames seen (Info frames included)
        #: The (encoder delay, padding) of the LAME tag, if the stream had one.
        self.lame: tuple[int, int] | None = None

    def feed(self, data: _Buffer) -> _Samples:
        """Consume ``data``; return the frames it completes, shape ``(frames, channels)``."""
        self._check_open()
        self._bytes += len(data)
        view = memoryview(data).cast("B")
        if self._skip_tag:
            k = min(self._skip_tag, len(view))
            self._skip_tag -= k
            view = view[k:]
        self._buf += view
        out: list[_Samples] = []
        for frame in self._split():
            out += self._frame(frame)
        return self._join(out)

    def _split(self) -> Iterator[bytes]:
        buf = self._buf
        while not self._skip_tag and len(buf) >= 4:
            at = self._bytes - len(buf)
            if buf[:3] == b"ID3":
                if len(buf) < 10:
                    return
                size = 10 + _syncsafe(buf[6:10], at) + (10 if buf[5] & 0x10 else 0)
                self._skip_ahead(size)
                continue
            if buf[:3] == b"TAG":  # an ID3v1 trailer: 128 bytes
                self._skip_ahead(128)
                continue
            info = mp3_frame_size(bytes(buf[:4]))
            if info is None:
                if self._frames == 0:
                    raise DecodeError(
                        "not an mp3 stream: expected an MPEG layer III frame header, found "
                        f"{bytes(buf[:8])!r}; the body may be an error message or another format"
                    )
                raise DecodeError(
                    f"the mp3 stream is corrupted: out of step at byte {at}, where a frame "
                    f"header should be, found {bytes(buf[:4]).hex()}"
                )
            if len(buf) < info[0]:
                return
            frame = bytes(buf[: info[0]])
            del buf[: info[0]]
            yield frame

    def _skip_ahead(self, size: int) -> None:
        k = min(size, len(self._buf))
        del self._buf[:k]
        self._skip_tag = size - k

    def _frame(self, frame: bytes) -> list[_Samples]:
        self._frames += 1
        if self._ctx is None:
            self._open()
        trim = lame_trim(frame)
        if trim is None:
            return self._decode(frame)
        if self._frames == 1:  # the stream's own Info frame: its LAME tag is about this stream
            self.lame = trim
            delay, padding = trim
            if delay or padding:
                self._skip = delay + _MP3_DECODER_DELAY
                self._hold = max(0, padding - _MP3_DECODER_DELAY)
        return []  # an Info frame is not audio

    def flush(self) -> _Samples:
        """End the stream; return the last frames. A cut-off last frame is dropped (logged)."""
        if self._flushed:
            return self._empty()
        self._flushed = True
        if self._buf and not self._skip_tag:
            self._drop_tail(len(self._buf), DecodeError("incomplete mp3 frame"))
            self._buf.clear()
        out = self._drain()
        self._held = None  # the encoder's padding, never played
        if self.frames_decoded == 0 and not out:
            raise self._no_audio()
        return self._join(out)


def _syncsafe(b: bytes | bytearray, at: int) -> int:
    if any(x & 0x80 for x in b):
        raise DecodeError(f"malformed ID3v2 tag size in the mp3 stream near byte {at}")
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


# -- AAC (ADTS) -----------------------------------------------------------------------------


class AacDecoder(_AvDecoder):
    """Decode AAC in ADTS frames fed in pieces of any size (``float32`` out)."""

    _codec = "aac"
    _label = "AAC"

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()

    def feed(self, data: _Buffer) -> _Samples:
        """Consume ``data``; return the frames it completes, shape ``(frames, channels)``."""
        self._check_open()
        self._bytes += len(data)
        self._buf += data
        out: list[_Samples] = []
        for frame in self._frames():
            out += self._decode(frame)
        return self._join(out)

    def _frames(self) -> Iterator[bytes]:
        buf = self._buf
        while len(buf) >= 7:
            if buf[0] != 0xFF or buf[1] & 0xF6 != 0xF0:
                what = "not an AAC (ADTS) stream" if self._ctx is None else "AAC stream out of step"
                raise DecodeError(
                    f"{what} at byte {self._bytes - len(buf)}: expected an ADTS frame header, "
                    f"found {bytes(buf[:7])!r}"
                )
            size = ((buf[3] & 3) << 11) | (buf[4] << 3) | (buf[5] >> 5)
            header = 7 if buf[1] & 1 else 9
            if size <= header or (buf[2] >> 2) & 0xF >= 13:
                raise DecodeError(
                    f"malformed ADTS frame header at byte {self._bytes - len(buf)} "
                    f"({bytes(buf[:7]).hex()})"
                )
            if len(buf) < size:
                return
            if self._ctx is None:
                self._open()
            frame = bytes(buf[:size])
            del buf[:size]
            yield frame

    def flush(self) -> _Samples:
        """End the stream; return the last frames. A cut-off last frame is dropped (logged)."""
        if self._flushed:
            return self._empty()
        self._flushed = True
        if self._buf:
            if self._ctx is None:
                raise self._no_audio()
            self._drop_tail(len(self._buf), DecodeError("incomplete ADTS frame"))
            self._buf.clear()
        if self._ctx is None:
            raise self._no_audio()
        return self._join(self._drain())


# -- FLAC -----------------------------------------------------------------------------------


def _crc8_table() -> bytes:
    table = bytearray()
    for i in range(256):
        r = i
        for _ in range(8):
            r = ((r << 1) ^ 0x07) & 0xFF if r & 0x80 else (r << 1) & 0xFF
        table.append(r)
    return bytes(table)


_CRC8 = _crc8_table()


def _flac_header(buf: bytes | bytearray, at: int, blocking: int) -> tuple[int, int] | None:
    """``(header length, frame or sample number)`` if a valid FLAC frame header starts at
    ``at`` with the stream's blocking strategy; ``None`` if not (or not all there yet)."""
    end = len(buf)
    if at + 6 > end or buf[at] != 0xFF or buf[at + 1] != 0xF8 | blocking:
        return None
    b2, b3 = buf[at + 2], buf[at + 3]
    if b2 >> 4 == 0 or b2 & 0xF == 15 or b3 >> 4 >= 11 or b3 & 1 or (b3 >> 1) & 7 == 3:
        return None
    i = at + 4
    first = buf[i]
    if first < 0x80:
        number, extra = first, 0
    elif 0xC0 <= first <= 0xFE:
        extra = 1
        while extra < 6 and first & (0x40 >> extra):
            extra += 1
        number = first & (0x3F >> extra)
    else:
        return None
    if i + 1 + extra > end:
        return None
    for k in range(extra):
        c = buf[i + 1 + k]
        if c & 0xC0 != 0x80:
            return None
        number = (number << 6) | (c & 0x3F)
    i += 1 + extra
    i += {6: 1, 7: 2}.get(b2 >> 4, 0)
    i += {12: 1, 13: 2, 14: 2}.get(b2 & 0xF, 0)
    if i >= end:
        return None
    crc = 0
    for k in range(at, i):
        crc = _CRC8[crc ^ buf[k]]
    if crc != buf[i]:
        return None
    return i + 1 - at, number


class FlacDecoder(_AvDecoder):
    """Decode a FLAC stream fed in pieces of any size, bit-exact.

    ``int16`` out for 8- and 16-bit streams, ``int32`` (left-justified) for 24- and 32-bit
    ones. Each frame goes to the decoder once the next frame's header is seen (or at the end),
    so audio lags the network by one frame (4096 samples at most with usual encoders).
    """

    _codec = "flac"
    _label = "FLAC"

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()
        self._stage = 0  # 0: magic, 1: metadata block headers, 2: frames
        self._skip_bytes = 0
        self._block_type = -1
        self._last_block = False
        self._streaminfo: bytes | None = None
        self._blocking = 0
        self._number = -1  # frame (or first sample) number of the frame at the buffer start
        self._scan = 2  # where to look for the next frame header
        self._offset = 0  # stream offset of _buf[0]

    def feed(self, data: _Buffer) -> _Samples:
        """Consume ``data``; return the frames it completes, shape ``(frames, channels)``."""
        self._check_open()
        self._bytes += len(data)
        view = memoryview(data).cast("B")
        if self._skip_bytes:
            k = min(self._skip_bytes, len(view))
            self._skip_bytes -= k
            self._offset += k
            view = view[k:]
        self._buf += view
        out: list[_Samples] = []
        if self._stage < 2:
            self._metadata()
        if self._stage == 2:
            for frame in self._frames():
                out += self._decode(frame)
        return self._join(out)

    def _metadata(self) -> None:
        buf = self._buf
        if self._stage == 0:
            if len(buf) < 4:
                if bytes(buf) != b"fLaC"[: len(buf)]:
                    raise DecodeError(f"not a FLAC stream: it starts with {bytes(buf)!r}")
                return
            if buf[:4] != b"fLaC":
                raise DecodeError(f"not a FLAC stream: it starts with {bytes(buf[:8])!r}")
            del buf[:4]
            self._offset = 4
            self._stage = 1
        while self._stage == 1 and not self._skip_bytes:
            if self._block_type == 0:  # collecting STREAMINFO
                if len(buf) < 34:
                    return
                self._streaminfo = bytes(buf[:34])
                del buf[:34]
                self._offset += 34
                self._block_type = -1
                continue
            if self._last_block:
                if self._streaminfo is None:
                    raise DecodeError("the FLAC stream has no STREAMINFO block")
                self._stage = 2
                self._open(self._streaminfo)
                return
            if len(buf) < 4:
                return
            kind, size = buf[0] & 0x7F, int.from_bytes(buf[1:4], "big")
            self._last_block = bool(buf[0] & 0x80)
            del buf[:4]
            self._offset += 4
            if kind == 0:
                if size != 34 or self._streaminfo is not None:
                    raise DecodeError(f"malformed FLAC STREAMINFO block near byte {self._offset}")
                self._block_type = 0
            elif kind == 127:
                raise DecodeError(f"invalid FLAC metadata block type near byte {self._offset}")
            else:
                k = min(size, len(buf))
                del buf[:k]
                self._offset += k
                self._skip_bytes = size - k

    def _frames(self) -> Iterator[bytes]:
        buf = self._buf
        while True:
            if self._number < 0:
                if len(buf) < 2:
                    return
                if buf[0] != 0xFF or buf[1] & 0xFE != 0xF8:
                    raise DecodeError(
                        f"FLAC stream out of step at byte {self._offset}: expected a frame "
                        f"header, found {bytes(buf[:6])!r}"
                    )
                self._blocking = buf[1] & 1
                head = _flac_header(buf, 0, self._blocking)
                if head is None:
                    if len(buf) < 22:  # a header is at most 16 bytes (+CRC): wait
                        return
                    raise DecodeError(f"malformed FLAC frame header at byte {self._offset}")
                self._number = head[1]
                self._scan = head[0]
            end = self._next_frame()
            if end is None:
                if len(buf) > _MAX_FLAC_FRAME:
                    raise DecodeError(
                        f"no FLAC frame boundary in {len(buf)} bytes after byte {self._offset}: "
                        "the stream is corrupted"
                    )
                return
            frame = bytes(buf[:end])
            del buf[:end]
            self._offset += end
            self._number = -1
            yield frame

    def _next_frame(self) -> int | None:
        buf = self._buf
        i = self._scan
        while True:
            i = buf.find(b"\xff", i)
            if i < 0 or i + 22 > len(buf):
                # Not all there yet: look again from here when more bytes come.
                self._scan = max(self._scan, i if i >= 0 else len(buf))
                return None
            head = _flac_header(buf, i, self._blocking)
            if head is not None and self._follows(head[1]):
                return i
            i += 1

    def _follows(self, number: int) -> bool:
        if self._blocking:  # variable blocksize: sample numbers; just require growth
            return number > self._number
        return number == self._number + 1

    def flush(self) -> _Samples:
        """End the stream; return the last frames. A cut-off last frame is dropped (logged)."""
        if self._flushed:
            return self._empty()
        self._flushed = True
        if self._stage < 2 or self._ctx is None:
            raise self._no_audio()
        out: list[_Samples] = []
        if self._buf:
            tail = bytes(self._buf)
            self._buf.clear()
            try:
                out += self._decode(tail)
            except DecodeError as exc:
                self._drop_tail(len(tail), exc)
                self._open(self._streaminfo)  # the failed decoder cannot be drained
        out += self._drain()
        if self.frames_decoded == 0:
            raise self._no_audio()
        return self._join(out)


# -- Ogg Opus -------------------------------------------------------------------------------


class OpusDecoder(_AvDecoder):
    """Decode an Ogg Opus stream fed in pieces of any size (48 kHz, ``float32`` out).

    The ``OpusHead`` pre-skip is honoured, and the last page's granule position trims the
    padding at the end, so the output has exactly the samples that were encoded.
    """

    _codec = "opus"
    _label = "Ogg Opus"

    def __init__(self) -> None:
        super().__init__()
        self._ogg = OggReader()
        self._packets = 0
        self._pre_skip = 0

    def feed(self, data: _Buffer) -> _Samples:
        """Consume ``data``; return the frames it completes, shape ``(frames, channels)``."""
        self._check_open()
        self._bytes += len(data)
        out: list[_Samples] = []
        for packet in self._ogg.feed(data):
            self._packets += 1
            if self._packets == 1:
                self._head(packet.data)
            elif self._packets == 2:
                if not packet.data.startswith(b"OpusTags"):
                    raise DecodeError("the Ogg Opus stream's second packet is not OpusTags")
            else:
                if packet.last:
                    self._limit = max(0, packet.granule - self._pre_skip)
                out += self._decode(packet.data)
        return self._join(out)

    def _head(self, head: bytes) -> None:
        if head.startswith(b"\x01vorbis"):
            raise DecodeError("the Ogg stream holds Vorbis audio; ttsstream decodes Ogg Opus")
        if not head.startswith(b"OpusHead") or len(head) < 19:
            raise DecodeError(f"not an Ogg Opus stream: its first packet starts {head[:8]!r}")
        version, channels, pre_skip = struct.unpack_from("<BBH", head, 8)
        if version >> 4 or channels == 0:
            raise DecodeError(f"unsupported OpusHead (version {version}, {channels} channels)")
        self._pre_skip = pre_skip
        self._open(head)

    def flush(self) -> _Samples:
        """End the stream; return the last frames. A cut-off last page is dropped (logged)."""
        if self._flushed:
            return self._empty()
        self._flushed = True
        try:
            self._ogg.flush()
        except DecodeError as exc:
            if self._packets < 3:
                raise self._no_audio() from exc
            self._drop_tail(self._ogg.pending, exc)
        if self._ctx is None or self._packets < 3:
            raise self._no_audio()
        return self._join(self._drain())
