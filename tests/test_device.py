"""DeviceSink with a fake PortAudio stream: buffering, underruns, drain, abort, errors, devices."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import anyio
import numpy as np
import pytest
from anyio import wait_all_tasks_blocked

from ttsstream import AudioDeviceError, AudioFormat, PortAudioMissingError
from ttsstream._errors import DeviceNotFoundError, ResamplerMissingError
from ttsstream._play import device as _device
from ttsstream._play import devices as _devices
from ttsstream._play.convert import Converter, convert_dtype, mix_channels
from ttsstream._play.device import DeviceSink
from ttsstream._play.devices import find_device as _find_device
from ttsstream._play.devices import output_devices as _output_devices

from .audio import chunked, noise
from .fakesd import GARBAGE, FakeSoundDevice, FakeStream, device

S16 = AudioFormat(24000, 1, "int16")


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    """Poll ``condition()`` until true (the fake stream runs in its own thread)."""
    with anyio.fail_after(timeout):
        while not condition():  # type: ignore[operator]
            await anyio.sleep(0.001)


async def drain_while_ticking(sink: DeviceSink, stream: FakeStream) -> None:
    """``sink.drain()`` while a manually ticked stream keeps calling back."""
    done = anyio.Event()

    async def drain() -> None:
        await sink.drain()
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(drain)
        await wait_for(lambda: sink._engine is not None and sink._engine.ended)  # end marked
        with anyio.fail_after(5):
            while not done.is_set():
                stream.tick(240)
                await anyio.sleep(0.001)


def real_span(out: np.ndarray) -> tuple[int, int]:
    nz = np.flatnonzero(out.any(axis=1))
    return (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)


@pytest.fixture
def sd() -> FakeSoundDevice:
    return FakeSoundDevice()


@pytest.fixture
async def sink(sd: FakeSoundDevice) -> AsyncIterator[DeviceSink]:
    async with DeviceSink("pulse", backend=sd) as s:
        yield s  # type: ignore[misc]


# -- device selection ---------------------------------------------------------------------


def test_lists_only_output_devices_and_marks_the_default(sd: FakeSoundDevice) -> None:
    devices = _output_devices(sd)
    assert [d.name for d in devices] == [
        "HDA Intel PCH: ALC257 Analog (hw:0,0)",
        "pulse",
        "default",
    ]
    assert [d.is_default for d in devices] == [False, False, True]
    assert devices[1].hostapi == "ALSA"
    assert devices[1].default_samplerate == 44100
    assert devices[1].max_output_channels == 32
    assert "[2] pulse (ALSA, 32 ch, 44100 Hz)" in str(devices[1])


@pytest.mark.parametrize(
    ("query", "index"),
    [(None, 3), (2, 2), ("2", 2), ("PULSE", 2), ("alc257", 0), ("default", 3), ("hw:0", 0)],
)
def test_finds_devices_by_index_or_part_of_the_name(
    sd: FakeSoundDevice, query: int | str | None, index: int
) -> None:
    assert _find_device(_output_devices(sd), query).index == index


def test_an_exact_name_wins_over_partial_matches() -> None:
    sd = FakeSoundDevice([device(0, "USB"), device(1, "USB Audio Device")], default_output=0)
    assert _find_device(_output_devices(sd), "usb").index == 0


def test_unknown_or_ambiguous_names_list_the_devices(sd: FakeSoundDevice) -> None:
    devices = _output_devices(sd)
    with pytest.raises(DeviceNotFoundError, match=r"no output device matching 'speakers'") as info:
        _find_device(devices, "speakers")
    assert "[2] pulse" in str(info.value)
    assert "Mic only" not in str(info.value)
    with pytest.raises(DeviceNotFoundError, match="several") as info:
        _find_device(devices, "a")
    assert "[0] HDA" in str(info.value)
    with pytest.raises(DeviceNotFoundError, match="index 1"):
        _find_device(devices, 1)  # an input-only device


def test_no_output_device_at_all_is_a_clear_error() -> None:
    sd = FakeSoundDevice([device(0, "Mic only", outputs=0)], default_output=-1)
    with pytest.raises(DeviceNotFoundError, match="no audio output device found"):
        _find_device(_output_devices(sd), None)


def test_no_default_output_asks_for_a_device(sd: FakeSoundDevice) -> None:
    sd.default.device = [-1, -1]
    with pytest.raises(DeviceNotFoundError, match="no default output device") as info:
        _find_device(_output_devices(sd), None)
    assert "[2] pulse" in str(info.value)


@pytest.mark.anyio
async def test_prepare_resolves_the_device_before_any_format(sd: FakeSoundDevice) -> None:
    sink = DeviceSink("puls", backend=sd)
    await sink.prepare()
    assert sink.device is not None
    assert sink.device.name == "pulse"
    assert sd.streams == []
    with pytest.raises(DeviceNotFoundError):
        await DeviceSink("nope", backend=sd).prepare()


@pytest.mark.anyio
async def test_prepare_with_a_format_opens_the_device_ahead_and_open_reuses_it() -> None:
    sd = FakeSoundDevice()
    source = noise(4800, seed=9)
    async with DeviceSink("pulse", backend=sd) as sink:
        await sink.prepare(S16)  # while the request is in flight
        assert len(sd.streams) == 1
        # Opened, not started: a running stream would queue silence ahead of the first sound.
        assert not sd.stream.started
        assert sd.calls == []
        await sink.open(S16)
        assert len(sd.streams) == 1  # the stream opened ahead is used
        for piece in chunked(source):
            await sink.write(piece)
        assert sd.stream.started  # with its first device buffer of audio queued
        await sink.drain()
        out = sd.stream.output()
    first, end = real_span(out)
    assert first == 0  # the first block the device played was the speech
    np.testing.assert_array_equal(out[first:end], source)
    assert sink.underruns == 0


@pytest.mark.anyio
async def test_a_stream_opened_ahead_starts_only_with_a_device_buffer_of_audio() -> None:
    sd = FakeSoundDevice()
    async with DeviceSink("pulse", backend=sd, latency=0.05) as sink:
        await sink.prepare(S16)
        await sink.open(S16)
        await sink.write(noise(1200, seed=1))  # 50 ms: less than the start-up burst
        assert not sd.stream.started
        assert sink.frames_played == 0
        await sink.write(noise(600, seed=2))  # 75 ms queued: the burst can be filled
        assert sd.stream.started
        await sink.drain()
        assert sink.frames_played == 1800
        assert sink.underruns == 0


@pytest.mark.anyio
async def test_a_short_utterance_starts_the_stream_opened_ahead_at_drain() -> None:
    sd = FakeSoundDevice()
    source = noise(240, seed=3)  # 10 ms
    async with DeviceSink("pulse", backend=sd) as sink:
        await sink.prepare(S16)
        await sink.open(S16)
        await sink.write(source)
        assert not sd.stream.started
        await sink.drain()
        assert sink.frames_played == 240
        out = sd.stream.output()
    first, end = real_span(out)
    np.testing.assert_array_equal(out[first:end], source)


@pytest.mark.anyio
async def test_a_write_larger_than_the_ring_starts_the_stream_opened_ahead_first() -> None:
    sd = FakeSoundDevice()
    source = noise(4800, seed=4)  # 200 ms into a 100 ms ring: it must drain while written
    with anyio.fail_after(10):
        async with DeviceSink("pulse", backend=sd, buffer=0.1) as sink:
            await sink.prepare(S16)
            await sink.open(S16)
            await sink.write(source)
            await sink.drain()
            out = sd.stream.output()
    first, end = real_span(out)
    np.testing.assert_array_equal(out[first:end], source)


@pytest.mark.anyio
async def test_closing_a_stream_opened_ahead_and_never_started_is_quick() -> None:
    sd = FakeSoundDevice()
    with anyio.fail_after(0.9):  # nothing waits on a device that never played
        async with DeviceSink("pulse", backend=sd) as sink:
            await sink.prepare(S16)
            await sink.open(S16)
            await sink.write(noise(240, seed=5))
            await sink.abort()
    assert sd.streams[0].closed
    assert "start" not in sd.calls


@pytest.mark.anyio
async def test_a_wrong_guess_at_prepare_reopens_for_the_real_format() -> None:
    sd = FakeSoundDevice()
    async with DeviceSink("pulse", backend=sd) as sink:
        await sink.prepare(AudioFormat(24000))
        await sink.open(AudioFormat(22050))
        assert len(sd.streams) == 2
        assert sd.streams[0].closed
        assert sd.stream.samplerate == 22050  # reopened at the real rate, not resampled


# -- PortAudio missing --------------------------------------------------------------------


class _RaisingFinder:
    """A meta path finder that makes ``import sounddevice`` fail like a missing PortAudio."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "sounddevice":
            raise self.exc


