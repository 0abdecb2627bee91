"""Deepgram Aura over a loopback server that speaks Deepgram's documented wire format.

Documentation facts encoded here (developers.deepgram.com, checked 2026-11; mirrored in
deepgram/deepgram-docs ``fern/docs/tts-media-output-settings.mdx``, ``errors.mdx``,
``text-to-speech.mdx``, ``fern/openapi.yml``; deepgram-python-sdk
``speak/v1/audio/raw_client.py``):

* ``POST /v1/speak`` with ``model``, ``encoding``, ``sample_rate``, ``container`` in the query,
  JSON body ``{"text": ...}``, ``Authorization: Token <key>``.
* Raw output (``container=none``) is labelled ``audio/l16;rate=24000`` for linear16 (Deepgram's
  linear16 is "16-bit, little-endian, signed PCM"), ``audio/mulaw;rate=8000`` and
  ``audio/alaw;rate=8000``; the body is streamed (``transfer-encoding: chunked``).
* Rates: linear16 8000/16000/24000 (default)/32000/48000; mulaw and alaw 8000 (default)/16000.
* Errors: ``{"err_code", "err_msg", "request_id"}``; 400 (bad model, bad query, empty text),
  401 ``INVALID_AUTH``, 403 ``INSUFFICIENT_PERMISSIONS``, 413 payload/characters, 415 content
  type, 422 text over the model's limit, 429 ``Too Many Requests``, 503; some 400s use
  ``{"category", "message", "details"}``.
* Input limit: Aura-2 1000 characters, Aura-1 2000.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import numpy as np
import pytest

import ttsstream
from ttsstream import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    MemorySink,
    RateLimitError,
    Retries,
    ServerError,
)

from .httpfakes import tone
from .loopback import LoopbackServer, Request, Sleep, Step, audio_response, json_response
from .wirecheck import LIMIT, collect, redirecting, samples

pytestmark = pytest.mark.anyio

KEY = "dg-secret-key-0123456789abcdef"


def deepgram(server: LoopbackServer, **options: object) -> ttsstream.Deepgram:
    options.setdefault("retries", Retries(max_retries=0))
    return ttsstream.Deepgram(api_key=KEY, base_url=server.root, **options)  # type: ignore[arg-type]


def query(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}


async def test_linear16_raw_is_little_endian_despite_its_l16_label() -> None:
    source = tone(4801)
    payload = source.astype("<i2").tobytes()

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(payload, (1, 1023, 777), content_type="audio/l16;rate=24000")

    with LoopbackServer(script) as server:
        tts = deepgram(server, model="aura-2-andromeda-en", speed=1.1)
        assert tts.expected_format == ttsstream.AudioFormat(24000, 1, "int16")
        chunks = await collect(tts, "Hi.")
    np.testing.assert_array_equal(samples(chunks), source)
    assert chunks[0].format == ttsstream.AudioFormat(24000, 1, "int16")
    (request,) = server.requests
    assert request.method == "POST"
    assert urlsplit(request.path).path == "/v1/speak"
    assert query(request) == {
        "model": "aura-2-andromeda-en",
        "encoding": "linear16",
        "sample_rate": "24000",
        "container": "none",
        "speed": "1.1",
    }
    assert request.headers["authorization"] == f"Token {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {"text": "Hi."}


@pytest.mark.parametrize(
    ("encoding", "rate", "content_type", "wire"),
    [
        ("mulaw", 8000, "audio/mulaw;rate=8000", "mulaw"),
        ("alaw", 16000, "audio/alaw;rate=16000", "alaw"),
        ("linear16", 48000, "audio/l16;rate=48000", "s16le"),
    ],
)
async def test_each_encoding_and_rate_decodes_exactly(
    encoding: str, rate: int, content_type: str, wire: ttsstream.Encoding
) -> None:
    payload = bytes(np.random.default_rng(3).integers(0, 256, 3001, dtype=np.uint8))
    fmt = ttsstream.AudioFormat(rate, 1, "int16")
    expected = ttsstream.PcmDecoder(fmt, wire).feed(payload)

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(payload, (1, 7, 1000), content_type=content_type)

    with LoopbackServer(script) as server:
        tts = deepgram(server, encoding=encoding, sample_rate=rate)
        chunks = await collect(tts)
    assert query(server.requests[0])["encoding"] == encoding
    assert query(server.requests[0])["sample_rate"] == str(rate)
    assert chunks[0].format == fmt
    np.testing.assert_array_equal(samples(chunks), expected)


def test_default_rates_follow_deepgrams_table() -> None:
    assert ttsstream.Deepgram(api_key=KEY).sample_rate == 24000
    assert ttsstream.Deepgram(api_key=KEY, encoding="mulaw").sample_rate == 8000
    assert ttsstream.Deepgram(api_key=KEY, encoding="alaw").expected_format.sample_rate == 8000


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"encoding": "mulaw", "sample_rate": 24000},
            "Deepgram sends mulaw at 8000, 16000 Hz, not 24000",
        ),
        (
            {"sample_rate": 22050},
            "Deepgram sends linear16 at 8000, 16000, 24000, 32000, 48000 Hz, not 22050",
        ),
        (
            {"encoding": "mp3"},
            "encoding='mp3' is compressed and ttsstream cannot decode it yet; use "
            "'linear16' (default), 'mulaw' or 'alaw'",
        ),
        ({"model": ""}, "model must not be empty (it names the voice)"),
        ({"encoding": "wav"}, "unknown encoding 'wav'; use 'linear16', 'mulaw' or 'alaw'"),
    ],
)
def test_impossible_options_are_refused_at_once(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{re.escape(match)}"):
        ttsstream.Deepgram(api_key=KEY, **options)  # type: ignore[arg-type]


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    message = "no Deepgram API key: set DEEPGRAM_API_KEY or pass Deepgram(api_key=...)"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        ttsstream.Deepgram().build_request("Hi.")
    monkeypatch.setenv("DEEPGRAM_API_KEY", KEY)
    assert ttsstream.Deepgram().build_request("Hi.").headers["Authorization"] == f"Token {KEY}"


@pytest.mark.parametrize(
    ("status", "body", "error", "said"),
    [
        (
            400,
            {
                "err_code": "Bad Request",
                "err_msg": "Bad Request: No such model/version combination found.",
                "request_id": "r1",
            },
            BadRequestError,
            "No such model/version combination found.",
        ),
        (
            400,
            {
                "err_code": "INVALID_QUERY_PARAMETER",
                "err_msg": "Unsupported audio format: `sample_rate` must be 8000 or 16000",
                "request_id": "r2",
            },
            BadRequestError,
            "Unsupported audio format",
        ),
        (
            400,
            {
                "category": "INVALID_JSON",
                "message": "Invalid JSON submitted.",
                "details": "Json deserialize error: missing field `text`",
                "request_id": "r3",
            },
            BadRequestError,
            "Invalid JSON submitted. (Json deserialize error: missing field `text`)",
        ),
        (
            401,
            {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "r4"},
            AuthenticationError,
            "Invalid credentials.",
        ),
        (
            403,
            {
                "err_code": "INSUFFICIENT_PERMISSIONS",
                "err_msg": "Project does not have access to the requested model.",
                "request_id": "r5",
            },
            AuthenticationError,
            "does not have access",
        ),
        (
            413,
            {
                "err_code": "Payload Too Large",
                "err_msg": "Input text exceeds maximum character limit of 2400.",
                "request_id": "r6",
            },
            BadRequestError,
            "maximum character limit",
        ),
        (
            415,
            {
                "err_code": "UNSUPPORTED_MEDIA_TYPE",
                "err_msg": "`Content-Type` header is not supported.",
                "request_id": "r7",
            },
            BadRequestError,
            "not supported",
        ),
        (
            429,
            {"err_code": "Too Many Requests", "err_msg": "Please try again later."},
            RateLimitError,
            "Please try again later.",
        ),
        (
            503,
            {"error_code": "Service Unavailable", "err_msg": "Please try again later"},
            ServerError,
            "Please try again later",
        ),
    ],
)
async def test_documented_errors_map_with_deepgrams_own_message(
    status: int, body: object, error: type[Exception], said: str
) -> None:
    with (
        LoopbackServer(lambda r, n: json_response(status, body)) as server,
        pytest.raises(error) as info,
    ):
        await collect(deepgram(server))
    assert isinstance(info.value, ttsstream.APIStatusError)
    assert info.value.status_code == status
    assert info.value.server_message is not None
    assert said in info.value.server_message
    assert str(info.value).startswith(f"deepgram answered {status} ")
    assert said in str(info.value)
    assert KEY not in str(info.value)
    assert len(server.requests) == 1  # Retries(max_retries=0) reached the transport
    if status in (401, 403):
        assert "Check the API key (DEEPGRAM_API_KEY)" in str(info.value)


async def test_a_key_echoed_in_an_error_body_is_scrubbed() -> None:
    body = {"err_code": "INVALID_AUTH", "err_msg": f"Invalid credentials: Token {KEY}"}
    with (
        LoopbackServer(lambda r, n: json_response(401, body)) as server,
        pytest.raises(AuthenticationError) as info,
    ):
        await collect(deepgram(server))
    assert KEY not in str(info.value)
    assert "Token ***" in str(info.value)


async def test_503_is_retried_then_the_audio_plays() -> None:
    source = tone(960)

    def script(r: Request, n: int) -> list[Step]:
        if n == 0:
            return json_response(503, {"err_code": "Service Unavailable", "err_msg": "busy"})
        return audio_response(source.astype("<i2").tobytes(), content_type="audio/l16;rate=24000")

    with LoopbackServer(script) as server:
        tts = deepgram(server, retries=Retries(max_retries=1, backoff=0.001, max_backoff=0.002))
        np.testing.assert_array_equal(samples(await collect(tts)), source)
    assert len(server.requests) == 2


async def test_redirect_to_another_host_does_not_carry_the_key() -> None:
    source = tone(480)
    payload = source.astype("<i2").tobytes()
    with (
        LoopbackServer(
            lambda r, n: audio_response(payload, content_type="audio/l16;rate=24000")
        ) as other,
        LoopbackServer(redirecting(other.root, "/v1/speak?container=none")) as first,
    ):
        np.testing.assert_array_equal(samples(await collect(deepgram(first))), source)
    assert first.requests[0].headers["authorization"] == f"Token {KEY}"
    assert "authorization" not in other.requests[0].headers
    assert all(KEY not in v for v in other.requests[0].headers.values())


async def test_redirect_on_the_same_host_keeps_the_key() -> None:
    source = tone(480)

    def script(r: Request, n: int) -> list[Step]:
        if n == 0:
            return redirecting(server.root, "/v2/speak")(r, n)
        return audio_response(source.astype("<i2").tobytes(), content_type="audio/l16")

    with LoopbackServer(script) as server:
        np.testing.assert_array_equal(samples(await collect(deepgram(server))), source)
    assert server.requests[1].path == "/v2/speak"
    assert server.requests[1].headers["authorization"] == f"Token {KEY}"


def test_input_limit_follows_the_model_generation() -> None:
    assert ttsstream.Deepgram(api_key=KEY).max_input_chars == 1000  # aura-2 default
    assert ttsstream.Deepgram(api_key=KEY, model="aura-asteria-en").max_input_chars == 2000
    with pytest.raises(ConfigurationError, match="over deepgram's limit of 1000"):
        ttsstream.Deepgram(api_key=KEY).build_request("x" * 1001)


async def test_speak_splits_long_text_into_requests_under_the_limit() -> None:
    sentence = "This sentence is about fifty characters long, yes. "
    text = sentence * 50  # ~2550 characters
    source = tone(240)

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(source.astype("<i2").tobytes(), content_type="audio/l16")

    with LoopbackServer(script) as server:
        sink = MemorySink()
        with anyio.fail_after(LIMIT):
            await ttsstream.speak(text, provider=deepgram(server), sink=sink)
    texts = [json.loads(r.body)["text"] for r in server.requests]
    assert len(texts) == 3
    assert all(len(t) <= 1000 for t in texts)
    assert " ".join(texts) == text.strip()


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"err_code": "INTERNAL"}, None),  # no message at all: nothing invented
        ({"err_msg": "x" * 600}, "x" * 500),  # bounded
        ({"message": "y" * 300, "details": "z" * 300}, "y" * 300 + " (" + "z" * 198),
        (["not", "an", "object"], "not; an; object"),  # other shapes: the generic reader
        ({"detail": "generic shape"}, "generic shape"),
        ({"message": "Invalid JSON submitted.", "details": 7}, "Invalid JSON submitted."),
        ({"message": "Invalid JSON submitted.", "details": ""}, "Invalid JSON submitted."),
    ],
)
async def test_error_bodies_of_other_shapes(body: object, said: str | None) -> None:
    with (
        LoopbackServer(lambda r, n: json_response(500, body)) as server,
        pytest.raises(ServerError) as info,
    ):
        await collect(deepgram(server))
    assert info.value.server_message == said


async def test_own_client_timeouts_and_a_trailing_slash_are_used() -> None:
    def script(r: Request, n: int) -> list[Step]:
        return [*audio_response(b"", content_type="audio/l16")[:1], Sleep(5.0)]

    with LoopbackServer(script) as server:
        async with httpx.AsyncClient(headers={"X-Mine": "1"}) as client:
            tts = ttsstream.Deepgram(
                api_key=KEY,
                base_url=server.root + "/",
                client=client,
                timeouts=ttsstream.Timeouts(first_byte=0.2),
                retries=Retries(max_retries=0),
            )
            with anyio.fail_after(LIMIT), pytest.raises(ttsstream.APITimeoutError):
                await collect(tts)
    (request,) = server.requests
    assert urlsplit(request.path).path == "/v1/speak"
    assert request.headers["x-mine"] == "1"
