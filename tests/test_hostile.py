"""Hostile and broken servers over real sockets (tests/loopback.py): what each one gets.

Successes that carry no audio, streams that close or trickle, error text in odd places, and
servers that echo the API key back in every place a key can hide.
"""

from __future__ import annotations

import json
import logging
import struct
import traceback

import anyio
import numpy as np
import pytest

import ttsstream
from ttsstream import MemorySink, Retries, Timeouts

from .httpfakes import streaming_wav, tone
from .loopback import (
    Drop,
    End,
    LoopbackServer,
    Raw,
    Request,
    Send,
    Sleep,
    Status,
    Step,
    audio_response,
    json_response,
)

pytestmark = pytest.mark.anyio

KEY = "sk-hostile-7f3a9c2e5b1d8e4f0a6c"
LIMIT = 10  # seconds: a hang fails the test


def provider(server: LoopbackServer, **options: object) -> ttsstream.OpenAI:
    options.setdefault("retries", Retries(max_retries=2, backoff=0.01))
    return ttsstream.OpenAI(api_key=KEY, base_url=server.url, **options)  # type: ignore[arg-type]


def sse_provider(server: LoopbackServer, **options: object) -> ttsstream.OpenAI:
    return provider(
        server, response_format="pcm", stream_format="sse", model="gpt-4o-mini-tts", **options
    )


async def speak_error(tts: ttsstream.Provider) -> ttsstream.TTSStreamError:
    with anyio.fail_after(LIMIT), pytest.raises(ttsstream.TTSStreamError) as info:
        await ttsstream.speak("Hello there.", provider=tts, sink=MemorySink())
    return info.value


# -- a success without audio (issue 11, items 7-9) -----------------------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"", "the body was empty"),  # an empty 200
        # openedai-speech with a broken voice: ffmpeg's pipe header and nothing after it
        (streaming_wav(tone(0)), "44 bytes without a single sample"),
    ],
)
async def test_a_200_without_audio_raises_no_audio(body: bytes, said: str) -> None:
    with LoopbackServer(lambda r, n: audio_response(body)) as server:
        error = await speak_error(provider(server))
    assert isinstance(error, ttsstream.NoAudioError)
    assert "sent no audio" in str(error)
    assert said in str(error)
    assert len(server.requests) == 1


async def test_a_200_closed_before_any_body_byte_says_so() -> None:
    # speaches with a bad voice: the status line and headers, then the connection closes
    def script(r: Request, n: int) -> list[Step]:
        return [Status(200, {"Content-Type": "audio/wav"}), Drop()]

    with LoopbackServer(script) as server:
        error = await speak_error(provider(server))
    assert isinstance(error, ttsstream.StreamInterruptedError)
    assert "closed the stream before sending any audio" in str(error)
    assert "could not reach" not in str(error)
    assert "check the network" not in str(error)
    assert len(server.requests) == 3  # nothing was played, so it was retried


async def test_json_on_a_200_keeps_the_servers_message() -> None:
    body = {"error": {"message": "Voice 'af_nope' not found", "type": "invalid_request_error"}}
    with LoopbackServer(lambda r, n: json_response(200, body)) as server:
        error = await speak_error(provider(server))
    assert isinstance(error, ttsstream.ServerError)
    assert error.server_message == "Voice 'af_nope' not found"
    assert "Voice 'af_nope' not found" in str(error)


# -- the first-audio deadline (issue 12, item 4) -------------------------------------------------


def trickling_header() -> bytes:
    """A WAV header whose LIST chunk claims 1 GB: every byte after it is skipped, not played."""
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + fmt
        + b"LIST"
        + (struct.pack("<I", 1 << 30))
    )


async def test_non_audio_bytes_trickling_cannot_hold_off_the_first_audio_deadline() -> None:
    def script(r: Request, n: int) -> list[Step]:
        steps: list[Step] = [Status(200, {"Content-Type": "audio/wav"}), Send(trickling_header())]
        for _ in range(300):
            steps += [Sleep(0.2), Send(b"\x00")]
        return [*steps, End()]

    stats = ttsstream.StreamStats()
    with LoopbackServer(script) as server:
        tts = provider(server, timeouts=Timeouts(first_audio=1.0))  # stall stays 15 s
        with (
            anyio.fail_after(LIMIT),
            pytest.raises(ttsstream.APITimeoutError, match=r"no audio within 1 s") as info,
        ):
            async for _ in tts.stream("Hello.", stats=stats):
                pass
    assert "Timeouts.first_audio" in str(info.value)
    assert stats.frames == 0
    assert stats.bytes_received > len(trickling_header())  # bytes kept coming: not a stall
    assert len(server.requests) == 1


async def test_first_audio_deadline_ends_once_audio_flows() -> None:
    source = tone(4800)
    payload = streaming_wav(source)

    def script(r: Request, n: int) -> list[Step]:
        return [
            Status(200, {"Content-Type": "audio/wav"}),
            Send(payload[:1044]),  # audio at once
            Sleep(2.0),  # then a pause past the first-audio deadline, under the stall one
            Send(payload[1044:]),
            End(),
        ]

    with LoopbackServer(script) as server:
        sink = MemorySink()
        tts = provider(server, timeouts=Timeouts(first_audio=1.5, stall=8.0))
        with anyio.fail_after(LIMIT):
            await ttsstream.speak("Hello.", provider=tts, sink=sink)
    np.testing.assert_array_equal(sink.samples(), source)


