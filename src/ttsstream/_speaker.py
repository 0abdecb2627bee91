"""``Speaker``: one open output, a queue of utterances, prefetch, interruption, what was heard.

The speaker wires three parts (in ``_speaking``), each with one job, into one task group:

* the **queue** (:class:`UtteranceQueue`) holds utterances in order and runs a fetcher per
  utterance for the one being played and the next ``lookahead`` ones, so the next sentence is
  already there when the current one ends;
* the **player** (:class:`Player`) pumps each utterance's audio into the sink back to back (the
  same pump as :func:`speak`), lingers while the last one plays, then drains;
* the **ledger** (:class:`HeardLedger`) knows which frames of the output belong to which
  utterance, settles each as its audio is heard, and reports what was heard.

``interrupt()`` cancels the player and every fetcher and aborts the sink; the sink's frame
counter at that moment says exactly how much of which utterance was heard.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterable, Callable, Generator
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from ._errors import TTSStreamError
from ._play.sink import Sink
from ._providers.base import Provider
from ._providers.registry import default_provider
from ._pump import concurrently, preload_decoders
from ._speaking.ledger import HeardLedger
from ._speaking.player import Player
from ._speaking.queue import UtteranceQueue
from ._speaking.utterance import (
    HeardReport,
    Job,
    SpeakerEvent,
    Utterance,
    UtteranceState,
)
from ._text.check import check_text
from ._text.sentences import SentenceSplitter
from ._text.speakable import SpeakableFilter

__all__ = [
    "HeardReport",
    "Speaker",
    "SpeakerEvent",
    "Utterance",
    "UtteranceHandle",
    "UtteranceState",
]


class UtteranceHandle:
    """Returned by :meth:`Speaker.enqueue`: await it for the :class:`Utterance` once settled,
    or :meth:`cancel` it."""

    def __init__(self, speaker: Speaker, job: Job) -> None:
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

    Each utterance's text length is passed to the sink (:meth:`Sink.expect`): a
    :class:`DeviceSink` waits before starting on a server slower than real time, until the
    rest will arrive before it is needed, and a fast server starts at once (see
    :func:`ttsstream.speak`). ``adaptive_start=False`` turns this off for the sink the speaker
    makes; :attr:`Utterance.start_delay` and :attr:`Utterance.start_reason` say what it did.
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
        adaptive_start: bool = True,
    ) -> None:
        if sink is not None and device is not None:
            raise TTSStreamError("pass either sink= or device=, not both")
        if lookahead < 0:
            raise ValueError("lookahead must be >= 0")
        self._provider_arg = provider
        self._sink_arg = sink
        self._device = device
        self.lookahead = lookahead
        self.clean_text = clean_text
        self.stall_timeout = stall_timeout
        self.first_min_chars = first_min_chars
        self.adaptive_start = adaptive_start
        self._provider: Provider | None = None
        self._sink: Sink | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._tg: TaskGroup | None = None
        self._queue: UtteranceQueue | None = None
        self._player: Player | None = None
        self._ledger = HeardLedger(on_event, self._check_idle)
        self._idle = anyio.Event()
        self._idle.set()
        self._ids = 0
        self._paused = False

    @property
    def on_event(self) -> Callable[[SpeakerEvent], None] | None:
        """Called with a :class:`SpeakerEvent` as utterances start and settle."""
        return self._ledger.on_event

    @on_event.setter
    def on_event(self, callback: Callable[[SpeakerEvent], None] | None) -> None:
        self._ledger.on_event = callback

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
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            if self._provider_arg is None:
                provider = await stack.enter_async_context(default_provider())
            else:
                provider = self._provider_arg
            self._provider = provider
            sink = self._sink_arg
            if sink is None:
                from ._play.device import DeviceSink  # PortAudio loads only when needed

                sink = await stack.enter_async_context(
                    DeviceSink(device=self._device, adaptive_start=self.adaptive_start)
                )
            self._sink = sink
            preload_decoders()  # in a thread, while the device opens
            await sink.prepare(provider.expected_format)
            stack.push_async_callback(self._silence)
            tg = self._tg = await stack.enter_async_context(anyio.create_task_group())
            queue = UtteranceQueue(provider, self.lookahead, self._ledger, tg, self._check_idle)
            player = Player(sink, queue, self._ledger, self._check_idle)
            self._queue, self._player = queue, player
            tg.start_soon(player.run)
            tg.start_soon(self._ledger.monitor, player.output)
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
            # The task group must not see the block's error: it would wrap it in an
            # ExceptionGroup, which ``except TTSStreamError`` misses. The speaker's tasks never
            # fail (errors settle utterances), so the error leaves as itself.
            await stack.__aexit__(None, None, None)

    async def _silence(self) -> None:
        """On the way out (after the tasks stopped): make sure the sink is not left playing,
        and that every utterance is settled."""
        if self._player is not None:
            with anyio.CancelScope(shield=True):
                await self._player.close()

    def _parts(self) -> tuple[UtteranceQueue, Player]:
        if self._queue is None or self._player is None:
            raise RuntimeError("use the Speaker inside 'async with'")
        return self._queue, self._player

    # -- speaking ---------------------------------------------------------------------------

    def enqueue(self, text: str) -> UtteranceHandle:
        """Queue ``text`` and return at once with a handle to await or cancel."""
        check_text(text)
        queue, player = self._parts()
        self._ids += 1
        utterance = Utterance(text=text, id=self._ids)
        self._ledger.history.append(utterance)
        if self._idle.is_set():  # a wait_idle() already waiting keeps its event
            self._idle = anyio.Event()
        job = queue.add(utterance)
        player.wake()
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
        boundary. Returns the utterances, once all are settled. If ``deltas`` raises, the
        error leaves as itself at once; sentences queued before it are still spoken.
        """
        if isinstance(deltas, (str, bytes)) or not hasattr(deltas, "__aiter__"):
            raise TypeError(
                "say_stream() takes an async iterable of str (LLM deltas), not "
                f"{type(deltas).__name__}; use say() for a whole text"
            )
        splitter = SentenceSplitter(
            max_chars=self.provider.max_input_chars, first_min_chars=self.first_min_chars
        )
        cleaner = _make_cleaner(self.clean_text)
        handles: list[UtteranceHandle] = []

        def emit(sentences: list[str]) -> None:
            handles.extend(self.enqueue(s) for s in sentences if s.strip())

        send, receive = anyio.create_memory_object_stream[str](math.inf)

        async def read_deltas() -> None:
            async with send:
                async for delta in deltas:
                    await send.send(delta)

        async def speak_sentences() -> None:
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
                    emit(splitter.feed(cleaner.feed(check_text(delta, "a say_stream() delta"))))
            emit(splitter.feed(cleaner.flush()))
            emit(splitter.flush())

        # An error (from the deltas, or in the text) leaves as itself, not in an ExceptionGroup.
        await concurrently(read_deltas, speak_sentences)
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
        queue, player = self._parts()
        queue.cancel_requests()
        player.interrupt()
        queue.drop(keep=player.current)

    async def stop(self) -> HeardReport:
        """:meth:`interrupt`, wait for silence, and report what was heard since the last report."""
        self.interrupt()
        await self.wait_idle()
        return self.report()

    def report(self) -> HeardReport:
        """What was heard among the utterances settled since the previous report."""
        return self._ledger.report()

    @property
    def history(self) -> list[Utterance]:
        """Every utterance given to this speaker, oldest first."""
        return list(self._ledger.history)

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

    def _check_idle(self) -> None:
        # Idle also means the output was drained: leaving the Speaker then cuts nothing.
        queue, player = self._queue, self._player
        if queue is None or player is None:
            return
        if (
            not queue.pending
            and not self._ledger.written
            and player.current is None
            and not player.output.is_open
        ):
            self._idle.set()

    def _cancel_job(self, job: Job) -> None:
        queue, player = self._parts()
        if job is player.current and job.start_frame is None:
            # Next in line but not heard yet: stop its request; the player then skips it.
            queue.cancel_request(job)
        elif job is player.current or job in self._ledger.written:
            self.interrupt()
        else:
            queue.remove(job)


class _Passthrough:
    def feed(self, text: str) -> str:
        return text

    def flush(self) -> str:
        return ""


def _make_cleaner(clean: bool) -> Any:
    return SpeakableFilter() if clean else _Passthrough()