@pytest.mark.anyio
async def test_missing_portaudio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    finder = _RaisingFinder(OSError("PortAudio library not found"))
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    with pytest.raises(PortAudioMissingError, match="libportaudio2") as info:
        await DeviceSink().prepare()
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(PortAudioMissingError):
        _devices.list_devices()


def test_import_ttsstream_works_without_portaudio() -> None:
    code = textwrap.dedent(
        """
        import sys
        class Finder:
            def find_spec(self, name, path, target=None):
                if name == "sounddevice":
                    raise OSError("PortAudio library not found")
        sys.meta_path.insert(0, Finder())
        import anyio, ttsstream, ttsstream._play.device
        from ttsstream import PortAudioMissingError
        assert "sounddevice" not in sys.modules
        try:
            anyio.run(ttsstream._play.device.DeviceSink().prepare)
        except PortAudioMissingError as exc:
            print("missing:", exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "missing: the PortAudio library is not installed" in done.stdout


# -- playback -----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_plays_every_frame_in_order_and_silence_around_it() -> None:
    sd = FakeSoundDevice(block_sizes=(240, 97, 511, 1))
    source = noise(12000, seed=5)
    async with DeviceSink("pulse", backend=sd, buffer=0.1) as sink:  # the ring wraps many times
        await sink.open(S16)
        for piece in chunked(source):
            await sink.write(piece)
        await sink.drain()
        assert sink.frames_played == len(source)
        out = sd.stream.output()
    # Every byte is written by the callback (no garbage), and the source comes out unchanged.
    assert not (out.view(np.uint8) == GARBAGE).all(axis=1).any()
    first, end = real_span(out)
    np.testing.assert_array_equal(out[first:end], source)
    assert not out[:first].any()
    assert not out[end:].any()
    assert sink.underruns == 0


@pytest.mark.anyio
async def test_always_passes_channels_and_a_native_dtype(sd: FakeSoundDevice) -> None:
    async with DeviceSink(backend=sd) as sink:
        await sink.open(AudioFormat(22050, 2, "float32"))
        assert sd.stream.channels == 2
        assert sd.stream.dtype == "float32"
        assert sd.stream.samplerate == 22050
        assert sd.stream.device == 3
        assert sd.stream.latency == 0.05  # the default suggested latency
        assert sink.stream_format == AudioFormat(22050, 2, "float32")


@pytest.mark.anyio
async def test_write_waits_while_the_ring_is_full() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    source = noise(6000, seed=6)
    async with DeviceSink(backend=sd, buffer=0.1, prebuffer=0.0) as sink:  # 2400 frames
        await sink.open(S16)
        done = anyio.Event()

        async def producer() -> None:
            await sink.write(source)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            await wait_all_tasks_blocked()
            assert not done.is_set()  # blocked: 6000 frames do not fit in 2400
            assert sink._engine.ring.readable == 2400
            while not done.is_set():
                # tick only when the ring is full again: the producer polls, and ticking into a
                # half-empty ring would be a (real) underrun, not what this test is about
                await wait_for(lambda: done.is_set() or sink._engine.ring.readable > 2400 - 480)
                sd.stream.tick(480)
        for _ in range(20):
            sd.stream.tick(480)
        first, end = real_span(sd.stream.output())
        np.testing.assert_array_equal(sd.stream.output()[first:end], source)


@pytest.mark.anyio
async def test_prebuffers_before_starting() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    async with DeviceSink(backend=sd, prebuffer=0.05) as sink:  # 1200 frames
        await sink.open(S16)
        await sink.write(noise(1000, seed=7))
        for _ in range(3):
            assert not sd.stream.tick(240).data.any()  # waiting for 1200 frames
        await sink.write(noise(200, seed=8))
        assert sd.stream.tick(240).data.all()
        assert sink.underruns == 0


@pytest.mark.anyio
async def test_drain_plays_a_short_utterance_without_waiting_for_the_prebuffer(
    sd: FakeSoundDevice,
) -> None:
    source = noise(100, seed=9)
    async with DeviceSink(backend=sd, prebuffer=0.5) as sink:
        await sink.open(S16)
        await sink.write(source)
        await sink.drain()
        out = sd.stream.output()
    first, end = real_span(out)
    np.testing.assert_array_equal(out[first:end], source)


@pytest.mark.anyio
async def test_underrun_plays_silence_counts_and_rebuffers() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    a, b, c = noise(480, seed=10), noise(300, seed=11), noise(500, seed=12)
    async with DeviceSink(backend=sd, prebuffer=0.0, rebuffer=0.03) as sink:  # 720 frames
        await sink.open(S16)
        await sink.write(a)
        sd.stream.tick(240)
        sd.stream.tick(240)
        gap = sd.stream.tick(240)  # ran dry mid-utterance
        assert not gap.data.any()
        assert sink.underruns == 1
        await sink.write(b)
        assert not sd.stream.tick(240).data.any()  # 300 < 720: still rebuffering
        assert sink.underruns == 1  # one dry spell, one count
        await sink.write(c)
        for _ in range(3):
            sd.stream.tick(240)
        assert sink.underruns == 1
        await drain_while_ticking(sink, sd.stream)
        assert sink.underruns == 1  # the end of the utterance is not an underrun
    out = sd.stream.output()
    played = out[out.any(axis=1)]
    np.testing.assert_array_equal(played, np.concatenate([a, b, c]))


@pytest.mark.anyio
async def test_drain_returns_once_the_dac_has_played_the_last_sample(sd: FakeSoundDevice) -> None:
    source = noise(5000, seed=13)
    async with DeviceSink(backend=sd) as sink:
        await sink.open(S16)
        await sink.write(source)
        await sink.drain()
        returned_at = sd.stream.clock
        assert sd.stream.active  # drained, not stopped: the device stays open
        blocks = list(sd.stream.blocks)
    rate = 24000
    last_end = max(
        b.dac + (real_span(b.data)[1]) / rate for b in blocks if b.data.any()
    )  # DAC time just after the last real sample
    assert returned_at >= last_end
    assert sink.frames_played == len(source)


@pytest.mark.anyio
async def test_frames_played_follows_the_dac_clock() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    async with DeviceSink(backend=sd, prebuffer=0.0, latency=0.05) as sink:
        await sink.open(S16)
        await sink.write(noise(4800, seed=14))
        for _ in range(4):
            sd.stream.tick(240)  # 960 frames handed to the device, none at the DAC yet
        assert sink.frames_played == 0
        for _ in range(6):
            sd.stream.tick(240)  # now 0.1 s later: 0.05 s of audio has reached the DAC
        assert sink.frames_played == 1200


@pytest.mark.anyio
async def test_abort_fades_out_within_one_block_and_drops_the_rest() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    loud = np.full((24000, 1), 20000, np.int16)
    async with DeviceSink(backend=sd, prebuffer=0.0, fade=0.005) as sink:
        await sink.open(S16)
        await sink.write(loud)
        for _ in range(5):
            sd.stream.tick(240)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sink.abort)
            await wait_all_tasks_blocked()  # abort() has asked the callback to fade out
            block = sd.stream.tick(240)
            fade = block.data[:, 0].astype(np.int32)
            while sd.stream.clock < block.dac + 0.01:
                sd.stream.tick(240)
            for _ in range(30):  # let abort() see the DAC pass the fade
                sd.stream.tick(240)
                await anyio.sleep(0.001)
        assert fade[0] > 19000  # starts where the sound was: no click
        assert (np.diff(fade[:120]) <= 0).all()
        assert fade[119] == 0
        assert not fade[120:].any()
        assert not np.concatenate([b.data for b in sd.stream.blocks[6:]]).any()
        assert sink._engine.ring.readable == 0
        assert sink.frames_played == 5 * 240 + 120
        assert sd.stream.active  # still open for the next utterance
        await sink.write(loud[:10])  # dropped: the utterance was aborted
        assert sink._engine.ring.readable == 0


@pytest.mark.anyio
async def test_abort_wakes_a_producer_waiting_for_space(sd: FakeSoundDevice) -> None:
    async with DeviceSink(backend=sd, buffer=0.1) as sink:
        await sink.open(S16)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sink.write, noise(48000, seed=15))  # 2 s into a 0.1 s ring
            await wait_for(lambda: sink.frames_played > 0)
            await sink.abort()
        assert sink.frames_played < 48000
        await sink.open(S16)
        await sink.write(noise(10, seed=16))
        await sink.drain()
        assert sink.frames_played == 10


@pytest.mark.anyio
async def test_open_again_with_another_format_converts_into_the_open_stream(
    sd: FakeSoundDevice,
) -> None:
    pytest.importorskip("soxr")
    async with DeviceSink(backend=sd) as sink:
        await sink.open(S16)
        await sink.write(noise(2400, seed=17))
        await sink.drain()
        stream = sd.stream
        await sink.open(AudioFormat(16000, 2, "float32"))
        stereo = np.full((1600, 2), 0.5, np.float32)
        await sink.write(stereo)
        await sink.drain()
        assert sd.streams == [stream]  # not reopened
        assert sink.frames_played == 1600  # in the utterance's own frames
    out = stream.output()
    # Downmixed, resampled, converted to int16: the plateau is 0.5 full scale.
    assert (out == 16384).sum() > 2000  # 2400 frames at 24 kHz, less the resampler's edges


@pytest.mark.anyio
async def test_opens_at_a_rate_the_device_takes_and_resamples(sd: FakeSoundDevice) -> None:
    soxr = pytest.importorskip("soxr")
    sd.accept = lambda dev, ch, dtype, rate: rate == 48000 and ch == 2
    source = noise(6000, seed=18)
    async with DeviceSink("alc257", backend=sd) as sink:
        await sink.open(S16)
        assert sink.stream_format == AudioFormat(48000, 2, "int16")
        for piece in chunked(source):
            await sink.write(piece)
        await sink.drain()
        assert sink.frames_played == len(source)
    out = sd.stream.output()
    assert (out[:, 0] == out[:, 1]).all()  # mono copied to both channels
    expected = soxr.resample(source, 24000, 48000)[:, 0].astype(np.int32)
    first = int(np.flatnonzero(out[:, 0])[0])
    got = out[first : first + len(expected), 0].astype(np.int32)
    assert np.abs(got - expected).max() <= 4  # stateful resampling: no clicks at chunk edges


@pytest.mark.anyio
async def test_refused_rate_without_soxr_is_a_clear_error(
    sd: FakeSoundDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "soxr", None)
    sd.accept = lambda dev, ch, dtype, rate: rate == 48000
    async with DeviceSink(backend=sd) as sink:
        with pytest.raises(ResamplerMissingError, match=r"ttsstream\[resample\]"):
            await sink.open(S16)


@pytest.mark.anyio
async def test_without_soxr_a_new_rate_reopens_the_stream(
    sd: FakeSoundDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "soxr", None)
    async with DeviceSink(backend=sd) as sink:
        await sink.open(S16)
        await sink.write(noise(240, seed=19))
        await sink.drain()
        await sink.open(AudioFormat(16000, 1, "int16"))
        assert len(sd.streams) == 2
        assert sd.streams[0].closed
        assert sd.stream.samplerate == 16000


@pytest.mark.anyio
async def test_a_failing_callback_raises_on_the_event_loop(sd: FakeSoundDevice) -> None:
    async with DeviceSink(backend=sd) as sink:
        await sink.open(S16)

        def broken(out: np.ndarray) -> int:
            raise ZeroDivisionError("bug in the callback")

        sink._engine.ring.peek_into = broken  # type: ignore[method-assign]
        with pytest.raises(AudioDeviceError, match="audio callback failed") as info:
            for _ in range(1000):
                await sink.write(noise(2400, seed=20))
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        assert sink.callback_errors >= 1
        assert sd.stream.active  # the exception never reached PortAudio
        with pytest.raises(AudioDeviceError):
            await sink.drain()
    assert sd.stream.closed
    assert not any((b.data.view(np.uint8) == GARBAGE).all() for b in sd.stream.blocks)


@pytest.mark.anyio
async def test_a_device_that_stops_mid_stream_raises_and_is_released(sd: FakeSoundDevice) -> None:
    sink = DeviceSink(backend=sd, buffer=0.1)
    try:
        await sink.open(S16)
        await sink.write(noise(2000, seed=21))
        sd.stream.active = False  # e.g. the USB headset was unplugged
        with pytest.raises(AudioDeviceError, match="stopped"):
            await sink.write(noise(24000, seed=22))
    finally:
        await sink.aclose()
    assert sd.stream.closed


@pytest.mark.anyio
async def test_a_hung_device_raises_instead_of_blocking_forever(
    sd: FakeSoundDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_device, "_STALL_TIMEOUT", 0.1)
    async with DeviceSink(backend=sd, buffer=0.1) as sink:
        await sink.open(S16)
        sd.stalled = True
        with pytest.raises(AudioDeviceError, match="stopped asking for audio"):
            await sink.write(noise(24000, seed=23))
        sd.stalled = False


@pytest.mark.anyio
async def test_cancelled_producer_still_releases_the_device(sd: FakeSoundDevice) -> None:
    sink = DeviceSink(backend=sd, buffer=0.1)
    with anyio.CancelScope() as scope:

        async def cancel_once_playing() -> None:
            await wait_for(lambda: sink.frames_played > 2400)
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_once_playing)
            try:
                await sink.open(S16)
                await sink.write(noise(240000, seed=24))  # 10 s: cancelled long before the end
            finally:
                await sink.aclose()
    assert scope.cancelled_caught
    assert sd.stream.closed
    out = sd.stream.output()
    last = int(np.flatnonzero(out[:, 0])[-1])
    assert abs(int(out[last, 0])) < 2000  # faded out, not cut off mid-wave


@pytest.mark.anyio
async def test_counts_device_underflows_as_gaps_only_while_playing() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    async with DeviceSink(backend=sd, prebuffer=0.0) as sink:
        await sink.open(S16)
        sd.underflow_flag = True
        sd.stream.tick(240)  # nothing playing: the listener hears no gap
        assert (sink.device_underflows, sink.gaps) == (1, 0)
        await sink.write(noise(2400, seed=26))
        sd.underflow_flag = False
        sd.stream.tick(240)
        sd.underflow_flag = True
        sd.stream.tick(240)  # mid-speech: a gap
        assert (sink.device_underflows, sink.gaps, sink.underruns) == (2, 1, 1)
        assert sink.buffer_underruns == 0


@pytest.mark.anyio
async def test_misuse_is_reported(sink: DeviceSink) -> None:
    with pytest.raises(RuntimeError, match="before open"):
        await sink.write(noise(10))
    await sink.open(S16)
    with pytest.raises(ValueError, match="int16"):
        await sink.write(np.zeros((10, 1), np.float32))
    with pytest.raises(ValueError, match="shape"):
        await sink.write(np.zeros(10, np.int16))
    await sink.write(noise(10))
    await sink.drain()
    with pytest.raises(RuntimeError, match="after drain"):
        await sink.write(noise(10))
    await sink.aclose()
    await sink.aclose()  # idempotent


def test_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="latency"):
        DeviceSink(latency=0)
    with pytest.raises(ValueError, match="prebuffer"):
        DeviceSink(prebuffer=-1)


# -- sleeping until the predicted moment (fewer event loop wake-ups) ---------------------


async def fill_and_start(sink: DeviceSink, sd: FakeSoundDevice, frames: int) -> None:
    """Open, queue ``frames`` (the whole ring's room) and let the device start playing them."""
    await sink.open(S16)
    await sink.write(noise(frames, seed=8))
    sd.stream.tick(240)
    assert sink._engine is not None
    assert sink._engine.playing


@pytest.mark.anyio
async def test_a_writer_sleeping_until_the_ring_has_room_wakes_on_abort() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    # 60 s of ring: a writer that does not fit sleeps until half of it has played (30 s), or
    # the longest nap, made long here so that only abort() can end the sleep within the test.
    async with DeviceSink(backend=sd, buffer=60.0, prebuffer=0.0) as sink:
        sink._longest_nap = 600.0
        await fill_and_start(sink, sd, 60 * 24000)
        finished = anyio.Event()

        async def producer() -> None:
            await sink.write(noise(40 * 24000, seed=9))  # sleeps min(40 s, 30 s)
            finished.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            # The device calls back while the writer sleeps (between its looks at the device)...
            await wait_for(lambda: sd.stream.tick(240) is not None and sink._free_running)
            # ... so its next sleep lasts until the predicted room.
            await wait_for(lambda: sink._wake is not None)
            await wait_all_tasks_blocked()
            assert not finished.is_set()
            sd.auto_tick = True  # the callback acknowledges the abort
            with anyio.fail_after(10):
                await sink.abort()
                await finished.wait()
        assert sink._wake is None


@pytest.mark.anyio
async def test_a_device_not_seen_calling_back_on_its_own_is_polled_every_half_block() -> None:
    sd = FakeSoundDevice()  # calls back only when the sink looks at it
    source = noise(24000, seed=10)
    async with DeviceSink(backend=sd, buffer=0.1, prebuffer=0.0) as sink:
        sink._longest_nap = 600.0  # a long sleep would never end within the test
        await sink.open(S16)
        with anyio.fail_after(20):
            await sink.write(source)
            assert sink._wake is None  # never slept past a poll
            assert not sink._free_running
            await sink.drain()
        first, end = real_span(sd.stream.output())
        np.testing.assert_array_equal(sd.stream.output()[first:end], source)


@pytest.mark.anyio
async def test_drain_sleeps_until_the_predicted_end_and_plays_everything() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    source = noise(4800, seed=11)
    async with DeviceSink(backend=sd, prebuffer=0.0) as sink:
        await sink.open(S16)
        await sink.write(source)
        sd.stream.tick(240)
        await drain_while_ticking(sink, sd.stream)
        assert sink._free_running  # the device ran between the sink's looks: long sleeps
        first, end = real_span(sd.stream.output())
        np.testing.assert_array_equal(sd.stream.output()[first:end], source)
        assert sink.frames_played == len(source)


# -- conversion ---------------------------------------------------------------------------


def test_dtype_conversion_is_full_scale() -> None:
    x = np.array([[-32768], [0], [16384], [32767]], np.int16)
    f = convert_dtype(x, "float32")
    assert f[:, 0].tolist() == [-1.0, 0.0, 0.5, 32767 / 32768]
    np.testing.assert_array_equal(convert_dtype(f, "int16"), x)
    np.testing.assert_array_equal(convert_dtype(convert_dtype(x, "int32"), "int16"), x)
    assert convert_dtype(np.array([[2.0], [-2.0]], np.float32), "int32")[:, 0].tolist() == [
        2**31 - 1,
        -(2**31),
    ]


def test_channel_mixing() -> None:
    mono = np.array([[1], [2]], np.int16)
    assert mix_channels(mono, 2).tolist() == [[1, 1], [2, 2]]
    stereo = np.array([[1, 3], [-2, -4]], np.int16)
    assert mix_channels(stereo, 1).tolist() == [[2], [-3]]
    assert mix_channels(stereo, 3).tolist() == [[1, 3, 0], [-2, -4, 0]]
    assert mix_channels(np.array([[1, 2, 3]], np.int16), 2).tolist() == [[1, 2]]


def test_chunked_resampling_equals_resampling_the_whole() -> None:
    soxr = pytest.importorskip("soxr")
    source = noise(22050, seed=25)
    conv = Converter(AudioFormat(22050, 1, "int16"), AudioFormat(48000, 1, "int16"))
    assert conv.resampling
    out = np.concatenate([*(conv.process(p) for p in chunked(source)), conv.flush()])
    whole = soxr.resample(source, 22050, 48000)
    assert out.shape == whole.shape
    assert np.abs(out.astype(np.int32) - whole.astype(np.int32)).max() <= 2


@pytest.mark.anyio
async def test_pause_fades_out_keeps_everything_and_resume_fades_back_in() -> None:
    sd = FakeSoundDevice(auto_tick=False)
    loud = np.full((2400, 1), 20000, np.int16)
    async with DeviceSink(backend=sd, prebuffer=0.0, fade=0.005) as sink:  # fade: 120 frames
        await sink.open(S16)
        await sink.write(loud)
        sd.stream.tick(240)
        sink.set_paused(True)
        assert sink.paused
        fade_out = sd.stream.tick(240).data[:, 0].astype(np.int32)
        silent = [sd.stream.tick(240) for _ in range(3)]
        sink.set_paused(False)
        fade_in = sd.stream.tick(240).data[:, 0].astype(np.int32)
        for _ in range(7):
            sd.stream.tick(240)
        assert sink.underruns == 0  # a pause is not an underrun
        await drain_while_ticking(sink, sd.stream)
    assert fade_out[0] > 19000
    assert (np.diff(fade_out[:120]) <= 0).all()
    assert not fade_out[119:].any()
    assert not any(b.data.any() for b in silent)
    assert fade_in[0] < 1000
    assert (np.diff(fade_in[:120]) >= 0).all()
    assert (fade_in[120:] == 20000).all()
    # Only the 120 faded frames were spent on the pause: everything else is played in full.
    out = sd.stream.output()[:, 0]
    assert (out == 20000).sum() == 2400 - 120 - 120
    assert np.count_nonzero(out) == 2400 - 2  # the fades end and start at exactly 0


@pytest.mark.anyio
async def test_does_not_start_inside_the_start_up_burst_with_too_little_audio() -> None:
    # Just after start, PortAudio calls back in a burst until the device holds `latency` of
    # audio; starting there with only the prebuffer would run dry and put silence mid-speech.
    sd = FakeSoundDevice(auto_tick=False)
    source = noise(4800, seed=30)
    async with DeviceSink(backend=sd, prebuffer=0.03, latency=0.1) as sink:  # 720 + 2400
        await sink.open(S16)
        await sink.write(source[:1000])
        burst = sd.stream.tick  # back to back: the clock stands still, the DAC time grows
        assert not burst(240, lead=0.0, advance=False).data.any()  # 1000 < 720 + 2400: wait
        assert not burst(240, lead=0.01, advance=False).data.any()
        await sink.write(source[1000:2500])
        assert not burst(240, lead=0.02, advance=False).data.any()  # 2500 < 720 + 1920
        await sink.write(source[2500:])
        for k in range(3, 10):  # the burst goes on: 4800 frames now suffice
            burst(240, lead=0.01 * k, advance=False)
        await drain_while_ticking(sink, sd.stream)
        assert sink.underruns == 0
    out = sd.stream.output()
    first, end = real_span(out)
    np.testing.assert_array_equal(out[first:end], source)
    assert first == 3 * 240
