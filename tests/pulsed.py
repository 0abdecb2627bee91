"""A private PulseAudio daemon with null sinks, for the real-audio tests and the benchmarks.

Nothing here needs pytest: ``benchmarks/`` uses :func:`private_pulse` to play and record through
the same null sinks as the tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: Null sinks of the private daemon: name -> rate. Both s16le mono. ``norewinds=1`` because a
#: sink rewind (PulseAudio re-mixing what it already rendered, when a new stream starts) is
#: heard correctly but reaches the monitor source with a hole, which would fail bit-exact checks.
SINKS = {"ttsstream_test": 24000, "ttsstream_test48": 48000}


def start_daemon(runtime: Path) -> int:
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


def stop_daemon(pid: int) -> None:
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


@contextlib.contextmanager
def running_daemon(runtime: Path) -> Iterator[Path]:
    """Run a daemon in ``runtime`` while the block runs, with ``PULSE_SERVER`` pointing at it.

    Raises RuntimeError (or OSError) if the daemon cannot start.
    """
    pid = start_daemon(runtime)
    old = os.environ.get("PULSE_SERVER")
    os.environ["PULSE_SERVER"] = f"unix:{runtime / 'native'}"
    try:
        yield runtime
    finally:
        if old is None:
            os.environ.pop("PULSE_SERVER", None)
        else:
            os.environ["PULSE_SERVER"] = old
        stop_daemon(pid)


@contextlib.contextmanager
def private_pulse() -> Iterator[Path]:
    """:func:`running_daemon` in a temporary directory; yields that directory."""
    with (
        tempfile.TemporaryDirectory(prefix="ttsstream-pulse-") as tmp,
        running_daemon(Path(tmp)) as runtime,
    ):
        yield runtime


def parec_command(sink: str, rate: int) -> list[str]:
    """``parec`` recording ``sink``'s monitor as raw s16le mono at ``rate``, 10 ms latency.

    A low-latency recorder also keeps the null sink at low latency: an idle null sink sleeps
    up to 2 s before it notices a new stream.
    """
    return [
        "parec",
        "--raw",
        "--format=s16le",
        f"--rate={rate}",
        "--channels=1",
        f"--device={sink}.monitor",
        "--latency-msec=10",
    ]
