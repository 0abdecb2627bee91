"""HTTP streaming, providers and error mapping, with httpx.MockTransport (no network)."""

from __future__ import annotations

import base64
import json
import logging
import struct

import httpx
import numpy as np
import pytest

import ttsstream
from ttsstream import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    DecodeError,
    NoAudioError,
    RateLimitError,
    Retries,
    ServerError,
    StreamInterruptedError,
    Timeouts,
)

from .httpfakes import Body, client_for, split, streaming_wav, tone

pytestmark = pytest.mark.anyio

KEY = "sk-test-SECRET-0123456789abcdef"
NO_WAIT = Retries(max_retries=2, backoff=0.001, max_backoff=0.002)


def openai(handler, **options) -> ttsstream.OpenAI:  # type: ignore[no-untyped-def]
    options.setdefault("retries", NO_WAIT)
    return ttsstream.OpenAI(api_key=KEY, client=client_for(handler), **options)


async def collect(provider: ttsstream.Provider, text: str = "Hello there.") -> np.ndarray:
    chunks = [c.samples async for c in provider.stream(text)]
    return np.concatenate(chunks) if chunks else np.empty((0, 1), np.int16)


# -- formats and content types -------------------------------------------------------------


@pytest.mark.parametrize("sizes", [[1], [1023, 777, 1], [4096], [3, 5, 7]])
async def test_streaming_wav_in_odd_chunks_decodes_exactly(sizes: list[int]) -> None:
    source = tone(4800)
    body = split(streaming_wav(source), sizes)
    tts = openai(
        lambda r: httpx.Response(200, headers={"content-type": "audio/wav"}, stream=Body(body))
    )
    got = await collect(tts)
    np.testing.assert_array_equal(got, source)


async def test_request_body_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(tone(10))
        )

    tts = openai(
        handler,
        base_url="http://tts.local/v1/",
        model="gpt-4o-mini-tts",
        voice={"id": "voice_123"},
        speed=1.25,
        instructions="Cheerful.",
        extra_body={"lang_code": "a"},
    )
    await collect(tts, "Hi.")
    (request,) = seen
    assert request.url == "http://tts.local/v1/audio/speech"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "gpt-4o-mini-tts",
        "input": "Hi.",
        "voice": {"id": "voice_123"},
        "response_format": "wav",
        "speed": 1.25,
        "instructions": "Cheerful.",
        "lang_code": "a",
    }


async def test_pcm_uses_rate_from_content_type_over_request() -> None:
    source = tone(2205, rate=22050)
    data = source.astype("<i2").tobytes()
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "audio/pcm;rate=22050"}, stream=Body(split(data, [333]))
        ),
        response_format="pcm",
    )
    chunks = [c async for c in tts.stream("x")]
    assert chunks[0].format == ttsstream.AudioFormat(22050, 1, "int16")
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), source)


async def test_server_says_pcm_when_wav_was_asked() -> None:
    source = tone(100)
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "audio/pcm"}, content=source.tobytes()
        )
    )
    np.testing.assert_array_equal(await collect(tts), source)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "audio/mpeg"])
async def test_generic_or_wrong_content_type_is_sniffed(content_type: str | None) -> None:
    source = tone(300)
    headers = {"content-type": content_type} if content_type else {}
    tts = openai(
        lambda r: httpx.Response(
            200, headers=headers, stream=Body(split(streaming_wav(source), [1]))
        )
    )
    np.testing.assert_array_equal(await collect(tts), source)


async def test_pcm_asked_generic_content_type_is_pcm() -> None:
    source = tone(300)
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "application/octet-stream"}, content=source.tobytes()
        ),
        response_format="pcm",
    )
    np.testing.assert_array_equal(await collect(tts), source)


@pytest.mark.parametrize(
    ("content_type", "body", "found"),
    [
        ("audio/mpeg", b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 64, "mp3"),
        ("audio/mpeg", b"\xff\xfb\x90\xc4" + b"\x00" * 64, "mp3"),
        ("audio/ogg", b"OggS\x00\x02" + b"\x00" * 64, "Ogg"),
        ("application/json", b'{"audio": "none"}', "application/json instead of audio"),
    ],
)
async def test_compressed_or_text_body_is_a_clear_decode_error(
    content_type: str, body: bytes, found: str
) -> None:
    tts = openai(
        lambda r: httpx.Response(200, headers={"content-type": content_type}, content=body)
    )
    with pytest.raises(DecodeError, match=found):
        await collect(tts)


