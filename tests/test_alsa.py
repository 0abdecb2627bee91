"""ALSA's messages go to logging, not to stderr: with the real libasound, in a subprocess.

The child makes libasound complain for real: it opens a PCM name that does not exist, and asks
ALSA to recover the built-in ``null`` PCM from an underrun (``snd_pcm_recover(-EPIPE)``), which
prints ``underrun occurred`` exactly as during playback.
"""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
import textwrap

import pytest

from ttsstream._play.alsa import format_message

needs_alsa = pytest.mark.skipif(
    not sys.platform.startswith("linux") or ctypes.util.find_library("asound") is None,
    reason="libasound (ALSA) is not installed",
)

CHILD = textwrap.dedent(
    """
    import ctypes, logging, sys
    logging.basicConfig(level=logging.DEBUG, stream=sys.stdout,
                        format="record %(name)s %(levelname)s %(message)s")
    from ttsstream._play.alsa import alsa_underruns, route_alsa_messages
    if sys.argv[1] == "route":
        assert route_alsa_messages()
        assert route_alsa_messages()  # twice is harmless
    lib = ctypes.CDLL("libasound.so.2")
    pcm = ctypes.c_void_p()
    assert lib.snd_pcm_open(ctypes.byref(pcm), b"ttsstream-no-such-pcm", 0, 0) < 0
    assert lib.snd_pcm_open(ctypes.byref(pcm), b"null", 0, 0) == 0
    lib.snd_pcm_recover.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    for _ in range(int(sys.argv[2])):
        lib.snd_pcm_recover(pcm, -32, 0)  # -EPIPE: an underrun
    print("underruns", alsa_underruns())
    """
)


def child(mode: str, underruns: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(underruns)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


@needs_alsa
def test_without_the_handler_alsa_writes_to_stderr() -> None:
    # The control: what the user saw before, from the same libasound.
    done = child("leave", 1)
    assert "ALSA lib pcm.c" in done.stderr
    assert "(snd_pcm_recover) underrun occurred" in done.stderr
    assert "record ttsstream.alsa" not in done.stdout


@needs_alsa
def test_alsa_messages_land_in_logging_and_underruns_are_counted() -> None:
    done = child("route", 3)
    assert "ALSA lib" not in done.stderr
    records = [line for line in done.stdout.splitlines() if line.startswith("record")]
    assert any(
        r.startswith("record ttsstream.alsa DEBUG ALSA lib pcm.c:")
        and r.endswith("(snd_pcm_open_noupdate) Unknown PCM ttsstream-no-such-pcm")
        for r in records
    ), records
    underrun = [r for r in records if r.endswith("(snd_pcm_recover) underrun occurred")]
    assert len(underrun) == 3, records
    assert all(r.startswith("record ttsstream.alsa WARNING ALSA lib pcm.c:") for r in underrun)
    assert "underruns 3" in done.stdout.splitlines()


def test_one_string_conversion_is_filled_in() -> None:
    assert format_message("%s occurred", "underrun") == "underrun occurred"
    assert format_message("100%% sure: %s", "yes") == "100% sure: yes"


@pytest.mark.parametrize(
    "fmt", ["cannot recovery from %s, prepare failed: %s", "card %d gone", "%-8s wide", "no args"]
)
def test_other_formats_stay_as_they_are(fmt: str) -> None:
    assert format_message(fmt, "x") == fmt


def test_no_argument_leaves_the_format() -> None:
    assert format_message("%s occurred", None) == "%s occurred"
