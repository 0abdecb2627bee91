"""Cartesia over a loopback server that speaks Cartesia's documented wire format.

Documentation facts encoded here (docs.cartesia.ai "API Conventions", "API Errors", "Output
Format", API reference ``POST /tts/bytes`` for 2024-11-13 and 2026-03-01, checked 2026-11;
cartesia-python 4.0.1 ``_client.py``, ``types/raw_output_format_param.py``, ``MIGRATING.md``):

* ``POST /tts/bytes`` with a ``Cartesia-Version: YYYY-MM-DD`` header; the SDK's current version
  is 2026-08-14. The key goes in ``Authorization: Bearer <key>``; the 2024-11-13 conventions
  page documented ``X-API-Key: <key>`` instead.
* JSON body: ``model_id``, ``transcript``, ``voice``, ``output_format`` ``{"container": "raw",
  "encoding": "pcm_f32le" | "pcm_s16le" | "pcm_mulaw" | "pcm_alaw", "sample_rate": 8000 |
  16000 | 22050 | 24000 | 44100 | 48000}``. Version 2026-08-14 takes ``voice`` as an id or
  ``{"id": ...}``; earlier versions ``{"mode": "id", "id": ...}``.
* The answer is ``audio/*`` bytes: raw audio carries no format, so the request's encoding is
  the only truth.
* Errors (2026-03-01 and later): JSON ``{"error_code", "title", "message", "request_id"}``;
  older versions may answer plain text ``Title: Message``. The SDK maps 400, 401, 403, 404,
  422, 429 and >= 500.
"""

from __future__ import annotations

import json
import re

import anyio
import httpx
import numpy as np
import pytest

import ttsstream
from ttsstream import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    RateLimitError,
    Retries,
    ServerError,
)

from .httpfakes import tone
from .loopback import (
    LoopbackServer,
    Request,
    Sleep,
    Step,
    audio_response,
    json_response,
    text_response,
)
from .wirecheck import LIMIT, collect, redirecting, samples

pytestmark = pytest.mark.anyio

KEY = "sk_car_secret-0123456789abcdef"
VOICE = "a0e99841-438c-4a64-b679-ae501e7d6091"


def cartesia(server: LoopbackServer, **options: object) -> ttsstream.Cartesia:
    options.setdefault("retries", Retries(max_retries=0))
    return ttsstream.Cartesia(api_key=KEY, base_url=server.root, voice_id=VOICE, **options)  # type: ignore[arg-type]


async def test_s16le_request_and_audio_bit_exact() -> None:
    source = tone(4801)
    payload = source.astype("<i2").tobytes()

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(payload, (1, 1023, 777), content_type="audio/pcm")

    with LoopbackServer(script) as server:
        tts = cartesia(server, language="en", extra_body={"speed": "normal"})
        chunks = await collect(tts, "Hi.")
    np.testing.assert_array_equal(samples(chunks), source)
    (request,) = server.requests
    assert request.path == "/tts/bytes"
    assert request.headers["cartesia-version"] == "2026-08-14"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in request.headers
    assert json.loads(request.body) == {
        "model_id": "sonic-3",
        "transcript": "Hi.",
        "voice": {"id": VOICE},
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
        "language": "en",
        "speed": "normal",
    }


@pytest.mark.parametrize("content_type", ["audio/pcm", "application/octet-stream", "audio/wav"])
async def test_f32le_decodes_as_float_whatever_the_label(content_type: str) -> None:
    source = (np.sin(np.arange(4410) / 7.0) * 0.5).astype("<f4").reshape(-1, 1)

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(source.tobytes(), (3, 1021, 5), content_type=content_type)

    with LoopbackServer(script) as server:
        tts = cartesia(server, encoding="pcm_f32le", sample_rate=44100)
        assert tts.expected_format == ttsstream.AudioFormat(44100, 1, "float32")
        chunks = await collect(tts)
    assert chunks[0].format == ttsstream.AudioFormat(44100, 1, "float32")
    np.testing.assert_array_equal(samples(chunks), source)
    assert json.loads(server.requests[0].body)["output_format"] == {
        "container": "raw",
        "encoding": "pcm_f32le",
        "sample_rate": 44100,
    }


