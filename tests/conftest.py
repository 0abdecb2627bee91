"""Shared fixtures: the anyio backends, and a private PulseAudio daemon for real-audio tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .audio import PulseServer
from .pulsed import SINKS, running_daemon

REQUIRE_AUDIO = os.environ.get("TTSSTREAM_REQUIRE_AUDIO") == "1"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test under asyncio and under trio."""
    return str(request.param)


def _unavailable(reason: str) -> None:
    if REQUIRE_AUDIO:
        pytest.fail(f"TTSSTREAM_REQUIRE_AUDIO=1 but {reason}", pytrace=False)
    pytest.skip(reason)


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
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(running_daemon(runtime))
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            _unavailable(f"cannot start a PulseAudio daemon: {exc}")
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
