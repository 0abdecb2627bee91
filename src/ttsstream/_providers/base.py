"""The provider interface: text in, decoded :class:`AudioChunk`s out."""

from __future__ import annotations

import abc
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

from .._format import AudioChunk, AudioFormat

__all__ = ["Provider", "StreamStats"]

_Self = TypeVar("_Self", bound="Provider")


@dataclass
class StreamStats:
    """Timings and counts of one synthesis request, filled in by the provider as it streams.

    Times are :func:`time.monotonic` seconds.
    """

    started: float = field(default_factory=time.monotonic)
    #: When the request went out (after any retries: the attempt that succeeded).
    request_sent: float | None = None
    #: When the first byte of audio (or the first synthesized audio, locally) arrived.
    first_byte: float | None = None
    bytes_received: int = 0
    frames: int = 0
    retries: int = 0

    @property
    def ttfb(self) -> float | None:
        """Seconds from sending the request to the first byte of the response body."""
        if self.first_byte is None or self.request_sent is None:
            return None
        return self.first_byte - self.request_sent


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
