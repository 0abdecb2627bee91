"""Incremental WAV decoder (sans-IO).

Parses the RIFF/RF64 header as bytes arrive, skips every chunk that is not audio without holding
it in memory, then hands the ``data`` chunk to a :class:`PcmDecoder`. Placeholder sizes that
streaming servers write (0, 0xFFFFFFFF, 0x7FFFFFFF) mean "until the end of the stream"; a real
data size is honoured so that metadata after the audio is never played.

A stream may hold several WAV files back to back (servers that send one file per sentence):
after a data chunk of known size, chunks are skipped until the next ``RIFF....WAVE``; inside a
data chunk of unknown size, a ``RIFF....WAVE`` at a frame boundary starts the next file. The
78-byte block of patched size fields that some ffmpeg-based writers append after streaming audio
(Kokoro-FastAPI 0.3.0) is recognised and never played.
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Callable
from typing import Literal

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

_MAGICS = (b"RIFF", b"RF64", b"BW64", b"RIFX")
_MAX_TRAILER = 4096  # longest header whose size-field trailer is looked for

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
    MAGIC = enum.auto()  # after "RIFF" + size between files: waiting for "WAVE"
    PAD = enum.auto()  # after audio: a pad byte (odd-sized audio), or the next chunk's first
    TRAILER = enum.auto()  # junk after the audio: ignore the rest


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
        #: ``"RIFF"``, ``"RF64"``, ``"BW64"`` or ``"RIFX"`` (big-endian).
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
        self._big = False  # RIFX: sizes, fmt fields and samples are big-endian
        self._file_start = 0  # stream offset of the current file's RIFF header
        self._fmt_seen = False
        self._after_data = False  # the current file's audio has ended: only metadata may follow
        self._ds64_data_size: int | None = None
        self._pcm: PcmDecoder | None = None
        self._next: PcmDecoder | None = None  # a later file's decoder, until its data starts
        self._switch = False  # _next has another format: frames of the two never share a call
        self._held = b""  # input not yet decoded because the format changes there
        self._info: WavInfo | None = None
        self._frames_before = 0  # frames and dropped bytes of the earlier files' decoders
        self._dropped_before = 0
        # Audio bytes still to come in the data chunk: _UNBOUNDED when it runs to the end of
        # the stream, 0 outside the data chunk and after flush(). feed() hands a piece shorter
        # than this straight to _pcm_feed, which is nearly every call.
        self._data_left = 0
        self._pcm_feed: Callable[[_Buffer], _Samples] = _no_audio_yet
        # In a data chunk of unknown size: the start of a piece held back (it may begin a
        # header or a trailer), and the length of the current file's header (the size of
        # its possible trailer).
        self._tail = b""
        self._trailer_len = 0
        self._scanning = False  # in a data chunk of unknown size
        self._tail_left = 0
        self._frame_bytes = 1
        self._final = False
        self._flushed = False
        #: Bytes after the audio that were ignored (metadata chunks after ``data``).
        self.trailing_bytes = 0
        #: Complete WAV files that began in the stream so far (servers that send one per
        #: sentence make several).
        self.files = 0

    @property
    def format(self) -> AudioFormat | None:
        """The format of the frames the last :meth:`feed` returned (once known).

        ``None`` until the ``fmt `` chunk has been parsed. When a later file in the stream
        has another format, it changes with the first frames of that file: one call never
        returns frames of two formats.
        """
        return self._pcm.format if self._pcm is not None else None

    @property
    def pending(self) -> bool:
        """Whether input is held back at a change of format: call ``feed(b"")`` (until this is
        false) to get the next file's frames, which come in the new :attr:`format`."""
        return bool(self._held)

    @property
    def info(self) -> WavInfo | None:
        """Header details of the current file, available once its ``data`` chunk started."""
        return self._info

    @property
    def frames_decoded(self) -> int:
        """Frames handed out so far (every file of the stream)."""
        return self._frames_before + (self._pcm.frames_decoded if self._pcm is not None else 0)

    @property
    def dropped_bytes(self) -> int:
        """Bytes of incomplete last frames dropped at the end of the audio (every file)."""
        return self._dropped_before + (self._pcm.dropped_bytes if self._pcm is not None else 0)

    def _empty(self) -> _Samples:
        return self._pcm.format.empty() if self._pcm is not None else np.empty((0, 1), np.int16)

    def feed(self, data: _Buffer) -> _Samples:
        """Consume ``data``; return the frames it completes, shape ``(frames, channels)``."""
        left = self._data_left
        if type(data) is bytes:
            n = len(data)
            # Fast path: the whole piece is audio, and more audio follows. In audio of
            # unknown length, only a piece whose first byte cannot begin a header ("R", "B")
            # or a trailer (0) is surely audio: the others take the long way (_scan).
            if n < left and (not self._scanning or not n or _PLAIN_FIRST[data[0]]):
                self._data_left = left - n
                # PcmDecoder.feed's own fast path, inlined (one Python call less per piece):
                # whole frames while nothing is carried over, and the wire bytes are samples.
                pcm = self._pcm
                frame = pcm._fast_frame  # type: ignore[union-attr]
                fb = self._frame_bytes
                if frame is not None and not n % fb:
                    pcm.frames_decoded += n // fb  # type: ignore[union-attr]
                    samples: _Samples = _frombuffer(data, frame).copy()
                    return samples
                return self._pcm_feed(data)
        else:
            n = data.nbytes if type(data) is memoryview else len(data)
            if n < left and not self._scanning:
                self._data_left = left - n
                return self._pcm_feed(data)
        if self._flushed:
            raise RuntimeError("feed() called after flush(); create a new decoder per stream")
        return self._feed(data)

    def _feed(self, data: _Buffer) -> _Samples:
        view = memoryview(data).cast("B")
        if self._held or self._tail:
            if self._tail:
                self._data_left = self._tail_left
            view = memoryview(self._held + self._tail + bytes(view))
            self._held = self._tail = b""
        out: list[_Samples] = []
        i, n = 0, len(view)
        while i < n:
            state = self._state
            if self._switch and out and state is not _State.DATA:
                # The next file has another format: its frames go out on the next call.
                self._held = bytes(view[i:])
                break
            if state is _State.DATA:
                assert self._pcm is not None
                if self._data_left >= _UNBOUNDED >> 1:
                    frames, i = self._scan(view, i)
                else:
                    take = min(n - i, self._data_left)
                    frames = self._pcm.feed(view[i : i + take])
                    i += take
                    self._data_left -= take
                    if self._data_left == 0:
                        assert self._info is not None
                        assert self._info.data_size is not None
                        self._pos = self._info.data_offset + self._info.data_size
                        self._end_of_data()
                if frames.shape[0]:
                    out.append(frames)
            elif state is _State.SKIP:
                take = min(n - i, self._skip)
                self._skip -= take
                i += take
                self._pos += take
                if self._after_data:
                    self.trailing_bytes += take
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
        self._final = True
        out = self._feed(b"") if self._held or self._tail else self._empty()
        self._data_left = 0  # feed() must not take the fast path any more
        self._flushed = True
        if self._held:
            # A second change of format inside the last piece: one call cannot return frames
            # of two formats, so the last file is lost; say so.
            logger.warning(
                "WAV stream: %d bytes of a further file in another format at the very end "
                "were not decoded",
                len(self._held),
            )
            self._dropped_before += len(self._held)
            self._held = b""
        if self._state is _State.DATA:
            assert self._pcm is not None
            self._pcm.flush()
            return out
        if self._info is not None:  # after some audio: an unfinished chunk or header is junk
            self.trailing_bytes += len(self._buf)
            self._buf.clear()
            return out
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

    # -- audio of unknown length: the next file, trailers ------------------------------------

    def _scan(self, view: memoryview, i: int) -> tuple[_Samples, int]:
        """Decode ``view[i:]`` inside a data chunk of unknown size; return the frames and
        where the audio ended (``len(view)``, or where the next file or trailer begins).

        Only the start of a piece is examined: servers write each file (and the trailer)
        with a write of its own, and HTTP chunked transfer never joins two writes into one
        piece, however the network splits them. A start too short to tell is held back."""
        assert self._pcm is not None
        buf = bytes(view[i:])
        at = _UNBOUNDED - self._data_left  # bytes of this data chunk consumed so far
        if buf[:1] in (b"R", b"B", b"\0") and at % self._frame_bytes == 0:
            tl = self._trailer_len
            if buf[:1] != b"\0":
                if _header_prefix(buf[:12]):
                    if len(buf) >= 12:  # the next file
                        self._end_of_data()
                        return self._empty(), i
                    if not self._final:
                        return self._hold(buf), len(view)
            elif tl and len(buf) >= tl and self._is_trailer(buf[:tl]):
                self.trailing_bytes += tl
                self._data_left -= tl
                self._end_of_data()
                return self._empty(), i + tl
            elif tl and len(buf) < tl and self._trailer_prefix(buf) and not self._final:
                return self._hold(buf), len(view)
        self._data_left -= len(buf)
        return self._pcm.feed(buf), len(view)

    def _hold(self, buf: bytes) -> _Samples:
        self._tail = buf
        # No fast path until the held bytes are joined to the next piece (_feed restores it).
        self._tail_left, self._data_left = self._data_left, 0
        return self._empty()

    def _trailer_prefix(self, t: bytes) -> bool:
        """Whether ``t`` (shorter than the trailer) may be the start of the trailer."""
        return _ZERO4.startswith(t[:4]) and not t[8 : self._trailer_len - 4].strip(b"\0")

    def _is_trailer(self, t: bytes) -> bool:
        """Whether ``t`` (as long as this file's header) is the block an ffmpeg-based writer
        leaves when it patches its finished header into an emptied buffer (Kokoro-FastAPI
        0.3.0): zeros, except the RIFF size at 4 and the data size at the end, and the data
        size is exactly the audio before it."""
        tl = self._trailer_len
        if t[:4] != _ZERO4 or t[8 : tl - 4].count(0) != tl - 12:
            return False
        order: Literal["big", "little"] = "big" if self._big else "little"
        riff, data = int.from_bytes(t[4:8], order), int.from_bytes(t[tl - 4 :], order)
        return data == _UNBOUNDED - self._data_left and riff == data + tl - 8

    # -- header parsing ---------------------------------------------------------------------

    def _expect(self, state: _State, need: int = 0) -> None:
        self._state = state
        self._need = need

    def _chunk_name(self) -> str:
        return repr(self._chunk_id.decode("latin-1"))

    def _header_piece(self, piece: bytes) -> None:
        if self._state is _State.RIFF:
            self._riff_header(piece)
        elif self._state is _State.MAGIC:
            if piece == b"WAVE":
                self._new_file(self._chunk_id, self._pos - 12)
            else:
                self.trailing_bytes += 12
                self._expect(_State.TRAILER)
        elif self._state is _State.CHUNK:
            self._chunk_header(piece)
        elif self._state is _State.PAD:
            self._expect(_State.CHUNK, 8)
            if piece == b"\0":
                self.trailing_bytes += 1
            else:
                self._buf += piece  # no pad byte (even size, or a writer that omits it)
        elif self._chunk_id == b"fmt ":
            self._fmt_chunk(piece[: self._body_size])  # without the pad byte of an odd size
        else:
            self._ds64_chunk(piece)

    def _riff_header(self, head: bytes) -> None:
        magic, wave = head[:4], head[8:12]
        if magic not in _MAGICS or wave != b"WAVE":
            hint = next((what for m, what in _MAGIC_HINTS if head.startswith(m)), None)
            found = f"it looks like {hint}" if hint else f"it starts with {head[:12]!r}"
            raise DecodeError(
                f"not a WAV stream: {found}; ask the server for response_format 'wav' or 'pcm'"
            )
        self._new_file(magic, self._pos - 12)

    def _new_file(self, magic: bytes, start: int) -> None:
        self._container = magic.decode()
        self._big = magic == b"RIFX"
        self._file_start = start
        self._fmt_seen = False
        self._after_data = False
        self._ds64_data_size = None
        self.files += 1
        self._expect(_State.CHUNK, 8)

    def _chunk_header(self, head: bytes) -> None:
        chunk_id = head[:4]
        size = int.from_bytes(head[4:], "big" if self._big else "little")
        self._chunk_id = chunk_id
        self._chunk_start = self._pos - 8
        if self._after_data:
            self._after_data_chunk(chunk_id, size)
        elif chunk_id == b"data":
            self._start_data(size)
        elif chunk_id == b"fmt ":
            if self._fmt_seen:
                raise DecodeError(f"second fmt chunk at byte {self._chunk_start}")
            if not 16 <= size <= _MAX_FMT_BYTES:
                raise DecodeError(
                    f"fmt chunk at byte {self._chunk_start} declares {size} bytes; "
                    f"a valid one has 16 to {_MAX_FMT_BYTES}"
                )
            self._body_size = size
            self._expect(_State.BODY, size + (size & 1))
        elif chunk_id == b"ds64" and self._container in ("RF64", "BW64"):
            if not 24 <= size <= _MAX_DS64_BYTES:
                raise DecodeError(f"ds64 chunk at byte {self._chunk_start} declares {size} bytes")
            self._expect(_State.BODY, size + (size & 1))
        else:
            self._skip_chunk(size)

    def _skip_chunk(self, size: int) -> None:
        self._skip = size + (size & 1)
        self._expect(_State.SKIP) if self._skip else self._expect(_State.CHUNK, 8)

    def _after_data_chunk(self, chunk_id: bytes, size: int) -> None:
        """A chunk header after the audio: metadata to skip, the next file, or junk."""
        if chunk_id in _MAGICS:
            self._expect(_State.MAGIC, 4)
            return
        self.trailing_bytes += 8
        if chunk_id.isascii() and chunk_id.decode().isprintable():
            self._skip_chunk(size)
        else:
            self._expect(_State.TRAILER)

    def _ds64_chunk(self, body: bytes) -> None:
        _riff_size, data_size = struct.unpack_from("<QQ", body)
        self._ds64_data_size = data_size
        self._expect(_State.CHUNK, 8)

    def _fmt_chunk(self, body: bytes) -> None:
        base = self._chunk_start + 8
        order = ">" if self._big else "<"
        tag, channels, rate, _byte_rate, block_align, bits = struct.unpack_from(
            order + "HHIIHH", body
        )
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
            tag = struct.unpack_from(order + "H", sub)[0]
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
        if block_align and block_align < width * channels and block_align != width:
            raise DecodeError(
                f"fmt chunk at byte {self._chunk_start} declares {block_align}-byte blocks, "
                f"too small for one frame of {channels} x {bits}-bit samples"
            )
        encoding = _encoding_for(tag, width, bits, base, big=self._big)
        fmt = AudioFormat(sample_rate=rate, channels=channels, dtype=output_dtype(encoding))
        pcm = PcmDecoder(fmt, encoding)
        if self._pcm is None:
            self._pcm = pcm
        else:
            self._next = pcm
            self._switch = pcm.format != self._pcm.format
        self._frame_bytes = width * channels
        self._fmt_seen = True
        self._bits = bits
        self._format_tag = tag
        self._expect(_State.CHUNK, 8)

    def _start_data(self, size: int) -> None:
        if not self._fmt_seen:
            raise DecodeError(
                f"data chunk at byte {self._chunk_start} comes before any fmt chunk; "
                "the stream's format is unknown"
            )
        if self._next is not None:
            assert self._pcm is not None
            self._frames_before += self._pcm.frames_decoded
            self._dropped_before += self._pcm.dropped_bytes
            self._pcm, self._next, self._switch = self._next, None, False
        assert self._pcm is not None
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
        if data_size is None:
            self._data_left = _UNBOUNDED
            self._pcm_feed = self._pcm.feed
            self._scanning = True
            header = self._pos - self._file_start
            self._trailer_len = header if 12 <= header <= _MAX_TRAILER else 0
        else:
            self._data_left = data_size
            self._pcm_feed = self._pcm.feed
            self._scanning = False
        self._expect(_State.DATA)
        if data_size == 0:  # a real size of 0 (a ds64 said so): no audio in this file
            self._end_of_data()

    def _end_of_data(self) -> None:
        """The current file's audio ended: metadata chunks or the next file may follow."""
        assert self._pcm is not None
        assert self._info is not None
        self._pcm.flush()  # it keeps reporting its format and counts until the next file's data
        if self._scanning:
            self._pos = self._info.data_offset + _UNBOUNDED - self._data_left
        self._data_left = 0  # closes the fast path (and with it _scanning's meaning)
        self._tail = b""
        self._after_data = True
        self._expect(_State.PAD, 1)

    def __repr__(self) -> str:
        return f"WavDecoder(format={self.format}, state={self._state.name.lower()})"


_ZERO4 = b"\0\0\0\0"
_frombuffer = np.frombuffer
# 1 for a byte that cannot start a header or a trailer (a table lookup: the cheapest test).
_PLAIN_FIRST = bytes(0 if b in b"RB\0" else 1 for b in range(256))


def _no_audio_yet(data: _Buffer) -> _Samples:
    raise AssertionError("the fast path is closed until a data chunk starts")


def _header_prefix(t: bytes) -> bool:
    """Whether ``t`` (under 12 bytes) may be the start of a ``RIFF....WAVE`` header."""
    k = len(t)
    return any(t[:4] == m[:k] for m in _MAGICS) and t[8:] == b"WAVE"[: max(0, k - 8)]


def _encoding_for(tag: int, width: int, bits: int, base: int, *, big: bool = False) -> Encoding:
    if big:
        if tag == _PCM and width in (1, 2):
            return "u8" if width == 1 else "s16be"
        raise DecodeError(
            f"unsupported big-endian (RIFX) format: tag 0x{tag:04X}, {bits} bits "
            f"(fmt chunk at byte {base - 8}); ttsstream decodes 8 and 16-bit RIFX PCM"
        )
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
