"""The playback engine, tick by tick on a fake clock: no sound card, no threads, no waiting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsstream._play.engine import (
    CLOCK_JITTER,
    DRAIN_MARGIN,
    HISTORY,
    JUMP_TOLERANCE,
    PlaybackEngine,
    ramp_down,
)

from .audio import noise

RATE = 1000  # 1 frame = 1 ms: easy arithmetic
GARBAGE = 0x5A5A


class Device:
    """A fake device clock around an engine: each tick is one callback, then time moves on."""

    def __init__(self, engine: PlaybackEngine, *, latency: float = 0.05) -> None:
        self.engine = engine
        self.latency = latency
        self.now = 100.0
        self.blocks: list[np.ndarray] = []

    def tick(
        self, frames: int = 10, *, late: float = 0.0, underflow: bool = False, lead: float = -1
    ) -> np.ndarray:
        """One callback of ``frames``; ``late`` seconds after it was due (the DAC jumps too)."""
        self.now += late
        out = np.full((frames, self.engine.ring.channels), GARBAGE, self.engine.ring.dtype)
        ahead = self.latency if lead < 0 else lead
        self.engine.fill(out, self.now + ahead, self.now, underflow=underflow)
        self.now += frames / self.engine.rate
        self.blocks.append(out.copy())
        return out

    def output(self) -> np.ndarray:
        return np.concatenate(self.blocks)


def make(
    *,
    capacity: int = 1000,
    prebuffer: int = 0,
    rebuffer: int = 0,
    fade: int = 4,
    latency: float = 0.0,
    channels: int = 1,
    dtype: str = "int16",
) -> PlaybackEngine:
    engine = PlaybackEngine(
        rate=RATE,
        channels=channels,
        dtype=dtype,
        capacity=capacity,
        prebuffer=prebuffer,
        rebuffer=rebuffer,
        fade=fade,
        latency=latency,
    )
    engine.begin_utterance()
    return engine


def loud(frames: int, value: int = 20000) -> np.ndarray:
    return np.full((frames, 1), value, np.int16)


# -- starting ------------------------------------------------------------------------------


def test_plays_silence_until_the_prebuffer_is_queued_then_everything_in_order() -> None:
    engine = make(prebuffer=25)
    dev = Device(engine)
    source = noise(60, seed=1)
    engine.ring.write_some(source[:24])
    assert not dev.tick().any()  # 24 < 25: wait, and never garbage
    assert not engine.playing
    engine.ring.write_some(source[24:])
    np.testing.assert_array_equal(dev.tick(), source[:10])
    assert engine.playing
    for _ in range(5):
        dev.tick()
    out = dev.output()
    np.testing.assert_array_equal(out[10:70], source)
    assert engine.gaps == 0
    assert not dev.tick().any()  # dry, and the utterance was not marked complete: a gap
    assert (engine.gaps, engine.buffer_underruns) == (1, 1)


def test_starts_exactly_at_the_prebuffer() -> None:
    engine = make(prebuffer=10)
    dev = Device(engine)
    engine.ring.write_some(loud(9))
    assert not dev.tick(5).any()
    engine.ring.write_some(loud(1))
    assert dev.tick(5).all()


def test_an_ended_utterance_shorter_than_the_prebuffer_plays_at_once() -> None:
    engine = make(prebuffer=500)
    dev = Device(engine)
    engine.ring.write_some(loud(7))
    assert not dev.tick().any()
    engine.end_utterance()
    assert engine.ended
    block = dev.tick()
    assert block[:7].all()
    assert not block[7:].any()
    assert engine.all_sent
    assert (engine.gaps, engine.buffer_underruns) == (0, 0)  # the end is not an underrun


def test_waits_for_the_start_up_burst_on_top_of_the_prebuffer() -> None:
    # Just after start the device asks for `latency` of audio back to back (the clock stands
    # still while the DAC time grows): starting with only the prebuffer would run dry in there.
    engine = make(prebuffer=20, latency=0.1)  # 20 + up to 100 frames
    dev = Device(engine)
    engine.ring.write_some(noise(100, seed=2))
    assert not dev.tick(10, lead=0.0).any()  # needs 20 + 100
    dev.now -= 0.01  # back to back: the clock did not move
    assert not dev.tick(10, lead=0.01).any()  # needs 20 + 90 > 100
    dev.now -= 0.01
    assert dev.tick(10, lead=0.02).all()  # needs 20 + 80 <= 100: starts
    assert engine.gaps == 0


def test_the_threshold_never_exceeds_what_the_ring_can_hold() -> None:
    engine = make(capacity=50, prebuffer=500, rebuffer=700, latency=1.0)
    assert (engine.prebuffer, engine.rebuffer) == (49, 49)
    dev = Device(engine)
    engine.ring.write_some(loud(49))
    assert dev.tick(10, lead=0.0).all()  # 49 = capacity - 1 suffices despite the deficit


def test_an_unset_dac_time_counts_from_the_callback_time_plus_latency() -> None:
    engine = make(latency=0.05)
    engine.ring.write_some(loud(100))
    out = np.empty((10, 1), np.int16)
    engine.fill(out, 0.0, 7.0)
    assert engine.last_real_dac == pytest.approx(7.06)


# -- underruns and gaps --------------------------------------------------------------------


def test_an_underrun_plays_silence_counts_one_gap_and_rebuffers() -> None:
    engine = make(rebuffer=30)
    dev = Device(engine)
    a, b, c = noise(25, seed=3), noise(20, seed=4), noise(40, seed=5)
    engine.ring.write_some(a)
    dev.tick()
    dev.tick()
    block = dev.tick()  # 5 real frames, then dry
    np.testing.assert_array_equal(block[:5], a[20:])
    assert not block[5:].any()
    assert (engine.gaps, engine.buffer_underruns, engine.underruns) == (1, 1, 1)
    assert engine.gap_seconds == pytest.approx(0.005)
    engine.ring.write_some(b)
    assert not dev.tick().any()  # 20 < 30: still rebuffering
    assert engine.gaps == 1  # one dry spell, one gap
    assert engine.gap_seconds == pytest.approx(0.015)
    engine.ring.write_some(c)
    assert dev.tick().all()
    assert engine.gap_seconds == pytest.approx(0.015)  # the gap is over
    engine.end_utterance()
    for _ in range(6):
        dev.tick()
    assert engine.gaps == 1
    out = dev.output()
    np.testing.assert_array_equal(out[out.any(axis=1)], np.concatenate([a, b, c]))


def test_a_gap_ends_when_the_utterance_ends_during_it() -> None:
    engine = make(rebuffer=100)
    dev = Device(engine)
    engine.ring.write_some(loud(10))
    dev.tick()
    dev.tick()  # dry: gap
    assert engine.gap_seconds == pytest.approx(0.01)
    engine.ring.write_some(loud(5))
    engine.end_utterance()
    block = dev.tick()  # the rest plays (below the rebuffer: the utterance is complete)
    assert block[:5].all()
    assert not block[5:].any()
    for _ in range(3):
        dev.tick()
    assert engine.gap_seconds == pytest.approx(0.01)  # idle after the end is not a gap
    assert engine.gaps == 1


def test_a_gap_while_the_ring_is_dry_stops_counting_once_everything_is_sent() -> None:
    engine = make(rebuffer=100)
    dev = Device(engine)
    engine.ring.write_some(loud(10))
    dev.tick()
    dev.tick()  # dry before the producer said it was done
    engine.end_utterance()
    dev.tick()
    dev.tick()
    assert engine.gap_seconds == pytest.approx(0.01)


def test_a_late_callback_is_a_gap_of_the_time_the_dac_jumped() -> None:
    engine = make()
    dev = Device(engine)
    engine.ring.write_some(noise(100, seed=6))
    dev.tick()
    dev.tick(late=0.025)  # the device played 25 ms of silence meanwhile
    assert (engine.gaps, engine.late_callbacks) == (1, 1)
    assert engine.gap_seconds == pytest.approx(0.025)
    assert engine.buffer_underruns == 0
    dev.tick()
    assert engine.gaps == 1  # back on time


def test_the_clock_settling_just_after_the_stream_starts_is_not_a_gap() -> None:
    engine = make(latency=0.05)
    dev = Device(engine)
    engine.ring.write_some(noise(1000, seed=16))
    dev.tick()  # the stream's first callback: its clock settles for two latencies
    dev.tick(late=JUMP_TOLERANCE * 1.5)
    assert (engine.gaps, engine.gap_seconds, engine.late_callbacks) == (0, 0.0, 1)
    dev.tick(underflow=True)  # a flag still counts
    assert engine.gaps == 1
    for _ in range(12):
        dev.tick()  # 120 ms later: settled
    dev.tick(late=JUMP_TOLERANCE * 1.5)
    assert engine.gaps == 2
    assert engine.gap_seconds == pytest.approx(JUMP_TOLERANCE * 1.5)


def test_the_clock_has_settled_two_latencies_after_the_start() -> None:
    engine = make(latency=0.05)
    dev = Device(engine)
    engine.ring.write_some(noise(1000, seed=17))
    for _ in range(10):
        dev.tick()  # 10 ms blocks: the next one is due 100 ms after the first
    dev.tick(late=JUMP_TOLERANCE * 1.5)
    assert engine.gaps == 1


def test_small_jitter_and_jumps_while_idle_are_not_gaps() -> None:
    engine = make()
    dev = Device(engine)
    dev.tick()
    dev.tick(late=0.5)  # nothing playing: nobody hears it
    assert (engine.gaps, engine.late_callbacks) == (0, 1)
    engine.ring.write_some(noise(100, seed=7))
    dev.tick()
    dev.tick(late=JUMP_TOLERANCE * 0.9)
    assert engine.gaps == 0
    assert engine.late_callbacks == 1
    dev.tick(late=JUMP_TOLERANCE * 1.5)
    assert engine.gaps == 1
    assert engine.gap_seconds == pytest.approx(JUMP_TOLERANCE * 1.5)


def test_an_underflow_flag_while_playing_is_a_gap_and_counts_with_a_jump_once() -> None:
    engine = make()
    dev = Device(engine)
    dev.tick(underflow=True)  # idle
    assert (engine.device_underflows, engine.gaps) == (1, 0)
    engine.ring.write_some(noise(500, seed=8))
    dev.tick()
    dev.tick(underflow=True)
    assert (engine.device_underflows, engine.gaps) == (2, 1)
    assert engine.gap_seconds == 0.0  # no clock jump: the length is unknown
    for _ in range(6):
        dev.tick()
    dev.tick(underflow=True, late=0.005)  # flagged: the small jump is its length
    assert (engine.device_underflows, engine.late_callbacks, engine.gaps) == (3, 0, 2)
    assert engine.gap_seconds == pytest.approx(0.005)
    for _ in range(6):
        dev.tick()
    dev.tick(underflow=True, late=CLOCK_JITTER / 2)  # flagged, with a jump within the noise
    assert engine.gaps == 3
    assert engine.gap_seconds == pytest.approx(0.005)


def test_a_late_callback_while_paused_is_not_a_gap() -> None:
    engine = make()
    dev = Device(engine)
    engine.ring.write_some(noise(100, seed=9))
    dev.tick()
    engine.paused = True
    dev.tick(late=0.05)
    dev.tick(late=0.05)
    assert engine.gaps == 0
    engine.paused = False
    dev.tick()
    assert engine.gaps == 0


# -- drain ---------------------------------------------------------------------------------


def test_drain_completes_only_once_the_dac_time_of_the_last_real_sample_has_passed() -> None:
    engine = make()
    dev = Device(engine, latency=0.05)
    engine.ring.write_some(loud(25))
    engine.end_utterance()
    assert not engine.drained(dev.now)
    dev.tick()
    dev.tick()
    assert not engine.all_sent
    assert not engine.drained(1e9)  # frames still queued: whatever the clock says
    block = dev.tick()  # the last 5 frames, at DAC 100.02 + 0.05
    assert block[:5].all()
    assert engine.all_sent
    assert engine.last_real_dac == pytest.approx(100.02 + 0.05 + 0.005)
    last = engine.last_real_dac
    assert not engine.drained(last)
    assert not engine.drained(last + DRAIN_MARGIN - 1e-9)
    assert engine.drained(last + DRAIN_MARGIN)
    assert not engine.silent(last - 1e-9)
    assert engine.silent(last)


def test_drained_needs_an_ended_utterance() -> None:
    engine = make()
    assert not engine.ended
    assert not engine.all_sent
    assert not engine.drained(1e9)
    engine.end_utterance()
    assert engine.all_sent  # nothing was written
    assert engine.drained(DRAIN_MARGIN)
    assert not engine.drained(DRAIN_MARGIN - 1e-9)


# -- abort ---------------------------------------------------------------------------------


def test_abort_fades_out_within_one_block_and_drops_the_rest() -> None:
    engine = make(fade=4)
    dev = Device(engine)
    engine.ring.write_some(loud(100))
    dev.tick()
    assert engine.abort_done
    engine.request_abort()
    assert not engine.abort_done
    assert engine.abort_generation == 1
    block = dev.tick()
    assert engine.abort_done
    expected = (20000 * ramp_down(4)).astype(np.int16)
    np.testing.assert_array_equal(block[:4, 0], expected)
    assert block[3, 0] == 0
    assert not block[4:].any()
    assert engine.ring.readable == 0
    assert not engine.playing
    assert engine.utterance_sent() == 14  # 10 played, 4 faded
    assert engine.utterance_heard(1e9) == 14
    assert not dev.tick().any()
    assert engine.gaps == 0


def test_abort_with_a_block_shorter_than_the_fade_fades_over_the_block() -> None:
    engine = make(fade=8)
    dev = Device(engine)
    engine.ring.write_some(loud(100))
    dev.tick()
    engine.request_abort()
    block = dev.tick(4)
    np.testing.assert_array_equal(block[:, 0], (20000 * ramp_down(4)).astype(np.int16))
    assert engine.utterance_sent() == 14


def test_abort_before_playback_started_plays_nothing() -> None:
    engine = make(prebuffer=500)
    dev = Device(engine)
    engine.ring.write_some(loud(100))
    engine.request_abort()
    assert not dev.tick().any()
    assert engine.abort_done
    assert engine.ring.readable == 0
    assert engine.utterance_sent() == 0


def test_the_next_utterance_after_an_abort_counts_from_its_own_start() -> None:
    engine = make(fade=4)
    dev = Device(engine)
    engine.ring.write_some(loud(100))
    dev.tick()
    engine.request_abort()
    dev.tick()
    engine.begin_utterance()
    engine.ring.write_some(loud(30, 5))
    dev.tick()
    assert engine.utterance_sent() == 10  # not clamped by the previous abort's cut
    assert engine.utterance_heard(1e9) == 10


def test_reset_drops_everything_while_no_callback_runs() -> None:
    engine = make(prebuffer=5)
    dev = Device(engine)
    engine.ring.write_some(loud(100))
    dev.tick()
    engine.request_abort()
    engine.reset()
    assert engine.abort_done
    assert engine.ring.readable == 0
    assert not engine.playing
    assert engine.last_real_dac == 0.0
    assert engine.utterance_sent() == 10
    engine.begin_utterance()
    engine.ring.write_some(loud(4))
    assert not dev.tick(late=1.0).any()  # prebuffer again; a stopped clock is not a gap
    assert engine.late_callbacks == 0


# -- pause ---------------------------------------------------------------------------------


def test_pause_fades_out_keeps_everything_and_resume_fades_back_in() -> None:
    engine = make(fade=4)
    dev = Device(engine)
    engine.ring.write_some(loud(60))
    engine.end_utterance()
    dev.tick()
    engine.paused = True
    out = dev.tick()
    np.testing.assert_array_equal(out[:4, 0], (20000 * ramp_down(4)).astype(np.int16))
    assert not out[4:].any()
    assert not dev.tick().any()
    engine.paused = False
    back = dev.tick()
    np.testing.assert_array_equal(back[:4, 0], (20000 * ramp_down(4)[::-1]).astype(np.int16))
    assert (back[4:, 0] == 20000).all()
    for _ in range(4):
        dev.tick()
    played = dev.output()[:, 0]
    assert np.count_nonzero(played) == 60 - 2  # every frame but the two at exactly 0
    assert (engine.gaps, engine.gap_seconds) == (0, 0.0)


def test_pause_before_playing_and_resume_without_audio() -> None:
    engine = make(fade=4)
    dev = Device(engine)
    engine.paused = True
    assert not dev.tick().any()
    engine.paused = False
    assert not dev.tick().any()
    engine.ring.write_some(loud(10))
    block = dev.tick()  # the fade-in was not spent on silence
    assert (block[:, 0] == 20000).all()


def test_a_fade_in_spans_blocks_shorter_than_the_fade() -> None:
    engine = make(fade=6)
    dev = Device(engine)
    engine.ring.write_some(loud(40))
    dev.tick(4)
    engine.paused = True
    dev.tick(4)
    engine.paused = False
    a = dev.tick(4)[:, 0]
    b = dev.tick(4)[:, 0]
    ramp = (20000 * ramp_down(6)[::-1]).astype(np.int16)
    np.testing.assert_array_equal(np.concatenate([a, b[:2]]), ramp)
    assert (b[2:] == 20000).all()


def test_a_pause_during_a_gap_ends_the_gap() -> None:
    engine = make(rebuffer=50)
    dev = Device(engine)
    engine.ring.write_some(loud(10))
    dev.tick()
    dev.tick()
    assert engine.gap_seconds == pytest.approx(0.01)
    engine.paused = True
    dev.tick()
    engine.paused = False
    dev.tick()
    assert engine.gap_seconds == pytest.approx(0.01)


# -- what was heard ------------------------------------------------------------------------


def test_heard_follows_the_dac_clock() -> None:
    engine = make()
    dev = Device(engine, latency=0.05)
    engine.ring.write_some(noise(500, seed=10))
    assert engine.utterance_heard(dev.now) == 0  # no block yet
    for _ in range(4):
        dev.tick()  # 40 frames handed over; the first reaches the DAC at 100.05
    assert engine.utterance_sent() == 40
    assert engine.utterance_heard(dev.now) == 0
    assert engine.utterance_heard(100.05) == 0
    assert engine.utterance_heard(100.0535) == 3
    assert engine.utterance_heard(100.0805) == 30
    assert engine.utterance_heard(100.2) == 40  # no more than was handed over
    assert engine.utterance_heard(99.0) == 0  # before every block


def test_heard_stops_at_the_real_frames_of_a_partial_block() -> None:
    engine = make()
    dev = Device(engine, latency=0.0)
    engine.ring.write_some(loud(15))
    engine.end_utterance()
    dev.tick()
    dev.tick()  # 5 real, 5 silent
    assert engine.utterance_heard(100.0 + 0.019) == 15
    assert engine.utterance_heard(100.05) == 15


def test_heard_before_the_kept_history_is_the_oldest_position_kept() -> None:
    engine = make(capacity=5000)
    dev = Device(engine, latency=0.0)
    engine.ring.write_some(noise(3000, seed=11))
    for _ in range(HISTORY + 10):
        dev.tick()
    oldest = (10 + 1) * 10  # positions of the blocks still in the history
    assert engine.heard_pos(0.0) == oldest
    assert engine.heard_pos(dev.now) == (HISTORY + 10) * 10


def test_heard_of_a_new_utterance_before_any_block_is_zero() -> None:
    engine = make()
    dev = Device(engine)
    engine.ring.write_some(loud(10))
    dev.tick()
    engine.end_utterance()
    engine.begin_utterance()
    assert engine.utterance_heard(0.0) == 0
    assert engine.utterance_sent() == 0


# -- robustness ----------------------------------------------------------------------------


def test_fill_never_raises_it_stores_the_error_and_plays_silence() -> None:
    engine = make()
    dev = Device(engine)
    engine.ring.write_some(loud(100))

    def broken(out: np.ndarray) -> int:
        raise ZeroDivisionError("bug")

    engine.ring.peek_into = broken  # type: ignore[method-assign]
    assert not dev.tick().any()
    assert isinstance(engine.error, ZeroDivisionError)
    assert engine.callback_errors == 1
    first = engine.error
    assert not dev.tick().any()  # silence from now on, without calling into the ring
    assert engine.callback_errors == 1
    assert engine.error is first


def test_the_watchdog_measures_time_without_callbacks_on_the_callers_clock() -> None:
    engine = make()
    dev = Device(engine)
    engine.watch(10.0)
    assert engine.seconds_without_callback(10.5) == 0.5
    dev.tick()
    assert engine.seconds_without_callback(11.0) == 0.0  # a callback since the last look
    assert engine.seconds_without_callback(12.5) == 1.5
    engine.watch(20.0)
    assert engine.seconds_without_callback(20.25) == 0.25


def test_busy_while_queued_or_playing() -> None:
    engine = make()
    dev = Device(engine)
    assert not engine.busy
    engine.ring.write_some(loud(10))
    assert engine.busy
    dev.tick()
    assert engine.busy  # playing: the ring is empty but more was expected
    dev.tick()
    assert not engine.busy


def test_counts_callbacks_and_block_sizes() -> None:
    engine = make()
    dev = Device(engine)
    assert (engine.callbacks, engine.block_frames) == (0, 0)
    dev.tick(7)
    dev.tick(3)
    assert (engine.callbacks, engine.block_frames) == (2, 3)


def test_rejects_a_bad_rate_and_keeps_thresholds_sane() -> None:
    with pytest.raises(ValueError, match="rate"):
        PlaybackEngine(rate=0, channels=1, dtype="int16", capacity=10)
    engine = PlaybackEngine(
        rate=RATE, channels=1, dtype="int16", capacity=10, prebuffer=-3, rebuffer=-1, fade=0
    )
    assert (engine.prebuffer, engine.rebuffer, engine.fade_frames) == (0, 0, 1)
    assert engine.latency == 0.0
    assert not engine.paused


def test_ramp_down_is_a_raised_cosine_that_ends_at_zero() -> None:
    np.testing.assert_allclose(ramp_down(4), [0.8535533905932737, 0.5, 0.14644660940672627, 0])
    assert ramp_down(1).tolist() == [0.0]


@pytest.mark.parametrize("dtype", ["int16", "int32", "float32"])
def test_stereo_and_every_sample_type_come_out_unchanged(dtype: str) -> None:
    engine = make(channels=2, dtype=dtype, capacity=64)
    dev = Device(engine)
    source = (np.arange(200).reshape(100, 2) + 1).astype(dtype)
    done = 0
    while done < 100:
        done += engine.ring.write_some(source[done:])
        dev.tick(13)
    engine.end_utterance()
    for _ in range(10):
        dev.tick(13)
    out = dev.output()
    np.testing.assert_array_equal(out[out.any(axis=1)], source)


@settings(max_examples=60, deadline=None)
@given(
    writes=st.lists(st.integers(1, 90), min_size=1, max_size=20),
    blocks=st.lists(st.integers(1, 64), min_size=1, max_size=8),
    prebuffer=st.integers(0, 40),
)
def test_any_writes_and_block_sizes_play_the_source_exactly(
    writes: list[int], blocks: list[int], prebuffer: int
) -> None:
    # The producer keeps the ring topped up, so nothing runs dry until the end is marked.
    engine = make(capacity=128, prebuffer=prebuffer, rebuffer=prebuffer)
    dev = Device(engine)
    source = noise(sum(writes), seed=len(writes))
    pending = list(writes)
    done = k = 0
    while done < len(source):
        while pending and engine.ring.writable >= pending[0]:
            n = pending.pop(0)
            assert engine.ring.write_some(source[done : done + n]) == n
            done += n
        if not pending:
            break
        dev.tick(blocks[k % len(blocks)])
        k += 1
    engine.end_utterance()
    while not engine.all_sent:
        dev.tick(blocks[k % len(blocks)])
        k += 1
    out = dev.output()
    assert not (out == GARBAGE).any()
    np.testing.assert_array_equal(out[out.any(axis=1)], source)


# -- edges ---------------------------------------------------------------------------------


def test_defaults_and_a_fresh_engine_without_begin_utterance() -> None:
    engine = PlaybackEngine(rate=1, channels=1, dtype="int16", capacity=10)  # rate 1 is valid
    assert (engine.prebuffer, engine.rebuffer, engine.fade_frames) == (0, 0, 1)
    assert not engine.ended
    assert not engine.all_sent
    assert engine.abort_done
    assert engine.seconds_without_callback(5.0) == 5.0  # watched from 0 until told otherwise
    engine.ring.write_some(loud(3))
    out = np.empty((2, 1), np.int16)
    engine.fill(out, 1.0, 1.0)
    assert out.all()
    assert engine.utterance_sent() == 2
    assert engine.seconds_without_callback(6.0) == 0.0


def test_heard_counts_from_the_utterance_start_even_before_any_block() -> None:
    engine = make()
    engine.ring.write_some(loud(5))
    engine.begin_utterance()  # the 5 frames belong to an earlier utterance
    assert engine.heard_pos(1.0) == 5
    assert engine.utterance_heard(1.0) == 0


def test_two_aborts_two_generations_and_two_underruns_two_gaps() -> None:
    engine = make()
    dev = Device(engine)
    engine.request_abort()
    engine.request_abort()
    assert engine.abort_generation == 2
    dev.tick()
    assert engine.abort_done
    engine.begin_utterance()
    engine.ring.write_some(loud(5))
    dev.tick()
    engine.ring.write_some(loud(5))
    dev.tick()
    assert (engine.buffer_underruns, engine.gaps) == (2, 2)
    assert engine.gap_seconds == pytest.approx(0.01)
    dev.tick()
    dev.tick(late=0.015)
    assert engine.gaps == 2  # silence: a late callback then is no new gap
    engine.ring.write_some(loud(100))
    dev.tick()
    dev.tick(late=0.015)
    for _ in range(6):
        dev.tick()
    dev.tick(late=0.02)
    assert engine.late_callbacks == 3
    assert engine.gaps == 4
    assert engine.gap_seconds == pytest.approx(0.03 + 0.015 + 0.02)  # 30 ms dry, 2 jumps


def test_a_new_utterance_after_a_natural_end_plays_and_its_wait_is_no_gap() -> None:
    engine = make(prebuffer=20, rebuffer=5)
    dev = Device(engine)
    engine.ring.write_some(loud(10))
    dev.tick()  # below the prebuffer, not ended: waits
    engine.end_utterance()
    dev.tick()
    dev.tick()
    engine.begin_utterance()
    engine.ring.write_some(loud(15))
    assert not dev.tick().any()  # 15 < 20: the prebuffer again, not the rebuffer
    engine.ring.write_some(loud(5))
    assert dev.tick().all()
    assert (engine.gaps, engine.gap_seconds) == (0, 0.0)


def test_after_a_gap_that_ended_with_the_utterance_the_next_wait_is_no_gap() -> None:
    engine = make(prebuffer=50, rebuffer=50)
    dev = Device(engine)
    engine.ring.write_some(loud(60))
    dev.tick()
    for _ in range(5):
        dev.tick()  # 60 played, then dry: a gap
    engine.end_utterance()
    dev.tick()
    gap = engine.gap_seconds
    engine.begin_utterance()
    engine.ring.write_some(loud(10))
    dev.tick()
    dev.tick()  # waiting for the prebuffer of the next utterance
    assert engine.gap_seconds == gap


def test_abort_during_a_gap_ends_it() -> None:
    engine = make(rebuffer=50)
    dev = Device(engine)
    engine.ring.write_some(loud(10))
    dev.tick()
    dev.tick()
    engine.request_abort()
    dev.tick()
    dev.tick()
    assert engine.gap_seconds == pytest.approx(0.01)


def test_reset_during_a_gap_ends_it_and_the_prebuffer_applies_again() -> None:
    engine = make(prebuffer=10, rebuffer=50)
    dev = Device(engine)
    engine.ring.write_some(loud(10))
    dev.tick()
    dev.tick()
    engine.reset()
    dev.tick()
    assert engine.gap_seconds == pytest.approx(0.01)
    engine.ring.write_some(loud(10))
    assert dev.tick().all()  # the prebuffer (10), not the rebuffer (50)


def test_a_positive_dac_time_below_one_second_is_used_as_given() -> None:
    engine = make(latency=0.3)
    engine.ring.write_some(loud(10))
    engine.fill(np.empty((10, 1), np.int16), 0.5, 0.0)
    assert engine.last_real_dac == pytest.approx(0.51)


def test_the_start_up_burst_counts_only_with_a_known_callback_time() -> None:
    engine = make(prebuffer=10, latency=0.1)
    engine.ring.write_some(loud(10))
    out = np.empty((5, 1), np.int16)
    engine.fill(out, 5.0, 0.0)  # currentTime unset (0): no burst estimate, the prebuffer only
    assert out.all()
    engine = make(prebuffer=10, latency=0.1)
    engine.ring.write_some(loud(10))
    engine.fill(out, 0.5, 0.5)  # at 0.5 s, nothing buffered yet: 100 frames more are needed
    assert not out.any()


def test_the_threshold_is_capped_at_one_frame_below_capacity() -> None:
    engine = make(capacity=50, prebuffer=500)
    dev = Device(engine)
    engine.ring.write_some(loud(48))
    assert not dev.tick(10, lead=0.0).any()
    engine.ring.write_some(loud(1))
    assert dev.tick(10, lead=0.0).all()


def test_heard_searches_every_kept_block_but_the_one_being_overwritten() -> None:
    engine = make(capacity=5000)
    dev = Device(engine, latency=0.0)
    engine.ring.write_some(noise(3000, seed=12))
    starts = []
    for _ in range(HISTORY + 10):
        starts.append(dev.now)
        dev.tick()
    # Block 10's slot is the next to be overwritten: a time inside it reads as the oldest
    # position searched (block 11's start); block 11 itself is searched.
    assert engine.heard_pos(starts[10] + 0.0035) == 110
    assert engine.heard_pos(starts[11] + 0.0055) == 115
    assert engine.heard_pos(starts[-1] + 0.0025) == (HISTORY + 9) * 10 + 2


def test_jumps_within_a_latency_of_a_device_gap_are_the_same_gap() -> None:
    # After a stall the device's clock settles over a few blocks: one hole in the sound.
    engine = make(latency=0.05)
    dev = Device(engine, latency=0.05)
    engine.ring.write_some(noise(900, seed=13))
    dev.tick()
    dev.tick(late=0.245, underflow=True)
    dev.tick()
    dev.tick(late=0.004)  # 20 ms later: the same gap, a little longer
    assert engine.gaps == 1
    assert engine.gap_seconds == pytest.approx(0.249)
    for _ in range(6):
        dev.tick()  # 60 ms on time: past the window
    dev.tick(late=0.004)
    assert engine.gaps == 1  # a small jump on its own is the clock's noise
    assert engine.gap_seconds == pytest.approx(0.249)
    for _ in range(6):
        dev.tick()
    dev.tick(late=0.015)
    assert engine.gaps == 2
    assert engine.gap_seconds == pytest.approx(0.264)
