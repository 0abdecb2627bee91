"""OpenAI's ``/v1/audio/speech``, any OpenAI-compatible server, and Azure OpenAI."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from .._errors import ConfigurationError
from .._format import AudioFormat
from .http import AudioRequest, HttpProvider, Retries, Timeouts

__all__ = ["AzureOpenAI", "OpenAI"]

ResponseFormat = Literal["wav", "pcm", "mp3", "opus", "aac", "flac"]
_STREAMABLE: tuple[ResponseFormat, ...] = ("wav", "pcm")
_COMPRESSED: tuple[ResponseFormat, ...] = ("mp3", "opus", "aac", "flac")
_OFFICIAL_URL = "https://api.openai.com/v1"
_PCM_FORMAT = AudioFormat(sample_rate=24000, channels=1, dtype="int16")


class OpenAI(HttpProvider):
    """OpenAI text to speech, or any server that speaks its API.

    ``base_url`` (default ``$OPENAI_BASE_URL`` or OpenAI's) makes it work with compatible
    servers such as Kokoro-FastAPI, Speaches, LocalAI or openedai-speech. ``api_key`` defaults to
    ``$OPENAI_API_KEY``; compatible servers often need none. Voices are passed through as given
    (a name, or ``{"id": ...}`` for custom voices), because compatible servers have their own.

    ``response_format`` is ``"wav"`` (default) or ``"pcm"`` (24 kHz 16-bit mono, no header);
    both stream as they are generated. ``"mp3"``, ``"opus"`` (Ogg, 48 kHz), ``"aac"`` (ADTS) and
    ``"flac"`` need the ``codecs`` extra (PyAV): less bandwidth, a little more latency and CPU.
    ``stream_format="sse"`` asks for server-sent events with
    base64 audio (not supported by ``tts-1``/``tts-1-hd``). ``extra_body`` adds fields to the
    JSON request for servers with options of their own.

    ``pcm_format`` says what this server's raw PCM really is, for compatible servers whose
    Content-Type gives a wrong rate or none (openedai-speech, speaches, GPT-SoVITS) or that
    send headerless PCM labelled ``audio/wav`` (fish-speech): it wins over the Content-Type,
    and a WAV answer without a header is decoded as this PCM instead of failing.
    """

    name = "openai"
    max_input_chars = 4096

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        model: str = "tts-1",
        voice: str | Mapping[str, str] = "alloy",
        response_format: str = "wav",
        speed: float | None = None,
        instructions: str | None = None,
        stream_format: Literal["audio", "sse"] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        timeouts: Timeouts | None = None,
        retries: Retries | None = None,
        max_connections: int | None = None,
        max_input_chars: int | None = None,
        pcm_format: AudioFormat | None = None,
    ) -> None:
        # Before the base class's __init__: a plain http:// server needs no CA bundle loaded.
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or _OFFICIAL_URL).rstrip("/")
        super().__init__(
            client=client,
            timeouts=timeouts,
            retries=retries,
            pcm_format=pcm_format,
            max_connections=max_connections,
        )
        if response_format in _COMPRESSED:
            from .._decode.codecs import require_codecs  # numpy: only for these formats

            require_codecs(f"response_format={response_format!r}")
        elif response_format not in _STREAMABLE:
            raise ConfigurationError(
                f"unknown response_format {response_format!r}; use 'wav', 'pcm', or with the "
                "codecs extra 'mp3', 'opus', 'aac' or 'flac'"
            )
        if speed is not None and not 0.25 <= speed <= 4.0:
            raise ConfigurationError(f"speed must be between 0.25 and 4.0, got {speed}")
        if stream_format not in (None, "audio", "sse"):
            raise ConfigurationError(
                f"stream_format must be 'audio' or 'sse', not {stream_format!r}"
            )
        if not model:
            raise ConfigurationError("model must not be empty")
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.model = model
        self.voice: str | dict[str, str] = voice if isinstance(voice, str) else dict(voice)
        self.response_format: ResponseFormat = next(
            f for f in (*_STREAMABLE, *_COMPRESSED) if f == response_format
        )
        self.speed = speed
        self.instructions = instructions
        self.stream_format = stream_format
        self.extra_body = dict(extra_body or {})
        self.extra_headers = dict(extra_headers or {})
        if max_input_chars is not None:
            self.max_input_chars = max_input_chars

    @property
    def expected_format(self) -> AudioFormat:
        """24 kHz mono 16-bit: what OpenAI sends for ``wav`` and ``pcm`` (and most compatible
        servers too; the audio's own header or content type decides in the end), or
        ``pcm_format`` when given. Lossy formats decode to float32, Opus at 48 kHz."""
        if self.response_format == "opus":
            return AudioFormat(48000, 1, "float32")
        if self.response_format in ("mp3", "aac"):
            return AudioFormat(24000, 1, "float32")
        return self.pcm_format or AudioFormat(24000, 1, "int16")

    @property
    def is_official(self) -> bool:
        """Whether requests go to api.openai.com (which needs an API key)."""
        return httpx.URL(self.base_url).host == "api.openai.com"

    def _url(self) -> str:
        return f"{self.base_url}/audio/speech"

    def _auth_headers(self) -> dict[str, str]:
        if self._api_key:
            return {"Authorization": f"Bearer {self._api_key}"}
        if self.is_official:
            raise ConfigurationError(
                "no OpenAI API key: set OPENAI_API_KEY or pass OpenAI(api_key=...); for a "
                "compatible server pass base_url=... (or set OPENAI_BASE_URL)"
            )
        return {}

    def _body(self, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": text,
            "voice": self.voice,
            "response_format": self.response_format,
        }
        if self.speed is not None:
            body["speed"] = self.speed
        if self.instructions is not None:
            body["instructions"] = self.instructions
        if self.stream_format is not None:
            body["stream_format"] = self.stream_format
        body.update(self.extra_body)
        return body

    def build_request(self, text: str) -> AudioRequest:
        """The HTTP request for ``text``."""
        if not text.strip():
            raise ConfigurationError("nothing to say: the text is empty")
        if len(text) > self.max_input_chars:
            raise ConfigurationError(
                f"text of {len(text)} characters is over this provider's limit of "
                f"{self.max_input_chars}; speak() and Speaker split long text for you"
            )
        headers = {**self.extra_headers, **self._auth_headers()}
        return AudioRequest(
            provider=self.name,
            url=self._url(),
            headers=headers,
            json=self._body(text),
            expect=self.response_format,
            pcm_format=_PCM_FORMAT,
            secret_headers=frozenset({"authorization", "api-key"}),
            secrets=(self._api_key,) if self._api_key else (),
            key_hint=self._key_hint(),
        )

    def _key_hint(self) -> str:
        return "the API key (OPENAI_API_KEY)"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
            f"voice={self.voice!r}, response_format={self.response_format!r})"
        )


class AzureOpenAI(OpenAI):
    """OpenAI text to speech deployed on Azure.

    ``endpoint`` (default ``$AZURE_OPENAI_ENDPOINT``, e.g. ``https://NAME.openai.azure.com``),
    ``deployment`` (the name of your TTS deployment), ``api_version`` and ``api_key`` (default
    ``$AZURE_OPENAI_API_KEY``, sent in the ``api-key`` header).
    """

    name = "azure-openai"

    def __init__(
        self,
        *,
        deployment: str,
        endpoint: str | None = None,
        api_version: str = "2025-03-01-preview",
        api_key: str | None = None,
        **options: Any,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("AZURE_OPENAI_API_KEY")
        endpoint = endpoint or os.environ.get("AZURE_OPENAI_ENDPOINT")
        if not endpoint:
            raise ConfigurationError(
                "no Azure endpoint: pass AzureOpenAI(endpoint='https://NAME.openai.azure.com') "
                "or set AZURE_OPENAI_ENDPOINT"
            )
        options.setdefault("model", deployment)
        super().__init__(api_key=key, base_url=endpoint, **options)
        self.deployment = deployment
        self.api_version = api_version

    def _url(self) -> str:
        return f"{self.base_url}/openai/deployments/{self.deployment}/audio/speech"

    def _auth_headers(self) -> dict[str, str]:
        if not self._api_key:
            raise ConfigurationError(
                "no Azure OpenAI API key: set AZURE_OPENAI_API_KEY or pass api_key=..."
            )
        return {"api-key": self._api_key}

    def build_request(self, text: str) -> AudioRequest:
        request = super().build_request(text)
        request.params = {"api-version": self.api_version}
        return request

    def _key_hint(self) -> str:
        return "the API key (AZURE_OPENAI_API_KEY)"
