"""The ``ttsstream`` command, run as a real subprocess (``python -m ttsstream``).

The HTTP side is a real loopback server in this process; the audio goes to a WAV file
(``--out``) so that no sound device is needed, except in the tests marked ``audio``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
import wave
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pytest

import ttsstream
from ttsstream import MemorySink
from ttsstream._play.tee import TeeSink

from .audio import noise, nonsilent_span
from .httpfakes import streaming_wav, tone
from .loopback import LoopbackServer, audio_response, json_response

if TYPE_CHECKING:
    from pathlib import Path

    from .audio import PulseServer

KEY = "sk-cli-secret-0123456789abcdef"
LIMIT = 20  # seconds any one command may take: a hang fails the test instead of the suite
#: Variables that would choose a provider or reach a real service: never inherited.
_PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ELEVENLABS_API_KEY",
    "ELEVENLABS_BASE_URL",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "TTSSTREAM_PROVIDER",
)

needs_posix = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and terminals")


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PROVIDER_ENV}
    env["OPENAI_API_KEY"] = KEY
    env.update(extra)
    return env


def run(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m ttsstream ARGS``, bounded by LIMIT."""
    return subprocess.run(
        [sys.executable, "-m", "ttsstream", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        env=env if env is not None else cli_env(),
        check=False,
    )


def start(*args: str, **options: Any) -> subprocess.Popen[str]:
    """``python -m ttsstream ARGS`` in the background, with Ctrl-C (SIGINT) working in it
    even when this test runs with SIGINT ignored (as background jobs do)."""
    return subprocess.Popen(
        [sys.executable, "-m", "ttsstream", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **options,
    )


def wait_for_requests(server: LoopbackServer, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while len(server.requests) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for request {count}")
        time.sleep(0.01)


def speech_server(source: npt.NDArray[np.int16] | None = None, **options: Any) -> LoopbackServer:
    payload = streaming_wav(tone(12000) if source is None else source)
    return LoopbackServer(lambda r, n: audio_response(payload, (1, 1023, 777), **options))


def read_wav(path: Path) -> tuple[int, npt.NDArray[np.int16]]:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.int16)
        return w.getframerate(), frames.reshape(-1, 1)


def inputs(server: LoopbackServer) -> list[object]:
    return [r.json()["input"] for r in server.requests]  # type: ignore[index]


def say(server: LoopbackServer, *args: str) -> list[str]:
    return ["say", "--provider", "openai", "--base-url", server.url, *args]


# -- usage ------------------------------------------------------------------------------------


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"ttsstream {ttsstream.__version__}"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["say"], id="no-text"),
        pytest.param(["say", "  "], id="blank-text"),
        pytest.param(["say", "--provider", "nope", "Hi."], id="unknown-provider"),
        pytest.param(["say", "--out", "x.wav", "--device", "0", "Hi."], id="device-without-play"),
        pytest.param([], id="no-command"),
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = run(*args)
    assert done.returncode == 2, done.stderr
    assert "usage: ttsstream" in done.stderr
    assert "Traceback" not in done.stderr


def test_empty_stdin_is_a_usage_error(tmp_path: Path) -> None:
    with speech_server() as server:
        done = run(*say(server, "--out", str(tmp_path / "x.wav"), "-"), input="  \n")
    assert done.returncode == 2, done.stderr
    assert "nothing to say: standard input was empty" in done.stderr
    assert server.requests == []


# -- saying -----------------------------------------------------------------------------------


def test_out_writes_the_exact_samples(tmp_path: Path) -> None:
    source = tone(30000)
    out = tmp_path / "hello.wav"
    with speech_server(source) as server:
        done = run(*say(server, "--out", str(out), "Hello", "there."))
    assert done.returncode == 0, done.stderr
    assert inputs(server) == ["Hello there."]  # arguments joined with spaces
    rate, samples = read_wav(out)
    assert rate == 24000
    np.testing.assert_array_equal(samples, source)
    assert f"ttsstream: using openai (tts-1, voice alloy, wav, {server.url})" in done.stderr
    assert done.stdout == ""


def test_provider_options_reach_the_request(tmp_path: Path) -> None:
    with speech_server() as server:
        done = run(
            *say(server, "--voice", "nova", "--model", "gpt-4o-mini-tts", "--speed", "1.5"),
            *("--format", "wav", "--out", str(tmp_path / "x.wav"), "--quiet", "Hi."),
        )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # --quiet
    (request,) = server.requests
    assert request.json() == {
        "model": "gpt-4o-mini-tts",
        "input": "Hi.",
        "voice": "nova",
        "response_format": "wav",
        "speed": 1.5,
    }


def test_metrics(tmp_path: Path) -> None:
    payload_frames = 12000
    with speech_server(tone(payload_frames)) as server:
        done = run(*say(server, "--out", str(tmp_path / "x.wav"), "--metrics", "Hi."))
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stderr.splitlines() if ":" in line)
    for name in ("ttfb", "ttfa", "duration", "underruns", "bytes"):
        assert name in lines, done.stderr
    assert lines["duration"].strip() == "0.500 s"
    assert lines["bytes"].strip() == str(44 + 2 * payload_frames)
    assert lines["underruns"].strip() == "0"
    assert lines["ttfb"].strip().endswith(" s")
    assert lines["ttfa"].strip().endswith(" s")


