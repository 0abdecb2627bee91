"""Cartesia Sonic text to speech over HTTP (``POST /tts/bytes``).

Wire facts (docs.cartesia.ai "API Conventions", "API Errors", "Output Format", API reference
``/tts/bytes``; cartesia-python 4.0.1 ``_client.py``, ``types/raw_output_format_param.py``,
``MIGRATING.md``; checked 2026-11): every request carries a ``Cartesia-Version`` date header;
the key goes in ``Authorization: Bearer`` (API versions before 2025-04-16 documented
``X-API-Key``); the JSON body has ``model_id``, ``transcript``, ``voice`` and ``output_format``
``{"container": "raw", "encoding": ..., "sample_rate": ...}``; the answer is ``audio/*``.
From version 2026-03-01 errors are JSON ``{"error_code", "title", "message", "request_id"}``;
older versions may answer plain text ``Title: Message``. Version 2026-08-14 takes the voice as
``"id"`` or ``{"id": ...}``; older versions as ``{"mode": "id", "id": ...}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from .._decode.pcm import Encoding, output_dtype
from .._errors import ConfigurationError
from .._format import AudioFormat
from .http import AudioRequest, HttpProvider, Retries, Timeouts

__all__ = ["Cartesia"]

CartesiaEncoding = Literal["pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"]

_DEFAULT_URL = "https://api.cartesia.ai"
_VERSION = "2026-08-14"
_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
_WIRE: dict[str, Encoding] = {
    "pcm_s16le": "s16le",
    "pcm_f32le": "f32le",
    "pcm_mulaw": "mulaw",
    "pcm_alaw": "alaw",
}
# One of Cartesia's stock voices (used in its own quickstart examples).
_DEFAULT_VOICE = "694f9389-aac1-45b6-b726-9d9369183238"


def cartesia_error_message(body: bytes, content_type: str | None) -> str | None:
    """The message in a Cartesia JSON error body, as ``title: message``.

    ``None`` for any other body (older API versions answer plain text ``Title: Message``),
    which the generic reader then shows as it is.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
        title = data.get("title")
        head = f"{title}: " if isinstance(title, str) and title else ""
        return f"{head}{data['message']}"[:500]
    return None


class Cartesia(HttpProvider):
    """Cartesia Sonic voices through the ``/tts/bytes`` endpoint, as raw samples.

    ``api_key`` defaults to ``$CARTESIA_API_KEY``. ``voice_id`` is the voice's id,
    ``model_id`` e.g. ``"sonic-3"``. ``encoding`` is ``"pcm_s16le"`` (default), ``"pcm_f32le"``,
    ``"pcm_mulaw"`` or ``"pcm_alaw"``; ``sample_rate`` one of 8000, 16000, 22050, 24000
    (default), 44100, 48000. ``version`` is the ``Cartesia-Version`` date; ``extra_body`` adds
    JSON fields (``generation_config``, ``pronunciation_dict_id``, ...).
    """

    name = "cartesia"
    # Cartesia documents no transcript limit for /tts/bytes (API reference and conventions,
    # checked 2026-11); longer text is split at sentences so no request runs for minutes.
    max_input_chars = 5000

    def __init__(
        self,
        *,
        api_key: str | None = None,
        voice_id: str = _DEFAULT_VOICE,
        model_id: str = "sonic-3",
        encoding: CartesiaEncoding = "pcm_s16le",
        sample_rate: int = 24000,
        language: str | None = None,
        version: str = _VERSION,
        base_url: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
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
        if encoding not in _WIRE:
            raise ConfigurationError(
                f"unknown encoding {encoding!r}; use one of {', '.join(_WIRE)} (raw samples; "
                "ttsstream does not decode Cartesia's mp3)"
            )
        if sample_rate not in _RATES:
            raise ConfigurationError(
                f"Cartesia sends {', '.join(map(str, _RATES))} Hz, not {sample_rate}"
            )
        if not voice_id:
            raise ConfigurationError("voice_id must not be empty")
        self._api_key = api_key if api_key is not None else os.environ.get("CARTESIA_API_KEY")
        self.voice_id = voice_id
        self.model_id = model_id
        self.encoding: CartesiaEncoding = encoding
        self.sample_rate = sample_rate
        self.language = language
        self.version = version
        self.extra_body = dict(extra_body or {})

    @property
    def expected_format(self) -> AudioFormat:
        """Mono at the requested rate: 16-bit for s16le, mu-law and A-law, float for f32le."""
        return AudioFormat(self.sample_rate, 1, output_dtype(_WIRE[self.encoding]))

    def _auth_headers(self, key: str) -> dict[str, str]:
        # Version strings are ISO dates, so they compare in time order as strings.
        if self.version < "2025-04-16":
            return {"X-API-Key": key}
        return {"Authorization": f"Bearer {key}"}

    def _voice(self) -> dict[str, str]:
        if self.version < "2026-08-14":
            return {"mode": "id", "id": self.voice_id}
        return {"id": self.voice_id}

    def build_request(self, text: str) -> AudioRequest:
        """The HTTP request for ``text``."""
        self.check_text(text)
        if not self._api_key:
            raise ConfigurationError(
                "no Cartesia API key: set CARTESIA_API_KEY or pass Cartesia(api_key=...)"
            )
        body: dict[str, Any] = {
            "model_id": self.model_id,
            "transcript": text,
            "voice": self._voice(),
            "output_format": {
                "container": "raw",
                "encoding": self.encoding,
                "sample_rate": self.sample_rate,
            },
        }
        if self.language:
            body["language"] = self.language
        body.update(self.extra_body)
        return AudioRequest(
            provider=self.name,
            url=f"{self.base_url}/tts/bytes",
            headers={"Cartesia-Version": self.version, **self._auth_headers(self._api_key)},
            json=body,
            expect="pcm",
            pcm_format=self.expected_format,
            pcm_encoding=_WIRE[self.encoding],
            # Raw audio carries no format of its own and Cartesia's reference promises only
            # "audio/*": the request's encoding and rate are the only truth.
            format_known=True,
            secret_headers=frozenset({"authorization", "x-api-key"}),
            secrets=(self._api_key,),
            key_hint="the API key (CARTESIA_API_KEY)",
            error_message=cartesia_error_message,
        )

    def __repr__(self) -> str:
        return (
            f"Cartesia(voice_id={self.voice_id!r}, model_id={self.model_id!r}, "
            f"encoding={self.encoding!r}, sample_rate={self.sample_rate})"
        )
