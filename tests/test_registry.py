"""Providers by name, the default provider's order, and the command line's --provider."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import soundfile

import ttsstream
from ttsstream._providers.registry import provider_by_name

from .httpfakes import tone
from .loopback import LoopbackServer, audio_response
from .test_cli import cli_env, run

_ENV = (
    "TTSSTREAM_PROVIDER",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ELEVENLABS_API_KEY",
    "DEEPGRAM_API_KEY",
    "CARTESIA_API_KEY",
    "AZURE_SPEECH_KEY",
    "AZURE_SPEECH_REGION",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import importlib.util

    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "piper" else real(n, *a)
    )
    return monkeypatch


def test_names_make_the_new_providers() -> None:
    assert isinstance(provider_by_name("deepgram", api_key="k"), ttsstream.Deepgram)
    assert isinstance(provider_by_name("Cartesia", api_key="k"), ttsstream.Cartesia)
    azure = provider_by_name("azure_speech", api_key="k", region="eastus")
    assert isinstance(azure, ttsstream.AzureSpeech)
    with pytest.raises(ttsstream.ConfigurationError, match="deepgram, cartesia, azure-speech"):
        provider_by_name("polly")


def test_default_order_after_openai_and_piper(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AZURE_SPEECH_KEY", "k")
    clean_env.setenv("AZURE_SPEECH_REGION", "eastus")
    assert isinstance(ttsstream.default_provider(), ttsstream.AzureSpeech)
    clean_env.setenv("CARTESIA_API_KEY", "k")
    assert isinstance(ttsstream.default_provider(), ttsstream.Cartesia)
    clean_env.setenv("DEEPGRAM_API_KEY", "k")
    assert isinstance(ttsstream.default_provider(), ttsstream.Deepgram)
    clean_env.setenv("ELEVENLABS_API_KEY", "k")
    assert isinstance(ttsstream.default_provider(), ttsstream.ElevenLabs)
    clean_env.setenv("OPENAI_API_KEY", "k")
    assert isinstance(ttsstream.default_provider(), ttsstream.OpenAI)
    clean_env.setenv("TTSSTREAM_PROVIDER", "cartesia")
    assert isinstance(ttsstream.default_provider(), ttsstream.Cartesia)


def test_no_provider_error_names_every_choice(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ttsstream.ConfigurationError) as info:
        ttsstream.default_provider()
    assert "openai|elevenlabs|deepgram|cartesia|azure-speech|piper" in str(info.value)


def test_cli_provider_deepgram_with_a_voice(tmp_path: Path) -> None:
    source = tone(2400)
    out = tmp_path / "dg.wav"
    payload = source.astype("<i2").tobytes()
    with LoopbackServer(
        lambda r, n: audio_response(payload, content_type="audio/l16;rate=24000")
    ) as server:
        done = run(
            *("say", "--provider", "deepgram", "--voice", "aura-2-zeus-en"),
            *("--base-url", server.root, "--out", str(out), "Hi."),
            env=cli_env(DEEPGRAM_API_KEY="dg-key-0123456789"),
        )
    assert done.returncode == 0, done.stderr
    (request,) = server.requests
    query = parse_qs(urlsplit(request.path).query)
    assert query["model"] == ["aura-2-zeus-en"]
    assert json.loads(request.body) == {"text": "Hi."}
    data, rate = soundfile.read(out, dtype="int16", always_2d=True)
    assert rate == 24000
    np.testing.assert_array_equal(data, source)


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (("--provider", "deepgram", "--format", "wav"), "--format"),
        (("--provider", "deepgram", "--voice", "a", "--model", "b"), "--model"),
        (("--provider", "cartesia", "--speed", "1.2"), "--speed"),
        (("--provider", "azure-speech", "--model", "x"), "--model"),
    ],
)
def test_cli_refuses_options_a_service_does_not_have(args: tuple[str, ...], refused: str) -> None:
    done = run("say", *args, "--out", "/dev/null", "Hi.")
    assert done.returncode == 2
    assert refused in done.stderr