@pytest.mark.parametrize(("encoding", "wire"), [("pcm_mulaw", "mulaw"), ("pcm_alaw", "alaw")])
async def test_g711_encodings_decode_exactly(encoding: str, wire: ttsstream.Encoding) -> None:
    payload = bytes(np.random.default_rng(5).integers(0, 256, 1601, dtype=np.uint8))
    fmt = ttsstream.AudioFormat(8000, 1, "int16")
    with LoopbackServer(lambda r, n: audio_response(payload, content_type="audio/*")) as server:
        chunks = await collect(cartesia(server, encoding=encoding, sample_rate=8000))
    np.testing.assert_array_equal(samples(chunks), ttsstream.PcmDecoder(fmt, wire).feed(payload))


async def test_older_versions_get_the_key_and_voice_as_they_documented() -> None:
    with LoopbackServer(lambda r, n: audio_response(tone(10).tobytes())) as server:
        await collect(cartesia(server, version="2024-11-13"))
        await collect(cartesia(server, version="2025-04-16"))
    old, mid = server.requests
    assert old.headers["x-api-key"] == KEY
    assert "authorization" not in old.headers
    assert json.loads(old.body)["voice"] == {"mode": "id", "id": VOICE}
    assert mid.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(mid.body)["voice"] == {"mode": "id", "id": VOICE}
    assert mid.headers["cartesia-version"] == "2025-04-16"


@pytest.mark.parametrize(
    ("status", "steps", "error", "said"),
    [
        (
            400,
            json_response(
                400,
                {
                    "error_code": "invalid_request",
                    "title": "Invalid request",
                    "message": "output_format.sample_rate must be one of 8000, ...",
                    "request_id": "550e8400-e29b-41d4-a716-446655440000",
                },
            ),
            BadRequestError,
            "Invalid request: output_format.sample_rate must be one of",
        ),
        (
            401,
            json_response(
                401,
                {
                    "error_code": None,
                    "title": "Unauthorized",
                    "message": "Invalid API key.",
                    "request_id": "r",
                },
            ),
            AuthenticationError,
            "Unauthorized: Invalid API key.",
        ),
        (
            404,
            json_response(
                404,
                {"error_code": "voice_not_found", "title": "Not found", "message": "No voice."},
            ),
            BadRequestError,
            "Not found: No voice.",
        ),
        (
            429,
            json_response(
                429,
                {
                    "error_code": "concurrency_limited",
                    "title": "Too many concurrent requests",
                    "message": "You have exceeded your plan's concurrency limit.",
                    "request_id": "r",
                },
            ),
            RateLimitError,
            "Too many concurrent requests: You have exceeded",
        ),
        (
            500,
            text_response(500, "Internal Server Error: generation failed"),
            ServerError,
            "Internal Server Error: generation failed",
        ),
        (
            402,
            text_response(402, "Payment Required: Your credits are used up"),
            BadRequestError,
            "Your credits are used up",
        ),
    ],
)
async def test_documented_errors_map_with_cartesias_own_message(
    status: int, steps: list[Step], error: type[Exception], said: str
) -> None:
    with LoopbackServer(lambda r, n: steps) as server, pytest.raises(error) as info:
        await collect(cartesia(server))
    assert isinstance(info.value, ttsstream.APIStatusError)
    assert info.value.status_code == status
    assert info.value.server_message is not None
    assert said in info.value.server_message
    assert str(info.value).startswith(f"cartesia answered {status} ")
    assert KEY not in str(info.value)
    assert len(server.requests) == 1  # Retries(max_retries=0) reached the transport
    if status == 401:
        assert "Check the API key (CARTESIA_API_KEY)" in str(info.value)


async def test_a_key_echoed_in_an_error_body_is_scrubbed() -> None:
    body = {"title": "Unauthorized", "message": f"Bearer {KEY} is not a valid key"}
    with (
        LoopbackServer(lambda r, n: json_response(401, body)) as server,
        pytest.raises(AuthenticationError) as info,
    ):
        await collect(cartesia(server))
    assert KEY not in str(info.value)
    assert "Bearer *** is not a valid key" in str(info.value)


