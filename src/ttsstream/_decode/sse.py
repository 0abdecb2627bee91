"""Server-sent events carrying base64 audio (OpenAI ``stream_format="sse"``), sans-IO.

OpenAI sends ``data: {"type":"speech.audio.delta","audio":"<base64>"}`` events and finishes with
``{"type":"speech.audio.done","usage":{...}}``. Compatible servers differ, so the parser is
tolerant: ``event:`` and ``id:`` lines, comments, CRLF, LF or CR line ends, ``data: [DONE]``,
``token_usage`` instead of ``usage``, and the audio under ``audio``, ``delta`` or ``data``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import numpy as np
import numpy.typing as npt

from .._errors import DecodeError, ServerError
from .._format import AudioFormat
from .base import ByteDecoder

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SseAudioDecoder", "SseParser"]

_Samples = npt.NDArray[np.generic]
_LINE_END = re.compile(b"[\r\n]")
_CR, _LF = 0x0D, 0x0A

#: Largest event accepted by default: its ``data:`` lines together, or one line still
#: arriving. Base64 of a few seconds of audio is far less; a server that never ends its event
#: must not take the memory with it.
DEFAULT_MAX_EVENT_BYTES = 16 * 1024 * 1024


class SseParser:
    """Split a byte stream into server-sent events: ``(event type, data text)`` pairs.

    Memory is bounded by ``max_event_bytes`` (an event's data, or a line, over it is a
    :class:`~ttsstream.DecodeError`) and time is linear in the input however it is split: the
    part of the buffer already searched for a line end is not searched again.
    """

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be positive, got {max_event_bytes}")
        self.max_event_bytes = max_event_bytes
        self._buf = bytearray()
        self._scanned = 0  # bytes at the start of _buf known to hold no line end
        self._after_cr = False  # the last piece ended with a CR that ended a line
        self._event = ""
        self._data: list[bytes] = []
        self._size = 0  # bytes of data in the event being built

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[str, str]]:
        """Consume bytes; return every event completed by them."""
        self._buf += data
        if self._after_cr and self._buf:
            self._after_cr = False
            if self._buf[0] == _LF:  # the second half of a CRLF cut between two pieces
                del self._buf[:1]
        events: list[tuple[str, str]] = []
        start = 0
        while (found := _LINE_END.search(self._buf, self._scanned)) is not None:
            end = found.start()
            after = end + 1
            if self._buf[end] == _CR and self._buf[after : after + 1] == b"\n":
                after += 1
            self._line(bytes(self._buf[start:end]), events)
            start = self._scanned = after
        # A CR that ends the buffer ends its line now; an LF that may follow is dropped then.
        if start:
            self._after_cr = start == len(self._buf) and self._buf[start - 1] == _CR
            del self._buf[:start]
        self._scanned = len(self._buf)
        if self._size + len(self._buf) > self.max_event_bytes:
            raise self._too_big()
        return events

    def flush(self) -> list[tuple[str, str]]:
        """End of stream: return the last event even if its blank line never came."""
        events = self.feed(b"\n") if self._buf else []  # end the last line
        self._after_cr = False
        self._dispatch(events)
        return events

    def _line(self, line: bytes, events: list[tuple[str, str]]) -> None:
        if not line:
            self._dispatch(events)
            return
        # A comment (":...") has an empty field name, so it falls through unused.
        field, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if field == b"data":
            self._size += len(value) + 1
            if self._size > self.max_event_bytes:
                raise self._too_big()
            self._data.append(value)
        elif field == b"event":
            self._event = value.decode(errors="replace")

    def _dispatch(self, events: list[tuple[str, str]]) -> None:
        if self._data:
            events.append((self._event, b"\n".join(self._data).decode(errors="replace")))
        self._data.clear()
        self._size = 0
        self._event = ""

    def _too_big(self) -> DecodeError:
        return DecodeError(
            f"a server-sent event grew over {self.max_event_bytes} bytes without ending; "
            "the stream is malformed (or raise max_event_bytes)"
        )


class SseAudioDecoder:
    """Decode OpenAI-style SSE audio events into frames, through an inner byte decoder.

    The base64 payloads are the bytes of the requested ``response_format`` (``pcm`` or
    ``wav``), so ``inner`` is a :class:`~ttsstream.PcmDecoder` or :class:`~ttsstream.WavDecoder`
    and sample alignment across events is its job. An event over ``max_event_bytes`` (16 MiB
    by default) is a :class:`~ttsstream.DecodeError`; so is any other malformed input.
    """

    def __init__(
        self, inner: ByteDecoder, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ) -> None:
        self._inner = inner
        self._sse = SseParser(max_event_bytes)
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
        return self._join([head, self._inner.flush()])

    def _decode(self, events: list[tuple[str, str]]) -> _Samples:
        return self._join([self._inner.feed(a) for k, e in events if (a := self._audio(k, e))])

    def _join(self, pieces: list[_Samples]) -> _Samples:
        pieces = [p for p in pieces if p.shape[0]]
        if not pieces:
            fmt = self._inner.format
            return fmt.empty() if fmt else np.empty((0, 1), np.int16)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def _audio(self, name: str, data: str) -> bytes:
        if self._done or data.strip() == "[DONE]":
            self._done = True
            return b""
        try:
            event = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise DecodeError(f"server-sent event is not JSON: {data[:80]!r}") from exc
        if not isinstance(event, dict):
            raise DecodeError(f"server-sent event is not a JSON object: {data[:80]!r}")
        kind = str(event.get("type", ""))
        if kind == "error" or name == "error" or (kind == "" and "error" in event):
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
        err = err.get("message") or err.get("detail") or err
    return str(err)[:500]
