"""DeviceSink under faults on a real PulseAudio daemon: killed or stopped by its pid while it
plays, shared by concurrent speak() calls, and the playing process stopped for a moment (the
gaps it reports against a recording of the sink).

Each test that harms a daemon starts its own (the session's daemon keeps serving the others);
PortAudio's ALSA ``pulse`` device connects to whichever daemon ``PULSE_SERVER`` names when a
stream opens.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import anyio
import numpy as np
import pytest

from ttsstream import (
    AudioChunk,
    AudioDeviceError,
    AudioFormat,
    Provider,
    Speaker,
    StreamStats,
    speak,
)
from ttsstream._play.device import DeviceSink

from .audio import PulseServer, locate, noise
from .pulsed import parec_command, start_daemon

pytestmark = [pytest.mark.audio]

S16 = AudioFormat(24000, 1, "int16")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def own_daemon(pulse: PulseServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, Path]]:
    """A private daemon for this test alone: (pid, runtime directory)."""
    runtime = Path(tempfile.mkdtemp(prefix="ttsf-"))  # short: socket paths are limited
    pid = start_daemon(runtime)
    monkeypatch.setenv("PULSE_SERVER", f"unix:{runtime / 'native'}")
    try:
        yield pid, runtime
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # also ends a stopped daemon
        shutil.rmtree(runtime, ignore_errors=True)


class NoiseProvider(Provider):
    """Says each text as its own noise, ``seconds`` long, as fast as the sink takes it."""

    name = "noise"

    def __init__(self, seconds: float) -> None:
        self.frames = round(seconds * 24000)

    def audio(self, text: str) -> np.ndarray:
        return noise(self.frames, seed=sum(map(ord, text)))

    async def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        samples = self.audio(text)
        for i in range(0, len(samples), 2400):
            await anyio.lowlevel.checkpoint()
            yield AudioChunk(samples[i : i + 2400], S16)


async def _speak_until_signalled(pid: int, sig: signal.Signals) -> tuple[float, float, str]:
    """speak() 5 s of noise on the ``pulse`` device; send ``sig`` to the daemon once it plays.

    Returns (seconds from the signal to the error, to speak() returning, the error message).
    """
    sink = DeviceSink("pulse")
    signalled = anyio.Event()
    sent_at = 0.0

    async def signal_once_playing() -> None:
        nonlocal sent_at
        while sink.frames_played < 12000:  # 0.5 s heard
            await anyio.sleep(0.01)
        os.kill(pid, sig)
        sent_at = time.monotonic()
        signalled.set()

    message = ""
    error_at = 0.0
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(signal_once_playing)
            try:
                async with sink:
                    await speak("five seconds", provider=NoiseProvider(5.0), sink=sink)
            except AudioDeviceError as exc:
                message = str(exc)
                error_at = time.monotonic()
            returned_at = time.monotonic()
    assert signalled.is_set(), "the device stopped before the daemon was signalled"
    assert message, "speak() returned without an error"
    return error_at - sent_at, returned_at - sent_at, message


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_killed_sound_server_is_an_error_within_a_second(
    own_daemon: tuple[int, Path],
) -> None:
    pid, _ = own_daemon
    to_error, to_return, message = await _speak_until_signalled(pid, signal.SIGKILL)
    assert "audio device" in message
    assert to_error < 1.0
    assert to_return < 1.0  # cleanup (closing the dead stream) is not held hostage


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_stopped_sound_server_is_an_error_within_two_seconds(
    own_daemon: tuple[int, Path],
) -> None:
    pid, _ = own_daemon
    to_error, to_return, message = await _speak_until_signalled(pid, signal.SIGSTOP)
    assert "stopped asking for audio" in message
    assert to_error < 2.0
    assert to_return - to_error < 1.0  # a close that never returns is abandoned


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_concurrent_speak_calls_on_one_device_play_one_after_another(
    pulse: PulseServer,
) -> None:
    provider = NoiseProvider(0.4)
    texts = ["first", "second", "third"]
    with pulse.record() as rec:
        async with DeviceSink("pulse") as sink, anyio.create_task_group() as tg:
            for text in texts:
                tg.start_soon(lambda t=text: speak(t, provider=provider, sink=sink))
    captured = rec.samples
    assert captured is not None
    spans = []
    for text in texts:
        audio = provider.audio(text)[:, 0]
        at = locate(captured, audio[:2400])
        np.testing.assert_array_equal(captured[at : at + len(audio)], audio)  # whole
        spans.append((at, at + len(audio)))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start  # one after another, never mixed


def test_gaps_reported_match_the_silence_recorded_when_the_player_is_stopped(
    pulse: PulseServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "PULSE_SINK": "ttsstream_test",
    }
    recording = tmp_path / "rec.raw"
    with recording.open("wb") as out:
        parec = subprocess.Popen(parec_command("ttsstream_test", 24000), stdout=out, env=env)
    try:
        player = subprocess.Popen(
            [sys.executable, "-m", "tests.gap_player", "3"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert player.stdout is not None
            assert player.stdout.readline().strip() == "playing"
            time.sleep(1.0)  # playing by now (the ring holds 2 s: the stop starves the device)
            player.send_signal(signal.SIGSTOP)
            time.sleep(0.3)
            player.send_signal(signal.SIGCONT)
            stdout, _ = player.communicate(timeout=30)
        finally:
            player.kill()
        time.sleep(0.2)
    finally:
        parec.terminate()
        parec.wait(timeout=5)
    assert player.returncode == 0
    report = json.loads(stdout.strip().splitlines()[-1])
    data = recording.read_bytes()
    captured = np.frombuffer(data[: len(data) // 2 * 2], "<i2")
    sound = np.flatnonzero(captured)
    span = captured[sound[0] : sound[-1] + 1]
    # The noise is never 0: every run of zeros inside it is silence a listener heard.
    silent = np.concatenate([[0], (span == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(silent))
    runs = edges[1::2] - edges[::2]
    heard_gaps = int((runs >= 48).sum())  # 2 ms and longer
    heard_seconds = float(runs.sum()) / 24000
    assert heard_seconds >= 0.2  # the stop starved the device
    assert report["underruns"] == report["gaps"] >= 1
    # Counted from the device clock's jumps: close to what was recorded, not 0 as before.
    assert abs(report["gap_seconds"] - heard_seconds) <= 0.05 + 0.25 * heard_seconds
    # The count is looser: a hole the recording shows as one run may come with an underflow
    # flag a block later, and pulse may split one stall into runs (measured under load:
    # 8 reported / 6 recorded, 1 / 2, 7 / 5, 4 / 1).
    assert 1 <= report["gaps"] <= 2 * heard_gaps + 3


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_killed_sound_server_ends_say_stream_with_the_error(
    own_daemon: tuple[int, Path],
) -> None:
    # Issue 12: "Same for Speaker.say_stream": the error reaches the caller as itself, and the
    # call returns, within a second of the loss.
    pid, _ = own_daemon
    sink = DeviceSink("pulse")
    killed_at = 0.0

    async def deltas() -> AsyncGenerator[str, None]:
        for sentence in ("One sentence here. ", "Another one follows. ", "And a third one. "):
            yield sentence

    async def kill_once_playing() -> None:
        nonlocal killed_at
        while sink.frames_played < 12000:  # 0.5 s heard
            await anyio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()

    with anyio.fail_after(30):
        async with sink, anyio.create_task_group() as tg:
            tg.start_soon(kill_once_playing)
            with pytest.raises(AudioDeviceError, match="audio device"):
                async with Speaker(provider=NoiseProvider(2.0), sink=sink) as speaker:
                    await speaker.say_stream(deltas())
            returned_at = time.monotonic()
    assert killed_at, "the device stopped before the daemon was killed"
    assert returned_at - killed_at < 1.0