@pytest.mark.parametrize("version", ["2026-08-14", "2024-11-13"])
async def test_redirect_to_another_host_carries_neither_key_header(version: str) -> None:
    source = tone(480)
    with (
        LoopbackServer(lambda r, n: audio_response(source.astype("<i2").tobytes())) as other,
        LoopbackServer(redirecting(other.root, "/tts/bytes")) as first,
    ):
        np.testing.assert_array_equal(
            samples(await collect(cartesia(first, version=version))), source
        )
    assert KEY in first.requests[0].headers.get(
        "authorization", first.requests[0].headers.get("x-api-key", "")
    )
    assert all(KEY not in v for v in other.requests[0].headers.values())
    assert other.requests[0].headers["cartesia-version"] == version


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"encoding": "mp3"},
            "unknown encoding 'mp3'; use one of pcm_s16le, pcm_f32le, pcm_mulaw, pcm_alaw "
            "(raw samples; ttsstream does not decode Cartesia's mp3)",
        ),
        (
            {"sample_rate": 32000},
            "Cartesia sends 8000, 16000, 22050, 24000, 44100, 48000 Hz, not 32000",
        ),
        ({"voice_id": ""}, "voice_id must not be empty"),
    ],
)
def test_impossible_options_are_refused_at_once(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=f"^{re.escape(match)}$"):
        ttsstream.Cartesia(api_key=KEY, **options)  # type: ignore[arg-type]


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    message = "no Cartesia API key: set CARTESIA_API_KEY or pass Cartesia(api_key=...)"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        ttsstream.Cartesia().build_request("Hi.")
    monkeypatch.setenv("CARTESIA_API_KEY", KEY)
    assert ttsstream.Cartesia().build_request("Hi.").headers["Authorization"] == f"Bearer {KEY}"
    other = ttsstream.Cartesia(api_key="explicit-key-123").build_request("Hi.")
    assert other.headers["Authorization"] == "Bearer explicit-key-123"
    with pytest.raises(ConfigurationError, match="limit of 5000"):
        ttsstream.Cartesia(api_key=KEY).build_request("x" * 5001)


@pytest.mark.parametrize(
    ("content_type", "body", "error", "match"),
    [
        # With the codecs extra an MP3 body is decoded as MP3: these bytes hold no whole frame.
        ("audio/mpeg", b"\xff\xfb\x90\xc4" + bytes(64), ttsstream.DecodeError, "mp3 stream"),
        ("audio/mpeg", b"ID3\x04" + bytes(64), ttsstream.DecodeError, "mp3 stream"),
        # JSON on a 200 is the server's error, with its own message.
        ("application/json", b'{"message": "not audio"}', ttsstream.ServerError, "200.*not audio"),
    ],
)
async def test_a_body_that_is_not_the_raw_audio_asked_for_is_refused(
    content_type: str, body: bytes, error: type[Exception], match: str
) -> None:
    with (
        LoopbackServer(lambda r, n: audio_response(body, content_type=content_type)) as server,
        pytest.raises(error, match=match),
    ):
        await collect(cartesia(server))


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"title": 5, "message": "untitled"}, "untitled"),
        ({"title": "", "message": "empty title"}, "empty title"),
        ({"error_code": "x", "title": "No message"}, "No message"),  # generic reader: title
        ({"message": "m" * 600}, "m" * 500),
        ([{"message": "in a list"}], "in a list"),
    ],
)
async def test_error_bodies_of_other_shapes(body: object, said: str) -> None:
    with (
        LoopbackServer(lambda r, n: json_response(500, body)) as server,
        pytest.raises(ServerError) as info,
    ):
        await collect(cartesia(server))
    assert info.value.server_message == said


async def test_own_client_timeouts_and_a_trailing_slash_are_used() -> None:
    def script(r: Request, n: int) -> list[Step]:
        return [*audio_response(b"")[:1], Sleep(5.0)]

    with LoopbackServer(script) as server:
        async with httpx.AsyncClient(headers={"X-Mine": "1"}) as client:
            tts = ttsstream.Cartesia(
                api_key=KEY,
                base_url=server.root + "/",
                client=client,
                timeouts=ttsstream.Timeouts(first_byte=0.2),
                retries=Retries(max_retries=0),
            )
            with anyio.fail_after(LIMIT), pytest.raises(ttsstream.APITimeoutError):
                await collect(tts)
    (request,) = server.requests
    assert request.path == "/tts/bytes"
    assert request.headers["x-mine"] == "1"
