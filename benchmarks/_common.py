"""What the benchmark scripts share: a private PulseAudio daemon when needed, and plotting."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IMG = ROOT / "docs" / "img"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test suite's loopback server and PulseAudio helpers


def default_device() -> str | None:
    """``pulse`` when PulseAudio is installed (a private daemon is started for it), else None."""
    return "pulse" if shutil.which("pulseaudio") and shutil.which("parec") else None


@contextlib.contextmanager
def audio_for(device: str | None) -> Iterator[None]:
    """For the ``pulse`` device with no PulseAudio server configured, run a private daemon."""
    if device != "pulse" or os.environ.get("PULSE_SERVER"):
        yield
        return
    from tests.pulsed import private_pulse

    with private_pulse():
        import sounddevice  # noqa: F401 - PortAudio lists its devices now, with the daemon up

        yield


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or None (and a note) if it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot)")
        return None
    return plt


def save(fig: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"plot: {shown}")