def sse(*events: object, done: object = None, crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    out = ""
    for e in events:
        out += f"event: speech.audio.delta{nl}data: {json.dumps(e)}{nl}{nl}"
    if done is not None:
        out += f"data: {json.dumps(done) if not isinstance(done, str) else done}{nl}{nl}"
    return out.encode()


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize(
    "done",
    [
        {"type": "speech.audio.done", "usage": {"input_tokens": 3}},
        "[DONE]",
        {"type": "speech.audio.done", "token_usage": {}},
    ],
)
async def test_sse_base64_deltas(crlf: bool, done: object) -> None:
    source = tone(2401)
    raw = source.astype("<i2").tobytes()
    # odd-sized deltas: a sample is split across two events
    deltas = [
        {"type": "speech.audio.delta", "audio": base64.b64encode(p).decode()}
        for p in split(raw, [999, 77])
    ]
    body = split(sse(*deltas, done=done, crlf=crlf), [61])
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=Body(body)
        ),
        response_format="pcm",
        stream_format="sse",
        model="gpt-4o-mini-tts",
    )
    np.testing.assert_array_equal(await collect(tts), source)


async def test_sse_error_event_raises_with_server_message() -> None:
    body = sse({"type": "error", "error": {"message": "voice exploded"}})
    tts = openai(
        lambda r: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body),
        response_format="pcm",
        stream_format="sse",
    )
    with pytest.raises(ServerError, match="voice exploded"):
        await collect(tts)


# -- errors -----------------------------------------------------------------------------------

ERROR_BODIES = [
    (
        {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        },
        "Incorrect API key provided.",
    ),
    ({"detail": "Voice 'zed' not found"}, "Voice 'zed' not found"),
    (
        {"detail": [{"loc": ["body", "speed"], "msg": "must be <= 4", "type": "value_error"}]},
        "body.speed: must be <= 4",
    ),
    ({"message": "flat message"}, "flat message"),
    ({"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}, "Invalid API key"),
    ({"error": "plain string error"}, "plain string error"),
]


@pytest.mark.parametrize(("body", "message"), ERROR_BODIES)
@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, BadRequestError),
        (422, BadRequestError),
        (500, ServerError),
        (503, ServerError),
    ],
)
async def test_error_status_and_message_whatever_the_shape(
    status: int, exc: type[Exception], body: object, message: str
) -> None:
    tts = openai(lambda r: httpx.Response(status, json=body), retries=Retries(0))
    with pytest.raises(exc) as info:
        await collect(tts)
    assert message in str(info.value)
    assert isinstance(info.value, ttsstream.APIStatusError)
    assert info.value.status_code == status
    assert info.value.server_message == message


async def test_html_and_empty_error_bodies() -> None:
    tts = openai(
        lambda r: httpx.Response(
            502,
            headers={"content-type": "text/html"},
            text="<html><title>502 Bad Gateway</title></html>",
        ),
        retries=Retries(0),
    )
    with pytest.raises(ServerError, match="502 Bad Gateway"):
        await collect(tts)
    tts = openai(lambda r: httpx.Response(500), retries=Retries(0))
    with pytest.raises(ServerError) as info:
        await collect(tts)
    assert info.value.server_message is None


async def test_api_key_never_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ttsstream")
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    tts = openai(lambda r: httpx.Response(401, json=echo))
    with pytest.raises(AuthenticationError) as info:
        await collect(tts)
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)
    assert KEY not in (info.value.server_message or "")
    assert KEY not in repr(tts)
    assert KEY not in caplog.text
    assert "OPENAI_API_KEY" in str(info.value)


# -- retries ----------------------------------------------------------------------------------


async def test_429_retry_after_then_200() -> None:
    source = tone(480)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                429,
                headers={"retry-after": "0.01"},
                json={"error": {"message": "Rate limit reached"}},
            )
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(source)
        )

    tts = openai(handler)
    stats = ttsstream.StreamStats()
    got = np.concatenate([c.samples async for c in tts.stream("x", stats=stats)])
    np.testing.assert_array_equal(got, source)
    assert len(calls) == 2
    assert stats.retries == 1


