"""Incremental WAV decoder (sans-IO).

Parses the RIFF/RF64 header as bytes arrive, skips every chunk that is not audio without holding
it in memory, then hands the ``data`` chunk to a :class:`PcmDecoder`. Placeholder sizes that
streaming servers write (0, 0xFFFFFFFF, 0x7FFFFFFF) mean "until the end of the stream"; a real
data size is honoured so that metadata after the audio is never played.
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .._errors import DecodeError
from .._format import AudioFormat
from .pcm import Encoding, PcmDecoder, output_dtype

__all__ = ["WavDecoder", "WavInfo"]

logger = logging.getLogger("ttsstream")

_Samples = npt.NDArray[np.generic]
_Buffer = bytes | bytearray | memoryview

_PLACEHOLDER_SIZES = frozenset({0, 0xFFFFFFFF, 0x7FFFFFFF})
_MAX_FMT_BYTES = 4096
_MAX_DS64_BYTES = 65536
_UNBOUNDED = 1 << 64  # bytes left in a data chunk that runs to the end of the stream

_PCM, _FLOAT, _ALAW, _MULAW, _EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
_KSDATAFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

_TAG_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
    0x00FF: "AAC",
    0x0161: "WMA",
    0x1610: "AAC",
    0x6750: "Vorbis",
    0x674F: "Vorbis",
    0xF1AC: "FLAC",
}

_MAGIC_HINTS = (
    (b"ID3", "an MP3 stream"),
    (b"\xff\xfb", "an MP3 stream"),
    (b"\xff\xf3", "an MP3 stream"),
    (b"\xff\xf1", "an AAC (ADTS) stream"),
    (b"OggS", "an Ogg (Opus/Vorbis) stream"),
    (b"fLaC", "a FLAC stream"),
    (b"RIFX", "a big-endian RIFX file"),
    (b"{", "JSON, probably an error message from the server"),
    (b"<", "HTML or XML, probably an error page"),
    (b"data:", "server-sent events; use stream_format='audio' or the SSE decoder"),
)


class _State(enum.Enum):
    RIFF = enum.auto()  # waiting for the 12-byte RIFF header
    CHUNK = enum.auto()  # waiting for an 8-byte chunk header
    BODY = enum.auto()  # buffering a small chunk we parse (fmt, ds64)
    SKIP = enum.auto()  # skipping a chunk we do not need, byte count in _skip
    DATA = enum.auto()  # audio
    TRAILER = enum.auto()  # after a data chunk of known size: ignore the rest


class WavInfo:
    """What the WAV header said, for diagnostics (:attr:`WavDecoder.info`)."""

    __slots__ = ("bits_per_sample", "container", "data_offset", "data_size", "format_tag")

    def __init__(
        self,
        *,
        container: str,
        format_tag: int,
        bits_per_sample: int,
        data_offset: int,
        data_size: int | None,
    ) -> None:
        #: ``"RIFF"``, ``"RF64"`` or ``"BW64"``.
        self.container = container
        #: The format tag (the sub-format's tag for ``WAVE_FORMAT_EXTENSIBLE``).
        self.format_tag = format_tag
        #: Bits per sample as declared.
        self.bits_per_sample = bits_per_sample
        #: Byte offset of the first audio byte in the stream.
        self.data_offset = data_offset
        #: Declared size of the audio in bytes, or ``None`` for "until the end of the stream".
        self.data_size = data_size

    def __repr__(self) -> str:
        return (
            f"WavInfo(container={self.container!r}, format_tag=0x{self.format_tag:04X}, "
            f"bits_per_sample={self.bits_per_sample}, data_offset={self.data_offset}, "
            f"data_size={self.data_size})"
        )


class WavDecoder:
    """Decode a WAV stream fed in pieces of any size.

    >>> import io, wave
    >>> buf = io.BytesIO()
    >>> with wave.open(buf, "wb") as w:
    ...     w.setnchannels(1); w.setsampwidth(2); w.setframerate(24000)
    ...     w.writeframes(b"\\x01\\x00\\x02\\x00")
    >>> dec = WavDecoder()
    >>> [dec.feed(bytes([b])).shape[0] for b in buf.getvalue()][-4:]
    [0, 1, 0, 1]
    >>> dec.format
    AudioFormat(sample_rate=24000, channels=1, dtype='int16')

    :meth:`feed` returns a ``(frames, channels)`` array of every frame completed so far (empty
    while the header is still arriving); :meth:`flush` ends the stream. Output types: ``int16``
    for 8/16-bit PCM and G.711, ``int32`` for 24/32-bit PCM (24-bit left-justified), ``float32``
    for IEEE float. Malformed or unsupported input raises :class:`~ttsstream.DecodeError`.
    """

    def __init__(self) -> None:
        self._state = _State.RIFF
        self._buf = bytearray()  # bytes of a header piece still being collected (bounded)
        self._need = 12
        self._pos = 0  # stream offset of the next header byte (not advanced through audio)
        self._chunk_id = b""
        self._chunk_start = 0
        self._skip = 0
        self._body_size = 0
        self._container = ""
        self._ds64_data_size: int | None = None
        self._pcm: PcmDecoder | None = None
        self._info: WavInfo | None = None
        # Audio bytes still to come in the data chunk: _UNBOUNDED when it runs to the end of
        # the stream, 0 outside the data chunk and after flush(). feed() hands a piece shorter
        # than this straight to the PCM decoder, which is nearly every call.
        self._data_left = 0
        self._pcm_feed: Callable[[_Buffer], _Samples] | None = None
        self._flushed = False
        #: Bytes after the audio that were ignored (metadata chunks after ``data``).
        self.trailing_bytes = 0

    @property
    def format(self) -> AudioFormat | None:
        """The decoded audio's format, or ``None`` until the ``fmt `` chunk has been parsed."""
        return self._pcm.format if self._pcm is not None else None

    @property
    def info(self) -> WavInfo | None:
        """Header details, available once the ``data`` chunk has started."""
        return self._info

    @property
    def frames_decoded(self) -> int:
        """Frames handed out so far."""
        return self._pcm.frames_decoded if self._pcm is not None else 0

    @property
    def dropped_bytes(self) -> int:
        """Bytes of an incomplete last frame dropped at the end of the audio."""
        return self._pcm.dropped_bytes if self._pcm is not None else 0

    def _empty(self) -> _Samples:
        return self._pcm.format.empty() if self._pcm is not None else np.empty((0, 1), np.int16)

    def feed(self, data: _Buffer) -> _Samples:
        """Consume ``data``; return the frames it completes, shape ``(frames, channels)``."""
        n = data.nbytes if type(data) is memoryview else len(data)
        left = self._data_left
        if n < left:  # fast path: the whole piece is audio, and more audio follows
            self._data_left = left - n
            pcm_feed = self._pcm_feed
            assert pcm_feed is not None
            return pcm_feed(data)
        if self._flushed:
            raise RuntimeError("feed() called after flush(); create a new decoder per stream")
        view = memoryview(data).cast("B")
        out: list[_Samples] = []
        i, n = 0, len(view)
        while i < n:
            state = self._state
            if state is _State.DATA:
                assert self._pcm is not None
                take = min(n - i, self._data_left)
                frames = self._pcm.feed(view[i : i + take])
                if frames.shape[0]:
                    out.append(frames)
                i += take
                self._data_left -= take
                if self._data_left == 0:
                    self._end_of_data()
            elif state is _State.SKIP:
                take = min(n - i, self._skip)
                self._skip -= take
                i += take
                self._pos += take
                if self._skip == 0:
                    self._expect(_State.CHUNK, 8)
            elif state is _State.TRAILER:
                self.trailing_bytes += n - i
                self._pos += n - i
                i = n
            else:
                take = min(n - i, self._need - len(self._buf))
                self._buf += view[i : i + take]
                i += take
                self._pos += take
                if len(self._buf) == self._need:
                    piece = bytes(self._buf)
                    self._buf.clear()
                    self._header_piece(piece)
        if not out:
            return self._empty()
        return out[0] if len(out) == 1 else np.concatenate(out)

    def flush(self) -> _Samples:
        """End the stream. Raises :class:`~ttsstream.DecodeError` if no audio data began.

        A partial frame at the very end is dropped and reported (see :attr:`dropped_bytes`).
        """
        if self._flushed:
            return self._empty()
        self._flushed = True
        self._data_left = 0  # feed() must not take the fast path any more
        if self._state is _State.DATA or self._state is _State.TRAILER:
            assert self._pcm is not None
            if self._state is _State.DATA:
                self._pcm.flush()
            return self._empty()
        if self._pos == 0:
            raise DecodeError("the audio stream was empty: no WAV header arrived")
        where = {
            _State.RIFF: "inside the 12-byte RIFF header",
            _State.CHUNK: "between chunks, before any data chunk",
            _State.BODY: f"inside the {self._chunk_name()} chunk at byte {self._chunk_start}",
            _State.SKIP: f"inside the {self._chunk_name()} chunk at byte {self._chunk_start}",
        }[self._state]
        raise DecodeError(
            f"the WAV stream ended after {self._pos} bytes, {where}, before any audio data; "
            "the connection may have been cut or the server sent an empty file"
        )

    # -- header parsing ---------------------------------------------------------------------

    def _expect(self, state: _State, need: int = 0) -> None:
        self._state = state
        self._need = need

    def _chunk_name(self) -> str:
        return repr(self._chunk_id.decode("latin-1"))

    def _header_piece(self, piece: bytes) -> None:
        if self._state is _State.RIFF:
            self._riff_header(piece)
        elif self._state is _State.CHUNK:
            self._chunk_header(piece)
        elif self._chunk_id == b"fmt ":
            self._fmt_chunk(piece[: self._body_size])  # without the pad byte of an odd size
        else:
            self._ds64_chunk(piece)

    def _riff_header(self, head: bytes) -> None:
        magic, _, wave = struct.unpack("<4sI4s", head)
        if magic not in (b"RIFF", b"RF64", b"BW64") or wave != b"WAVE":
            hint = next((what for m, what in _MAGIC_HINTS if head.startswith(m)), None)
            found = f"it looks like {hint}" if hint else f"it starts with {head[:12]!r}"
            raise DecodeError(
                f"not a WAV stream: {found}; ask the server for response_format 'wav' or 'pcm'"
            )
        self._container = magic.decode()
        self._expect(_State.CHUNK, 8)

    def _chunk_header(self, head: bytes) -> None:
        chunk_id, size = struct.unpack("<4sI", head)
        self._chunk_id = chunk_id
        self._chunk_start = self._pos - 8
        if chunk_id == b"data":
            self._start_data(size)
        elif chunk_id == b"fmt ":
            if self._pcm is not None:
                raise DecodeError(f"second fmt chunk at byte {self._chunk_start}")
            if not 16 <= size <= _MAX_FMT_BYTES:
                raise DecodeError(
                    f"fmt chunk at byte {self._chunk_start} declares {size} bytes; "
                    f"a valid one has 16 to {_MAX_FMT_BYTES}"
                )
            self._body_size = size
            self._expect(_State.BODY, size + (size & 1))
        elif chunk_id == b"ds64" and self._container != "RIFF":
            if not 24 <= size <= _MAX_DS64_BYTES:
                raise DecodeError(f"ds64 chunk at byte {self._chunk_start} declares {size} bytes")
            self._expect(_State.BODY, size + (size & 1))
        else:
            self._skip = size + (size & 1)
            self._expect(_State.SKIP) if self._skip else self._expect(_State.CHUNK, 8)

    def _ds64_chunk(self, body: bytes) -> None:
        _riff_size, data_size = struct.unpack_from("<QQ", body)
        self._ds64_data_size = data_size
        self._expect(_State.CHUNK, 8)

    def _fmt_chunk(self, body: bytes) -> None:
        base = self._chunk_start + 8
        tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", body)
        if tag == _EXTENSIBLE:
            if len(body) < 40:
                raise DecodeError(
                    f"WAVE_FORMAT_EXTENSIBLE fmt chunk at byte {self._chunk_start} is "
                    f"{len(body)} bytes; it needs 40"
                )
            sub = body[24:40]
            if sub[2:] != _KSDATAFORMAT_TAIL:
                raise DecodeError(
                    f"unsupported WAVE_FORMAT_EXTENSIBLE sub-format {sub.hex()} at byte {base + 24}"
                )
            tag = struct.unpack_from("<H", sub)[0]
        if channels == 0:
            raise DecodeError(f"fmt chunk declares 0 channels at byte {base + 2}")
        if rate == 0:
            raise DecodeError(f"fmt chunk declares a sample rate of 0 at byte {base + 4}")
        # Bits per sample decides the sample size, as in libsndfile: block_align is often
        # wrong in files made by hand (e.g. not multiplied by the channel count).
        if bits:
            width = (bits + 7) // 8
        elif block_align and block_align % channels == 0:
            width = block_align // channels
        else:
            width = 0
        encoding = _encoding_for(tag, width, bits, base)
        fmt = AudioFormat(sample_rate=rate, channels=channels, dtype=output_dtype(encoding))
        self._pcm = PcmDecoder(fmt, encoding)
        self._bits = bits
        self._format_tag = tag
        self._expect(_State.CHUNK, 8)

    def _start_data(self, size: int) -> None:
        if self._pcm is None:
            raise DecodeError(
                f"data chunk at byte {self._chunk_start} comes before any fmt chunk; "
                "the stream's format is unknown"
            )
        data_size: int | None = size
        if size == 0xFFFFFFFF and self._ds64_data_size is not None:
            data_size = self._ds64_data_size
        if data_size in _PLACEHOLDER_SIZES or (data_size or 0) >= 1 << 62:
            data_size = None
        self._info = WavInfo(
            container=self._container,
            format_tag=self._format_tag,
            bits_per_sample=self._bits,
            data_offset=self._pos,
            data_size=data_size,
        )
        self._data_left = _UNBOUNDED if data_size is None else data_size
        self._pcm_feed = self._pcm.feed
        self._expect(_State.DATA)

    def _end_of_data(self) -> None:
        assert self._pcm is not None
        self._pcm.flush()
        self._expect(_State.TRAILER)

    def __repr__(self) -> str:
        return f"WavDecoder(format={self.format}, state={self._state.name.lower()})"


