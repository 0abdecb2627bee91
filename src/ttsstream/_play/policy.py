"""When to start playing: the adaptive start policy (sans-IO).

A server slower than real time makes every naive player stutter: it starts at once and runs dry
again and again. A fixed bigger prebuffer wastes latency when the server is fast. ttsstream knows
what no generic player knows: the text it asked for. :class:`StartPolicy` turns that into a start
threshold:

* **Arrival rate** ``r`` (audio seconds per wall second), from cumulative audio against time
  since the first arrival of the current text (so bursty chunking averages out instead of
  swinging the estimate chunk by chunk), with the time the writer spent blocked on a full
  buffer left out (that is the player's pace, not the server's). Before a second arrival, the
  first chunk gives a lower bound: its audio over the time since the request.
* **Speech left** ``L``: the text's length over the voice's characters per second
  (:class:`VoiceStats`, learned in this process from completed utterances per provider and
  voice; a conservative :data:`DEFAULT_CHARS_PER_SECOND` until then), minus what has played.
* For a steady rate ``r < 1`` playback never runs dry if it starts once ``L * (1 - r)`` seconds
  are buffered; the policy waits for that times :data:`SAFETY`, plus one burst's worth when the
  audio comes in bursts (:meth:`StartPolicy.need`), plus :data:`MARGIN`. Since bursts would
  only let it start at the burst after the flow reached that, it starts at the moment the flow
  reaches it, when what is buffered covers the wait for the next burst. After an underrun the
  same formula sizes the rebuffer, so it does not run dry again.
* When ``r >= 1`` it costs nothing: the threshold is the plain prebuffer.

A fast and a slow server look the same at the first chunk. The policy resolves it with evidence
from the current text first: a first chunk that arrived faster than real time since the request
proves a fast server (Piper's sentence-sized chunks, most cloud services); otherwise it holds for
at most :data:`OBSERVE` seconds for a second arrival to measure the rate, unless this voice's
texts arrived clearly faster than real time earlier in the process (:data:`FAST_PRIOR`); when
that window passes without a second arrival, it falls back on the lower bound, or on the rate
learned for this voice when that is higher.

It never reads a clock: the caller passes ``now`` (any clock, the same one throughout).

>>> voices = VoiceStats()
>>> policy = StartPolicy(prebuffer=0.03, rebuffer=0.1, voices=voices)
>>> policy.begin()
>>> policy.expect(chars=130, key="demo", now=0.0)   # ~10 s of speech by default
>>> policy.arrived(0.4, now=0.5)                    # first chunk: 0.4 s of audio after 0.5 s
>>> policy.arrived(0.4, now=1.0)                    # second: 0.8x real time
>>> hold = policy.decide(now=1.0, played=0.0, restart=False)
>>> round(hold.seconds, 2), hold.reason
(2.68, 'arrival 0.80x real time, ~10.0 s of speech left: waited for 2.68 s of audio')
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

__all__ = [
    "DEFAULT_CHARS_PER_SECOND",
    "Hold",
    "StartPolicy",
    "VoiceStats",
]

#: Characters per second assumed for a voice before any of its speech has played: on the slow
#: side of English TTS voices (measured: Piper's joe voice 14-18.5 including pauses; most cloud
#: voices speak 14-17), so the speech left is over- rather than underestimated and the start
#: errs towards waiting a little longer.
DEFAULT_CHARS_PER_SECOND = 13.0
#: The buffer needed for a steady rate is multiplied by this (the rate and the length are
#: estimates).
SAFETY = 1.05
#: Seconds of audio added on top of that.
MARGIN = 0.1
#: The longest wait between arrivals seen so far is taken this many times: a later burst may be
#: larger than the first few (tuned on simulated bursts of 0.15-0.9 s at 0.6-0.95x).
BURST = 1.5
#: Seconds after the first arrival to wait for a second one when nothing yet shows that the
#: server is fast: the most a fast server with small first chunks can lose.
OBSERVE = 0.25
#: Arrivals closer together than this (wall seconds) are pieces of one burst: a server sends
#: what it generated in one go, and the pieces come far faster than it generates. The rate is
#: measured from the end of the first burst on, so the first burst's own pieces never make it
#: look fast.
BURST_GAP = 0.02
#: A first "burst" that goes on this long (wall seconds) is a steady stream of small chunks:
#: its own rate counts.
STREAM_SPAN = 0.1
#: When more audio has arrived than the text was estimated to give, the estimate was wrong: the
#: total is taken as this many times what has arrived.
OVERRUN = 1.25
#: After an underrun, the rate is also measured over about this many recent wall seconds, and
#: the lower of the two is used: a server that slowed down is not judged by its fast start.
RECENT = 3.0
#: Rates at or above this are "faster than real time": no waiting.
REAL_TIME = 1.0
#: A rate learned for the voice earlier in the process at or above this starts a text at once,
#: before its own rate is measured (a server that slowed down since costs one gap, after which
#: the rebuffer is sized by the measured rate).
FAST_PRIOR = 1.2


class VoiceStats:
    """What this process learned about each voice: characters per second of speech, and the
    arrival rate of its latest completed text. Keys are any string (provider and voice).

    >>> stats = VoiceStats()
    >>> stats.seconds_for("openai:nova", 130)     # the default: 13 characters per second
    10.0
    >>> stats.learn("openai:nova", chars=150, seconds=10.0)
    >>> stats.seconds_for("openai:nova", 120), stats.chars_per_second("openai:nova")
    (8.0, 15.0)
    """

    def __init__(self, default_chars_per_second: float = DEFAULT_CHARS_PER_SECOND) -> None:
        if default_chars_per_second <= 0:
            raise ValueError("default_chars_per_second must be positive")
        self.default_chars_per_second = default_chars_per_second
        self._chars: dict[str, float] = {}
        self._seconds: dict[str, float] = {}
        self._rates: dict[str, float] = {}

    def learn(self, key: str, *, chars: int, seconds: float) -> None:
        """A text of ``chars`` characters gave ``seconds`` of speech (it played to the end)."""
        if chars <= 0 or seconds <= 0:
            return
        self._chars[key] = self._chars.get(key, 0.0) + chars
        self._seconds[key] = self._seconds.get(key, 0.0) + seconds

    def learn_rate(self, key: str, rate: float) -> None:
        """The audio of the latest text for ``key`` arrived at ``rate`` x real time."""
        if rate > 0 and math.isfinite(rate):
            self._rates[key] = rate

    def chars_per_second(self, key: str) -> float | None:
        """Characters per second learned for ``key``, or ``None`` before any was learned."""
        seconds = self._seconds.get(key)
        return None if not seconds else self._chars[key] / seconds

    def rate(self, key: str) -> float | None:
        """The arrival rate learned for ``key``, or ``None``."""
        return self._rates.get(key)

    def seconds_for(self, key: str, chars: int) -> float:
        """Estimated seconds of speech for ``chars`` characters in voice ``key``."""
        cps = self.chars_per_second(key) or self.default_chars_per_second
        return chars / cps


#: The process-wide statistics DeviceSink uses.
VOICES = VoiceStats()


@dataclass(frozen=True)
class Hold:
    """A start decision: playback (re)starts once ``seconds`` of audio are buffered; from the
    time ``until`` on, once ``then`` seconds are (``until`` is ``-inf`` when the decision does
    not change with time). ``reason`` and ``then_reason`` say why, for people."""

    seconds: float
    reason: str
    until: float = -math.inf
    then: float = 0.0
    then_reason: str = ""
    #: The arrival rate the decision used (``None``: not measured yet).
    rate: float | None = None
    #: The seconds of speech left it estimated (``None``: unknown, no text given).
    left: float | None = None

    def at(self, now: float) -> tuple[float, str]:
        """The threshold and reason in force at ``now``."""
        if self.until == -math.inf or now < self.until:
            return self.seconds, self.reason
        return self.then, self.then_reason


class StartPolicy:
    """Decides how much audio must be buffered before playback (re)starts (see the module).

    ``prebuffer`` and ``rebuffer`` (seconds) are the least it ever asks for, before the first
    start and after an underrun; ``limit`` the most (the sink's buffer). With ``enabled`` false
    it always answers the plain prebuffer or rebuffer (today's fixed behaviour). ``voices`` is
    where voices' speech rates are learned and looked up.

    The caller reports, in order: :meth:`begin` (a new output session), :meth:`expect` (a text
    is about to be spoken: its length and the voice), :meth:`arrived` (audio handed to the sink),
    :meth:`blocked` (time the writer waited for room), and :meth:`finish` (the session played to
    its end: learn from it); and asks :meth:`decide` for the threshold whenever it changes.
    """

    def __init__(
        self,
        *,
        prebuffer: float,
        rebuffer: float,
        voices: VoiceStats,
        enabled: bool = True,
        limit: float = math.inf,
        observe: float = OBSERVE,
    ) -> None:
        self.prebuffer = prebuffer
        self.rebuffer = rebuffer
        self.voices = voices
        self.enabled = enabled
        self.limit = limit
        self.observe = observe
        self.begin()

    def begin(self) -> None:
        """A new output session: forget the texts and arrivals of the previous one."""
        self._chars = 0
        self._key: str | None = None
        self._estimate = 0.0  # seconds of speech the session's texts should give
        #: Seconds of audio received in this session.
        self.received = 0.0
        self._blocked = 0.0  # seconds the writer waited for room, in total
        # The current text (segment): when it was asked for, and its arrivals.
        self._asked: float | None = None
        self._base = 0.0  # audio received before this text
        self._blocked_base = 0.0
        self._first: tuple[float, float, float] | None = None  # (time, received, blocked)
        self._last: tuple[float, float, float] | None = None
        self._origin: tuple[float, float, float] | None = None  # the end of the first burst
        self._recent: deque[tuple[float, float, float]] = deque()  # the last RECENT seconds
        #: The longest wait between two arrivals of the current text (wall seconds, blocked
        #: time left out): audio that comes in bursts needs a burst more in the buffer.
        self.longest_gap = 0.0

    def expect(self, *, chars: int, key: str, now: float | None) -> None:
        """A text of ``chars`` characters in voice ``key`` was requested at ``now`` (``None``:
        unknown); its audio is what arrives next. Rates are measured per text, so the pause
        between two texts (the caller had nothing to say) is not taken for a slow server."""
        self._chars += max(0, chars)
        self._key = key
        self._estimate += self.voices.seconds_for(key, max(0, chars))
        self._asked = now
        self._base = self.received
        self._blocked_base = self._blocked
        self._first = self._last = self._origin = None
        self._recent.clear()
        self.longest_gap = 0.0

    def arrived(self, seconds: float, now: float) -> None:
        """``seconds`` of audio were handed to the sink at ``now``."""
        self.received += seconds
        point = (now, self.received, self._blocked)
        last = self._last
        if last is not None:
            gap = (now - last[0]) - (self._blocked - last[2])
            self.longest_gap = max(self.longest_gap, gap)
            if self._origin is None and gap >= BURST_GAP:
                self._origin = last
        if self._first is None:
            self._first = point
        self._last = point
        recent = self._recent
        recent.append(point)
        # keep one point older than the window, so the window spans RECENT seconds
        while len(recent) > 2 and recent[1][0] <= now - RECENT:
            recent.popleft()

    def blocked(self, seconds: float) -> None:
        """The writer waited ``seconds`` for room in the buffer (the player's pace)."""
        self._blocked += max(0.0, seconds)

    def recent_rate(self) -> float | None:
        """The arrival rate over about the last :data:`RECENT` seconds of the current text."""
        if len(self._recent) < 2:
            return None
        first, last = self._recent[0], self._recent[-1]
        span = (last[0] - first[0]) - (last[2] - first[2])
        return (last[1] - first[1]) / span if span >= BURST_GAP else None

    @property
    def known_text(self) -> bool:
        """Whether a text length was given for this session."""
        return self._key is not None

    def rate(self) -> tuple[float | None, bool]:
        """The arrival rate of the current text and whether it was measured between bursts
        (``False``: only the lower bound since the request, or ``None``).

        Measured: the audio that arrived after the first burst over the time since it ended
        (each burst was generated in the time before it arrived), or, when the first "burst" is
        a steady stream lasting :data:`STREAM_SPAN`, over that stream."""
        first, last, origin = self._first, self._last, self._origin
        if origin is not None and last is not None:
            span = (last[0] - origin[0]) - (last[2] - origin[2])
            if span > 0:
                return (last[1] - origin[1]) / span, True
        if first is not None and last is not None:
            span = (last[0] - first[0]) - (last[2] - first[2])
            if span >= STREAM_SPAN:
                return (last[1] - first[1]) / span, True
        if self._asked is not None and last is not None:
            span = (last[0] - self._asked) - (last[2] - self._blocked_base)
            audio = last[1] - self._base
            return (audio / span if span > 0 else math.inf), False
        return None, False

    def left(self, played: float) -> float | None:
        """Estimated seconds of speech still to play after ``played`` seconds, or ``None``."""
        if self._key is None:
            return None
        total = self._estimate
        if self.received >= total:
            total = self.received * OVERRUN
        return max(0.0, total - played)

    def need(self, rate: float, left: float) -> float:
        """Seconds to buffer so that speech ``left`` long, arriving at ``rate`` in bursts at
        most :attr:`longest_gap` apart, never runs dry: ``left x (1 - rate)`` for a steady
        flow, times :data:`SAFETY`; plus ``rate x burst`` (a last burst of ``burst = rate x gap``
        seconds arrives whole at its end; the gap taken :data:`BURST` times); plus
        :data:`MARGIN`."""
        steady = left * max(0.0, 1.0 - rate) * SAFETY
        burst = rate * rate * self.longest_gap * BURST
        return min(self.limit, steady + burst + MARGIN)

    def decide(self, *, now: float, played: float, restart: bool) -> Hold:
        """The hold in force from ``now``: ``played`` seconds of the session have been played;
        ``restart`` is true once playback has started (after an underrun, it rebuffers)."""
        base = self.rebuffer if restart else self.prebuffer
        what = "rebuffer" if restart else "prebuffer"
        at_base = f"the {base * 1000:.0f} ms {what}"
        if not self.enabled:
            return Hold(base, f"adaptive start off: started at {at_base}")
        left = self.left(played)
        if left is None:
            return Hold(base, f"no text length given: started at {at_base}")
        rate, measured = self.rate()
        recent = self.recent_rate() if restart else None
        if rate is not None and recent is not None and recent < rate:
            rate = recent
        if rate is not None and rate >= REAL_TIME and restart and self.longest_gap > base:
            # Fast, but in bursts: rebuffer what plays until the next burst comes.
            need = min(self.limit, self.longest_gap)
            return Hold(
                need,
                f"server faster than real time ({rate:.2f}x) in bursts up to "
                f"{self.longest_gap:.2f} s apart: rebuffered {need:.2f} s",
                rate=rate,
                left=left,
            )
        if rate is not None and rate >= REAL_TIME:
            shown = "" if math.isinf(rate) else f" ({rate:.2f}x)"
            return Hold(
                base,
                f"server faster than real time{shown}: started at {at_base}",
                rate=rate,
                left=left,
            )
        if rate is None and self._first is None:
            return Hold(max(base, self.limit), "waiting for the first audio", left=left)
        if measured:
            assert rate is not None
            return self._waiting(base, rate, left, played)
        # One arrival, nothing to show the server is fast: unless this voice was clearly fast
        # before, wait a moment for a second one.
        assert self._first is not None
        fallback = rate
        learned = self.voices.rate(self._key or "")
        if learned is not None and learned >= FAST_PRIOR:
            return Hold(
                base,
                f"earlier texts in this voice arrived at {learned:.2f}x: started at {at_base}",
                rate=learned,
                left=left,
            )
        if learned is not None and (fallback is None or learned > fallback):
            fallback = learned
        if fallback is None:
            then = Hold(base, f"one chunk, no rate known: started at {at_base}")
        elif fallback >= REAL_TIME:
            then = Hold(base, f"about real time ({fallback:.2f}x): started at {at_base}")
        else:
            then = self._waiting(base, fallback, left, played)
        return Hold(
            max(base, self.limit),
            "measuring the arrival rate",
            until=self._first[0] + self.observe,
            then=then.seconds,
            then_reason=then.reason,
            rate=fallback,
            left=left,
        )

    def _waiting(self, base: float, rate: float, left: float, played: float) -> Hold:
        need = self.need(rate, left)
        if need <= base:
            return Hold(
                base,
                f"arrival {rate:.2f}x real time, ~{left:.1f} s of speech left: "
                f"started at the {base * 1000:.0f} ms minimum",
                rate=rate,
                left=left,
            )
        capped = " (the buffer's limit)" if need >= self.limit else ""
        why = f"arrival {rate:.2f}x real time, ~{left:.1f} s of speech left: "
        hold = Hold(need, f"{why}waited for {need:.2f} s of audio{capped}", rate=rate, left=left)
        # Audio comes in bursts, so the buffer would cross the threshold only at the burst after
        # the moment the steady flow reaches it. Start at that moment instead, if what is
        # buffered covers the longest wait for a burst.
        buffered = self.received - played
        last = self._last
        if last is None or rate <= 0 or buffered < self.longest_gap + MARGIN or capped:
            return hold
        return Hold(
            need,
            hold.reason,
            until=last[0] + (need - buffered) / rate,
            then=base,
            then_reason=f"{why}started when {need:.2f} s of audio would have arrived at that "
            f"rate ({buffered:.2f} s buffered)",
            rate=rate,
            left=left,
        )

    def finish(self) -> None:
        """The session played to its end: learn the voice's speech rate and arrival rate."""
        key = self._key
        if key is None or not self.enabled:
            return
        self.voices.learn(key, chars=self._chars, seconds=self.received)
        rate, measured = self.rate()
        if rate is not None and measured:
            self.voices.learn_rate(key, rate)
