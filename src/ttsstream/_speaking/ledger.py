"""The heard ledger: which utterance sits where in the output, and what the listener heard.

Every utterance written to the sink is recorded with the frames it spans in the output's session
(``start_frame``..``end_frame``). Comparing those with the sink's played-frame counter says how
much of each was heard: the ledger settles an utterance (``DONE``) once its last frame has been
played, and, after an interruption, settles each by how far playback got (``DONE``,
``INTERRUPTED`` or ``CANCELLED``). It also keeps the history and emits the speaker's events.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import anyio

from .._format import AudioFormat
from .._pump import Gaps, Output
from .utterance import FINAL, HeardReport, Job, SpeakerEvent, Utterance, UtteranceState

__all__ = ["HeardLedger"]

logger = logging.getLogger("ttsstream")

_MONITOR_INTERVAL = 0.01

_EVENT_KINDS = {
    UtteranceState.DONE: "finished",
    UtteranceState.INTERRUPTED: "interrupted",
    UtteranceState.CANCELLED: "cancelled",
    UtteranceState.FAILED: "failed",
}


class HeardLedger:
    """What became of every utterance; ``changed()`` is called when some settled."""

    def __init__(
        self,
        on_event: Callable[[SpeakerEvent], None] | None,
        changed: Callable[[], None],
    ) -> None:
        self.on_event = on_event
        self._changed = changed
        #: Every utterance given to the speaker, oldest first.
        self.history: list[Utterance] = []
        #: Fully written to the sink, not yet all heard, in output order.
        self.written: deque[Job] = deque()
        self._reported = 0
        self._wake = anyio.Event()

    def emit(self, kind: str, utterance: Utterance) -> None:
        """Call the ``on_event`` callback; its errors are logged, never raised."""
        if self.on_event is None:
            return
        try:
            self.on_event(SpeakerEvent(kind, utterance))
        except Exception:
            logger.exception("Speaker on_event callback failed for %s", kind)

    def started(self, job: Job, start_frame: int, gaps: Gaps) -> None:
        """``job``'s first audio went to the sink at ``start_frame`` of the session."""
        u = job.utterance
        job.start_frame = start_frame
        job.gaps_at_start = gaps
        u.state = UtteranceState.SPEAKING
        u.started_at = time.monotonic()
        self.emit("started", u)

    def written_out(self, job: Job, end_frame: int) -> None:
        """All of ``job``'s audio is in the sink, up to ``end_frame``: watch it being heard."""
        job.end_frame = end_frame
        self.written.append(job)
        self._wake.set()

    def settle(self, job: Job, state: UtteranceState, error: BaseException | None = None) -> None:
        """Give ``job`` its final state (once), stop its request, wake its waiters."""
        u = job.utterance
        if u.state in FINAL:
            return
        u.state = state
        u.error = error
        u.finished_at = time.monotonic()
        if job.fetch_scope is not None:
            job.fetch_scope.cancel()
        job.send.close()
        job.receive.close()
        job.done.set()
        if state is UtteranceState.FAILED:
            logger.warning("utterance %d failed: %s", u.id, error)
        self.emit(_EVENT_KINDS[state], u)

    def settle_heard(self, played: int, fmt: AudioFormat, gaps: Gaps) -> None:
        """Settle written utterances whose audio has all been heard (``played`` frames)."""
        while self.written:
            job = self.written[0]
            assert job.start_frame is not None
            assert job.end_frame is not None
            u = job.utterance
            u.heard_seconds = fmt.duration(max(0, min(played, job.end_frame) - job.start_frame))
            if played < job.end_frame:
                break
            self.written.popleft()
            _count_gaps(u, gaps - job.gaps_at_start)
            if u.error is not None:
                self.settle(job, UtteranceState.FAILED, u.error)
            else:
                self.settle(job, UtteranceState.DONE)
        self._changed()

    def settle_cut(
        self, played: int, fmt: AudioFormat, gaps: Gaps, current: Job | None, written: int
    ) -> None:
        """The output was aborted after ``played`` frames: settle every utterance in it by how
        much was heard. ``current`` was being written (``written`` frames so far)."""
        jobs = list(self.written)
        if current is not None and current.start_frame is not None:
            jobs.append(current)
        for job in jobs:
            assert job.start_frame is not None
            end = job.end_frame if job.end_frame is not None else written
            heard = max(0, min(played, end) - job.start_frame)
            job.utterance.heard_seconds = fmt.duration(heard)
            _count_gaps(job.utterance, gaps - job.gaps_at_start)
            if job.end_frame is not None and played >= job.end_frame:
                self.settle(job, UtteranceState.DONE)
            elif heard > 0:
                self.settle(job, UtteranceState.INTERRUPTED)
            else:
                self.settle(job, UtteranceState.CANCELLED)
        self.written.clear()

    async def monitor(self, output: Output) -> None:
        """Forever: settle utterances as the sink reports their last frame played."""
        while True:
            if not self.written:
                self._wake = anyio.Event()
                await self._wake.wait()
            fmt = output.format
            if fmt is not None:
                self.settle_heard(output.sink.frames_played, fmt, Gaps.of(output.sink))
            await anyio.sleep(_MONITOR_INTERVAL)

    def report(self) -> HeardReport:
        """What was heard among the utterances settled since the previous report."""
        settled: list[Utterance] = []
        while self._reported < len(self.history) and self.history[self._reported].state in FINAL:
            settled.append(self.history[self._reported])
            self._reported += 1
        heard = [u for u in settled if u.state is UtteranceState.DONE]
        partial = next((u for u in settled if u.state is UtteranceState.INTERRUPTED), None)
        dropped = [u for u in settled if u.state is UtteranceState.CANCELLED]
        return HeardReport(heard=heard, partial=partial, dropped=dropped)


def _count_gaps(utterance: Utterance, gaps: Gaps) -> None:
    utterance.underruns = gaps.count
    utterance.gap_seconds = gaps.seconds
