"""ElevenLabs' streaming text-to-speech endpoint."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from .._errors import ConfigurationError
from .._format import AudioFormat
from .http import AudioRequest, Expected, HttpProvider, Retries, Timeouts

if TYPE_CHECKING:
    from .._decode.pcm import Encoding

__all__ = ["ElevenLabs"]

_DEFAULT_URL = "https://api.elevenlabs.io"
_PCM_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


def _parse_output_format(output_format: str) -> tuple[str, AudioFormat, Encoding]:
    kind, _, rate_text = output_format.partition("_")
    rate = int(rate_text) if rate_text.isdigit() else 0
    if kind in ("pcm", "wav") and rate in _PCM_RATES:
        return kind, AudioFormat(rate, 1, "int16"), "s16le"
    if kind in ("ulaw", "alaw") and rate == 8000:
        return kind, AudioFormat(8000, 1, "int16"), "mulaw" if kind == "ulaw" else "alaw"
    if kind in ("mp3", "opus") and rate_text.partition("_")[0].isdigit():
        from .._decode.codecs import require_codecs  # numpy: only for these formats

        require_codecs(f"output_format={output_format!r}")
        rate = 48000 if kind == "opus" else int(rate_text.partition("_")[0])
        return kind, AudioFormat(rate, 1, "float32"), "s16le"
    raise ConfigurationError(
        f"unknown output_format {output_format!r}; use pcm_<rate> with a rate in "
        f"{', '.join(map(str, _PCM_RATES))}, wav_<rate>, ulaw_8000, alaw_8000, or with the "
        "codecs extra mp3_<rate>_<kbps> or opus_48000_<kbps>"
    )


class ElevenLabs(HttpProvider):
    """ElevenLabs streaming TTS (``/v1/text-to-speech/{voice_id}/stream``).

    ``api_key`` defaults to ``$ELEVENLABS_API_KEY`` (sent as ``xi-api-key``). ``output_format``:
    ``pcm_16000``, ``pcm_22050``, ``pcm_24000`` (default), ``pcm_44100`` and the other ``pcm_*``
    rates, ``wav_*``, ``ulaw_8000`` or ``alaw_8000``; with the ``codecs`` extra also ``mp3_*``
    (e.g. ``mp3_44100_128``) and ``opus_48000_*``. ``voice_settings`` (stability,
    similarity_boost, ...) and ``extra_body`` go into the JSON body as given.
    """

    name = "elevenlabs"
    max_input_chars = 10000

    def __init__(
        self,
        *,
        api_key: str | None = None,
        voice_id: str = "JBFqnCBsd6RMkjVDRZzb",
        model_id: str = "eleven_flash_v2_5",
        output_format: str = "pcm_24000",
        voice_settings: Mapping[str, Any] | None = None,
        language_code: str | None = None,
        base_url: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        client: httpx.AsyncClient | None = None,
        timeouts: Timeouts | None = None,
        retries: Retries | None = None,
        max_connections: int | None = None,
    ) -> None:
        # Before the base class's __init__: a plain http:// server needs no CA bundle loaded.
        self.base_url = (base_url or os.environ.get("ELEVENLABS_BASE_URL") or _DEFAULT_URL).rstrip(
            "/"
        )
        super().__init__(
            client=client, timeouts=timeouts, retries=retries, max_connections=max_connections
        )
        kind, fmt, encoding = _parse_output_format(output_format)
        if not voice_id:
            raise ConfigurationError("voice_id must not be empty")
        self._api_key = api_key if api_key is not None else os.environ.get("ELEVENLABS_API_KEY")
        self.voice_id = voice_id
        self.model_id = model_id
        self.output_format = output_format
        self.voice_settings = dict(voice_settings) if voice_settings else None
        self.language_code = language_code
        self.extra_body = dict(extra_body or {})
        self._expect: Expected = next(
            e for e in ("wav", "mp3", "opus", "pcm") if e == kind or e == "pcm"
        )
        self._format = fmt
        self._encoding = encoding

    @property
    def expected_format(self) -> AudioFormat:
        """The decoded format of ``output_format`` (e.g. 24 kHz mono 16-bit for pcm_24000)."""
        return self._format

    def build_request(self, text: str) -> AudioRequest:
        """The HTTP request for ``text``."""
        if not text.strip():
            raise ConfigurationError("nothing to say: the text is empty")
        if len(text) > self.max_input_chars:
            raise ConfigurationError(
                f"text of {len(text)} characters is over ElevenLabs' limit of "
                f"{self.max_input_chars}; speak() and Speaker split long text for you"
            )
        if not self._api_key:
            raise ConfigurationError(
                "no ElevenLabs API key: set ELEVENLABS_API_KEY or pass ElevenLabs(api_key=...)"
            )
        body: dict[str, Any] = {"text": text, "model_id": self.model_id}
        if self.voice_settings:
            body["voice_settings"] = self.voice_settings
        if self.language_code:
            body["language_code"] = self.language_code
        body.update(self.extra_body)
        return AudioRequest(
            provider=self.name,
            url=f"{self.base_url}/v1/text-to-speech/{self.voice_id}/stream",
            params={"output_format": self.output_format},
            headers={"xi-api-key": self._api_key, "Accept": "*/*"},
            json=body,
            expect=self._expect,
            pcm_format=self._format,
            pcm_encoding=self._encoding,
            secret_headers=frozenset({"xi-api-key", "authorization"}),
            secrets=(self._api_key,),
            key_hint="the API key (ELEVENLABS_API_KEY)",
        )

    def __repr__(self) -> str:
        return (
            f"ElevenLabs(voice_id={self.voice_id!r}, model_id={self.model_id!r}, "
            f"output_format={self.output_format!r})"
        )
