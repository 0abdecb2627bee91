"""The provider interface: text in, decoded :class:`AudioChunk`s out."""

from __future__ import annotations

import abc
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from .._format import AudioChunk, AudioFormat

__all__ = ["Provider", "RequestTiming", "StreamStats"]

_Self = TypeVar("_Self", bound="Provider")


@dataclass
class RequestTiming:
    """When one synthesis request went out and when its first audio came back.

    Times are :func:`time.monotonic` seconds.
    """

    #: When the request went out (after any retries: the attempt that succeeded).
    sent: float
    #: When its first byte of audio (or first synthesized audio, locally) arrived.
    first_byte: float | None = None

    @property
    def ttfb(self) -> float | None:
        """Seconds from sending this request to its first byte, or None before it."""
        return None if self.first_byte is None else self.first_byte - self.sent


@dataclass
class StreamStats:
    """Timings and counts of the synthesis requests of one text, filled in as they stream.

    Long text is sent as several requests sharing one ``StreamStats``: each gets its own
    :class:`RequestTiming` in :attr:`requests`. :attr:`ttfb` is the first request's (the wait the
    listener hears); :attr:`request_sent` and :attr:`first_byte` are those of the latest request.
    Times are :func:`time.monotonic` seconds.
    """

    started: float = field(default_factory=time.monotonic)
    bytes_received: int = 0
    frames: int = 0
    retries: int = 0
    #: Seconds spent waiting for a free connection in the provider's pool (``max_connections``).
    pool_wait: float = 0.0
    #: One entry per request, in order.
    requests: list[RequestTiming] = field(default_factory=list)

    @property
    def request_sent(self) -> float | None:
        """When the latest request went out (after any retries: the attempt that succeeded).

        Setting it starts a new request, unless the latest one has no first byte yet: then it is
        a retry of that request and replaces its time.
        """
        return self.requests[-1].sent if self.requests else None

    @request_sent.setter
    def request_sent(self, when: float | None) -> None:
        if when is None:
            raise ValueError("request_sent is set when a request goes out; it cannot be unset")
        if self.requests and self.requests[-1].first_byte is None:
            self.requests[-1].sent = when
        else:
            self.requests.append(RequestTiming(sent=when))

    @property
    def first_byte(self) -> float | None:
        """When the first audio of the latest request arrived (None before it).

        Setting it records the latest request's first byte; later sets for the same request are
        ignored. Set before any ``request_sent``, it counts the request as sent at ``started``.
        """
        return self.requests[-1].first_byte if self.requests else None

    @first_byte.setter
    def first_byte(self, when: float | None) -> None:
        if when is None:
            raise ValueError("first_byte is set when audio arrives; it cannot be unset")
        if not self.requests:
            self.requests.append(RequestTiming(sent=self.started))
        if self.requests[-1].first_byte is None:
            self.requests[-1].first_byte = when

    @property
    def ttfb(self) -> float | None:
        """Seconds from sending the first request to its first byte of audio (None before it)."""
        return self.requests[0].ttfb if self.requests else None


class Provider(abc.ABC):
    """A text-to-speech service. Implementations: OpenAI, ElevenLabs, Piper."""

    #: Longest text one request accepts; longer text is split at sentence boundaries.
    max_input_chars: int = 4096

    #: Short human-readable name, e.g. ``"openai"``.
    name: str = "provider"

    @abc.abstractmethod
    def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        """Synthesize ``text``, yielding chunks as soon as they are decoded.

        Implemented as an async generator; closing it early (``aclose()``, or leaving an
        ``async with contextlib.aclosing(...)`` block) stops the request and frees its resources.
        Errors are :class:`~ttsstream.TTSStreamError` subclasses.
        """

    @property
    def expected_format(self) -> AudioFormat | None:
        """The format the audio will probably have, known before any byte arrives (or None).

        :func:`~ttsstream.speak` hands it to :meth:`Sink.prepare` so a device can be opened
        while the request is in flight. A wrong guess costs nothing but that head start.
        """
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the provider holds (HTTP clients it created, loaded models)."""

    async def __aenter__(self: _Self) -> _Self:
        """Enter to keep resources (connections, models) across requests; leave to free them."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