def _encoding_for(tag: int, width: int, bits: int, base: int) -> Encoding:
    if tag == _PCM:
        pcm: dict[int, Encoding] = {1: "u8", 2: "s16le", 3: "s24le", 4: "s32le"}
        if width in pcm:
            return pcm[width]
        raise DecodeError(
            f"unsupported PCM sample size: {bits} bits in {width}-byte containers "
            f"(fmt chunk at byte {base - 8}); ttsstream decodes 8, 16, 24 and 32-bit PCM"
        )
    if tag == _FLOAT:
        if width in (4, 8):
            return "f32le" if width == 4 else "f64le"
        raise DecodeError(
            f"unsupported IEEE float sample size: {bits} bits (fmt chunk at byte {base - 8}); "
            "ttsstream decodes 32 and 64-bit float"
        )
    if tag in (_MULAW, _ALAW):
        if width == 1:
            return "mulaw" if tag == _MULAW else "alaw"
        raise DecodeError(f"G.711 stream declares {bits} bits per sample; it must be 8")
    name = _TAG_NAMES.get(tag)
    what = f"0x{tag:04X} ({name})" if name else f"0x{tag:04X}"
    raise DecodeError(
        f"unsupported WAV format tag {what}; ask the server for response_format 'wav' or 'pcm'"
    )