def test_stdin_is_spoken_sentence_by_sentence_while_it_is_read(tmp_path: Path) -> None:
    source = tone(2400)
    out = tmp_path / "story.wav"
    lines = ["The first sentence is here.", "A second one follows it.", "And the last one."]
    with speech_server(source) as server:
        proc = start(*say(server, "--out", str(out), "-"), stdin=subprocess.PIPE)
        try:
            assert proc.stdin is not None
            for i, line in enumerate(lines[:-1]):
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
                # Spoken while standard input is still open: not read to the end first.
                wait_for_requests(server, i + 1)
            # No newline: the end of the file finishes the last sentence.
            _, stderr = proc.communicate(lines[-1], timeout=LIMIT)
        finally:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert inputs(server) == lines
    _rate, samples = read_wav(out)
    np.testing.assert_array_equal(samples, np.concatenate([source] * 3))


MARKDOWN = "**Bold** claim. Read [the docs](https://example.com/docs) and `run` it."
#: What is spoken of MARKDOWN: no asterisks, no URL, no backticks.
SPOKEN = "Bold claim. Read the docs and run it."


def test_markdown_is_cleaned_from_text_arguments_as_from_stdin(tmp_path: Path) -> None:
    with speech_server() as server:
        argument = run(*say(server, "--out", str(tmp_path / "a.wav"), MARKDOWN))
        piped = run(*say(server, "--out", str(tmp_path / "b.wav"), "-"), input=MARKDOWN)
    assert argument.returncode == 0, argument.stderr
    assert piped.returncode == 0, piped.stderr
    first, *rest = inputs(server)
    assert first == SPOKEN
    # Standard input goes sentence by sentence: the same words, cut into sentences (fetched
    # ahead concurrently, so the server may see them in either order).
    assert sorted(map(str, rest)) == ["Bold claim.", "Read the docs and run it."]
    assert read_wav(tmp_path / "a.wav")[1].shape == (12000, 1)


def test_raw_speaks_the_markdown_as_it_is(tmp_path: Path) -> None:
    with speech_server() as server:
        argument = run(*say(server, "--raw", "--out", str(tmp_path / "a.wav"), MARKDOWN))
        piped = run(*say(server, "--raw", "--out", str(tmp_path / "b.wav"), "-"), input=MARKDOWN)
    assert argument.returncode == 0, argument.stderr
    assert piped.returncode == 0, piped.stderr
    first, *rest = inputs(server)
    assert first == MARKDOWN
    assert sorted(map(str, rest)) == [
        "**Bold** claim.",
        "Read [the docs](https://example.com/docs) and `run` it.",
    ]


@pytest.mark.parametrize("from_stdin", [False, True], ids=["text", "stdin"])
def test_markdown_only_says_nothing_is_left_to_speak(tmp_path: Path, from_stdin: bool) -> None:
    only_markup = "```\nprint(1)\n```\n"
    with speech_server() as server:
        args = say(server, "--out", str(tmp_path / "x.wav"))
        done = run(*args, "-", input=only_markup) if from_stdin else run(*args, only_markup)
    assert done.returncode == 2, done.stderr
    assert "after removing Markdown" in done.stderr
    assert "--raw" in done.stderr
    assert server.requests == []


def without(*names: str) -> dict[str, str]:
    """``cli_env()`` without the variables ``names`` (no API key, for instance)."""
    return {k: v for k, v in cli_env().items() if k not in names}


