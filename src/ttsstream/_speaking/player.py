"""The player: takes queued utterances in order and pumps their audio into the sink back to back.

When the queue runs empty it lingers while the buffered audio plays (more text often follows a
moment later), then drains the sink so the last sample is heard, and waits. An interruption
cancels the write in progress and aborts the sink; the ledger then settles every utterance by
the sink's played-frame counter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import anyio

from .._errors import TTSStreamError
from .._format import AudioChunk, AudioFormat
from .._play.sink import Sink
from .._pump import Gaps, Output, pump, speech_key
from .ledger import HeardLedger
from .queue import UtteranceQueue
from .utterance import Job, UtteranceState

__all__ = ["Player"]

logger = logging.getLogger("ttsstream")

# Drain this long before the buffered audio runs out, if nothing new was queued by then.
_LINGER_MARGIN = 0.03


class Player:
    """Writes the queue's utterances into one output session; ``changed()`` after each."""

    def __init__(
        self,
        sink: Sink,
        queue: UtteranceQueue,
        ledger: HeardLedger,
        changed: Callable[[], None],
    ) -> None:
        self.sink = sink
        self._queue = queue
        self._ledger = ledger
        self._changed = changed
        self.output = Output(sink, on_drained=self._drained)
        #: The utterance being written, if any.
        self.current: Job | None = None
        self._scope: anyio.CancelScope | None = None
        self._wake = anyio.Event()
        self._interrupting = False
        self._opener: Job | None = None  # the job that opened the output's session

    def wake(self) -> None:
        """Something was queued (or interrupted): look again."""
        self._wake.set()

    def interrupt(self) -> None:
        """Stop writing now; the player aborts the sink and settles what was heard."""
        self._interrupting = True
        if self._scope is not None:
            self._scope.cancel()
        self._wake.set()

    def _interrupt_requested(self) -> bool:
        # A method, not the attribute, because interrupt() may set it while the player awaits.
        return self._interrupting

    def _drained(self, fmt: AudioFormat, frames: int) -> None:
        # Everything written in the session has been heard.
        self._note_start()
        self._ledger.settle_heard(frames, fmt, Gaps.of(self.sink))

    def _note_start(self) -> None:
        """Give the session's first utterance the sink's start delay and reason, once known."""
        job = self._opener
        if job is None:
            return
        delay = self.sink.start_delay
        if delay is not None:
            job.utterance.start_delay = delay
            job.utterance.start_reason = self.sink.start_reason
            self._opener = None

    async def run(self) -> None:
        """Forever: play the next utterance, or wait for one."""
        queue = self._queue
        while True:
            if self._interrupting:
                with anyio.CancelScope(shield=True):
                    await self._after_interrupt()
                continue
            if not queue.pending:
                self._wake = anyio.Event()
                self._changed()
                await self._wake.wait()
                continue
            job = self.current = queue.pending[0]
            try:
                with anyio.CancelScope() as self._scope:
                    await self._play(job)
            except Exception as exc:  # the sink failed: so did the utterances in it
                with anyio.CancelScope(shield=True):
                    await self._sink_failed(exc)
            self._scope = None
            if self._interrupt_requested():
                with anyio.CancelScope(shield=True):
                    await self._after_interrupt()
            self.current = None
            self._changed()

    async def _play(self, job: Job) -> None:
        def on_chunk(chunk: AudioChunk, start: int) -> None:
            if job.start_frame is None:
                if start == 0:
                    self._opener = job
                self._ledger.started(job, start, Gaps.of(self.sink))
            self._note_start()

        # The request may have gone out a while ago (fetched ahead): its audio arrived since.
        self.sink.expect(
            chars=len(job.utterance.text),
            key=speech_key(self._queue.provider),
            requested_at=job.requested_at,
        )
        async with job.receive:
            await pump(job.receive, self.output, on_chunk=on_chunk)
        self._note_start()
        queue, u = self._queue, job.utterance
        queue.pending.popleft()
        self.current = None
        queue.schedule()
        if job.start_frame is None:
            # No audio at all: cancelled, failed before the first byte, or nothing to say.
            if job.cancel_requested:
                self._ledger.settle(job, UtteranceState.CANCELLED)
            elif u.error is not None:
                self._ledger.settle(job, UtteranceState.FAILED, u.error)
            else:
                self._ledger.settle(job, UtteranceState.DONE)
        else:
            self._ledger.written_out(job, self.output.frames)
        if not queue.pending and self.output.is_open:
            await self._linger()
        if not queue.pending:
            await self.output.drain()

    async def _linger(self) -> None:
        """The queue ran empty: keep the output open while what is buffered plays.

        Streamed text (``say_stream``) often queues the next sentence a moment after the last
        one was written; draining at once would stop the device and restart it, with a gap.
        """
        fmt = self.output.format
        assert fmt is not None
        if not self.sink.realtime:
            return
        written = self.output.frames
        buffered = fmt.duration(written - self.sink.frames_sent)
        deadline = time.monotonic() + buffered - _LINGER_MARGIN
        while not self._queue.pending and (left := deadline - time.monotonic()) > 0:
            if self.sink.frames_played >= written:
                break  # all heard already (a sink faster than real time)
            self._wake = anyio.Event()
            with anyio.move_on_after(left):
                await self._wake.wait()

    async def close(self) -> None:
        """The speaker's tasks have stopped: silence the sink, settle every utterance left
        (the queue's as ``CANCELLED``, those in the output by what was heard)."""
        self._queue.drop(keep=self.current)
        await self._after_interrupt()

    async def _sink_failed(self, error: Exception) -> None:
        """Fail every utterance in the output with the sink's ``error``; the speaker goes on
        with the next one (which opens the sink again)."""
        if not isinstance(error, TTSStreamError):
            logger.exception("the sink failed", exc_info=error)
        try:
            await self.output.abort()
        except Exception:
            logger.exception("the sink failed again while aborting")
        self.output.format = None
        current, self.current = self.current, None
        jobs = list(self._ledger.written)
        self._ledger.written.clear()
        if current is not None:
            jobs.append(current)
            if current in self._queue.pending:
                self._queue.pending.remove(current)
        for job in jobs:
            self._ledger.settle(job, UtteranceState.FAILED, error)
        self._queue.schedule()

    async def _after_interrupt(self) -> None:
        """The write was cancelled: abort the sink, then settle everything by what was heard."""
        self._interrupting = False
        fmt = self.output.format
        if fmt is not None:
            await self.output.abort()
            self._note_start()
            self._opener = None
            current = self.current
            self._ledger.settle_cut(
                self.sink.frames_played, fmt, Gaps.of(self.sink), current, self.output.frames
            )
        current, self.current = self.current, None
        if current is not None:
            if current in self._queue.pending:
                self._queue.pending.remove(current)
            self._ledger.settle(current, UtteranceState.CANCELLED)
        self._queue.schedule()
        self._changed()
