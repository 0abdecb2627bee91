"""DeviceSink under faults, with the fake PortAudio: shared by several tasks, a device that dies,
hangs or stops calling back, PortAudio calls that never return."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import anyio
import numpy as np
import pytest

from ttsstream import AudioChunk, AudioDeviceError, AudioFormat, Provider, StreamStats, speak
from ttsstream._play import device as _device
from ttsstream._play.device import DeviceSink

from .audio import noise
from .fakesd import FakeSoundDevice

pytestmark = pytest.mark.anyio

S16 = AudioFormat(24000, 1, "int16")


class NoiseProvider(Provider):
    """Says each text as its own noise (seeded by the text), in 1000-frame chunks."""

    name = "noise"

    def __init__(self, frames: int = 4800) -> None:
        self.frames = frames

    def audio(self, text: str) -> np.ndarray:
        return noise(self.frames, seed=sum(map(ord, text)))

    async def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        samples = self.audio(text)
        for i in range(0, len(samples), 1000):
            await anyio.lowlevel.checkpoint()
            yield AudioChunk(samples[i : i + 1000], S16)


def segments(out: np.ndarray) -> list[np.ndarray]:
    """The runs of sound between stretches of silence in ``out`` (noise is never 0)."""
    loud = out[:, 0] != 0
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    return [out[a:b, 0] for a, b in zip(edges[::2], edges[1::2], strict=True)]


# -- one sink, several users ---------------------------------------------------------------


@pytest.mark.parametrize("users", [2, 12])
async def test_concurrent_speak_calls_on_one_sink_play_one_after_another_whole(
    users: int,
) -> None:
    sd = FakeSoundDevice()
    provider = NoiseProvider()
    texts = [f"utterance {k}" for k in range(users)]
    async with DeviceSink(backend=sd, buffer=0.1) as sink:
        async with anyio.create_task_group() as tg:
            for text in texts:
                tg.start_soon(lambda t=text: speak(t, provider=provider, sink=sink))
        assert len(sd.streams) == 1  # one device stream, shared
    played = segments(sd.stream.output())
    # Each utterance is one unbroken run, complete; in some order, never interleaved.
    assert sorted(len(p) for p in played) == [provider.frames] * users
    expected = {t: provider.audio(t)[:, 0] for t in texts}
    found = []
    for run in played:
        match = [t for t, audio in expected.items() if np.array_equal(run, audio)]
        assert len(match) == 1
        found += match
    assert sorted(found) == sorted(texts)
    assert sink.underruns == 0


async def test_a_second_user_waits_until_the_first_utterance_is_drained() -> None:
    sd = FakeSoundDevice()
    async with DeviceSink(backend=sd, prebuffer=0.0) as sink:
        await sink.open(S16)
        await sink.write(noise(480, seed=1))
        second_opened = anyio.Event()

        async def second() -> None:
            await sink.open(S16)
            second_opened.set()
            await sink.abort()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            assert not second_opened.is_set()  # the first utterance is still open
            await sink.abort()  # the first one ends: the second one goes
            with anyio.fail_after(5):
                await second_opened.wait()


async def test_an_abort_hands_the_sink_over_only_once_the_sound_stopped() -> None:
    # The next user's first frames must not be caught by the previous user's fade-out.
    sd = FakeSoundDevice(auto_tick=False)
    second_audio = noise(2400, seed=10)
    async with DeviceSink(backend=sd, prebuffer=0.0) as sink:
        await sink.open(S16)
        await sink.write(noise(4800, seed=9))
        sd.stream.tick(240)
        done = anyio.Event()

        async def second() -> None:
            await sink.open(S16)
            await sink.write(second_audio)
            await sink.drain()
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(sink.abort)
            with anyio.fail_after(10):
                while not done.is_set():
                    await anyio.wait_all_tasks_blocked()
                    sd.stream.tick(240)
    *_, last = segments(sd.stream.output())
    np.testing.assert_array_equal(last, second_audio[:, 0])


async def test_the_same_task_may_open_again_without_draining() -> None:
    sd = FakeSoundDevice()
    async with DeviceSink(backend=sd) as sink:
        await sink.open(S16)
        await sink.write(noise(480, seed=2))
        with anyio.fail_after(5):
            await sink.open(S16)  # drains the first utterance itself: no waiting for itself
        await sink.write(noise(480, seed=3))
        await sink.drain()
    first, second = segments(sd.stream.output())
    np.testing.assert_array_equal(first, noise(480, seed=2)[:, 0])
    np.testing.assert_array_equal(second, noise(480, seed=3)[:, 0])


async def test_prepare_from_two_tasks_opens_one_stream() -> None:
    sd = FakeSoundDevice()
    async with DeviceSink(backend=sd) as sink, anyio.create_task_group() as tg:
        tg.start_soon(sink.prepare, S16)
        tg.start_soon(sink.prepare, S16)
    assert len(sd.streams) == 1


# -- a device that dies or hangs -----------------------------------------------------------


async def test_a_dead_device_is_an_error_and_a_wedged_close_is_abandoned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_device, "_CLOSE_TIMEOUT", 0.2)
    sd = FakeSoundDevice()
    sink = DeviceSink(backend=sd, buffer=0.1)
    try:
        with anyio.fail_after(10):
            await sink.open(S16)
            await sink.write(noise(4800, seed=4))
            sd.dead = True  # the sound server was killed
            sd.wedge()  # and PortAudio's stop/close never return
            with pytest.raises(AudioDeviceError, match="stopped playing"):
                await sink.write(noise(24000, seed=5))
            with pytest.raises(AudioDeviceError, match="stopped playing"):
                await sink.drain()  # the same error again, at once
            await sink.abort()
            await sink.aclose()  # returns although close() is stuck
        assert sink._stream is None
        assert sd.calls[-1] == "abort"  # the stuck call; close() was never reached
        assert not sd.stream.closed
    finally:
        sd.unwedge()


async def test_a_device_that_stops_calling_back_is_an_error_within_the_stall_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_device, "_STALL_TIMEOUT", 0.2)
    monkeypatch.setattr(_device, "_CLOSE_TIMEOUT", 0.2)
    sd = FakeSoundDevice()
    sink = DeviceSink(backend=sd, buffer=0.1)
    try:
        with anyio.fail_after(10):
            await sink.open(S16)
            await sink.write(noise(2400, seed=6))
            sd.stalled = True  # a hung sound server: "active", but no more callbacks
            sd.wedge()
            started = time.monotonic()
            with pytest.raises(AudioDeviceError, match="stopped asking for audio"):
                await sink.write(noise(24000, seed=7))
            assert time.monotonic() - started >= 0.2
            await sink.aclose()
        assert sink._stream is None
    finally:
        sd.unwedge()


async def test_abort_on_a_device_that_no_longer_calls_back_closes_it_and_reopens_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_device, "_ACK_TIMEOUT", 0.1)
    sd = FakeSoundDevice(auto_tick=False)
    async with DeviceSink(backend=sd) as sink:
        await sink.open(S16)
        await sink.write(noise(2400, seed=8))
        with anyio.fail_after(5):
            await sink.abort()  # nobody ticks: the fade-out is never acknowledged
        assert sd.streams[0].closed
        await sink.open(S16)
        assert len(sd.streams) == 2  # a fresh stream for the next utterance
        assert sd.stream.active


async def test_an_open_that_never_returns_is_an_error_and_the_late_stream_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_device, "_OPEN_TIMEOUT", 0.2)
    sd = FakeSoundDevice()
    sink = DeviceSink(backend=sd)
    sd.wedge()  # start() hangs
    try:
        with anyio.fail_after(10), pytest.raises(AudioDeviceError, match="did not finish"):
            await sink.open(S16)
    finally:
        sd.unwedge()
    with anyio.fail_after(10):
        while not sd.stream.closed:  # start() returned after all: the stream is closed
            await anyio.sleep(0.01)
    async with sink:
        await sink.open(S16)  # the next attempt opens a new stream
        assert len(sd.streams) == 2


async def test_a_blocking_call_that_fails_raises_its_own_error() -> None:
    def broken() -> int:
        raise OSError("boom")

    with pytest.raises(OSError, match="boom"):
        await _device._call_with_deadline(broken, 5)
    assert await _device._call_with_deadline(lambda: 7, 5) == 7