@pytest.mark.parametrize(
    ("provider", "flag"),
    [
        ("openai", "OPENAI_API_KEY"),
        ("elevenlabs", "ELEVENLABS_API_KEY"),
        ("deepgram", "DEEPGRAM_API_KEY"),
        ("cartesia", "CARTESIA_API_KEY"),
        ("azure-speech", "AZURE_SPEECH_KEY"),
    ],
)
def test_missing_key_is_worded_for_the_command_line(
    tmp_path: Path, provider: str, flag: str
) -> None:
    env = without("OPENAI_API_KEY", flag)
    env["AZURE_SPEECH_REGION"] = "westeurope"  # so that the key is what is missing
    done = run("say", "--provider", provider, "--out", str(tmp_path / "x.wav"), "Hi.", env=env)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("ttsstream: error: no ")
    assert f"set {flag} or pass --api-key KEY" in line
    assert "api_key=" not in line  # Python advice, not for a shell user
    assert not (tmp_path / "x.wav").exists() or (tmp_path / "x.wav").stat().st_size <= 44


def test_no_provider_at_all_names_the_flags(tmp_path: Path) -> None:
    env = without("OPENAI_API_KEY")
    # Hide the piper extra: the child imports ttsstream from PYTHONPATH only.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "piper.py").write_text("raise ImportError('hidden by the test')\n")
    (blocker / "sitecustomize.py").write_text(
        "import importlib.util, sys\n"
        "_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'piper' else _find(name, *a)\n"
    )
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), env.get("PYTHONPATH", "")])
    done = run("say", "--out", str(tmp_path / "x.wav"), "Hi.", env=env)
    assert done.returncode == 1, done.stderr
    line = done.stderr.splitlines()[-1]
    assert "no text-to-speech provider is configured" in line
    assert "--provider" in line
    assert "--api-key" in line
    assert "provider=" not in line


def test_api_key_option_reaches_the_server_and_nowhere_else(tmp_path: Path) -> None:
    key = "sk-from-the-command-line-42"
    with speech_server() as server:
        done = run(
            *say(server, "--api-key", key, "--out", str(tmp_path / "x.wav"), "--metrics", "Hi."),
            env=without("OPENAI_API_KEY"),
        )
    assert done.returncode == 0, done.stderr
    (request,) = server.requests
    assert request.headers["authorization"] == f"Bearer {key}"
    assert key not in done.stderr + done.stdout


def test_api_key_option_reaches_the_other_services_too(tmp_path: Path) -> None:
    key = "dg-from-the-command-line-42"
    with LoopbackServer(
        lambda r, n: audio_response(bytes(4800), content_type="audio/l16")
    ) as server:
        done = run(
            "say",
            "--provider",
            "deepgram",
            "--base-url",
            server.url.removesuffix("/v1"),
            "--api-key",
            key,
            "--out",
            str(tmp_path / "x.wav"),
            "Hi.",
            env=without("DEEPGRAM_API_KEY"),
        )
    assert done.returncode == 0, done.stderr
    (request,) = server.requests
    assert request.headers["authorization"] == f"Token {key}"
    assert key not in done.stderr + done.stdout


def test_a_compressed_format_is_asked_of_openai(tmp_path: Path) -> None:
    with speech_server() as server:  # answers WAV whatever was asked: ttsstream plays it
        done = run(*say(server, "--format", "mp3", "--out", str(tmp_path / "x.wav"), "Hi."))
    assert done.returncode == 0, done.stderr
    (request,) = server.requests
    assert request.json()["response_format"] == "mp3"  # type: ignore[index]


def test_a_compressed_format_is_refused_for_elevenlabs(tmp_path: Path) -> None:
    done = run(
        "say",
        "--provider",
        "elevenlabs",
        "--format",
        "mp3",
        "--out",
        str(tmp_path / "x.wav"),
        "Hi.",
    )
    assert done.returncode == 2
    assert "--format mp3 is for openai; elevenlabs takes wav or pcm" in done.stderr


def test_api_key_cannot_be_used_with_piper(tmp_path: Path) -> None:
    done = run(
        "say", "--provider", "piper", "--api-key", "k", "--out", str(tmp_path / "x.wav"), "Hi."
    )
    assert done.returncode == 2
    assert "--api-key cannot be used with piper" in done.stderr


