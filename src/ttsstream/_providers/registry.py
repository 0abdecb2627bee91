"""Providers by name, and the default provider (environment variables, installed extras)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from .._errors import ConfigurationError
from .base import Provider

__all__ = ["default_provider", "provider_by_name"]


def default_provider() -> Provider:
    """The provider used when none is given.

    In order: ``$TTSSTREAM_PROVIDER`` (``openai``, ``elevenlabs`` or ``piper``); OpenAI when
    ``$OPENAI_API_KEY`` or ``$OPENAI_BASE_URL`` is set; the local Piper voice when the ``piper``
    extra is installed; ElevenLabs when ``$ELEVENLABS_API_KEY`` is set. Otherwise a
    :class:`ConfigurationError` that lists the ways to get a voice.
    """
    choice = os.environ.get("TTSSTREAM_PROVIDER", "").strip().lower()
    if choice:
        return provider_by_name(choice)
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return provider_by_name("openai")
    if importlib.util.find_spec("piper") is not None:
        return provider_by_name("piper")
    if os.environ.get("ELEVENLABS_API_KEY"):
        return provider_by_name("elevenlabs")
    raise ConfigurationError(
        "no text-to-speech provider is configured. Either install the offline voice "
        '(pip install "ttsstream[piper]"), or set OPENAI_API_KEY (OPENAI_BASE_URL for an '
        "OpenAI-compatible server), or choose one with provider=... or "
        "TTSSTREAM_PROVIDER=openai|elevenlabs|piper"
    )


def provider_by_name(name: str, **options: Any) -> Provider:
    """Make the provider called ``name`` (``openai``, ``azure``, ``elevenlabs``, ``piper``)."""
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
    if key == "piper":
        from .piper import Piper

        return Piper(**options)
    raise ConfigurationError(
        f"unknown provider {name!r}; choose openai, azure-openai, elevenlabs or piper"
    )