async def test_429_with_long_retry_after_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            429, headers={"retry-after": "3600"}, json={"error": {"message": "slow down"}}
        )

    with pytest.raises(RateLimitError) as info:
        await collect(openai(handler))
    assert len(calls) == 1
    assert info.value.retry_after == 3600


async def test_quota_429_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            429,
            json={
                "error": {
                    "message": "You exceeded your current quota",
                    "code": "insufficient_quota",
                }
            },
        )

    with pytest.raises(RateLimitError, match="quota"):
        await collect(openai(handler))
    assert len(calls) == 1


async def test_5xx_retried_up_to_the_limit_401_never() -> None:
    calls: list[int] = []
    with pytest.raises(ServerError):
        await collect(openai(lambda r: calls.append(1) or httpx.Response(503)))  # type: ignore[func-returns-value]
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(AuthenticationError):
        await collect(openai(lambda r: calls.append(1) or httpx.Response(401)))  # type: ignore[func-returns-value]
    assert len(calls) == 1


async def test_connect_error_retried_then_ok() -> None:
    source = tone(240)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(source)
        )

    np.testing.assert_array_equal(await collect(openai(handler)), source)
    with pytest.raises(APIConnectionError, match=r"could not reach http://127\.0\.0\.1:9"):
        await collect(
            openai(
                lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")),
                base_url="http://127.0.0.1:9/v1",
            )
        )


# -- broken streams and timeouts ---------------------------------------------------------------


async def test_dropped_connection_yields_audio_then_raises() -> None:
    source = tone(4800)
    pieces = split(streaming_wav(source), [1000])
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "audio/wav"}, stream=Body(pieces, fail_after=5)
        )
    )
    got: list[np.ndarray] = []
    with pytest.raises(StreamInterruptedError, match="connection broke after 5000 bytes"):
        async for chunk in tts.stream("x"):
            got.append(chunk.samples)
    audio = np.concatenate(got)
    np.testing.assert_array_equal(audio, source[: audio.shape[0]])
    assert audio.shape[0] == (5000 - 44) // 2


async def test_stall_timeout_between_chunks() -> None:
    pieces = split(streaming_wav(tone(4800)), [1000])
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "audio/wav"}, stream=Body(pieces, stall_after=2)
        ),
        timeouts=Timeouts(stall=0.05),
    )
    got = 0
    with pytest.raises(StreamInterruptedError, match="stalled"):
        async for chunk in tts.stream("x"):
            got += chunk.frames
    assert got == (2000 - 44) // 2


async def test_first_byte_timeout_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, stream=Body([b"RIFF"], stall_after=0)
        )

    tts = openai(handler, timeouts=Timeouts(first_byte=0.05))
    with pytest.raises(APITimeoutError, match=r"no audio within 0\.05 s"):
        await collect(tts)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("content_type", "body", "said"),
    [
        ("audio/wav", b"", "the body was empty"),
        ("audio/pcm", b"", "the body was empty"),
        ("audio/wav", streaming_wav(tone(0)), "44 bytes without a single sample"),
        ("audio/wav", streaming_wav(tone(0), size=0), "44 bytes without a single sample"),
        (
            "text/event-stream",
            b'data: {"type":"speech.audio.done"}\n\n',
            "without a single sample",
        ),
    ],
)
async def test_a_200_without_audio_is_no_audio_error(
    content_type: str, body: bytes, said: str
) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    with pytest.raises(NoAudioError, match="sent no audio") as info:
        await collect(openai(handler, response_format="pcm"))
    assert said in str(info.value)
    assert not info.value.retryable
    assert len(calls) == 1  # a broken voice stays broken: never retried


