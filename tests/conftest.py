"""Shared fixtures: the anyio backends, and a private PulseAudio daemon for real-audio tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .audio import PulseServer

REQUIRE_AUDIO = os.environ.get("TTSSTREAM_REQUIRE_AUDIO") == "1"

#: Null sinks of the private daemon: name -> rate. Both s16le mono. ``norewinds=1`` because a
#: sink rewind (PulseAudio re-mixing what it already rendered, when a new stream starts) is
#: heard correctly but reaches the monitor source with a hole, which would fail bit-exact checks.
SINKS = {"ttsstream_test": 24000, "ttsstream_test48": 48000}


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test under asyncio and under trio."""
    return str(request.param)


def _unavailable(reason: str) -> None:
    if REQUIRE_AUDIO:
        pytest.fail(f"TTSSTREAM_REQUIRE_AUDIO=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _start_daemon(runtime: Path) -> int:
    """Start ``pulseaudio`` with its state in ``runtime``; return its pid."""
    (runtime / "config").mkdir()
    client_conf = runtime / "client.conf"
    client_conf.write_text("autospawn = no\n")  # never let a client start a stray daemon
    env = {
        **os.environ,
        # Everything the daemon writes stays in runtime: works as root and with a read-only HOME.
        "HOME": str(runtime),
        "XDG_CONFIG_HOME": str(runtime / "config"),
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime),
        "PULSE_STATE_PATH": str(runtime),
        "PULSE_CLIENTCONFIG": str(client_conf),
    }
    env.pop("PULSE_SERVER", None)
    sinks = [
        f"--load=module-null-sink sink_name={name} rate={rate} format=s16le channels=1 norewinds=1"
        for name, rate in SINKS.items()
    ]
    cmd = [
        "pulseaudio",
        "--daemonize=yes",
        "-n",  # no default.pa: only the modules loaded here
        "--exit-idle-time=-1",
        "--realtime=no",
        "--high-priority=no",
        "--disable-shm=yes",  # containers often have a tiny /dev/shm
        f"--log-target=newfile:{runtime / 'pulse.log'}",
        *sinks,
        f"--load=module-native-protocol-unix socket={runtime / 'native'} auth-anonymous=1",
    ]
    # -D returns once the daemon is initialised (or has failed).
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30, check=False)
    pid_file = runtime / "pid"
    if done.returncode != 0 or not pid_file.exists():
        log = (runtime / "pulse.log").read_text() if (runtime / "pulse.log").exists() else ""
        raise RuntimeError(f"pulseaudio failed ({done.returncode}): {done.stderr}\n{log}")
    return int(pid_file.read_text().split()[0])


def _stop_daemon(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A private PulseAudio daemon with null sinks, reached through PortAudio's ALSA ``pulse``.

    Skips when PulseAudio, parec or PortAudio is missing; fails instead when the environment
    variable ``TTSSTREAM_REQUIRE_AUDIO=1`` is set (as in CI).
    """
    for tool in ("pulseaudio", "parec"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils)")
    # A short path: unix socket paths are limited to ~107 bytes.
    runtime = Path(tmp_path_factory.mktemp("pulse", numbered=True))
    try:
        pid = _start_daemon(runtime)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"cannot start a PulseAudio daemon: {exc}")
    old_server = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = f"unix:{runtime / 'native'}"
    try:
        # PortAudio lists devices when it is initialised; the ALSA "pulse" device is only there
        # if the daemon answers at that moment.
        imported_before = "sounddevice" in sys.modules
        try:
            import sounddevice
        except OSError as exc:
            _unavailable(f"PortAudio is missing (apt-get install libportaudio2): {exc}")
        if imported_before:  # PortAudio listed devices without the daemon: list them again
            sounddevice._terminate()
            sounddevice._initialize()
        names = [d["name"] for d in sounddevice.query_devices() if d["max_output_channels"] > 0]
        if "pulse" not in names:
            _unavailable(
                f"PortAudio has no ALSA 'pulse' device (apt-get install libasound2-plugins); "
                f"output devices: {names}"
            )
        yield PulseServer(runtime=runtime, sinks=dict(SINKS))
    finally:
        if old_server is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = old_server
        _stop_daemon(pid)