@needs_posix
def test_no_device_message_speaks_to_a_command_line_user() -> None:
    env = cli_env(PULSE_SERVER="unix:/nonexistent/ttsstream-test-socket")
    with speech_server() as server:
        done = run(*say(server, "--quiet", "Hi."), env=env)
    if done.returncode == 0:
        pytest.skip("PortAudio finds output devices here anyway")
    line = done.stderr.splitlines()[-1]
    assert line.startswith("ttsstream: error: no audio output device found: on Linux")
    assert "ttsstream devices" in line
    assert "sounddevice" not in line
    assert "import" not in line


def test_api_error_is_one_line_without_traceback_or_key(tmp_path: Path) -> None:
    # The server even echoes the key: it must still never reach the output.
    body = {"error": {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}}
    with LoopbackServer(lambda r, n: json_response(401, body)) as server:
        done = run(*say(server, "--out", str(tmp_path / "x.wav"), "--quiet", "Hi."))
        debug = run(*say(server, "--out", str(tmp_path / "x.wav"), "--debug", "Hi."))
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("ttsstream: error: openai answered 401 Unauthorized: Incorrect API key")
    assert "OPENAI_API_KEY" in line
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr  # --debug shows it
    for output in (done.stdout, done.stderr, debug.stdout, debug.stderr):
        assert KEY not in output


def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    with LoopbackServer(lambda r, n: []) as server:
        url = server.url  # closed: nothing listens there any more
    done = run("say", "--base-url", url, "--out", str(tmp_path / "x.wav"), "-q", "Hi.")
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("ttsstream: error: openai: could not reach http://127.0.0.1:")


# -- the live status line ------------------------------------------------------------------------


def test_no_status_line_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    with speech_server(pace=0.002) as server:  # ~0.1 s of streaming: the line would redraw
        done = run(*say(server, "--out", str(tmp_path / "x.wav"), "Hi."))
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    assert "\x1b" not in done.stderr
    assert "audio received" not in done.stderr


@needs_posix
def test_status_line_on_a_terminal(tmp_path: Path) -> None:
    import pty

    main, secondary = pty.openpty()
    try:
        with speech_server(pace=0.01) as server:  # ~0.4 s of streaming
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "ttsstream",
                    *say(server, "--out", str(tmp_path / "x.wav"), "Hi."),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=secondary,
                timeout=LIMIT,
                env=cli_env(),
                check=False,
            )
        os.close(secondary)
        seen = _read_all(main)
    finally:
        os.close(main)
    assert done.returncode == 0, seen
    assert "s of audio received" in seen
    assert seen.count("\x1b[K") >= 2  # drawn, then cleared before the next message
    after_clearing = seen.rsplit("\x1b[K", 1)[-1]
    assert after_clearing.startswith("ttsstream: wrote ")


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


# -- devices --------------------------------------------------------------------------------


@needs_posix
def test_no_device_says_so_and_suggests_out() -> None:
    env = cli_env(PULSE_SERVER="unix:/nonexistent/ttsstream-test-socket")
    devices = run("devices", env=env)
    if devices.returncode == 0:
        pytest.skip(f"PortAudio finds output devices here anyway: {devices.stdout!r}")
    assert devices.returncode == 1
    (line,) = devices.stderr.splitlines()
    assert line.startswith("ttsstream: error: no audio output device found")
    assert "--out FILE.wav" in line
    with speech_server() as server:
        done = run(*say(server, "--quiet", "Hi."), env=env)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert "no audio output device" in line
    assert "use --out FILE.wav" in line


@pytest.mark.audio
def test_devices_lists_outputs_and_marks_the_default(pulse: PulseServer) -> None:
    done = run("devices", env=cli_env())  # PULSE_SERVER points at the private daemon
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert "pulse" in [row[7:].split("  ")[0] for row in rows]  # the name column
    assert sum(row.startswith("*") for row in rows) == 1
    assert all(row[2:5].strip().isdigit() and " Hz" in row for row in rows)


@pytest.mark.audio
def test_play_and_out_together_are_bit_exact(pulse: PulseServer, tmp_path: Path) -> None:
    source = noise(24000, seed=5)  # 1 s, never exactly zero
    out = tmp_path / "both.wav"
    with speech_server(source) as server, pulse.record() as rec:
        done = run(*say(server, "--out", str(out), "--play", "--device", "pulse", "Hi."))
    assert done.returncode == 0, done.stderr
    _, written = read_wav(out)
    np.testing.assert_array_equal(written, source)
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    np.testing.assert_array_equal(rec.samples[first:end], source[:, 0])


