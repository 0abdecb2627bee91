"""The fakes other tests lean on must tell the truth too: ClockSink counts the gaps it plays."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

from .fakes import FMT, ClockSink

pytestmark = pytest.mark.anyio


async def test_clock_sink_counts_a_dry_spell_mid_utterance_as_one_underrun() -> None:
    sink = ClockSink(speed=10)
    await sink.open(FMT)
    await anyio.sleep(0.02)  # before the first sample: waiting to start is not a gap
    await sink.write(np.ones((80, 1), np.int16))  # 10 ms of audio: 1 ms at speed 10
    await anyio.sleep(0.02)  # 200 ms of audio time: the buffer runs dry
    assert sink.frames_played == 80
    assert sink.underruns == 1
    gap = sink.gap_seconds
    assert gap >= 0.19 - 0.01
    await sink.write(np.ones((80, 1), np.int16))
    assert sink.underruns == 1  # one dry spell, one count
    await sink.drain()
    await anyio.sleep(0.01)
    assert sink.frames_played == 160
    assert sink.underruns == 1  # silence after drain() is the end, not a gap
    assert sink.heard_audio().shape == (160, 1)


async def test_clock_sink_paused_or_aborted_is_not_a_gap() -> None:
    sink = ClockSink(speed=10)
    await sink.open(FMT)
    await sink.write(np.ones((8000, 1), np.int16))  # 1 s of audio, 0.1 s at speed 10
    await anyio.sleep(0.005)
    sink.set_paused(True)
    await anyio.sleep(0.2)
    sink.set_paused(False)
    await sink.abort()
    await anyio.sleep(0.02)
    assert sink.frames_played < 8000
    assert (sink.underruns, sink.gap_seconds) == (0, 0.0)
