"""``Speaker``: one open output, a queue of utterances, prefetch, interruption, what was heard.

Three kinds of task share the speaker's task group:

* a **fetcher** per utterance streams its audio from the provider into that utterance's own
  buffer. Fetchers run for the utterance being played and the next ``lookahead`` ones, so the
  next sentence is already there when the current one ends (no gap between sentences);
* the **player** takes utterances in order and writes their audio into the sink back to back.
  When the queue runs empty it drains the sink (the last sample is heard) and waits;
* the **monitor** compares the sink's played-frame counter with where each utterance ended in
  the sink, and resolves ``say()`` calls as their audio is heard.

``interrupt()`` cancels the player and every fetcher and aborts the sink; the frame counter at
that moment says exactly how much of which utterance was heard.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterable, Callable, Generator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import TTSStreamError
from ._format import AudioChunk, AudioFormat
from ._play.sink import Sink
from ._providers.base import Provider, StreamStats

__all__ = [
    "HeardReport",
    "Speaker",
    "SpeakerEvent",
    "Utterance",
    "UtteranceHandle",
    "UtteranceState",
]

logger = logging.getLogger("ttsstream")

# Drain this long before the buffered audio runs out, if nothing new was queued by then.
_LINGER_MARGIN = 0.03
_MONITOR_INTERVAL = 0.01


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


_FINAL = frozenset(
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
    #: Times the output ran dry while it played.
    underruns: int = 0
    #: The provider's error, for ``FAILED``.
    error: BaseException | None = None

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
class _Job:
    utterance: Utterance
    pieces: list[str]
    send: MemoryObjectSendStream[AudioChunk]
    receive: MemoryObjectReceiveStream[AudioChunk]
    done: anyio.Event = field(default_factory=anyio.Event)
    fetch_scope: anyio.CancelScope | None = None
    fetching: bool = False
    start_frame: int | None = None  # position in the sink's frame counter where it starts
    end_frame: int | None = None
    underruns_at_start: int = 0
    cancel_requested: bool = False


class UtteranceHandle:
    """Returned by :meth:`Speaker.enqueue`: await it for the :class:`Utterance` once settled,
    or :meth:`cancel` it."""

    def __init__(self, speaker: Speaker, job: _Job) -> None:
        self._speaker = speaker
        self._job = job

    @property
    def utterance(self) -> Utterance:
        """The utterance, live: its state and progress update as it plays."""
        return self._job.utterance

    async def wait(self) -> Utterance:
        """Wait until heard, interrupted or cancelled. Raises the provider's error if it failed."""
        await self._job.done.wait()
        u = self._job.utterance
        if u.state is UtteranceState.FAILED and u.error is not None:
            raise u.error
        return u

    def __await__(self) -> Generator[Any, None, Utterance]:
        return self.wait().__await__()

    def cancel(self) -> None:
        """Drop it if it has not started; if it is playing, this interrupts the speaker."""
        self._speaker._cancel_job(self._job)