@pytest.mark.audio
def test_playing_keeps_alsa_off_the_terminal_and_counts_its_underruns(
    pulse: PulseServer,
) -> None:
    with speech_server() as server:
        done = run(*say(server, "--device", "pulse", "--metrics", "Hi."))
    assert done.returncode == 0, done.stderr
    assert "ALSA lib" not in done.stderr
    lines = dict(line.split(":", 1) for line in done.stderr.splitlines() if ":" in line)
    assert lines["alsa underruns"].strip().isdigit(), done.stderr


# -- Ctrl-C ---------------------------------------------------------------------------------


@needs_posix
@pytest.mark.parametrize("from_stdin", [False, True], ids=["text", "stdin"])
def test_ctrl_c_stops_at_once_with_status_130(tmp_path: Path, from_stdin: bool) -> None:
    slow = tone(48000)  # 2 s of audio, sent over ~10 s
    with speech_server(slow, pace=0.05) as server:
        args = say(server, "--out", str(tmp_path / "x.wav"))
        if from_stdin:
            # Standard input stays open: the blocked read must not keep the process alive.
            proc = start(*args, "-", stdin=subprocess.PIPE)
            assert proc.stdin is not None
            proc.stdin.write("This sentence takes a long time to say.\n")
            proc.stdin.flush()
        else:
            proc = start(*args, "This takes a long time to say.")
        try:
            wait_for_requests(server, 1)
            time.sleep(0.2)  # audio is flowing
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=5)
        finally:
            proc.kill()
            if proc.stdin is not None:
                proc.stdin.close()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr


# -- Piper ----------------------------------------------------------------------------------


@pytest.mark.piper
def test_piper_writes_plausible_speech(tmp_path: Path) -> None:
    if importlib.util.find_spec("piper") is None:
        if os.environ.get("TTSSTREAM_REQUIRE_AUDIO") == "1":
            pytest.fail("TTSSTREAM_REQUIRE_AUDIO=1 but piper is not installed", pytrace=False)
        pytest.skip("the piper extra is not installed")
    out = tmp_path / "piper.wav"
    done = run("say", "--provider", "piper", "--out", str(out), "Hello from the command line.")
    assert done.returncode == 0, done.stderr
    assert "ttsstream: using piper (" in done.stderr
    assert "offline" in done.stderr
    rate, samples = read_wav(out)
    seconds = len(samples) / rate
    assert 0.8 < seconds < 6
    assert np.abs(samples.astype(np.int32)).max() > 1000  # speech, not silence


# -- TeeSink, behind --out --play -----------------------------------------------------------


class _FailingSink(MemorySink):
    async def abort(self) -> None:
        await super().abort()
        raise ttsstream.AudioDeviceError("device gone")


@pytest.mark.anyio
async def test_tee_sink_sends_everything_to_every_sink() -> None:
    first, second = MemorySink(), MemorySink()
    tee = TeeSink(first, second)
    source = tone(1000)
    await tee.open(ttsstream.AudioFormat(24000))
    for piece in (source[:1], source[1:777], source[777:]):
        await tee.write(piece)
    await tee.drain()
    for sink in (first, second):
        np.testing.assert_array_equal(sink.samples(), source)
        assert sink.drained
    assert tee.frames_played == 1000
    await tee.aclose()
    assert first.closed
    assert second.closed


class _GappySink(MemorySink):
    def __init__(self, gaps: int, seconds: float) -> None:
        super().__init__()
        self._gaps, self._seconds = gaps, seconds

    @property
    def underruns(self) -> int:
        return self._gaps

    @property
    def gap_seconds(self) -> float:
        return self._seconds


def test_tee_sink_adds_up_the_gaps_of_its_sinks() -> None:
    tee = TeeSink(_GappySink(2, 0.25), MemorySink(), _GappySink(1, 0.5))
    assert tee.underruns == 3
    assert tee.gap_seconds == 0.75


@pytest.mark.anyio
async def test_tee_sink_aborts_every_sink_even_when_one_fails() -> None:
    failing, other = _FailingSink(), MemorySink()
    tee = TeeSink(failing, other)
    await tee.open(ttsstream.AudioFormat(24000))
    with pytest.raises(ttsstream.AudioDeviceError, match="device gone"):
        await tee.abort()
    assert failing.aborted
    assert other.aborted
