"""Providers by name, and the default provider (environment variables, installed extras)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from .._errors import ConfigurationError
from .base import Provider

__all__ = ["default_provider", "provider_by_name"]

#: Services tried by :func:`default_provider` after OpenAI and Piper, by their key variable.
_BY_KEY = (
    ("ELEVENLABS_API_KEY", "elevenlabs"),
    ("DEEPGRAM_API_KEY", "deepgram"),
    ("CARTESIA_API_KEY", "cartesia"),
    ("AZURE_SPEECH_KEY", "azure-speech"),
)


def default_provider() -> Provider:
    """The provider used when none is given.

    In order: ``$TTSSTREAM_PROVIDER`` (any name :func:`provider_by_name` knows); OpenAI when
    ``$OPENAI_API_KEY`` or ``$OPENAI_BASE_URL`` is set; the local Piper voice when the ``piper``
    extra is installed; then the first service whose key is set: ``$ELEVENLABS_API_KEY``,
    ``$DEEPGRAM_API_KEY``, ``$CARTESIA_API_KEY``, ``$AZURE_SPEECH_KEY`` (with
    ``$AZURE_SPEECH_REGION``). Otherwise a :class:`ConfigurationError` that lists the ways to
    get a voice.
    """
    choice = os.environ.get("TTSSTREAM_PROVIDER", "").strip().lower()
    if choice:
        return provider_by_name(choice)
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return provider_by_name("openai")
    if importlib.util.find_spec("piper") is not None:
        return provider_by_name("piper")
    for key, name in _BY_KEY:
        if os.environ.get(key):
            return provider_by_name(name)
    raise ConfigurationError(
        "no text-to-speech provider is configured. Either install the offline voice "
        '(pip install "ttsstream[piper]"), or set OPENAI_API_KEY (OPENAI_BASE_URL for an '
        "OpenAI-compatible server), or choose one with provider=... or "
        "TTSSTREAM_PROVIDER=openai|elevenlabs|deepgram|cartesia|azure-speech|piper"
    )


def provider_by_name(name: str, **options: Any) -> Provider:
    """Make the provider called ``name``: ``openai``, ``azure-openai`` (or ``azure``),
    ``elevenlabs``, ``deepgram``, ``cartesia``, ``azure-speech`` or ``piper``."""
    key = name.strip().lower().replace("_", "-")
    if key == "openai":
        from .openai import OpenAI

        return OpenAI(**options)
    if key in ("azure", "azure-openai"):
        from .openai import AzureOpenAI

        if "deployment" not in options:
            raise ConfigurationError(
                "Azure OpenAI needs the name of your TTS deployment: pass "
                "provider=ttsstream.AzureOpenAI(deployment=..., endpoint=...) "
                "(on the command line: --provider azure-openai --model DEPLOYMENT)"
            )
        return AzureOpenAI(**options)
    if key == "elevenlabs":
        from .elevenlabs import ElevenLabs

        return ElevenLabs(**options)
    if key == "deepgram":
        from .deepgram import Deepgram

        return Deepgram(**options)
    if key == "cartesia":
        from .cartesia import Cartesia

        return Cartesia(**options)
    if key == "azure-speech":
        from .azure_speech import AzureSpeech

        return AzureSpeech(**options)
    if key == "piper":
        from .piper import Piper

        return Piper(**options)
    raise ConfigurationError(
        f"unknown provider {name!r}; choose openai, azure-openai, elevenlabs, deepgram, "
        "cartesia, azure-speech or piper"
    )
