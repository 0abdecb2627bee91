"""Choosing a decoder for a response body: what the server says, then what its first bytes say.

Sans-IO: a Content-Type string and the body's first bytes in, a decoder out. The server's word
wins over what was asked for, and a body's magic bytes win over a generic Content-Type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from .._errors import DecodeError
from .._format import AudioFormat
from .base import ByteDecoder
from .pcm import Encoding, PcmDecoder
from .sse import SseAudioDecoder
from .wav import WavDecoder

__all__ = ["Expectation", "choose_decoder"]


class Expectation(Protocol):
    """What was asked for, used when the response does not say (an ``AudioRequest`` is one)."""

    @property
    def provider(self) -> str: ...
    @property
    def expect(self) -> Literal["wav", "pcm", "mp3", "opus", "aac", "flac"]: ...
    @property
    def pcm_format(self) -> AudioFormat: ...
    @property
    def pcm_encoding(self) -> Encoding: ...


_WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})
_PCM_TYPES = frozenset({"audio/pcm", "audio/x-pcm", "audio/raw", "audio/x-raw"})
_MULAW_TYPES = frozenset({"audio/basic", "audio/mulaw", "audio/x-mulaw", "audio/pcmu"})
_COMPRESSED = {
    "audio/mpeg": "MP3",
    "audio/mp3": "MP3",
    "audio/aac": "AAC",
    "audio/x-aac": "AAC",
    "audio/mp4": "AAC",
    "audio/ogg": "Ogg/Opus",
    "audio/opus": "Opus",
    "audio/flac": "FLAC",
    "audio/x-flac": "FLAC",
    "audio/webm": "WebM",
}


def _parse_content_type(value: str | None) -> tuple[str, dict[str, str]]:
    if not value:
        return "", {}
    mime, *rest = (p.strip() for p in value.split(";"))
    params = {}
    for p in rest:
        k, _, v = p.partition("=")
        params[k.strip().lower()] = v.strip().strip('"')
    return mime.lower(), params


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(params[name])
    except (KeyError, ValueError):
        return default
    return value if value > 0 else default


def choose_decoder(content_type: str | None, request: Expectation) -> ByteDecoder:
    """Pick the decoder for a response: what the server says wins over what was asked for."""
    mime, params = _parse_content_type(content_type)
    if getattr(request, "format_known", False) and (
        mime in ("", "application/octet-stream") or mime.startswith("audio/")
    ):
        # The request fixed the format: look only for a header the server may send anyway.
        return _Sniffer(request, _COMPRESSED.get(mime), mime)
    if mime == "text/event-stream":
        return SseAudioDecoder(_expected(request))
    if mime in _WAV_TYPES:
        return WavDecoder()
    if mime in _PCM_TYPES or mime == "audio/l16":
        base = request.pcm_format
        fmt = AudioFormat(
            sample_rate=_int_param(params, "rate", base.sample_rate),
            channels=_int_param(params, "channels", base.channels),
            dtype="int16",
        )
        encoding: Encoding = "s16be" if mime == "audio/l16" else request.pcm_encoding
        if encoding not in ("s16le", "s16be"):
            encoding = "s16le"
        return PcmDecoder(fmt, encoding)
    if mime in _MULAW_TYPES:
        fmt = AudioFormat(_int_param(params, "rate", 8000), _int_param(params, "channels", 1))
        return PcmDecoder(fmt, "mulaw")
    if mime in ("application/json", "text/plain", "text/html"):
        raise DecodeError(
            f"{request.provider} sent {mime} instead of audio; is base_url pointing at a "
            "text-to-speech endpoint?"
        )
    return _Sniffer(request, _COMPRESSED.get(mime), mime)


def _expected(request: Expectation) -> ByteDecoder:
    if request.expect == "wav":
        return WavDecoder()
    if request.expect in _BY_NAME:
        return _compressed(_BY_NAME[request.expect])
    return PcmDecoder(request.pcm_format, request.pcm_encoding)


# Compressed formats: the format's name as the messages and _COMPRESSED say it -> decoder.
_BY_NAME = {"mp3": "MP3", "opus": "Ogg/Opus", "aac": "AAC", "flac": "FLAC"}


def _compressed(name: str) -> ByteDecoder:
    # Imported here: the codecs module is light, but PyAV (imported by the decoders) is not.
    from . import codecs

    decoders: dict[str, type[ByteDecoder]] = {
        "MP3": codecs.Mp3Decoder,
        "Ogg/Opus": codecs.OpusDecoder,
        "Opus": codecs.OpusDecoder,
        "AAC": codecs.AacDecoder,
        "FLAC": codecs.FlacDecoder,
    }
    return decoders[name]()


class _Sniffer:
    """For a generic, compressed or surprising Content-Type: look at the first bytes, then
    decide. Magic bytes (``RIFF``, ``ID3``, ``OggS``, ``fLaC``, an MPEG or ADTS frame header
    when a compressed format was named or asked for) win over the label."""

    _MAGIC = ((b"ID3", "MP3"), (b"OggS", "Ogg/Opus"), (b"fLaC", "FLAC"))

    def __init__(self, request: Expectation, claimed: str | None, mime: str) -> None:
        self._request = request
        self._claimed = claimed  # the compressed format the Content-Type names, if any
        self._mime = mime
        self._head = bytearray()
        self._inner: ByteDecoder | None = None

    @property
    def format(self) -> AudioFormat | None:
        return self._inner.format if self._inner is not None else None

    def feed(self, data: bytes | bytearray | memoryview) -> Any:
        if self._inner is None:
            self._head += data
            if len(self._head) < 4:
                return self._request.pcm_format.empty()
            self._inner = self._decide(bytes(self._head[:4]))
            data, self._head = bytes(self._head), bytearray()
        return self._inner.feed(data)

    def flush(self) -> Any:
        if self._inner is None:
            self._inner = self._decide(bytes(self._head))
            if self._head:
                head = self._inner.feed(bytes(self._head))
                tail = self._inner.flush()
                return head if tail.shape[0] == 0 else tail
        return self._inner.flush()

    def _decide(self, head: bytes) -> ByteDecoder:
        if head[:4] in (b"RIFF", b"RF64", b"BW64"):
            return WavDecoder()
        found = next((name for magic, name in self._MAGIC if head.startswith(magic)), None)
        compressed_asked = self._request.expect in _BY_NAME
        if found is None and _looks_like_mpeg(head):
            sync = "AAC" if head[1] & 0x06 == 0 else "MP3"
            # A frame sync is two bytes that PCM can hold too (a small negative sample): trust
            # it when a compressed format was asked for, or when the label names that very
            # format and, for mp3, the whole header is a valid layer III one.
            if compressed_asked or (sync == self._claimed and (sync == "AAC" or _layer3(head))):
                found = sync
        if found is None and self._claimed == "WebM":
            raise DecodeError(
                f"{self._request.provider} sent WebM audio ({self._mime}); ttsstream decodes "
                "wav, pcm, mp3, Ogg Opus, AAC (ADTS) and FLAC"
            )
        if found is None and self._claimed is not None and compressed_asked:
            # Labelled and asked compressed but unrecognised (an error page, MP4): the codec's
            # decoder says what it found. When PCM was asked, the label is the one that lies
            # (ElevenLabs sends pcm_* as audio/mpeg): the bytes are decoded as asked.
            found = self._claimed
        if found is not None:
            return _compressed(found)
        return _expected(self._request)


def _layer3(head: bytes) -> bool:
    from .codecs import mp3_frame_size  # PyAV is not imported by this

    return mp3_frame_size(head) is not None


def _looks_like_mpeg(head: bytes) -> bool:
    """An MPEG audio or ADTS frame header (not just 0xFF bytes, which are mu-law silence)."""
    if len(head) < 3 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    if head[1] & 0x06 == 0:  # layer bits 00: ADTS (AAC) when the version bits say so
        return head[1] & 0xF6 == 0xF0
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return bitrate != 0xF and rate != 3
