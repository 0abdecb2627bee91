"""speak() against a real HTTP server on 127.0.0.1 (real sockets, scripted chunking and pace)."""

from __future__ import annotations

import anyio
import numpy as np
import pytest

import ttsstream
from ttsstream import MemorySink, Retries, Timeouts

from .httpfakes import streaming_wav, tone
from .loopback import (
    Drop,
    LoopbackServer,
    Request,
    Send,
    Sleep,
    Status,
    Step,
    audio_response,
    json_response,
)

pytestmark = pytest.mark.anyio

KEY = "sk-loopback-secret-123456"
LIMIT = 10  # no scenario may take longer than this (seconds): a hang fails the test


def provider(server: LoopbackServer, **options: object) -> ttsstream.OpenAI:
    options.setdefault("retries", Retries(max_retries=2, backoff=0.01))
    return ttsstream.OpenAI(api_key=KEY, base_url=server.url, **options)  # type: ignore[arg-type]


async def test_odd_chunks_at_a_pace_play_bit_exact() -> None:
    source = tone(24000)  # 1 s
    payload = streaming_wav(source)
    with LoopbackServer(lambda r, n: audio_response(payload, (1, 1023, 777), pace=0.001)) as server:
        sink = MemorySink()
        with anyio.fail_after(LIMIT):
            report = await ttsstream.speak("One second.", provider=provider(server), sink=sink)
    np.testing.assert_array_equal(sink.samples(), source)
    assert report.bytes_received == len(payload)
    (request,) = server.requests
    assert request.path == "/v1/audio/speech"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.json() == {
        "model": "tts-1",
        "input": "One second.",
        "voice": "alloy",
        "response_format": "wav",
    }


async def test_dropped_connection_plays_what_arrived_then_raises() -> None:
    source = tone(24000)
    payload = streaming_wav(source)

    def script(r: Request, n: int) -> list[Step]:
        return [
            Status(200, {"Content-Type": "audio/wav"}),
            Send(payload[:10001]),
            Sleep(0.05),
            Drop(),
        ]

    with LoopbackServer(script) as server:
        sink = MemorySink()
        with (
            anyio.fail_after(LIMIT),
            pytest.raises(
                ttsstream.StreamInterruptedError, match="the audio received so far was played"
            ),
        ):
            await ttsstream.speak("Cut.", provider=provider(server), sink=sink)
    assert sink.drained
    np.testing.assert_array_equal(sink.samples(), source[: (10001 - 44) // 2])
    assert len(server.requests) == 1  # audio had arrived: never retried


async def test_stalled_server_times_out_after_playing_what_arrived() -> None:
    source = tone(24000)
    payload = streaming_wav(source)

    def script(r: Request, n: int) -> list[Step]:
        return [Status(200, {"Content-Type": "audio/wav"}), Send(payload[:4844]), Sleep(LIMIT * 2)]

    with LoopbackServer(script) as server:
        sink = MemorySink()
        with (
            anyio.fail_after(LIMIT),
            pytest.raises(ttsstream.StreamInterruptedError, match="stalled"),
        ):
            await ttsstream.speak(
                "Stall.", provider=provider(server, timeouts=Timeouts(stall=0.3)), sink=sink
            )
    np.testing.assert_array_equal(sink.samples(), source[:2400])


async def test_429_then_200_is_retried() -> None:
    source = tone(2400)

    def script(r: Request, n: int) -> list[Step]:
        if n == 0:
            return json_response(
                429, {"error": {"message": "Rate limit reached for tts-1"}}, {"Retry-After": "0.1"}
            )
        return audio_response(streaming_wav(source))

    with LoopbackServer(script) as server:
        sink = MemorySink()
        with anyio.fail_after(LIMIT):
            report = await ttsstream.speak("Again.", provider=provider(server), sink=sink)
    assert report.retries == 1
    assert len(server.requests) == 2
    assert server.requests[1].received_at - server.requests[0].received_at >= 0.1
    np.testing.assert_array_equal(sink.samples(), source)


async def test_401_raises_at_once_without_retry() -> None:
    body = {
        "error": {
            "message": "Incorrect API key provided: sk-lo***123",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    with (
        LoopbackServer(lambda r, n: json_response(401, body)) as server,
        anyio.fail_after(LIMIT),
        pytest.raises(ttsstream.AuthenticationError) as info,
    ):
        await ttsstream.speak("Nope.", provider=provider(server), sink=MemorySink())
    assert len(server.requests) == 1
    assert info.value.status_code == 401
    assert "Incorrect API key provided" in str(info.value)
    assert KEY not in str(info.value)


async def test_connection_refused_is_a_connection_error() -> None:
    with LoopbackServer(lambda r, n: []) as server:
        url = server.url
    tts = ttsstream.OpenAI(api_key=KEY, base_url=url, retries=Retries(1, backoff=0.01))
    with (
        anyio.fail_after(LIMIT),
        pytest.raises(ttsstream.APIConnectionError, match="could not reach"),
    ):
        await ttsstream.speak("Anyone?", provider=tts, sink=MemorySink())


async def test_provider_context_reuses_one_connection() -> None:
    source = tone(240)
    with LoopbackServer(lambda r, n: audio_response(streaming_wav(source))) as server:
        async with provider(server) as tts:
            for _ in range(3):
                await ttsstream.speak("Hi.", provider=tts, sink=MemorySink())
    assert len(server.requests) == 3