# -- hostile SSE (issue 12, item 3) ---------------------------------------------------------------


async def test_sse_data_lines_without_end_are_cut_off_at_the_bound() -> None:
    line = b"data: " + b"A" * 65530 + b"\n"

    def script(r: Request, n: int) -> list[Step]:
        steps: list[Step] = [Status(200, {"Content-Type": "text/event-stream"})]
        steps += [Send(line)] * 400  # 26 MB, one event that never ends
        return [*steps, End()]

    with LoopbackServer(script) as server:
        error = await speak_error(sse_provider(server))
    assert isinstance(error, ttsstream.DecodeError)
    assert "without ending" in str(error)


async def test_sse_deeply_nested_event_is_a_decode_error() -> None:
    body = b"data: " + b"[" * 1024 + b"\n\n"
    with LoopbackServer(
        lambda r, n: audio_response(body, content_type="text/event-stream")
    ) as server:
        error = await speak_error(sse_provider(server))
    assert type(error) is ttsstream.DecodeError


# -- keys echoed by the server (issue 12, item 6) -------------------------------------------------


def fragments(text: str) -> list[str]:
    """Every 8-character run of the key found in ``text``."""
    return [KEY[i : i + 8] for i in range(len(KEY) - 7) if KEY[i : i + 8] in text]


def assert_no_key(error: BaseException, log: str) -> None:
    texts = [str(error), repr(error), log]
    texts += [v for v in vars(error).values() if isinstance(v, str)]
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    for text in texts:
        assert KEY not in text
        assert not fragments(text), text
    assert KEY not in "".join(traceback.format_exception(error))


def sse_error(message: str) -> list[Step]:
    event = {"type": "error", "error": {"message": message}}
    body = f"data: {json.dumps(event)}\n\n".encode()
    return audio_response(body, content_type="text/event-stream")


ECHOES: dict[str, tuple[object, type[Exception]]] = {
    "reason phrase": (
        lambda r, n: [
            Status(401, {"Content-Type": "application/json"}, reason=f"Bad key {KEY}"),
            Send(b"{}"),
            End(),
        ],
        ttsstream.AuthenticationError,
    ),
    "error body": (
        lambda r, n: json_response(401, {"error": {"message": f"Incorrect API key {KEY}"}}),
        ttsstream.AuthenticationError,
    ),
    "error body cut mid-key": (
        lambda r, n: json_response(400, {"detail": "x" * 480 + KEY}),
        ttsstream.BadRequestError,
    ),
    "request id": (
        lambda r, n: json_response(400, {}, {"x-request-id": KEY}),
        ttsstream.BadRequestError,
    ),
    "json on a 200": (
        lambda r, n: json_response(200, {"error": f"key {KEY} has no access"}),
        ttsstream.ServerError,
    ),
    "sse error event": (lambda r, n: sse_error(f"Invalid key {KEY}"), ttsstream.ServerError),
    "sse line not json": (
        lambda r, n: audio_response(
            f"data: Authorization: Bearer {KEY}\n\n".encode(), content_type="text/event-stream"
        ),
        ttsstream.DecodeError,
    ),
    "sse line not json, cut mid-key": (
        lambda r, n: audio_response(
            f"data: {'y' * 64}{KEY}\n\n".encode(), content_type="text/event-stream"
        ),
        ttsstream.DecodeError,
    ),
    "malformed status line": (
        lambda r, n: [Raw(f"HTTP/1.1 nope {KEY}\r\n\r\n".encode()), Drop()],
        ttsstream.APIConnectionError,
    ),
}


@pytest.mark.parametrize("where", list(ECHOES))
async def test_key_echoed_by_the_server_never_reaches_errors_or_logs(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script, kind = ECHOES[where]
    with LoopbackServer(script) as server:  # type: ignore[arg-type]
        tts = sse_provider(server) if where.startswith("sse") else provider(server)
        error = await speak_error(tts)
    assert isinstance(error, kind)
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent
    assert_no_key(error, caplog.text)
    assert KEY not in repr(tts)
    assert KEY not in repr(tts.build_request("x"))


async def test_key_echoed_in_a_retried_error_stays_out_of_the_retry_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    source = tone(240)

    def script(r: Request, n: int) -> list[Step]:
        if n == 0:
            return [
                Status(503, {"Content-Type": "text/plain"}, reason=f"Busy {KEY}"),
                Send(f"overloaded, key {KEY}".encode()),
                End(),
            ]
        return audio_response(streaming_wav(source))

    with LoopbackServer(script) as server:
        sink = MemorySink()
        with anyio.fail_after(LIMIT):
            await ttsstream.speak("Again.", provider=provider(server), sink=sink)
    np.testing.assert_array_equal(sink.samples(), source)
    assert "retrying" in caplog.text
    assert KEY not in caplog.text
    assert not fragments(caplog.text)
