"""Server-sent events carrying base64 audio (OpenAI ``stream_format="sse"``), sans-IO.

OpenAI sends ``data: {"type":"speech.audio.delta","audio":"<base64>"}`` events and finishes with
``{"type":"speech.audio.done","usage":{...}}``. Compatible servers differ, so the parser is
tolerant: ``event:`` and ``id:`` lines, comments, CRLF or LF line ends, ``data: [DONE]``,
``token_usage`` instead of ``usage``, and the audio under ``audio``, ``delta`` or ``data``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import DecodeError, ServerError
from .._format import AudioFormat
from .base import ByteDecoder

__all__ = ["SseAudioDecoder", "SseParser"]

_Samples = npt.NDArray[np.generic]
_MAX_LINE = 16 * 1024 * 1024  # one event's line; base64 of a few seconds of audio is far less


class SseParser:
    """Split a byte stream into server-sent events; yields each event's ``data`` text."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._data: list[str] = []

    def feed(self, data: bytes | bytearray | memoryview) -> list[str]:
        """Consume bytes; return the data of every event completed by them."""
        self._buf += data
        events: list[str] = []
        start = 0
        while (end := self._buf.find(b"\n", start)) >= 0:
            self._line(bytes(self._buf[start:end]).rstrip(b"\r"), events)
            start = end + 1
        del self._buf[:start]
        if len(self._buf) > _MAX_LINE:
            raise DecodeError(f"server-sent event line longer than {_MAX_LINE} bytes")
        return events

    def flush(self) -> list[str]:
        """End of stream: return the last event even if its blank line never came."""
        events: list[str] = []
        if self._buf:
            self._line(bytes(self._buf).rstrip(b"\r"), events)
            self._buf.clear()
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data.clear()
            return
        if line.startswith(b":"):
            return
        field, _, value = line.partition(b":")
        if field == b"data":
            self._data.append(value.removeprefix(b" ").decode("utf-8", "replace"))


class SseAudioDecoder:
    """Decode OpenAI-style SSE audio events into frames, through an inner byte decoder.

    The base64 payloads are the bytes of the requested ``response_format`` (``pcm`` or
    ``wav``), so ``inner`` is a :class:`~ttsstream.PcmDecoder` or :class:`~ttsstream.WavDecoder`
    and sample alignment across events is its job.
    """

    def __init__(self, inner: ByteDecoder) -> None:
        self._inner = inner
        self._sse = SseParser()
        self._done = False
        #: Usage the server reported in its final event, if any.
        self.usage: dict[str, Any] | None = None

    @property
    def format(self) -> AudioFormat | None:
        """The format of the decoded audio, once known."""
        return self._inner.format

    def feed(self, data: bytes | bytearray | memoryview) -> _Samples:
        """Consume SSE bytes; return decoded frames."""
        return self._decode(self._sse.feed(data))

    def flush(self) -> _Samples:
        """End of stream."""
        head = self._decode(self._sse.flush())
        tail = self._inner.flush()
        if tail.shape[0]:
            return np.concatenate([head, tail]) if head.shape[0] else tail
        return head

    def _decode(self, events: list[str]) -> _Samples:
        pieces = [self._inner.feed(audio) for e in events if (audio := self._audio(e))]
        pieces = [p for p in pieces if p.shape[0]]
        if not pieces:
            fmt = self._inner.format
            return fmt.empty() if fmt else np.empty((0, 1), np.int16)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def _audio(self, data: str) -> bytes:
        if self._done or data.strip() == "[DONE]":
            self._done = True
            return b""
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise DecodeError(f"server-sent event is not JSON: {data[:80]!r}") from exc
        if not isinstance(event, dict):
            raise DecodeError(f"server-sent event is not a JSON object: {data[:80]!r}")
        kind = str(event.get("type", ""))
        if kind == "error" or (kind == "" and "error" in event):
            raise ServerError(
                f"the server reported an error in the audio stream: {_event_message(event)}",
                status_code=200,
                server_message=_event_message(event),
            )
        if kind.endswith(".done"):
            usage = event.get("usage", event.get("token_usage"))
            self.usage = usage if isinstance(usage, dict) else None
            self._done = True
            return b""
        payload = next((event[k] for k in ("audio", "delta", "data") if k in event), None)
        if not isinstance(payload, str) or not payload:
            return b""
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"invalid base64 audio in a {kind or 'data'} event") from exc


def _event_message(event: dict[str, Any]) -> str:
    err = event.get("error", event)
    if isinstance(err, dict):
        return str(err.get("message") or err.get("detail") or err)
    return str(err)