async def test_a_200_closed_before_any_body_byte_is_reported_as_such_and_retried() -> None:
    source = tone(240)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(
                200, headers={"content-type": "audio/wav"}, stream=Body([b""], fail_after=0)
            )
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(source)
        )

    np.testing.assert_array_equal(await collect(openai(handler)), source)
    assert len(calls) == 2
    always = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "audio/wav"}, stream=Body([b"x"], fail_after=0)
        ),
        retries=Retries(0),
    )
    with pytest.raises(StreamInterruptedError) as info:
        await collect(always)
    assert "closed the stream before sending any audio" in str(info.value)
    assert "could not reach" not in str(info.value)


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        (
            "application/json",
            {"error": {"message": "Voice 'zed' not found"}},
            "Voice 'zed' not found",
        ),
        ("application/json; charset=utf-8", {"detail": "model not loaded"}, "model not loaded"),
        ("application/problem+json", {"title": "TTS backend crashed"}, "TTS backend crashed"),
    ],
)
async def test_json_on_a_200_keeps_the_servers_message(
    content_type: str, body: object, message: str
) -> None:
    data = json.dumps(body).encode()
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": content_type}, stream=Body(split(data, [5]))
        )
    )
    with pytest.raises(ServerError) as info:
        await collect(tts)
    assert info.value.server_message == message
    assert message in str(info.value)
    assert info.value.status_code == 200


# -- typed retry decisions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "retryable", "retry_after"),
    [
        (429, {"retry-after": "7"}, {"error": {"message": "Rate limit"}}, True, 7.0),
        (429, {}, {"error": {"message": "x", "code": "insufficient_quota"}}, False, None),
        (429, {}, {"detail": {"status": "quota_exceeded", "message": "credits"}}, False, None),
        (429, {}, {"error": {"message": "You exceeded your current quota"}}, False, None),
        (503, {"retry-after": "2"}, {}, True, 2.0),
        (500, {}, {}, True, None),
        (502, {}, {}, True, None),
        (504, {}, {}, True, None),
        (501, {}, {}, False, None),
        (400, {}, {}, False, None),
        (401, {}, {}, False, None),
        (404, {}, {}, False, None),
    ],
)
async def test_error_carries_its_retry_decision(
    status: int, headers: dict[str, str], body: object, retryable: bool, retry_after: float | None
) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, headers=headers, json=body)

    with pytest.raises(ttsstream.APIStatusError) as info:
        await collect(openai(handler, retries=Retries(0)))
    assert info.value.retryable is retryable
    assert info.value.retry_after == retry_after
    assert len(calls) == 1


def test_retries_decide_from_the_typed_fields_not_the_message() -> None:
    r = Retries(max_retries=2, backoff=1.0, max_backoff=8.0, max_retry_after=20.0)
    # the message says nothing about retrying: only the fields decide
    assert r.decide(ttsstream.APIError("no audio within 1 s", retryable=True), 0) is not None
    assert r.decide(ttsstream.APIError("could not reach", retryable=False), 0) is None
    assert r.decide(ttsstream.APIError("x", retryable=True, retry_after=3.0), 1) == 3.0
    assert r.decide(ttsstream.APIError("x", retryable=True, retry_after=20.0), 0) == 20.0
    assert r.decide(ttsstream.APIError("x", retryable=True, retry_after=21.0), 0) is None
    assert r.decide(ttsstream.APIError("x", retryable=True), 2) is None
    assert r.decide(ttsstream.APIError("x", retryable=True), 1) is not None
    for attempt in range(6):
        wait = r.decide(ttsstream.APIError("x", retryable=True), attempt)
        if attempt < 2:
            assert wait is not None
            cap = min(8.0, 2.0**attempt)
            assert cap / 2 <= wait <= cap
        else:
            assert wait is None


# -- redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "keeps_auth"),
    [("http://other.example/v1/audio/speech", False), ("/v2/audio/speech", True)],
)
async def test_redirect_never_leaks_credentials_to_another_host(
    target: str, keeps_auth: bool
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(307, headers={"location": target})
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(tone(10))
        )

    await collect(openai(handler, base_url="http://tts.local/v1"))
    assert len(seen) == 2
    assert ("authorization" in seen[1].headers) is keeps_auth
    assert json.loads(seen[1].content)["input"] == "Hello there."


# -- configuration ----------------------------------------------------------------------------


