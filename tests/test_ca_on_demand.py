"""The CA bundle of ttsstream's clients: loaded on the first TLS connection, or ahead by the
providers of https:// servers; never for a plain http:// server (its ~20 ms of CPU)."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

import ttsstream
from ttsstream._providers import http as _http
from ttsstream._providers import transport
from ttsstream._providers.transport import Timeouts, new_client

from .test_netio import certificate, tls_server

__all__ = ["certificate", "tls_server"]  # fixtures


@pytest.fixture
def preloads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(_http, "preload", lambda: calls.append(1))
    return calls


def test_a_provider_of_a_plain_http_server_does_not_load_the_ca_bundle(
    preloads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    ttsstream.OpenAI(api_key="k", base_url="http://127.0.0.1:8000/v1")
    assert preloads == []
    ttsstream.OpenAI(api_key="k", base_url="https://tts.example/v1")
    assert preloads == [1]
    ttsstream.OpenAI(api_key="k")  # OpenAI's own server
    assert preloads == [1, 1]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:8880/v1")
    ttsstream.OpenAI(api_key="k")
    assert preloads == [1, 1]


@pytest.mark.parametrize("make", [ttsstream.ElevenLabs, ttsstream.Deepgram, ttsstream.Cartesia])
def test_the_other_services_skip_the_ca_bundle_for_a_plain_http_server(
    preloads: list[int], make: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ELEVENLABS_BASE_URL", raising=False)
    make(api_key="k", base_url="http://127.0.0.1:8000")
    assert preloads == []
    make(api_key="k")  # the service itself: https://
    assert preloads == [1]


def test_the_shared_context_verifies_like_httpxs_default() -> None:
    context = transport._ssl_context()
    assert isinstance(context, transport._CAOnDemand)
    assert context is transport._ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    client = new_client(Timeouts())
    assert client._transport._pool._ssl_context is context  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_the_ca_bundle_is_loaded_on_the_first_tls_connection(
    tls_server: int, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after a redirect from http:// to https://: nothing loaded it ahead.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    context = transport._CAOnDemand(ssl.PROTOCOL_TLS_CLIENT)
    assert not context._ca_loaded
    async with httpx.AsyncClient(verify=context) as client:
        with anyio.fail_after(20):
            response = await client.get(f"https://localhost:{tls_server}/")
    assert response.text == "hello over tls"
    assert context._ca_loaded


def test_load_ca_reads_the_bundle_once(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    context = transport._CAOnDemand(ssl.PROTOCOL_TLS_CLIENT)
    monkeypatch.setattr(context, "load_verify_locations", lambda **kw: loads.append(kw))
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    context.load_ca()
    context.load_ca()
    import certifi

    assert loads == [{"cafile": certifi.where()}]
