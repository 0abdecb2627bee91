"""Azure AI Speech text to speech over REST (``POST /cognitiveservices/v1``, SSML in).

Wire facts (learn.microsoft.com "Text to speech REST API", its authentication include, and
"Speech service quotas and limits"; MicrosoftDocs/azure-ai-docs, checked 2026-11): the endpoint
is ``https://{region}.tts.speech.microsoft.com/cognitiveservices/v1``; the body is SSML with
``Content-Type: application/ssml+xml``; ``X-Microsoft-OutputFormat`` names the audio
(``raw-24khz-16bit-mono-pcm`` and other ``raw-*`` formats stream; ``riff-*`` are listed as
non-streaming); the key goes in ``Ocp-Apim-Subscription-Key`` (or a token in ``Authorization:
Bearer``). Documented errors: 400, 401 (key or region wrong), 415 (wrong Content-Type), 429,
502, 503, without a documented body. One request produces at most 10 minutes of audio.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

import httpx

from .._errors import ConfigurationError
from .._format import AudioFormat
from .http import AudioRequest, HttpProvider, Retries, Timeouts

if TYPE_CHECKING:
    from .._decode.pcm import Encoding

__all__ = ["AzureSpeech"]

_RAW = re.compile(r"raw-(\d+)(khz|hz)-(8|16)bit-mono-(pcm|mulaw|alaw)")
_RATES = (8000, 16000, 22050, 24000, 44100, 48000)


def _parse_output_format(output_format: str) -> tuple[AudioFormat, Encoding]:
    m = _RAW.fullmatch(output_format)
    if m is not None:
        rate = int(m.group(1)) * (1000 if m.group(2) == "khz" else 1)
        bits, kind = m.group(3), m.group(4)
        if rate in _RATES and (bits, kind) in (("16", "pcm"), ("8", "mulaw"), ("8", "alaw")):
            encoding: Encoding = "s16le" if kind == "pcm" else kind  # type: ignore[assignment]
            return AudioFormat(rate, 1, "int16"), encoding
    if output_format.startswith("riff-"):
        hint = "riff-* formats are not streamed by Azure"
    elif output_format.startswith(("audio-", "ogg-", "webm-", "amr-")) or "silk" in output_format:
        hint = "that format is compressed and ttsstream cannot decode it yet"
    else:
        hint = "unknown format"
    raise ConfigurationError(
        f"output_format={output_format!r}: {hint}; use raw-24khz-16bit-mono-pcm (default) or "
        "another raw-*-16bit-mono-pcm rate (8khz, 16khz, 22050hz, 44100hz, 48khz), "
        "raw-8khz-8bit-mono-mulaw or raw-8khz-8bit-mono-alaw"
    )


class AzureSpeech(HttpProvider):
    """Azure AI Speech neural voices (``en-US-AvaMultilingualNeural`` and the others).

    ``api_key`` defaults to ``$AZURE_SPEECH_KEY`` and ``region`` to ``$AZURE_SPEECH_REGION``
    (e.g. ``"westeurope"``); ``endpoint`` replaces the regional URL (sovereign clouds, custom
    domains). ``voice``, ``language`` (``xml:lang``), ``rate`` (SSML prosody rate: ``"+10%"``,
    ``"slow"``, or a multiplier like ``1.2``) and ``style`` (``mstts:express-as``, e.g.
    ``"cheerful"``) shape the SSML made around plain text, which is XML-escaped. Text that is a
    whole ``<speak>`` document is sent as it is. ``output_format`` is one of Azure's raw formats.
    """

    name = "azure-speech"
    # One request yields at most 10 minutes of audio (quotas page); 5000 characters is about
    # five minutes of speech, so the cap is never reached and long text is split at sentences.
    max_input_chars = 5000

    def __init__(
        self,
        *,
        api_key: str | None = None,
        region: str | None = None,
        voice: str = "en-US-AvaMultilingualNeural",
        language: str = "en-US",
        rate: str | float | None = None,
        style: str | None = None,
        output_format: str = "raw-24khz-16bit-mono-pcm",
        endpoint: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeouts: Timeouts | None = None,
        retries: Retries | None = None,
        max_connections: int | None = None,
    ) -> None:
        super().__init__(
            client=client, timeouts=timeouts, retries=retries, max_connections=max_connections
        )
        self._format, self._encoding = _parse_output_format(output_format)
        region = region or os.environ.get("AZURE_SPEECH_REGION")
        if endpoint is None and not region:
            raise ConfigurationError(
                "no Azure Speech region: pass AzureSpeech(region='westeurope') or set "
                "AZURE_SPEECH_REGION (the location of your Speech resource)"
            )
        if not voice:
            raise ConfigurationError("voice must not be empty")
        self._api_key = api_key if api_key is not None else os.environ.get("AZURE_SPEECH_KEY")
        self.region = region
        self.endpoint = (
            endpoint or f"https://{region}.tts.speech.microsoft.com/cognitiveservices/v1"
        )
        self.voice = voice
        self.language = language
        self.rate = rate
        self.style = style
        self.output_format = output_format

    @property
    def expected_format(self) -> AudioFormat:
        """Mono 16-bit at the rate ``output_format`` names."""
        return self._format

    def ssml(self, text: str) -> str:
        """The SSML document for ``text``: escaped, in the voice, rate and style chosen."""
        if text.lstrip().startswith("<speak"):
            return text
        inner = escape(text)
        if self.rate is not None:
            rate = self.rate if isinstance(self.rate, str) else f"{self.rate:g}"
            inner = f"<prosody rate={quoteattr(rate)}>{inner}</prosody>"
        if self.style:
            inner = f"<mstts:express-as style={quoteattr(self.style)}>{inner}</mstts:express-as>"
        return (
            "<speak version='1.0' xmlns='http://www.w3.org/2001/10/synthesis' "
            f"xmlns:mstts='https://www.w3.org/2001/mstts' xml:lang={quoteattr(self.language)}>"
            f"<voice name={quoteattr(self.voice)}>{inner}</voice></speak>"
        )

    def build_request(self, text: str) -> AudioRequest:
        """The HTTP request for ``text`` (plain text, or a whole ``<speak>`` document)."""
        self.check_text(text)
        if "<speak" in text and not text.lstrip().startswith("<speak"):
            raise ConfigurationError(
                "SSML must be one whole <speak>...</speak> document of at most "
                f"{self.max_input_chars} characters (longer SSML cannot be split at sentences)"
            )
        if not self._api_key:
            raise ConfigurationError(
                "no Azure Speech key: set AZURE_SPEECH_KEY or pass AzureSpeech(api_key=...)"
            )
        return AudioRequest(
            provider=self.name,
            url=self.endpoint,
            headers={
                "Ocp-Apim-Subscription-Key": self._api_key,
                "Content-Type": "application/ssml+xml",
                "X-Microsoft-OutputFormat": self.output_format,
            },
            json={},
            content=self.ssml(text).encode("utf-8"),
            expect="pcm",
            pcm_format=self._format,
            pcm_encoding=self._encoding,
            # Raw formats have no header; the output format header fixed rate and encoding.
            format_known=True,
            secret_headers=frozenset({"ocp-apim-subscription-key", "authorization"}),
            secrets=(self._api_key,),
            key_hint=(
                "the key (AZURE_SPEECH_KEY) and that it belongs to the region "
                f"{self.region or 'of the endpoint'} (AZURE_SPEECH_REGION)"
            ),
        )

    def __repr__(self) -> str:
        return (
            f"AzureSpeech(region={self.region!r}, voice={self.voice!r}, "
            f"output_format={self.output_format!r})"
        )