class Speaker:
    """A long-lived voice for chatbots and apps: one open output, utterances spoken in order.

    >>> async with ttsstream.Speaker(provider=ttsstream.OpenAI()) as speaker:  # doctest: +SKIP
    ...     await speaker.say("Hello!")                # returns once heard
    ...     await speaker.say_stream(llm_deltas())     # speaks sentence by sentence
    ...     speaker.interrupt()                        # silence within one audio block

    ``sink`` defaults to a :class:`DeviceSink` on ``device``. ``lookahead`` is how many upcoming
    utterances are fetched while one plays. ``on_event`` is called with a
    :class:`SpeakerEvent` when an utterance starts, finishes, is interrupted, cancelled or fails.
    ``clean_text`` turns LLM Markdown into speakable text in :meth:`say_stream` (see
    :func:`ttsstream.speakable`).
    """

    def __init__(
        self,
        provider: Provider | None = None,
        *,
        sink: Sink | None = None,
        device: int | str | None = None,
        lookahead: int = 2,
        on_event: Callable[[SpeakerEvent], None] | None = None,
        clean_text: bool = True,
        stall_timeout: float = 0.8,
        first_min_chars: int = 20,
    ) -> None:
        if sink is not None and device is not None:
            raise TTSStreamError("pass either sink= or device=, not both")
        if lookahead < 0:
            raise ValueError("lookahead must be >= 0")
        self._provider_arg = provider
        self._sink_arg = sink
        self._device = device
        self.lookahead = lookahead
        self.on_event = on_event
        self.clean_text = clean_text
        self.stall_timeout = stall_timeout
        self.first_min_chars = first_min_chars
        self._provider: Provider | None = None
        self._sink: Sink | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self._pending: deque[_Job] = deque()  # queued or being written, in order
        self._written: deque[_Job] = deque()  # fully written to the sink, not yet all heard
        self._current: _Job | None = None
        self._play_scope: anyio.CancelScope | None = None
        self._wake_player = anyio.Event()
        self._wake_monitor = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._session_format: AudioFormat | None = None
        self._session_frames = 0
        self._ids = 0
        self._paused = False
        self._interrupting = False
        self._history: list[Utterance] = []
        self._reported = 0

    # -- life cycle -------------------------------------------------------------------------

    @property
    def provider(self) -> Provider:
        """The provider in use (only inside ``async with``)."""
        if self._provider is None:
            raise RuntimeError("use the Speaker inside 'async with'")
        return self._provider

    @property
    def sink(self) -> Sink:
        """The sink in use (only inside ``async with``)."""
        if self._sink is None:
            raise RuntimeError("use the Speaker inside 'async with'")
        return self._sink

    async def __aenter__(self) -> Speaker:
        from ._providers.registry import default_provider

        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            if self._provider_arg is None:
                self._provider = await stack.enter_async_context(default_provider())
            else:
                self._provider = self._provider_arg
            sink = self._sink_arg
            if sink is None:
                from ._play.device import DeviceSink

                sink = await stack.enter_async_context(DeviceSink(device=self._device))
            self._sink = sink
            await sink.prepare(self._provider.expected_format)
            stack.push_async_callback(self._silence)
            self._tg = await stack.enter_async_context(anyio.create_task_group())
            self._tg.start_soon(self._player)
            self._tg.start_soon(self._monitor)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Leaving normally waits until everything queued has been heard; on an error,
        the speaker is interrupted at once."""
        assert self._stack is not None
        assert self._tg is not None
        try:
            if exc_type is None:
                await self.wait_idle()
            else:
                self.interrupt()
        finally:
            self._tg.cancel_scope.cancel()
            stack, self._stack = self._stack, None
            await stack.__aexit__(exc_type, exc, tb)

    async def _silence(self) -> None:
        """On the way out (after the tasks stopped): make sure the sink is not left playing."""
        if self._sink is not None and self._session_format is not None:
            with anyio.CancelScope(shield=True):
                await self._sink.abort()
            self._session_format = None

    # -- speaking ---------------------------------------------------------------------------

    def enqueue(self, text: str) -> UtteranceHandle:
        """Queue ``text`` and return at once with a handle to await or cancel."""
        if self._tg is None:
            raise RuntimeError("use the Speaker inside 'async with'")
        from ._speak import split_for

        self._ids += 1
        utterance = Utterance(text=text, id=self._ids)
        send, receive = anyio.create_memory_object_stream[AudioChunk](math.inf)
        job = _Job(utterance, split_for(self.provider, text), send, receive)
        self._pending.append(job)
        self._history.append(utterance)
        if self._idle.is_set():  # a wait_idle() already waiting keeps its event
            self._idle = anyio.Event()
        self._schedule_fetches()
        self._wake_player.set()
        return UtteranceHandle(self, job)

    async def say(self, text: str) -> Utterance:
        """Speak ``text`` after whatever is queued; return once it has been heard.

        Returns the :class:`Utterance` (state ``DONE``, or ``INTERRUPTED``/``CANCELLED`` if
        :meth:`interrupt` cut it). Raises the provider's error if the request failed; audio that
        arrived before the failure has been played by then.
        """
        return await self.enqueue(text)

    async def say_stream(self, deltas: AsyncIterable[str]) -> list[Utterance]:
        """Speak streamed text (LLM deltas) sentence by sentence as sentences complete.

        The first sentence starts as soon as it is complete (or a long-enough first clause);
        if the text stalls for ``stall_timeout`` seconds, what is there is spoken up to a clause
        boundary. Returns the utterances, once all are settled.
        """
        from ._text.sentences import SentenceSplitter

        splitter = SentenceSplitter(
            max_chars=self.provider.max_input_chars, first_min_chars=self.first_min_chars
        )
        cleaner = _make_cleaner(self.clean_text)
        handles: list[UtteranceHandle] = []

        def emit(sentences: list[str]) -> None:
            handles.extend(self.enqueue(s) for s in sentences if s.strip())

        send, receive = anyio.create_memory_object_stream[str](math.inf)

        async def pump() -> None:
            async with send:
                async for delta in deltas:
                    await send.send(delta)

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            async with receive:
                while True:
                    with anyio.move_on_after(self.stall_timeout) as stalled:
                        try:
                            delta = await receive.receive()
                        except anyio.EndOfStream:
                            break
                    if stalled.cancelled_caught:
                        # Release the word the cleaner holds too ("you." waits for a space).
                        emit(splitter.feed(cleaner.flush()))
                        emit(splitter.flush_clause())
                        continue
                    emit(splitter.feed(cleaner.feed(delta)))
            emit(splitter.feed(cleaner.flush()))
            emit(splitter.flush())
        results: list[Utterance] = []
        for handle in handles:
            results.append(await handle)
        return results

    async def wait_idle(self) -> None:
        """Wait until everything queued has been heard (or dropped)."""
        await self._idle.wait()

    def interrupt(self) -> None:
        """Stop speaking now: silence within one audio block (with a short fade), every
        request in flight cancelled, the queue dropped. The speaker stays usable: text queued
        after this call is spoken normally."""
        self._interrupting = True
        for job in self._pending:
            if job.fetch_scope is not None:
                job.fetch_scope.cancel()
        if self._play_scope is not None:
            self._play_scope.cancel()
        self._drop_pending(keep_current=True)
        self._wake_player.set()

    async def stop(self) -> HeardReport:
        """:meth:`interrupt`, wait for silence, and report what was heard since the last report."""
        self.interrupt()
        await self.wait_idle()
        return self.report()

    def report(self) -> HeardReport:
        """What was heard among the utterances settled since the previous report."""
        settled: list[Utterance] = []
        while self._reported < len(self._history) and self._history[self._reported].state in _FINAL:
            settled.append(self._history[self._reported])
            self._reported += 1
        heard = [u for u in settled if u.state is UtteranceState.DONE]
        partial = next((u for u in settled if u.state is UtteranceState.INTERRUPTED), None)
        dropped = [u for u in settled if u.state is UtteranceState.CANCELLED]
        return HeardReport(heard=heard, partial=partial, dropped=dropped)

    @property
    def history(self) -> list[Utterance]:
        """Every utterance given to this speaker, oldest first."""
        return list(self._history)

    def pause(self) -> None:
        """Pause playback (silence; nothing is lost). Fetching continues."""
        self._paused = True
        self.sink.set_paused(True)

    def resume(self) -> None:
        """Resume after :meth:`pause`."""
        self._paused = False
        self.sink.set_paused(False)

    @property
    def paused(self) -> bool:
        """Whether :meth:`pause` is in effect."""
        return self._paused

    # -- internals ------------------------------------------------------------------------------

    def _interrupt_requested(self) -> bool:
        # A method, not the attribute, because interrupt() may set it while the player awaits.
        return self._interrupting

    def _emit(self, kind: str, utterance: Utterance) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(SpeakerEvent(kind, utterance))
        except Exception:
            logger.exception("Speaker on_event callback failed for %s", kind)

    def _settle(self, job: _Job, state: UtteranceState, error: BaseException | None = None) -> None:
        u = job.utterance
        if u.state in _FINAL:
            return
        u.state = state
        u.error = error
        u.finished_at = time.monotonic()
        if job.fetch_scope is not None:
            job.fetch_scope.cancel()
        job.send.close()
        job.receive.close()
        job.done.set()
        kind = {
            UtteranceState.DONE: "finished",
            UtteranceState.INTERRUPTED: "interrupted",
            UtteranceState.CANCELLED: "cancelled",
            UtteranceState.FAILED: "failed",
        }[state]
        if state is UtteranceState.FAILED:
            logger.warning("utterance %d failed: %s", u.id, error)
        self._emit(kind, u)

    def _check_idle(self) -> None:
        # Idle also means the output was drained: leaving the Speaker then cuts nothing.
        if (
            not self._pending
            and not self._written
            and self._current is None
            and self._session_format is None
        ):
            self._idle.set()

    def _schedule_fetches(self) -> None:
        assert self._tg is not None
        for job in list(self._pending)[: 1 + self.lookahead]:
            if not job.fetching and not job.cancel_requested:
                job.fetching = True
                job.fetch_scope = anyio.CancelScope()
                self._tg.start_soon(self._fetch, job)

    async def _fetch(self, job: _Job) -> None:
        assert job.fetch_scope is not None
        stats = StreamStats()
        with job.fetch_scope:
            async with job.send:
                try:
                    for piece in job.pieces:
                        async with contextlib.aclosing(
                            self.provider.stream(piece, stats=stats)
                        ) as chunks:
                            async for chunk in chunks:
                                if job.utterance.ttfb is None:
                                    job.utterance.ttfb = stats.ttfb
                                job.utterance.duration += chunk.duration
                                await job.send.send(chunk)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass  # the utterance was dropped (interrupted, cancelled): stop quietly
                except TTSStreamError as exc:
                    job.utterance.error = exc
                except Exception as exc:  # a provider bug must not kill the speaker
                    logger.exception("provider failed")
                    job.utterance.error = exc

    def _cancel_job(self, job: _Job) -> None:
        if job is self._current and job.start_frame is None:
            # Next in line but not heard yet: stop its request; the player then skips it.
            job.cancel_requested = True
            if job.fetch_scope is not None:
                job.fetch_scope.cancel()
            else:
                job.send.close()
            return
        if job is self._current or job in self._written:
            self.interrupt()
            return
        if job in self._pending:
            self._pending.remove(job)
            self._settle(job, UtteranceState.CANCELLED)
            self._schedule_fetches()
            self._check_idle()

    def _drop_pending(self, keep_current: bool) -> None:
        for job in list(self._pending):
            if keep_current and job is self._current:
                continue
            self._pending.remove(job)
            self._settle(job, UtteranceState.CANCELLED)
        self._check_idle()

    async def _player(self) -> None:
        while True:
            if self._interrupting:
                with anyio.CancelScope(shield=True):
                    await self._after_interrupt()
                continue
            if not self._pending:
                self._wake_player = anyio.Event()
                self._check_idle()
                await self._wake_player.wait()
                continue
            job = self._current = self._pending[0]
            with anyio.CancelScope() as self._play_scope:
                await self._play(job)
            self._play_scope = None
            if self._interrupt_requested():
                with anyio.CancelScope(shield=True):
                    await self._after_interrupt()
            self._current = None
            self._check_idle()

    async def _play(self, job: _Job) -> None:
        sink = self.sink
        u = job.utterance
        async with job.receive:
            async for chunk in job.receive:
                if chunk.format != self._session_format:
                    if self._session_format is not None:
                        await sink.drain()
                        self._settle_heard(final=True)
                    await sink.open(chunk.format)
                    self._session_format = chunk.format
                    self._session_frames = 0
                if job.start_frame is None:
                    job.start_frame = self._session_frames
                    job.underruns_at_start = sink.underruns
                    u.state = UtteranceState.SPEAKING
                    u.started_at = time.monotonic()
                    self._emit("started", u)
                await sink.write(chunk.samples)
                self._session_frames += chunk.frames
        job.end_frame = self._session_frames
        self._pending.popleft()
        self._current = None
        self._schedule_fetches()
        if job.start_frame is None:
            # No audio at all: cancelled, failed before the first byte, or nothing to say.
            if job.cancel_requested:
                self._settle(job, UtteranceState.CANCELLED)
            elif u.error is not None:
                self._settle(job, UtteranceState.FAILED, u.error)
            else:
                self._settle(job, UtteranceState.DONE)
        else:
            self._written.append(job)
            self._wake_monitor.set()
        if not self._pending and self._session_format is not None:
            await self._linger()
        if not self._pending and self._session_format is not None:
            await sink.drain()
            self._settle_heard(final=True)
            self._session_format = None

    async def _linger(self) -> None:
        """The queue ran empty: keep the output open while what is buffered plays.

        Streamed text (``say_stream``) often queues the next sentence a moment after the last
        one was written; draining at once would stop the device and restart it, with a gap.
        """
        fmt = self._session_format
        assert fmt is not None
        if not self.sink.realtime:
            return
        buffered = fmt.duration(self._session_frames - self.sink.frames_sent)
        deadline = time.monotonic() + buffered - _LINGER_MARGIN
        while not self._pending and (left := deadline - time.monotonic()) > 0:
            if self.sink.frames_played >= self._session_frames:
                break  # all heard already (a sink faster than real time)
            self._wake_player = anyio.Event()
            with anyio.move_on_after(left):
                await self._wake_player.wait()

    def _settle_heard(self, *, final: bool) -> None:
        """Settle written utterances whose audio has all been heard."""
        played = self._session_frames if final else self.sink.frames_played
        while self._written:
            job = self._written[0]
            assert job.start_frame is not None
            assert job.end_frame is not None
            u = job.utterance
            fmt = self._session_format
            if fmt is not None:
                u.heard_seconds = fmt.duration(max(0, min(played, job.end_frame) - job.start_frame))
            if played < job.end_frame:
                break
            self._written.popleft()
            u.underruns = self.sink.underruns - job.underruns_at_start
            if u.error is not None:
                self._settle(job, UtteranceState.FAILED, u.error)
            else:
                self._settle(job, UtteranceState.DONE)
        self._check_idle()

    async def _monitor(self) -> None:
        while True:
            if not self._written:
                self._wake_monitor = anyio.Event()
                await self._wake_monitor.wait()
            if self._session_format is not None:
                self._settle_heard(final=False)
            await anyio.sleep(_MONITOR_INTERVAL)

    async def _after_interrupt(self) -> None:
        """The player was cancelled: abort the sink, then settle everything by what was heard."""
        self._interrupting = False
        sink = self.sink
        if self._session_format is not None:
            await sink.abort()
            played = sink.frames_played
            fmt = self._session_format
            jobs = list(self._written)
            if self._current is not None and self._current.start_frame is not None:
                jobs.append(self._current)
            for job in jobs:
                assert job.start_frame is not None
                end = job.end_frame if job.end_frame is not None else self._session_frames
                heard = max(0, min(played, end) - job.start_frame)
                job.utterance.heard_seconds = fmt.duration(heard)
                job.utterance.underruns = sink.underruns - job.underruns_at_start
                if job.end_frame is not None and played >= job.end_frame:
                    self._settle(job, UtteranceState.DONE)
                elif heard > 0:
                    self._settle(job, UtteranceState.INTERRUPTED)
                else:
                    self._settle(job, UtteranceState.CANCELLED)
            self._written.clear()
            self._session_format = None
        current, self._current = self._current, None
        if current is not None:
            if current in self._pending:
                self._pending.remove(current)
            self._settle(current, UtteranceState.CANCELLED)
        self._schedule_fetches()
        self._check_idle()


class _Passthrough:
    def feed(self, text: str) -> str:
        return text

    def flush(self) -> str:
        return ""


def _make_cleaner(clean: bool) -> Any:
    if not clean:
        return _Passthrough()
    from ._text.speakable import SpeakableFilter

    return SpeakableFilter()
