"""The measuring tools of the slow-server test and benchmark (tests/slow_server.py) are right."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from .loopback import End, Request, Send, Sleep, Status
from .slow_server import Burst, SlowSpeech, compare, no_zeros


def speech(frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return no_zeros(rng.integers(-3000, 3000, frames).astype(np.int16))


def test_no_zeros_keeps_everything_else() -> None:
    x = np.array([0, 5, 0, -7, 1], np.int16)
    assert no_zeros(x).tolist() == [1, 5, 1, -7, 1]
    assert x.tolist() == [0, 5, 0, -7, 1]  # a copy


def test_compare_finds_inserted_silence_and_where_speech_starts() -> None:
    src = speech(1000)
    rec = np.concatenate([np.zeros(50), src[:300], np.zeros(7), src[300:900], np.zeros(120)])
    rec = np.concatenate([rec, src[900:], np.zeros(30)]).astype(np.int16)
    heard = compare(rec, src)
    assert heard.exact
    assert heard.first == 50
    assert heard.gaps == [7, 120]


def test_compare_without_holes() -> None:
    src = speech(500, seed=1)
    heard = compare(np.concatenate([np.zeros(3, np.int16), src]), src)
    assert (heard.exact, heard.first, heard.gaps) == (True, 3, [])


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: np.delete(s, 200),  # a sample lost
        lambda s: np.insert(s, 200, 99),  # a sample added
        lambda s: np.concatenate([s[:100], s[101:], s[100:101]]),  # out of order
        lambda s: np.where(np.arange(len(s)) == 10, s + 1, s),  # changed
    ],
)
def test_compare_is_not_exact_when_a_sample_is_wrong(
    damage: Callable[[np.ndarray], np.ndarray],
) -> None:
    src = speech(400, seed=2)
    assert not compare(damage(src).astype(np.int16), src).exact


def test_compare_of_silence() -> None:
    heard = compare(np.zeros(100, np.int16), speech(10))
    assert (heard.exact, heard.first, heard.gaps) == (False, -1, [])


def test_the_schedule_covers_the_speech_at_the_average_rate() -> None:
    s = SlowSpeech(speech(24000 * 5), 24000, 0.8, ttfb=0.1, burst_seconds=(0.15, 0.9), seed=4)
    assert s.duration == 5.0
    assert s.bursts[0].start == 0
    assert s.bursts[-1].end == 24000 * 5
    for a, b in zip(s.bursts, s.bursts[1:], strict=False):
        assert a.end == b.start
        assert b.at > a.at
    for b in s.bursts:
        assert 0.15 * 24000 - 1 <= b.end - b.start <= 0.9 * 24000 + 1 or b is s.bursts[-1]
        assert b.at == pytest.approx(0.1 + b.end / 24000 / 0.8)
    assert len({b.end - b.start for b in s.bursts}) > 3  # irregular


def test_min_start_is_the_latest_arrival_minus_position() -> None:
    s = SlowSpeech(speech(10), 10, 0.5, ttfb=0.0)
    s.bursts = [Burst(1.0, 0, 4), Burst(2.0, 4, 6), Burst(5.0, 6, 10)]
    # Frame 6 plays 0.6 s after the start and arrives at 5.0: the start must be >= 4.4.
    assert s.min_start() == pytest.approx(4.4)


def test_the_steps_send_the_header_then_every_frame() -> None:
    src = speech(24000, seed=3)
    s = SlowSpeech(src, 24000, 0.8)
    log: list[tuple[float, int]] = []
    steps = list(s.steps(Request("POST", "/v1/audio/speech", {}, b"{}", 0.0), log))
    assert isinstance(steps[0], Status)
    assert isinstance(steps[-1], End)
    sent = [step.data for step in steps if isinstance(step, Send)]
    assert sent[0][:4] == b"RIFF"
    assert len(sent[0]) == 44
    assert b"".join(sent[1:]) == src.astype("<i2").tobytes()
    # Received at monotonic time 0, long ago: every burst is overdue, so no step waits.
    assert all(step.seconds == 0 for step in steps if isinstance(step, Sleep))
    assert [frames for _, frames in log] == [b.end for b in s.bursts]
