"""The utterance queue: utterances waiting to be played, and the requests fetching them ahead.

A fetcher task per utterance streams its audio from the provider into the utterance's own
buffer. Fetchers run for the utterance being played and the next ``lookahead`` ones, so the next
sentence is already there when the current one ends (no gap between sentences).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable

import anyio
from anyio.abc import TaskGroup

from .._errors import TTSStreamError
from .._format import AudioChunk
from .._providers.base import Provider, StreamStats
from .._pump import split_for
from .ledger import HeardLedger
from .utterance import Job, Utterance, UtteranceState

__all__ = ["UtteranceQueue"]

logger = logging.getLogger("ttsstream")


class UtteranceQueue:
    """Jobs queued or being written, in order, with their audio fetched ahead."""

    def __init__(
        self,
        provider: Provider,
        lookahead: int,
        ledger: HeardLedger,
        task_group: TaskGroup,
        changed: Callable[[], None],
    ) -> None:
        self.provider = provider
        self.lookahead = lookahead
        self._ledger = ledger
        self._tg = task_group
        self._changed = changed
        self.pending: deque[Job] = deque()

    def add(self, utterance: Utterance) -> Job:
        """Queue ``utterance`` (its text split as the provider needs) and start fetching it if
        it is within the look-ahead."""
        send, receive = anyio.create_memory_object_stream[AudioChunk](math.inf)
        job = Job(utterance, split_for(self.provider, utterance.text), send, receive)
        self.pending.append(job)
        self.schedule()
        return job

    def schedule(self) -> None:
        """Start fetchers for the first ``1 + lookahead`` jobs that have none."""
        for job in list(self.pending)[: 1 + self.lookahead]:
            if not job.fetching and not job.cancel_requested:
                job.fetching = True
                job.requested_at = time.monotonic()  # its request goes out now
                job.fetch_scope = anyio.CancelScope()
                self._tg.start_soon(self._fetch, job)

    def cancel_requests(self) -> None:
        """Cancel every fetch in flight."""
        for job in self.pending:
            if job.fetch_scope is not None:
                job.fetch_scope.cancel()

    def cancel_request(self, job: Job) -> None:
        """Stop ``job``'s request; the player skips it (it has no audio then)."""
        job.cancel_requested = True
        if job.fetch_scope is not None:
            job.fetch_scope.cancel()
        else:
            job.send.close()

    def remove(self, job: Job) -> None:
        """Take ``job`` out of the queue unheard (``CANCELLED``)."""
        if job in self.pending:
            self.pending.remove(job)
            self._ledger.settle(job, UtteranceState.CANCELLED)
            self.schedule()
            self._changed()

    def drop(self, keep: Job | None = None) -> None:
        """Cancel every queued job except ``keep`` (the one being played)."""
        for job in list(self.pending):
            if job is not keep:
                self.pending.remove(job)
                self._ledger.settle(job, UtteranceState.CANCELLED)
        self._changed()

    async def _fetch(self, job: Job) -> None:
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