def test_config_errors_are_clear() -> None:
    with pytest.raises(ConfigurationError, match="unknown response_format 'ogg'"):
        ttsstream.OpenAI(response_format="ogg")
    with pytest.raises(ConfigurationError, match="speed"):
        ttsstream.OpenAI(speed=5)
    with pytest.raises(ConfigurationError, match="unknown output_format"):
        ttsstream.ElevenLabs(api_key="k", output_format="mp3_fast")
    with pytest.raises(ConfigurationError, match="unknown output_format"):
        ttsstream.ElevenLabs(api_key="k", output_format="pcm_12345")
    assert isinstance(ConfigurationError("x"), ValueError)


def test_openai_needs_a_key_only_for_the_official_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        ttsstream.OpenAI().build_request("hi")
    request = ttsstream.OpenAI(base_url="http://localhost:8880/v1").build_request("hi")
    assert "authorization" not in {k.lower() for k in request.headers}
    monkeypatch.setenv("OPENAI_BASE_URL", "http://kokoro:8880/v1")
    assert ttsstream.OpenAI().build_request("hi").url == "http://kokoro:8880/v1/audio/speech"


def test_long_text_is_refused_by_the_provider_itself() -> None:
    with pytest.raises(ConfigurationError, match="4097 characters"):
        ttsstream.OpenAI(api_key="k").build_request("a" * 4097)


async def test_azure_url_header_and_version() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(tone(10))
        )

    tts = ttsstream.AzureOpenAI(
        endpoint="https://acme.openai.azure.com",
        deployment="tts",
        api_key=KEY,
        client=client_for(handler),
    )
    await collect(tts)
    (request,) = seen
    assert request.url.path == "/openai/deployments/tts/audio/speech"
    assert request.url.params["api-version"]
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers


@pytest.mark.parametrize(
    ("output_format", "content_type", "encode", "rate"),
    [
        ("pcm_24000", "audio/pcm", lambda s: s.astype("<i2").tobytes(), 24000),
        ("pcm_16000", "audio/mpeg", lambda s: s.astype("<i2").tobytes(), 16000),
        ("pcm_44100", None, lambda s: s.astype("<i2").tobytes(), 44100),
    ],
)
async def test_elevenlabs_request_and_pcm(
    output_format: str, content_type: str | None, encode, rate: int
) -> None:  # type: ignore[no-untyped-def]
    source = tone(1000, rate=rate)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"content-type": content_type} if content_type else {}
        return httpx.Response(200, headers=headers, stream=Body(split(encode(source), [101])))

    tts = ttsstream.ElevenLabs(
        api_key=KEY, voice_id="v1", output_format=output_format, client=client_for(handler)
    )
    chunks = [c async for c in tts.stream("Hello")]
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), source)
    assert chunks[0].format.sample_rate == rate
    (request,) = seen
    assert request.url.path == "/v1/text-to-speech/v1/stream"
    assert request.url.params["output_format"] == output_format
    assert request.headers["xi-api-key"] == KEY
    assert json.loads(request.content) == {"text": "Hello", "model_id": "eleven_flash_v2_5"}


async def test_elevenlabs_ulaw() -> None:
    from ttsstream._decode.pcm import _ULAW

    codes = np.arange(256, dtype=np.uint8)
    tts = ttsstream.ElevenLabs(
        api_key=KEY,
        output_format="ulaw_8000",
        client=client_for(
            lambda r: httpx.Response(
                200, headers={"content-type": "audio/basic"}, content=codes.tobytes()
            )
        ),
    )
    chunks = [c async for c in tts.stream("x")]
    assert chunks[0].format == ttsstream.AudioFormat(8000, 1, "int16")
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks])[:, 0], _ULAW)


async def test_user_client_is_never_closed_own_client_is() -> None:
    client = client_for(
        lambda r: httpx.Response(
            200, headers={"content-type": "audio/wav"}, content=streaming_wav(tone(10))
        )
    )
    tts = ttsstream.OpenAI(api_key=KEY, client=client)
    async with tts:
        await collect(tts)
    assert not client.is_closed
    await client.aclose()


# -- a provider of one's own ------------------------------------------------------------------


