"""The engine's side of the adaptive start: the hold the event loop sets, tick by tick."""

from __future__ import annotations

import math

import numpy as np

from ttsstream._play.engine import NO_HOLD

from .test_engine import Device, loud, make


def test_a_hold_raises_the_start_threshold_until_its_time_then_the_after_value() -> None:
    engine = make(capacity=1000, prebuffer=20)
    dev = Device(engine, latency=0.0)
    engine.hold = (100.045, 300, 50, "info")  # 300 frames until t=100.045, then 50
    engine.ring.write_some(loud(100))
    for _ in range(5):  # 100.00 .. 100.04: 100 < 300 queued
        assert not dev.tick(10).any()
    assert not engine.started
    assert dev.tick(10).all()  # t=100.05: 100 >= 50
    assert engine.started
    assert engine.start_time == dev.now - 0.01
    assert engine.start_time > 100.045
    assert engine.start_hold == (100.045, 300, 50, "info")
    assert not engine.start_ended


def test_before_its_time_the_hold_is_met_by_enough_audio() -> None:
    engine = make(capacity=1000, prebuffer=20)
    dev = Device(engine, latency=0.0)
    engine.hold = (math.inf, 300, 300, None)
    engine.ring.write_some(loud(299))
    assert not dev.tick(10).any()
    engine.ring.write_some(loud(1))
    assert dev.tick(10).all()
    assert engine.start_time == dev.now - 0.01


def test_the_fixed_prebuffer_still_counts_when_the_hold_is_smaller() -> None:
    engine = make(capacity=1000, prebuffer=200)
    dev = Device(engine, latency=0.0)
    engine.hold = (-math.inf, 50, 50, None)
    engine.ring.write_some(loud(100))
    assert not dev.tick(10).any()  # 100 < max(200, 50)
    engine.ring.write_some(loud(100))
    assert dev.tick(10).all()


def test_a_hold_beyond_the_ring_is_met_by_a_full_ring() -> None:
    engine = make(capacity=100)
    dev = Device(engine, latency=0.0)
    engine.hold = (-math.inf, 10_000, 10_000, None)
    engine.ring.write_some(loud(98))
    assert not dev.tick(10).any()
    engine.ring.write_some(loud(1))  # 99 = capacity - 1
    assert dev.tick(10).all()


def test_an_ended_utterance_plays_whatever_the_hold_and_says_so() -> None:
    engine = make(capacity=1000)
    dev = Device(engine, latency=0.0)
    engine.hold = (-math.inf, 500, 500, "x")
    engine.ring.write_some(loud(30))
    assert not dev.tick(10).any()
    engine.end_utterance()
    out = dev.tick(10)
    assert out.all()
    assert engine.started
    assert engine.start_ended


def test_the_start_is_recorded_once_per_utterance_and_reset_by_the_next() -> None:
    engine = make(capacity=1000, rebuffer=0)
    dev = Device(engine, latency=0.0)
    engine.ring.write_some(loud(10))
    dev.tick(10)
    first = engine.start_time
    assert engine.started
    dev.tick(10)  # ran dry: an underrun
    engine.hold = (-math.inf, 5, 5, "re")
    engine.ring.write_some(loud(10))
    dev.tick(10)  # the restart is not the start
    assert engine.start_time == first
    assert engine.start_hold == NO_HOLD
    engine.end_utterance()
    dev.tick(10)  # played out: stopped
    engine.begin_utterance()
    assert engine.hold == NO_HOLD  # a new utterance starts without the old hold
    assert not engine.started
    engine.ring.write_some(loud(10))
    dev.tick(10)
    assert engine.started
    assert engine.start_time > first


def test_the_hold_is_not_looked_at_while_playing() -> None:
    engine = make(capacity=1000)
    dev = Device(engine, latency=0.0)
    engine.ring.write_some(loud(100))
    dev.tick(10)
    engine.hold = (-math.inf, 900, 900, None)  # e.g. set by a write while playing
    assert dev.tick(10).all()
    assert np.count_nonzero(dev.output()) == 20


def test_the_hold_switches_at_its_time_exactly() -> None:
    engine = make(capacity=1000)
    assert not engine.started  # nothing has begun... (make() began one utterance)
    engine.hold = (100.5, 300, 50, None)
    engine.ring.write_some(loud(100))
    out = np.empty((10, 1), np.int16)
    engine.fill(out, dac=100.499, now=100.499)
    assert not out.any()
    engine.fill(out, dac=100.5, now=100.5)  # at ``until``: the after value
    assert out.all()
    assert engine.start_time == 100.5


def test_nothing_has_started_before_the_first_utterance() -> None:
    from ttsstream._play.engine import PlaybackEngine

    engine = PlaybackEngine(rate=1000, channels=1, dtype="int16", capacity=100)
    assert not engine.started
    engine.begin_utterance()
    assert not engine.started
