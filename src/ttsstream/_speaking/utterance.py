"""The records of a :class:`~ttsstream.Speaker`: utterances, their states, events and reports."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._format import AudioChunk
from .._pump import Gaps

__all__ = [
    "FINAL",
    "HeardReport",
    "Job",
    "SpeakerEvent",
    "Utterance",
    "UtteranceState",
]


class UtteranceState(enum.Enum):
    """Where an utterance is in its life."""

    QUEUED = "queued"
    SPEAKING = "speaking"
    #: Heard to the end.
    DONE = "done"
    #: Cut off by :meth:`Speaker.interrupt` part-way (see ``heard_seconds``).
    INTERRUPTED = "interrupted"
    #: Dropped before any of it was heard (interrupt, or its handle was cancelled).
    CANCELLED = "cancelled"
    #: The provider failed; any audio that arrived was played first. See ``error``.
    FAILED = "failed"


FINAL = frozenset(
    {
        UtteranceState.DONE,
        UtteranceState.INTERRUPTED,
        UtteranceState.CANCELLED,
        UtteranceState.FAILED,
    }
)


@dataclass(eq=False)
class Utterance:
    """One text given to the speaker, what became of it, and its metrics (seconds)."""

    text: str
    id: int
    state: UtteranceState = UtteranceState.QUEUED
    #: Seconds of this utterance the listener heard.
    heard_seconds: float = 0.0
    #: Seconds of audio received for it (its full length once fully fetched).
    duration: float = 0.0
    #: When it was queued, and when its first sample went to the sink (``time.monotonic()``).
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    finished_at: float | None = None
    #: Request-to-first-byte time of its (first) request.
    ttfb: float | None = None
    #: Times the output ran dry while it played (gaps heard).
    underruns: int = 0
    #: Seconds of silence those gaps inserted (sinks that measure it: ``DeviceSink``).
    gap_seconds: float = 0.0
    #: The provider's error, for ``FAILED``.
    error: BaseException | None = None
    #: For an utterance that started the output (the first after silence): seconds its audio
    #: waited in the sink before playing, once known (see :attr:`SpeakReport.start_delay`);
    #: ``None`` for one that followed another without a pause, or before it started.
    start_delay: float | None = None
    #: Why it started then, in words (``""`` when ``start_delay`` is ``None``).
    start_reason: str = ""

    @property
    def ttfa(self) -> float | None:
        """Seconds from queueing to the first sample handed to the sink."""
        return None if self.started_at is None else self.started_at - self.queued_at

    @property
    def heard_fraction(self) -> float:
        """How much of it was heard, 0.0 to 1.0 (by audio time)."""
        if self.state is UtteranceState.DONE:
            return 1.0
        return min(1.0, self.heard_seconds / self.duration) if self.duration > 0 else 0.0

    @property
    def heard_chars(self) -> int:
        """Estimated number of characters heard, cut back to a word boundary.

        Estimated by audio time, assuming even speech rate; when the utterance was interrupted
        before all its audio arrived, the estimate is relative to the audio received.
        """
        if self.state is UtteranceState.DONE:
            return len(self.text)
        cut = int(len(self.text) * self.heard_fraction)
        if cut >= len(self.text):
            return len(self.text)
        space = self.text.rfind(" ", 0, cut + 1)
        return space if space > 0 else 0

    @property
    def heard_text(self) -> str:
        """The part of the text heard (estimated; see :attr:`heard_chars`)."""
        return self.text[: self.heard_chars]


@dataclass(frozen=True)
class SpeakerEvent:
    """Passed to the ``on_event`` callback: ``kind`` is ``started``, ``finished``,
    ``interrupted``, ``cancelled`` or ``failed``."""

    kind: str
    utterance: Utterance


@dataclass(frozen=True)
class HeardReport:
    """What the listener heard, as :meth:`Speaker.stop` leaves it."""

    #: Utterances heard to the end, oldest first (since the previous report).
    heard: list[Utterance]
    #: The utterance cut off part-way, if any.
    partial: Utterance | None
    #: Utterances dropped without being heard.
    dropped: list[Utterance]

    @property
    def text(self) -> str:
        """Everything heard, joined: what a chatbot should keep in its history."""
        parts = [u.text for u in self.heard]
        if self.partial is not None and self.partial.heard_text:
            parts.append(self.partial.heard_text)
        return " ".join(parts)


@dataclass(eq=False)
class Job:
    """An utterance on its way: its text pieces, its audio buffer, where it sits in the output."""

    utterance: Utterance
    pieces: list[str]
    send: MemoryObjectSendStream[AudioChunk]
    receive: MemoryObjectReceiveStream[AudioChunk]
    done: anyio.Event = field(default_factory=anyio.Event)
    fetch_scope: anyio.CancelScope | None = None
    fetching: bool = False
    #: ``time.monotonic()`` when its (first) request went out.
    requested_at: float | None = None
    start_frame: int | None = None  # position in the sink's frame counter where it starts
    end_frame: int | None = None
    gaps_at_start: Gaps = field(default_factory=Gaps)
    cancel_requested: bool = False
