"""Deepgram Aura text to speech over REST (``POST /v1/speak``).

Wire facts (developers.deepgram.com, docs "Media Output Settings", "Errors", "Text to Speech
REST" and the API reference "speak-request", checked 2026-11; deepgram-python-sdk
``speak/v1/audio/raw_client.py``): the model, ``encoding``, ``sample_rate`` and ``container`` go
in the query string, the body is ``{"text": ...}``, the key goes in ``Authorization: Token``.
Errors are JSON ``{"err_code", "err_msg", "request_id"}`` (some 400s use
``{"category", "message", "details"}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import httpx

from .._errors import ConfigurationError
from .._format import AudioFormat
from .http import AudioRequest, HttpProvider, Retries, Timeouts

if TYPE_CHECKING:
    from .._decode.pcm import Encoding

__all__ = ["Deepgram"]

DeepgramEncoding = Literal["linear16", "mulaw", "alaw"]

_DEFAULT_URL = "https://api.deepgram.com"
# Deepgram's "Audio Format Combinations" table: the rates each uncompressed encoding accepts,
# the first being its default.
_RATES: dict[str, tuple[int, ...]] = {
    "linear16": (24000, 8000, 16000, 32000, 48000),
    "mulaw": (8000, 16000),
    "alaw": (8000, 16000),
}
_WIRE: dict[str, Encoding] = {"linear16": "s16le", "mulaw": "mulaw", "alaw": "alaw"}
_COMPRESSED = ("mp3", "opus", "flac", "aac")


def deepgram_error_message(body: bytes, content_type: str | None) -> str | None:
    """The message in a Deepgram error body: ``err_msg``, or ``message`` with its ``details``.

    ``None`` for any other body, which the generic reader then tries.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("err_msg"), str) and data["err_msg"]:
        return str(data["err_msg"])[:500]
    if isinstance(data.get("message"), str) and data["message"]:
        details = data.get("details")
        extra = f" ({details})" if isinstance(details, str) and details else ""
        return f"{data['message']}{extra}"[:500]
    return None


class Deepgram(HttpProvider):
    """Deepgram Aura voices (``aura-2-thalia-en`` and the others) through the REST endpoint.

    ``api_key`` defaults to ``$DEEPGRAM_API_KEY``. ``model`` names the voice. ``encoding`` is
    ``"linear16"`` (default, 16-bit), ``"mulaw"`` or ``"alaw"``; ``sample_rate`` defaults to
    Deepgram's own default for the encoding (24000 for linear16, 8000 for mu-law and A-law).
    ``speed`` is Deepgram's speaking-rate multiplier (not supported in every language).
    ``extra_params`` adds query parameters (``mip_opt_out``, ``tag``, ...).
    """

    name = "deepgram"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        model: str = "aura-2-thalia-en",
        encoding: DeepgramEncoding = "linear16",
        sample_rate: int | None = None,
        speed: float | None = None,
        base_url: str | None = None,
        extra_params: Mapping[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        timeouts: Timeouts | None = None,
        retries: Retries | None = None,
        max_connections: int | None = None,
    ) -> None:
        # Before the base class's __init__: a plain http:// server needs no CA bundle loaded.
        self.base_url = (base_url or _DEFAULT_URL).rstrip("/")
        super().__init__(
            client=client, timeouts=timeouts, retries=retries, max_connections=max_connections
        )
        if encoding in _COMPRESSED:
            raise ConfigurationError(
                f"encoding={encoding!r} is compressed and ttsstream cannot decode it yet; use "
                "'linear16' (default), 'mulaw' or 'alaw'"
            )
        if encoding not in _RATES:
            raise ConfigurationError(
                f"unknown encoding {encoding!r}; use 'linear16', 'mulaw' or 'alaw'"
            )
        rates = _RATES[encoding]
        rate = rates[0] if sample_rate is None else sample_rate
        if rate not in rates:
            raise ConfigurationError(
                f"Deepgram sends {encoding} at {', '.join(map(str, sorted(rates)))} Hz, not {rate}"
            )
        if not model:
            raise ConfigurationError("model must not be empty (it names the voice)")
        self._api_key = api_key if api_key is not None else os.environ.get("DEEPGRAM_API_KEY")
        self.model = model
        self.encoding: DeepgramEncoding = encoding
        self.sample_rate = rate
        self.speed = speed
        self.extra_params = dict(extra_params or {})
        # "Text to Speech REST", Limits: Aura-2 takes 1000 characters, Aura-1 2000; longer text
        # is refused (422), so speak() splits at sentences below that.
        self.max_input_chars = 1000 if model.startswith("aura-2") else 2000

    @property
    def expected_format(self) -> AudioFormat:
        """Mono, the requested rate, 16-bit samples (mu-law and A-law decode to 16-bit)."""
        return AudioFormat(self.sample_rate, 1, "int16")

    def build_request(self, text: str) -> AudioRequest:
        """The HTTP request for ``text``."""
        self.check_text(text)
        if not self._api_key:
            raise ConfigurationError(
                "no Deepgram API key: set DEEPGRAM_API_KEY or pass Deepgram(api_key=...)"
            )
        params = {
            "model": self.model,
            "encoding": self.encoding,
            "sample_rate": str(self.sample_rate),
            # Raw samples, not Deepgram's default WAV: the request already fixes rate and
            # encoding, so a header tells nothing new, and the first byte is audio rather than
            # a header whose sizes a streaming server cannot know yet.
            "container": "none",
        }
        if self.speed is not None:
            params["speed"] = f"{self.speed:g}"
        params.update(self.extra_params)
        return AudioRequest(
            provider=self.name,
            url=f"{self.base_url}/v1/speak",
            params=params,
            headers={"Authorization": f"Token {self._api_key}"},
            json={"text": text},
            expect="pcm",
            pcm_format=self.expected_format,
            pcm_encoding=_WIRE[self.encoding],
            # Deepgram labels raw linear16 "audio/l16;rate=24000", a type that by RFC 2586
            # means big-endian, while its samples are little-endian: decode by the request.
            format_known=True,
            secrets=(self._api_key,),
            key_hint="the API key (DEEPGRAM_API_KEY)",
            error_message=deepgram_error_message,
        )

    def __repr__(self) -> str:
        return (
            f"Deepgram(model={self.model!r}, encoding={self.encoding!r}, "
            f"sample_rate={self.sample_rate})"
        )
