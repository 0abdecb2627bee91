"""The adaptive start policy, tick by tick on a fake clock: no device, no threads, no waiting.

:func:`simulate` plays a text's arrival schedule through the policy the way ``DeviceSink`` uses
it (a decision after every arrival, the engine starting once the decision's threshold is
buffered or everything has arrived, draining in real time) and reports gaps and the start.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from ttsstream._play.policy import (
    BURST,
    BURST_GAP,
    DEFAULT_CHARS_PER_SECOND,
    FAST_PRIOR,
    MARGIN,
    OBSERVE,
    OVERRUN,
    SAFETY,
    STREAM_SPAN,
    Hold,
    StartPolicy,
    VoiceStats,
)

KEY = "test:voice"
PRE, RE = 0.03, 0.1
DT = 0.002  # the simulation's tick, seconds


def make(voices: VoiceStats | None = None, **options: object) -> StartPolicy:
    settings: dict[str, object] = {"prebuffer": PRE, "rebuffer": RE, "limit": 20.0, **options}
    return StartPolicy(
        voices=voices if voices is not None else VoiceStats(),
        **settings,  # type: ignore[arg-type]
    )


def steady(
    duration: float, rate: float, chunk: float, *, ttfb: float = 0.0
) -> list[tuple[float, float]]:
    """(arrival time, seconds of audio) for a server generating at ``rate``: each chunk is sent
    when it is complete, ``ttfb`` after the request plus its generation time."""
    out, done = [], 0.0
    while done < duration - 1e-9:
        size = min(chunk, duration - done)
        done += size
        out.append((ttfb + done / rate, size))
    return out


def bursty(
    duration: float, rate: float, seed: int, *, lo: float = 0.15, hi: float = 0.9
) -> list[tuple[float, float]]:
    """Irregular bursts (``lo``..``hi`` seconds of audio each), each sent when complete."""
    rng = random.Random(seed)
    out, done = [], 0.0
    while done < duration - 1e-9:
        size = min(rng.uniform(lo, hi), duration - done)
        done += size
        out.append((0.1 + done / rate, size))
    return out


def min_start(schedule: list[tuple[float, float]]) -> float:
    """The earliest start (after the request) that never runs dry on ``schedule``."""
    best, before = 0.0, 0.0
    for at, size in schedule:
        best = max(best, at - before)
        before += size
    return best


@dataclass
class Run:
    start: float | None  # seconds after the request
    first_arrival: float
    gaps: int
    reasons: list[str]
    holds: list[Hold]


def simulate(
    policy: StartPolicy,
    schedule: list[tuple[float, float]],
    *,
    chars: int,
    key: str = KEY,
    asked: float | None = 0.0,
    finish: bool = True,
) -> Run:
    """Play ``schedule`` (arrival time after the request, seconds of audio) through ``policy``."""
    policy.begin()
    policy.expect(chars=chars, key=key, now=asked)
    total = sum(size for _, size in schedule)
    pending = list(schedule)
    buffered = played = 0.0
    playing = started = False
    start: float | None = None
    gaps = 0
    hold: Hold | None = None
    holds: list[Hold] = []
    reasons: list[str] = []
    t = 0.0
    while played < total - 1e-9:
        assert t < 1000, "never finished"
        while pending and pending[0][0] <= t + 1e-12:
            at, size = pending.pop(0)
            policy.arrived(size, at)
            buffered += size
            hold = policy.decide(now=at, played=played, restart=started)
            holds.append(hold)
        complete = not pending
        if not playing and buffered > 1e-12 and hold is not None:
            threshold, reason = hold.at(t)
            if buffered >= threshold - 1e-9 or complete:
                playing = True
                if not started:
                    started, start = True, t
                    reasons.append(reason if not complete or buffered >= threshold else "ended")
        if playing:
            step = min(DT, buffered)
            buffered -= step
            played += step
            if step < DT - 1e-12 and played < total - 1e-9:
                gaps += 1
                playing = False
        t = round(t + DT, 9)
    if finish:
        policy.finish()
    return Run(start, schedule[0][0], gaps, reasons, holds)


# -- fast servers: nothing changes ----------------------------------------------------------


def test_a_first_chunk_faster_than_real_time_starts_at_the_prebuffer_exactly() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=300, key=KEY, now=10.0)
    policy.arrived(0.5, now=10.3)  # 0.5 s of audio 0.3 s after the request: > 1x
    hold = policy.decide(now=10.3, played=0.0, restart=False)
    assert hold.seconds == PRE
    assert hold.until == -math.inf
    assert hold.at(1e9) == (PRE, hold.reason)
    assert hold.reason == "server faster than real time (1.67x): started at the 30 ms prebuffer"


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_a_fast_bursty_server_starts_as_before_and_gaps_no_more(seed: int) -> None:
    schedule = bursty(15.0, 1.5, seed)
    run = simulate(make(), schedule, chars=225)
    fixed = simulate(make(enabled=False), schedule, chars=225)
    assert fixed.start == pytest.approx(schedule[0][0], abs=DT)
    assert run.start is not None
    first_at, first_size = schedule[0]
    if first_size / first_at >= 1:  # the first burst proves it: at once, as before
        assert run.start == fixed.start
    else:  # a small first burst: the second shows the rate
        assert run.start == pytest.approx(schedule[1][0], abs=DT)
    assert "faster than real time" in run.reasons[0]
    assert run.gaps <= fixed.gaps


def test_a_fast_server_with_a_small_first_chunk_waits_only_for_the_second() -> None:
    # 50 ms of audio after 0.3 s (slow-looking), then 50 ms every 33 ms: 1.5x
    schedule = [(0.3 + i / 30, 0.05) for i in range(100)]
    run = simulate(make(), schedule, chars=75)
    assert run.start == pytest.approx(schedule[1][0], abs=DT)  # one chunk interval
    assert run.holds[0].reason == "measuring the arrival rate"
    assert run.holds[0].until == pytest.approx(0.3 + OBSERVE)
    assert "faster than real time (1.50x)" in run.reasons[0]
    assert run.gaps == 0


def test_prefetched_audio_arrives_at_once_and_starts_at_once() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=100, key=KEY, now=5.0)
    policy.arrived(0.01, now=5.0)  # the same instant: an infinite rate
    hold = policy.decide(now=5.0, played=0.0, restart=False)
    assert hold.seconds == PRE
    assert hold.reason == "server faster than real time: started at the 30 ms prebuffer"


# -- slow servers: wait just long enough ----------------------------------------------------


@pytest.mark.parametrize("rate", [0.6, 0.8, 0.95])
def test_a_steady_slow_server_plays_without_gaps_close_to_the_least_delay(rate: float) -> None:
    voices = VoiceStats()
    voices.learn(KEY, chars=150, seconds=10.0)  # the voice's speech rate is known: 15 chars/s
    schedule = steady(15.0, rate, 0.2, ttfb=0.1)
    run = simulate(make(voices), schedule, chars=225)
    assert run.gaps == 0
    assert run.start is not None
    least = min_start(schedule)
    # the last chunk: sent at 0.1 + 15 / rate, plays 14.8 s after the start
    assert least == pytest.approx(0.1 + 15.0 / rate - 14.8, abs=1e-6)
    assert run.start >= least
    assert run.start <= 1.3 * least + 0.1, (run.start, least)


@pytest.mark.parametrize("rate", [0.6, 0.8, 0.95])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_bursty_slow_server_plays_without_gaps(rate: float, seed: int) -> None:
    voices = VoiceStats()
    voices.learn(KEY, chars=150, seconds=10.0)
    schedule = bursty(15.0, rate, seed)
    run = simulate(make(voices), schedule, chars=225)
    assert run.gaps == 0
    assert run.start is not None
    least = min_start(schedule)
    # at 0.95x a burst (up to 0.9 s) outweighs the steady need (0.75 s): more margin
    bound = 1.3 if rate <= 0.8 else 1.45
    assert run.start <= bound * least + 0.1, (run.start, least)


@pytest.mark.parametrize("rate", [0.6, 0.8, 0.95])
def test_before_the_voice_is_learned_the_default_errs_on_waiting(rate: float) -> None:
    schedule = bursty(15.0, rate, 7)
    run = simulate(make(), schedule, chars=225)  # 15 chars/s really; 13 assumed
    assert run.gaps == 0
    assert run.start is not None
    assert run.start <= 1.5 * min_start(schedule) + 0.1


def test_the_threshold_is_the_speech_left_times_one_minus_the_rate() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)  # 10 s at the default 13 chars/s
    policy.arrived(0.3, now=0.5)
    policy.arrived(0.3, now=1.0)  # 0.3 s per 0.5 s: 0.6x
    hold = policy.decide(now=1.0, played=0.0, restart=False)
    assert hold.rate == pytest.approx(0.6)
    assert hold.left == pytest.approx(10.0)
    assert policy.longest_gap == pytest.approx(0.5)
    assert hold.seconds == pytest.approx(10.0 * 0.4 * SAFETY + 0.6 * 0.6 * 0.5 * BURST + MARGIN)
    assert hold.reason == (
        "arrival 0.60x real time, ~10.0 s of speech left: waited for 4.57 s of audio"
    )
    # 0.6 s buffered covers the longest wait (0.5 s) plus the margin: rather than wait for the
    # burst after the flow reached 4.57 s, start when it does
    assert hold.until == pytest.approx(1.0 + (4.57 - 0.6) / 0.6)
    assert hold.then == PRE
    assert hold.then_reason == (
        "arrival 0.60x real time, ~10.0 s of speech left: started when 4.57 s of audio would "
        "have arrived at that rate (0.60 s buffered)"
    )
    policy.blocked(0.01)
    policy.arrived(0.0, now=1.62)  # a wait of 0.61 s: 0.6 s buffered no longer covers it
    assert policy.longest_gap == pytest.approx(0.61)
    assert policy.decide(now=1.62, played=0.0, restart=False).until == -math.inf


def test_a_short_text_on_a_slow_server_needs_no_more_than_the_prebuffer() -> None:
    policy = StartPolicy(prebuffer=0.5, rebuffer=RE, voices=VoiceStats(), limit=20.0)
    policy.begin()
    policy.expect(chars=13, key=KEY, now=0.0)  # 1 s of speech
    policy.arrived(0.1, now=0.2)
    policy.arrived(0.1, now=0.3)
    policy.arrived(0.09, now=0.4)  # 0.19 s in 0.2 s: 0.95x
    hold = policy.decide(now=0.4, played=0.0, restart=False)
    assert hold.seconds == 0.5
    assert hold.reason.endswith("started at the 500 ms minimum")


def test_the_wait_is_capped_at_the_limit() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=1300, key=KEY, now=0.0)  # 100 s of speech
    policy.arrived(0.25, now=0.5)
    policy.arrived(0.25, now=1.0)  # 0.5x: would need 55 s
    hold = policy.decide(now=1.0, played=0.0, restart=False)
    assert hold.seconds == 20.0
    assert hold.reason.endswith("waited for 20.00 s of audio (the buffer's limit)")


def test_time_blocked_on_a_full_buffer_is_not_the_server_s() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.5, now=0.5)
    policy.blocked(0.4)  # the writer waited 0.4 s for room
    policy.arrived(0.5, now=1.5)  # 1 s later, 0.4 of it the player's pace: 0.5 / 0.6
    rate, measured = policy.rate()
    assert measured
    assert rate == pytest.approx(0.5 / 0.6)
    policy.blocked(-1.0)  # nonsense is ignored
    assert policy.rate()[0] == pytest.approx(0.5 / 0.6)


def test_the_pieces_of_one_burst_do_not_make_a_rate_the_next_burst_does() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    for k in range(5):  # one burst of 0.5 s in five pieces, 10 ms apart: not 10x
        policy.arrived(0.1, now=1.0 + k * 0.01)
    rate, measured = policy.rate()
    assert not measured
    assert rate == pytest.approx(0.5 / 1.04)  # the lower bound since the request
    hold = policy.decide(now=1.04, played=0.0, restart=False)
    assert hold.reason == "measuring the arrival rate"
    assert hold.until == pytest.approx(1.0 + OBSERVE)
    policy.arrived(0.1, now=1.54)  # the next burst's first piece, 0.5 s later
    assert policy.rate() == (pytest.approx(0.1 / 0.5), True)
    policy.arrived(0.3, now=1.54 + BURST_GAP / 2)  # ...and the rest of it
    assert policy.rate() == (pytest.approx(0.4 / (0.5 + BURST_GAP / 2)), True)
    assert policy.longest_gap == pytest.approx(0.5)


def test_a_steady_stream_of_pieces_closer_than_a_burst_gap_is_measured_as_one() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    t = 0.5
    while t < 0.5 + STREAM_SPAN - 0.005:  # 15 ms of audio every 10 ms: 1.5x
        policy.arrived(0.015, now=t)
        assert policy.rate()[1] is False
        t = round(t + 0.01, 9)
    policy.arrived(0.015, now=t + 0.001)
    assert policy.rate() == (pytest.approx(0.15 / 0.101), True)


# -- the first chunk: fast or slow? ---------------------------------------------------------


def test_one_slow_looking_chunk_holds_for_the_window_then_falls_back_on_the_lower_bound() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.35, now=0.5)  # 0.7x since the request, at least
    hold = policy.decide(now=0.5, played=0.0, restart=False)
    assert hold.seconds == 20.0  # hold everything...
    assert hold.until == pytest.approx(0.5 + OBSERVE)  # ...for the observation window
    assert hold.then == pytest.approx(10.0 * 0.3 * SAFETY + MARGIN)  # then the lower bound
    assert hold.at(0.5 + OBSERVE - 0.001)[1] == "measuring the arrival rate"
    assert hold.at(0.5 + OBSERVE) == (hold.then, hold.then_reason)
    assert hold.then_reason.startswith("arrival 0.70x real time, ~10.0 s of speech left")


def test_one_chunk_without_a_request_time_falls_back_on_the_prebuffer() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=None)
    policy.arrived(0.35, now=0.5)
    hold = policy.decide(now=0.5, played=0.0, restart=False)
    assert hold.until == pytest.approx(0.5 + OBSERVE)
    assert hold.then == PRE
    assert hold.then_reason == "one chunk, no rate known: started at the 30 ms prebuffer"


def test_a_voice_that_was_fast_before_starts_at_once() -> None:
    voices = VoiceStats()
    voices.learn_rate(KEY, FAST_PRIOR)
    policy = make(voices)
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.05, now=0.5)  # looks slow: 0.1x since the request
    hold = policy.decide(now=0.5, played=0.0, restart=False)
    assert hold.seconds == PRE
    assert hold.until == -math.inf
    assert (
        hold.reason
        == "earlier texts in this voice arrived at 1.20x: started at the 30 ms prebuffer"
    )


def test_a_voice_that_was_about_real_time_before_is_the_fallback() -> None:
    voices = VoiceStats()
    voices.learn_rate(KEY, 1.1)
    policy = make(voices)
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.05, now=0.5)
    hold = policy.decide(now=0.5, played=0.0, restart=False)
    assert hold.until == pytest.approx(0.5 + OBSERVE)
    assert (hold.then, hold.then_reason) == (
        PRE,
        "about real time (1.10x): started at the 30 ms prebuffer",
    )


def test_a_voice_that_was_slow_before_is_the_fallback_when_higher_than_the_bound() -> None:
    voices = VoiceStats()
    voices.learn_rate(KEY, 0.8)
    policy = make(voices)
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.1, now=0.5)  # 0.2x lower bound: the learned 0.8 is used
    hold = policy.decide(now=0.5, played=0.0, restart=False)
    assert hold.rate == 0.8
    assert hold.then == pytest.approx(10.0 * 0.2 * SAFETY + MARGIN)


# -- after an underrun ----------------------------------------------------------------------


def test_after_an_underrun_the_rebuffer_covers_the_rest() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.5, now=1.0)
    policy.arrived(0.5, now=2.0)  # 0.5x
    hold = policy.decide(now=2.0, played=4.0, restart=True)
    assert hold.left == pytest.approx(6.0)
    assert hold.seconds == pytest.approx(6.0 * 0.5 * SAFETY + 0.5 * 0.5 * 1.0 * BURST + MARGIN)
    assert hold.until == -math.inf  # nothing buffered to start on time with
    assert "waited for 3.63 s" in hold.reason


def test_a_fast_server_after_an_underrun_rebuffers_the_fixed_amount() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(1.0, now=0.5)
    hold = policy.decide(now=0.5, played=0.5, restart=True)
    assert hold.seconds == RE
    assert hold.reason.endswith("started at the 100 ms rebuffer")


def test_a_server_that_slows_down_runs_dry_once_then_not_again() -> None:
    voices = VoiceStats()
    voices.learn(KEY, chars=150, seconds=10.0)
    # 3 s at 2x, then the rest at 0.6x
    fast = steady(3.0, 2.0, 0.2, ttfb=0.1)
    slow = [(fast[-1][0] + at, size) for at, size in steady(12.0, 0.6, 0.2)]
    run = simulate(make(voices), fast + slow, chars=225)
    assert run.gaps == 1
    assert run.start == pytest.approx(fast[0][0], abs=DT)


def test_a_text_longer_than_estimated_is_taken_as_longer_still() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=13, key=KEY, now=0.0)  # 1 s estimated
    policy.arrived(2.0, now=3.0)
    assert policy.left(0.0) == pytest.approx(2.0 * OVERRUN)
    assert policy.left(1.0) == pytest.approx(2.0 * OVERRUN - 1.0)
    assert policy.left(9.0) == 0.0


# -- learning the voice ---------------------------------------------------------------------


def test_the_default_speech_rate_before_anything_is_learned() -> None:
    voices = VoiceStats()
    assert voices.chars_per_second(KEY) is None
    assert voices.rate(KEY) is None
    assert voices.seconds_for(KEY, 130) == pytest.approx(130 / DEFAULT_CHARS_PER_SECOND)
    assert VoiceStats(10.0).seconds_for(KEY, 130) == pytest.approx(13.0)
    with pytest.raises(ValueError, match="positive"):
        VoiceStats(0.0)


def test_a_finished_text_teaches_the_voice_s_speech_rate_and_arrival_rate() -> None:
    voices = VoiceStats()
    policy = make(voices)
    simulate(policy, steady(10.0, 0.8, 0.5), chars=170)
    assert voices.chars_per_second(KEY) == pytest.approx(17.0)
    assert voices.rate(KEY) == pytest.approx(0.8)
    simulate(policy, steady(10.0, 0.8, 0.5), chars=130)
    assert voices.chars_per_second(KEY) == pytest.approx(15.0)  # all texts together
    assert voices.chars_per_second("other:voice") is None  # per voice
    # the next text of 150 chars is estimated at 10 s
    policy.begin()
    policy.expect(chars=150, key=KEY, now=0.0)
    assert policy.left(0.0) == pytest.approx(10.0)


def test_nothing_is_learned_from_nonsense_or_without_a_text() -> None:
    voices = VoiceStats()
    voices.learn(KEY, chars=0, seconds=5.0)
    voices.learn(KEY, chars=10, seconds=0.0)
    voices.learn_rate(KEY, 0.0)
    voices.learn_rate(KEY, math.inf)
    assert voices.chars_per_second(KEY) is None
    assert voices.rate(KEY) is None
    policy = make(voices)
    policy.begin()
    policy.arrived(1.0, now=1.0)
    policy.finish()
    assert voices.chars_per_second(KEY) is None


def test_each_session_and_each_text_is_measured_on_its_own() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=13, key=KEY, now=0.0)
    policy.arrived(0.5, now=1.0)
    policy.arrived(0.5, now=2.0)  # 0.5x
    # the next text, asked for 5 s later (nothing to say meanwhile): its own rate
    policy.expect(chars=13, key=KEY, now=7.0)
    assert policy.rate() == (None, False)
    policy.arrived(0.5, now=7.2)
    assert policy.rate() == (pytest.approx(0.5 / 0.2), False)
    assert policy.left(1.0) == pytest.approx(2.0 - 1.0)  # two texts of ~1 s; 1.5 s arrived
    policy.begin()
    assert policy.received == 0.0
    assert not policy.known_text
    assert policy.left(0.0) is None


# -- switched off ---------------------------------------------------------------------------


def test_disabled_it_always_answers_the_fixed_prebuffer_and_rebuffer() -> None:
    voices = VoiceStats()
    policy = make(voices, enabled=False)
    run = simulate(policy, steady(10.0, 0.6, 0.2), chars=130)
    assert run.start == pytest.approx(0.2 / 0.6, abs=DT)  # at the first chunk
    assert run.gaps > 1
    assert {h.seconds for h in run.holds} == {PRE, RE}
    assert run.holds[0].reason == "adaptive start off: started at the 30 ms prebuffer"
    assert voices.chars_per_second(KEY) is None  # and learns nothing


def test_without_a_text_length_it_starts_at_the_prebuffer() -> None:
    policy = make()
    policy.begin()
    policy.arrived(0.1, now=1.0)
    policy.arrived(0.1, now=2.0)
    hold = policy.decide(now=2.0, played=0.0, restart=False)
    assert (hold.seconds, hold.reason) == (
        PRE,
        "no text length given: started at the 30 ms prebuffer",
    )
    assert hold.left is None


def test_before_any_audio_it_holds() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=13, key=KEY, now=0.0)
    hold = policy.decide(now=0.5, played=0.0, restart=False)
    assert hold.seconds == 20.0
    assert hold.reason == "waiting for the first audio"


# -- the edges (each found by mutation testing) ---------------------------------------------


def test_voice_stats_edges() -> None:
    assert VoiceStats(0.5).seconds_for(KEY, 1) == 2.0  # any positive default
    with pytest.raises(ValueError, match=r"^default_chars_per_second must be positive$"):
        VoiceStats(-1.0)
    voices = VoiceStats()
    voices.learn(KEY, chars=1, seconds=0.5)  # the smallest real text counts
    assert voices.chars_per_second(KEY) == 2.0
    voices.learn("b", chars=10, seconds=0.0)
    assert voices.chars_per_second("b") is None


def test_without_a_request_time_one_arrival_gives_no_rate_and_two_bursts_do() -> None:
    policy = make()
    policy.begin()
    policy.arrived(0.5, now=0.0)
    assert policy.rate() == (None, False)
    assert policy.longest_gap == 0.0
    policy.arrived(0.3, now=BURST_GAP)  # exactly a burst gap later: a new burst
    assert policy.rate() == (pytest.approx(0.3 / BURST_GAP), True)
    assert policy.longest_gap == BURST_GAP


def test_a_stream_of_exactly_the_stream_span_is_measured() -> None:
    policy = make()
    policy.begin()
    for k in range(10):
        policy.arrived(0.01, now=k * 0.01)  # 10 ms apart: one "burst"
    policy.arrived(0.01, now=0.1)
    assert policy.rate() == (pytest.approx(0.1 / 0.1), True)


def test_blocked_time_is_left_out_of_every_span() -> None:
    policy = make()
    policy.begin()
    policy.blocked(0.5)  # before the text: not its time
    policy.expect(chars=130, key=KEY, now=1.0)
    policy.arrived(0.2, now=1.5)
    policy.blocked(0.25)
    assert policy.rate() == (pytest.approx(0.2 / 0.5), False)  # 0.25 s came after it
    policy.arrived(0.3, now=2.5)  # 1 s later, 0.25 s of it blocked
    assert policy.longest_gap == pytest.approx(0.75)
    assert policy.rate() == (pytest.approx(0.3 / 0.75), True)
    policy.blocked(0.5)
    policy.arrived(0.2, now=3.5)  # 1 s later, 0.5 s blocked
    assert policy.rate() == (pytest.approx(0.5 / 1.25), True)
    assert policy.recent_rate() == pytest.approx(0.7 / 1.75)


def test_the_recent_rate_keeps_one_point_older_than_the_window() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    assert policy.recent_rate() is None
    amounts = [5.0, 1.0, 2.0, 0.5, 0.25, 0.125]
    for t, amount in enumerate(amounts):
        policy.arrived(amount, now=float(t))
        if t == 1:
            assert policy.recent_rate() == pytest.approx(1.0)  # two points are enough
    # at t=5 the window starts at t=2: the point at t=2 is the one kept before it
    assert policy.recent_rate() == pytest.approx((0.5 + 0.25 + 0.125) / 3)
    policy.arrived(0.0, now=5.0 + BURST_GAP / 2)
    assert policy.recent_rate() == pytest.approx((0.5 + 0.25 + 0.125) / (3 + BURST_GAP / 2))
    other = make()
    other.begin()
    other.expect(chars=130, key=KEY, now=0.0)
    other.arrived(0.1, now=1.0)
    other.arrived(0.1, now=1.0 + BURST_GAP / 2)
    assert other.recent_rate() is None  # pieces of one burst


def test_the_recent_rate_counts_only_after_an_underrun() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(4.0, now=1.0)
    policy.arrived(4.0, now=2.0)  # fast, then slow
    policy.arrived(0.5, now=5.5)
    first = policy.decide(now=5.5, played=0.0, restart=False)
    assert first.rate == pytest.approx(4.5 / 4.5)  # the whole: 1x
    again = policy.decide(now=5.5, played=1.0, restart=True)
    assert again.rate == pytest.approx(0.5 / 3.5)  # the last 3 s (from t=2): slow
    policy.arrived(0.5, now=9.0)
    assert policy.decide(now=9.0, played=1.0, restart=True).rate == pytest.approx(0.5 / 3.5)
    assert policy.decide(now=9.0, played=1.0, restart=False).rate == pytest.approx(5.0 / 8.0)


def test_two_texts_add_up_and_an_empty_text_adds_nothing() -> None:
    voices = VoiceStats()
    policy = make(voices)
    policy.begin()
    policy.expect(chars=13, key=KEY, now=0.0)
    policy.expect(chars=26, key=KEY, now=0.0)
    policy.expect(chars=0, key=KEY, now=0.0)
    policy.expect(chars=-5, key=KEY, now=0.0)
    assert policy.left(0.0) == pytest.approx(3.0)
    policy.arrived(3.0, now=1.0)
    policy.finish()
    assert voices.chars_per_second(KEY) == pytest.approx(13.0)
    assert voices.rate(KEY) is None  # only a lower bound was known: nothing learned
    policy.begin()
    policy.expect(chars=0, key=KEY, now=0.0)
    policy.arrived(1.0, now=1.0)
    assert policy.left(0.0) == pytest.approx(OVERRUN)


def test_exactly_the_estimate_arriving_means_the_estimate_was_short() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=13, key=KEY, now=0.0)  # 1 s
    policy.arrived(1.0, now=2.0)
    assert policy.left(0.0) == pytest.approx(OVERRUN)


def test_every_decision_carries_its_rate_and_estimate() -> None:
    voices = VoiceStats()
    voices.learn_rate(KEY, 2.0)
    policy = make(voices)
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    first = policy.decide(now=0.0, played=0.0, restart=False)
    assert (first.rate, first.left) == (None, pytest.approx(10.0))
    policy.arrived(0.1, now=1.0)
    learned = policy.decide(now=1.0, played=0.0, restart=False)
    assert (learned.rate, learned.left) == (2.0, pytest.approx(10.0))
    policy.arrived(0.1, now=1.5)  # measured: 0.2x
    slow = policy.decide(now=1.5, played=0.0, restart=False)
    assert (slow.rate, slow.left) == (pytest.approx(0.2), pytest.approx(10.0))
    policy.arrived(5.0, now=2.0)  # 5.1 s since the first burst ended, 1 s ago
    fast = policy.decide(now=2.0, played=0.0, restart=False)
    assert (fast.rate, fast.left) == (pytest.approx(5.1), pytest.approx(10.0))
    near = StartPolicy(prebuffer=1.5, rebuffer=RE, voices=VoiceStats(), limit=20.0)
    near.begin()
    near.expect(chars=13, key=KEY, now=0.0)
    near.arrived(0.1, now=0.5)
    near.arrived(0.45, now=1.0)  # 0.9x, 1 s of speech: needs less than 1.5 s
    low = near.decide(now=1.0, played=0.0, restart=False)
    assert (low.seconds, low.rate, low.left) == (1.5, pytest.approx(0.9), pytest.approx(1.0))
    assert low.reason.endswith("started at the 1500 ms minimum")
    near.arrived(1.0, now=1.5)
    assert near.decide(now=1.5, played=0.0, restart=False).reason.endswith(
        "started at the 1500 ms prebuffer"
    )


def test_a_fast_server_in_bursts_after_an_underrun_rebuffers_a_burst() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.5, now=0.5)
    policy.arrived(0.5, now=1.0)  # exactly 1x, bursts 0.5 s apart
    hold = policy.decide(now=1.0, played=0.9, restart=True)
    assert hold.seconds == pytest.approx(0.5)
    assert (hold.rate, hold.left) == (pytest.approx(1.0), pytest.approx(10.0 - 0.9))
    assert hold.reason == (
        "server faster than real time (1.00x) in bursts up to 0.50 s apart: rebuffered 0.50 s"
    )
    assert policy.decide(now=1.0, played=0.9, restart=False).seconds == PRE
    steady = make(rebuffer=0.5)
    steady.begin()
    steady.expect(chars=130, key=KEY, now=0.0)
    steady.arrived(0.5, now=0.5)
    steady.arrived(0.5, now=1.0)  # bursts as far apart as the rebuffer: the rebuffer does
    assert steady.decide(now=1.0, played=0.9, restart=True).seconds == 0.5


def test_without_a_request_time_a_learned_slow_rate_is_the_fallback() -> None:
    voices = VoiceStats()
    voices.learn_rate(KEY, 0.8)
    policy = make(voices)
    policy.begin()
    policy.expect(chars=130, key=KEY, now=None)
    policy.arrived(0.2, now=1.0)
    hold = policy.decide(now=1.0, played=0.0, restart=False)
    assert hold.rate == 0.8
    assert hold.then == pytest.approx(10.0 * 0.2 * SAFETY + MARGIN)


def test_a_learned_rate_of_exactly_real_time_starts_after_the_window() -> None:
    voices = VoiceStats()
    voices.learn_rate(KEY, 1.0)
    policy = make(voices)
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(0.1, now=1.0)
    hold = policy.decide(now=1.0, played=0.0, restart=False)
    assert (hold.then, hold.then_reason) == (
        PRE,
        "about real time (1.00x): started at the 30 ms prebuffer",
    )


def test_a_second_burst_with_no_audio_is_a_rate_of_zero() -> None:
    policy = make()
    policy.begin()
    policy.expect(chars=130, key=KEY, now=0.0)
    policy.arrived(1.0, now=0.1)
    policy.arrived(0.0, now=0.2)  # e.g. a header, or an empty piece
    hold = policy.decide(now=0.2, played=0.0, restart=False)
    assert hold.rate == 0.0
    assert hold.until == -math.inf  # no "on time" at a rate of zero
    assert hold.seconds == pytest.approx(10.0 * SAFETY + MARGIN)
