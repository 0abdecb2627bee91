"""The playback engine: what the audio callback does, as a plain class (sans-IO).

:class:`PlaybackEngine` owns the :class:`~ttsstream._play.ring.FrameRing` between the event loop
(the producer) and the audio callback (the consumer), and decides, block by block, what the
device plays: silence until ``prebuffer`` frames are queued, the queued frames, silence again
(an underrun, counted) until ``rebuffer`` frames are queued, a fade-out on abort or pause, a
fade-in on resume. It keeps the bookkeeping the event loop needs: the DAC time of the last real
sample (``drain()`` waits for it to pass), a short history of which ring position reached the
DAC when (what has been *heard*), and every gap a listener hears.

It never imports sounddevice or anyio and never reads a clock: the caller passes the stream
times in. :meth:`PlaybackEngine.fill` is called from PortAudio's thread (by
:class:`~ttsstream.DeviceSink`) or by a test, tick by tick. Thread hand-off: the methods under
"producer side" are called from the event loop only, :meth:`~PlaybackEngine.fill` from the audio
thread only; each attribute is written by one side (noted below), and under the GIL a store is
atomic, so no lock is needed and the callback never waits.

>>> import numpy as np
>>> engine = PlaybackEngine(rate=1000, channels=1, dtype="int16", capacity=100, prebuffer=20)
>>> engine.begin_utterance()
>>> engine.ring.write_some(np.ones((30, 1), np.int16))
30
>>> out = np.empty((25, 1), np.int16)
>>> engine.fill(out, dac=1.05, now=1.0)      # 30 >= 20 queued: plays
>>> int(out.sum()), engine.ring.readable
(25, 5)
>>> engine.fill(out, dac=1.075, now=1.025)   # 5 left: plays them, then silence: an underrun
>>> int(out.sum()), engine.underruns, engine.gaps
(5, 1, 1)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .ring import FrameRing

__all__ = ["NO_HOLD", "PlaybackEngine"]

Floats = npt.NDArray[np.float64]
Samples = npt.NDArray[Any]

HISTORY = 64  # blocks of timing history kept for what was heard (a few seconds)
#: The drain target is this much past the DAC time of the last sample: the reported DAC time is
#: exact to a few ms on PulseAudio (measured: stopping 5 ms early loses samples), not everywhere.
DRAIN_MARGIN = 0.02
#: A block whose DAC time is later than the previous block's end by more than this (seconds)
#: left a hole in the sound: the callback ran late and the device played silence meanwhile.
JUMP_TOLERANCE = 0.01
#: Smaller jumps are within the noise of the device's clock estimate (measured on PulseAudio
#: under load: a few ms either way with the recording bit-exact); above this they add to the
#: length of a gap the device flagged as an underflow, or of one that is still settling.
CLOCK_JITTER = 0.002


#: No hold: only the fixed prebuffer or rebuffer counts.
NO_HOLD: tuple[float, int, int, object] = (-math.inf, 0, 0, None)


def ramp_down(frames: int) -> Floats:
    """A raised-cosine fade of ``frames`` gains, reaching exactly 0 at its last frame."""
    k = np.arange(1.0, frames + 1.0)
    ramp: Floats = 0.5 + 0.5 * np.cos(np.pi * k / frames)
    return ramp


class PlaybackEngine:
    """The callback side of a device sink, driven by explicit :meth:`fill` calls.

    ``rate``, ``channels`` and ``dtype`` are the device stream's format; ``capacity`` is the
    ring's size in frames. ``prebuffer`` frames must be queued before playback starts (or the
    utterance must be complete), ``rebuffer`` after an underrun. ``fade`` is the length of the
    fade-out on abort and pause (and of the fade-in on resume), in frames. ``latency`` is the
    device's output latency in seconds: just after a stream starts, the device asks for that
    much audio in a burst, and playback waits until that much is queued on top of the prebuffer.
    The owner may raise the threshold with :attr:`hold` (the adaptive start policy, computed on
    the event loop side so the callback only compares numbers).
    """

    def __init__(
        self,
        *,
        rate: int,
        channels: int,
        dtype: npt.DTypeLike,
        capacity: int,
        prebuffer: int = 0,
        rebuffer: int = 0,
        fade: int = 1,
        latency: float = 0.0,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.ring = FrameRing(capacity, channels, dtype)
        self.rate = rate
        self.prebuffer = max(0, min(capacity - 1, prebuffer))
        self.rebuffer = max(0, min(capacity - 1, rebuffer))
        self.fade_frames = max(1, fade)
        self._ramp_down = ramp_down(self.fade_frames)
        self._ramp_up: Floats = self._ramp_down[::-1].copy()
        #: The device's output latency (seconds); the owner may update it once the stream is open.
        self.latency = latency

        # Written by the producer (event loop) only.
        self.paused = False
        """Pause request: the callback fades out within one block, then plays silence."""
        self._abort_req = 0
        self._end_pos: int | None = None  # ring position of the utterance's end, once known
        self._utt_start = 0
        self._utt_generation = 0
        self._seen_callbacks = 0
        self._seen_at = 0.0
        #: The start policy's hold, set by the owner: ``(until, before, after, info)``: before
        #: stream time ``until`` (re)starting needs ``before`` frames queued, from then on
        #: ``after`` (on top of the fixed prebuffer or rebuffer, whichever is larger); ``info``
        #: is the owner's record of the decision, kept with the start it caused. One tuple, so
        #: the callback always sees a consistent decision.
        self.hold: tuple[float, int, int, object] = NO_HOLD
        self._utt_id = 0

        # Written by the consumer (the callback) only.
        self._playing = False
        self._paused_out = False  # the callback has faded out for a pause
        self._fade_in_left = 0
        self._need = self.prebuffer
        self._abort_ack = 0
        # (abort generation, ring position where the fade-out ended): what an abort let through
        self._cut = (0, 0)
        self._in_gap = False  # the ring ran dry mid-utterance and has not refilled yet
        self._next_dac: float | None = None  # DAC time where the previous block ended
        self._settled_at: float | None = None  # DAC time the stream's clock has settled by
        self._gap_until = -math.inf  # a device gap until this DAC time is the same gap
        #: DAC time (stream clock) just after the last real frame handed to the device.
        self.last_real_dac = 0.0
        #: Callbacks so far.
        self.callbacks = 0
        #: Frames asked for in the latest callback.
        self.block_frames = 0
        #: Times the ring ran dry mid-utterance.
        self.buffer_underruns = 0
        #: Callbacks that came with the device's output-underflow flag set.
        self.device_underflows = 0
        #: Callbacks whose DAC time jumped past the end of the previous block.
        self.late_callbacks = 0
        #: Gaps a listener hears in the sound: the ring ran dry, or, while audio was playing,
        #: the device reported an underflow or the DAC time jumped.
        self.gaps = 0
        #: Seconds of silence inserted into the sound by those gaps (as far as they are known:
        #: an underflow flag without a DAC-time jump adds a gap but no seconds).
        self.gap_seconds = 0.0
        #: The utterance (a count of :meth:`begin_utterance` calls) whose first start is
        #: recorded in :attr:`start_time` and :attr:`start_hold`; written last.
        self.start_utt = -1
        #: Stream time of the callback that first played the current utterance.
        self.start_time = 0.0
        #: :attr:`hold` in force at that start.
        self.start_hold: tuple[float, int, int, object] = NO_HOLD
        #: Whether that start came because the utterance had ended (all of it queued) before
        #: the threshold was reached.
        self.start_ended = False
        #: Exceptions caught inside :meth:`fill`.
        self.callback_errors = 0
        #: The first of them: the owner raises it on the event loop side.
        self.error: BaseException | None = None
        # Timing history, one column per block: DAC time, ring position, real frames (all exact
        # as float64: positions stay far below 2**53).
        self._history: Floats = np.zeros((3, HISTORY))
        self._h_count = 0

    # -- what a listener hears -------------------------------------------------------------

    @property
    def underruns(self) -> int:
        """Gaps heard so far (the same as :attr:`gaps`)."""
        return self.gaps

    @property
    def playing(self) -> bool:
        """Whether the latest block played queued frames and more were expected."""
        return self._playing

    @property
    def busy(self) -> bool:
        """Frames are queued or still playing."""
        return self.ring.readable > 0 or self._playing

    def heard_pos(self, now: float) -> int:
        """Ring position of the frame the device plays at stream time ``now``."""
        count = self._h_count
        # The oldest slot is left out: the callback may be overwriting it right now.
        dacs, positions, reals = self._history
        for k in range(count - 1, max(count - HISTORY + 1, 0) - 1, -1):
            i = k % HISTORY
            start = float(dacs[i])
            if start <= now:
                into = math.floor((now - start) * self.rate)
                return int(positions[i]) + min(int(reals[i]), into)
        if count:
            return int(positions[max(count - HISTORY + 1, 0) % HISTORY])
        return self._utt_start

    def utterance_heard(self, now: float) -> int:
        """Device frames of the current utterance heard at stream time ``now``."""
        return self._utterance_frames(self.heard_pos(now))

    def utterance_sent(self) -> int:
        """Device frames of the current utterance handed to the device so far."""
        return self._utterance_frames(self.ring.read_pos)

    def _utterance_frames(self, pos: int) -> int:
        generation, cut = self._cut
        if generation > self._utt_generation:  # aborted: nothing after the fade was heard
            pos = min(pos, cut)
        return max(0, pos - self._utt_start)

    # -- producer side (the event loop) ----------------------------------------------------

    def begin_utterance(self) -> None:
        """Start counting a new utterance at the current write position."""
        self._utt_start = self.ring.write_pos
        self._utt_generation = self._abort_req
        self._end_pos = None
        self.hold = NO_HOLD
        self._utt_id += 1

    @property
    def started(self) -> bool:
        """Whether the current utterance has started playing (see :attr:`start_time`)."""
        return self.start_utt == self._utt_id

    def end_utterance(self) -> None:
        """Everything of the utterance is queued: play it out even below the prebuffer."""
        self._end_pos = self.ring.write_pos

    @property
    def ended(self) -> bool:
        """:meth:`end_utterance` was called for the current utterance."""
        return self._end_pos is not None

    @property
    def all_sent(self) -> bool:
        """Every frame of the ended utterance has been handed to the device."""
        return self._end_pos is not None and self.ring.read_pos >= self._end_pos

    def drained(self, now: float) -> bool:
        """Whether the ended utterance has been played in full by stream time ``now``.

        True once every frame has left the ring *and* the DAC time of the last real frame (plus
        :data:`DRAIN_MARGIN`) has passed: stopping any earlier would cut off the end.
        """
        return self.all_sent and now >= self.last_real_dac + DRAIN_MARGIN

    def silent(self, now: float) -> bool:
        """Whether everything real handed to the device has played by stream time ``now``."""
        return now >= self.last_real_dac

    @property
    def abort_generation(self) -> int:
        """Counts :meth:`request_abort` calls: a writer stops when it changes."""
        return self._abort_req

    def request_abort(self) -> None:
        """Ask the callback to fade out within its next block and drop everything queued."""
        self._abort_req += 1

    @property
    def abort_done(self) -> bool:
        """The callback has acted on the latest :meth:`request_abort`."""
        return self._abort_ack == self._abort_req

    def reset(self) -> None:
        """Drop everything queued, as an abort does, while no callback runs (stream stopped)."""
        self._cut = (self._abort_req, self.ring.read_pos)
        self.ring.discard_all()
        self._playing = False
        self._in_gap = False
        self._need = self.prebuffer
        self._abort_ack = self._abort_req
        self.last_real_dac = 0.0
        self._next_dac = None
        self._gap_until = -math.inf

    def watch(self, clock: float) -> None:
        """Start the watchdog of :meth:`seconds_without_callback` at ``clock`` (any clock)."""
        self._seen_callbacks, self._seen_at = self.callbacks, clock

    def seconds_without_callback(self, clock: float) -> float:
        """Time since a callback was last seen, on the caller's ``clock``, polled from time to
        time: a device that stopped calling back has stopped playing."""
        if self.callbacks != self._seen_callbacks:
            self._seen_callbacks, self._seen_at = self.callbacks, clock
        return clock - self._seen_at

    # -- consumer side (the audio callback) ------------------------------------------------

    def fill(self, out: Samples, dac: float, now: float, *, underflow: bool = False) -> None:
        """Fill the whole of ``out`` (``(frames, channels)``, uninitialised) for one callback.

        ``dac`` is the stream time at which ``out[0]`` will play (PortAudio's
        ``outputBufferDacTime``; 0 when the host API leaves it unset), ``now`` the stream time of
        the callback, ``underflow`` PortAudio's output-underflow flag. Never raises: an
        exception is stored in :attr:`error`, counted, and the block is silence.
        """
        try:
            self._fill(out, dac, now, underflow)
        except Exception as exc:
            self.callback_errors += 1
            if self.error is None:
                self.error = exc
            out.fill(0)

    def _fill(self, out: Samples, dac: float, now: float, underflow: bool) -> None:
        frames = len(out)
        self.callbacks += 1
        self.block_frames = frames
        if dac <= 0:  # some host APIs leave it unset
            dac = now + self.latency
        self._count_late(dac, frames, underflow)
        ring = self.ring
        if self.error is not None:
            out.fill(0)
            return
        if self._abort_req != self._abort_ack:
            self._fade_out(out, frames, dac)
            return
        if self.paused:
            self._pause_block(out, frames, dac)
            return
        if self._paused_out:  # resuming: fade back in what the pause faded out
            self._paused_out = False
            self._fade_in_left = self.fade_frames if self._playing else 0
        n = 0
        if not self._playing:
            ready = ring.readable
            if ready:
                met = ready >= self._start_threshold(now, dac)
                if met or self._end_pos is not None:
                    self._playing = True
                    if self.start_utt != self._utt_id:
                        self.start_time = now
                        self.start_hold = self.hold
                        self.start_ended = not met
                        self.start_utt = self._utt_id
        if self._playing:
            n = ring.peek_into(out)
            if n < frames:
                out[n:] = 0
                self._playing = False
                if ring.read_pos + n == self._end_pos:
                    self._need = self.prebuffer
                else:
                    self.buffer_underruns += 1
                    self.gaps += 1
                    self._in_gap = True
                    self._need = self.rebuffer
        else:
            out.fill(0)
        if self._in_gap:
            if self._end_pos is not None and ring.read_pos + n >= self._end_pos:
                self._in_gap = False  # nothing more is coming: the silence is the end
            else:
                self.gap_seconds += (frames - n) / self.rate
        if self._fade_in_left:
            done = self.fade_frames - self._fade_in_left
            k = min(n, self._fade_in_left)
            out[:k] = out[:k] * self._ramp_up[done : done + k, None]
            self._fade_in_left -= k
        self._record(dac, ring.read_pos, n)
        ring.consume(n)  # publish last: drain() reads last_real_dac once read_pos moves

    def _count_late(self, dac: float, frames: int, underflow: bool) -> None:
        """Count a gap when the device skipped ahead while audio was playing."""
        expected, self._next_dac = self._next_dac, dac + frames / self.rate
        late = 0.0 if expected is None else dac - expected
        if underflow:
            self.device_underflows += 1
        if late > JUMP_TOLERANCE:
            self.late_callbacks += 1
        if self._settled_at is None:
            self._settled_at = dac + 2 * self.latency
        if dac < self._settled_at:
            # While the device fills its buffer just after the stream starts, its clock steps
            # (measured on PulseAudio: 10 ms, 72 ms after the start, with no hole in the
            # recorded sound). Only an underflow flag counts then.
            late = 0.0
        if not self._playing or self.paused or self._paused_out:
            return
        settling = dac <= self._gap_until
        if underflow or late > JUMP_TOLERANCE or (settling and late > CLOCK_JITTER):
            # After a stall, the device's own clock settles over the next blocks (measured on
            # PulseAudio: a 245 ms jump, then 4 ms more two blocks later, one hole in the sound):
            # jumps within a latency of the last one are the same gap.
            if not settling:
                self.gaps += 1
            if late > CLOCK_JITTER:
                self.gap_seconds += late
            self._gap_until = dac + frames / self.rate + self.latency

    def _start_threshold(self, now: float, dac: float) -> int:
        """Frames needed before (re)starting: the prebuffer, plus what the device still asks
        for at once while it fills its buffer (just after the stream started, PortAudio calls
        back in a burst until the buffer holds ``latency`` seconds; starting with less would
        run dry inside the burst and put a gap of silence in the speech)."""
        deficit = 0
        if now > 0:
            deficit = max(0, round((self.latency - (dac - now)) * self.rate))
        until, before, after, _ = self.hold
        need = max(self._need, before if now < until else after)
        return min(need + deficit, self.ring.capacity - 1)

    def _pause_block(self, out: Samples, frames: int, dac: float) -> None:
        """One block while paused: the first fades out what would have played, then silence."""
        ring = self.ring
        n = 0
        self._in_gap = False
        if not self._paused_out:
            self._paused_out = True
            if self._playing:
                n = ring.peek_into(out[: min(self.fade_frames, frames)])
                out[:n] = out[:n] * self._ramp_down[:n, None]
        out[n:] = 0
        self._record(dac, ring.read_pos, n)
        ring.consume(n)

    def _fade_out(self, out: Samples, frames: int, dac: float) -> None:
        ring = self.ring
        fade = min(self.fade_frames, frames)
        n = ring.peek_into(out[:fade]) if self._playing else 0
        if n:  # (a block shorter than the fade: the fade is squeezed into it)
            out[:n] = out[:n] * ramp_down(fade)[:n, None]
        out[n:] = 0
        request = self._abort_req
        self._record(dac, ring.read_pos, n)
        self._cut = (request, ring.read_pos + n)
        ring.discard_all()
        self._playing = False
        self._in_gap = False
        self._need = self.prebuffer
        self._abort_ack = request

    def _record(self, dac: float, pos: int, real: int) -> None:
        history, i = self._history, self._h_count % HISTORY
        history[0, i] = dac
        history[1, i] = pos
        history[2, i] = real
        if real:
            self.last_real_dac = dac + real / self.rate
        self._h_count += 1