class MyTTS(ttsstream.HttpProvider):
    """Written as AudioRequest's docstring shows a user would."""

    name = "mytts"

    def __init__(self, api_key: str, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self._key = api_key

    def build_request(self, text: str) -> ttsstream.AudioRequest:
        return ttsstream.AudioRequest(
            provider=self.name,
            url="https://tts.example/v1/speak",
            headers={"X-Key": self._key},
            json={"text": text},
            expect="pcm",
            pcm_format=ttsstream.AudioFormat(16000, 1, "int16"),
            secret_headers=frozenset({"x-key"}),
            secrets=(self._key,),
        )


async def test_a_subclass_gets_decoding_errors_and_scrubbing() -> None:
    source = tone(1600, rate=16000)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.content == b'{"text":"fail"}':
            return httpx.Response(403, json={"detail": f"key {KEY} is disabled"})
        return httpx.Response(
            200,
            headers={"content-type": "application/octet-stream"},
            stream=Body(split(source.astype("<i2").tobytes(), [7])),
        )

    tts = MyTTS(KEY, client=client_for(handler), retries=NO_WAIT)
    chunks = [c async for c in tts.stream("hello")]
    assert chunks[0].format == ttsstream.AudioFormat(16000, 1, "int16")
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), source)
    assert seen[0].headers["x-key"] == KEY
    with pytest.raises(AuthenticationError) as info:
        await collect(tts, "fail")
    assert "mytts answered 403" in str(info.value)
    assert "is disabled" in str(info.value)
    assert KEY not in str(info.value)
    request = tts.build_request("x")
    assert KEY not in repr(request)
    assert "'X-Key': '***'" in repr(request)
    assert "(1 hidden)" in repr(request)
    assert tts.timeouts == Timeouts()
    assert tts.retries == NO_WAIT


def test_redact_whole_keys_and_pieces_of_them() -> None:
    from ttsstream._providers.errors import redact

    key = "sk-proj-abcdefghijklmnop"
    assert redact(f"bad key {key}.", (key,)) == "bad key ***."
    assert redact(f"cut: {key[:12]}", (key,)) == "cut: ***"
    assert redact(f"{key[-9:]} tail", (key,)) == "*** tail"
    assert redact(f"{key[3:10]} is short", (key,)) == f"{key[3:10]} is short"  # 7 < 8
    assert redact("secret abc", ("abc",)) == "secret abc"  # too short to redact
    assert redact("a wxyz b wxyz", ("wxyz", "")) == "a *** b ***"
    assert redact(f"{key} and {key}", (key,)) == "*** and ***"


class _Flood(httpx.AsyncByteStream):
    """A WAV header whose LIST chunk claims 1 GB, then bytes without end, never awaiting."""

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        fmt = struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16)
        yield b"RIFF\xff\xff\xff\xffWAVEfmt " + fmt + b"LIST" + struct.pack("<I", 1 << 30)
        while True:
            yield b"\x00" * 7


async def test_first_audio_deadline_holds_against_a_flood_of_non_audio_bytes() -> None:
    tts = openai(
        lambda r: httpx.Response(200, headers={"content-type": "audio/wav"}, stream=_Flood()),
        timeouts=Timeouts(first_audio=0.2),
    )
    stats = ttsstream.StreamStats()
    with pytest.raises(APITimeoutError, match=r"no audio within 0\.2 s .* none of them audio"):
        async for _ in tts.stream("x", stats=stats):
            pass
    assert stats.bytes_received > 44
    assert stats.frames == 0


@pytest.mark.parametrize(
    ("timeouts", "setting"),
    [
        (Timeouts(first_byte=30.0, first_audio=0.05), "first_audio"),
        (Timeouts(first_byte=0.05, first_audio=30.0), "first_byte"),
        (Timeouts(first_byte=0.05, first_audio=None), "first_byte"),
        (Timeouts(first_byte=None, first_audio=0.05), "first_audio"),
    ],
)
async def test_the_first_byte_wait_is_the_smaller_deadline_and_named(
    timeouts: Timeouts, setting: str
) -> None:
    tts = openai(
        lambda r: httpx.Response(
            200, headers={"content-type": "audio/wav"}, stream=Body([b"RIFF"], stall_after=0)
        ),
        timeouts=timeouts,
    )
    with pytest.raises(APITimeoutError, match=rf"within 0\.05 s .* Raise Timeouts\.{setting} "):
        await collect(tts)
