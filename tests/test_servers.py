"""The wire framings of real TTS servers, served byte for byte from a loopback HTTP server.

Each fixture imitates one server, as read from its own source (see DESIGN.md, "Real servers'
wire framings"): the bytes of each of its writes, its Content-Type, and how it cuts pieces.
Every response goes through ``ttsstream.stream()`` over a real socket, with each server write
sent as it is, byte by byte, in odd sizes and cut at random points (HTTP chunked transfer never
joins two writes, however it splits them), and the audio must match sample by sample, in the
right format, with nothing of a header or trailer played.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import random
import struct
import wave
from collections.abc import Sequence
from dataclasses import dataclass

import anyio
import numpy as np
import numpy.typing as npt
import pytest

import ttsstream
from ttsstream import AudioFormat, DecodeError, Retries

from .httpfakes import tone
from .loopback import End, LoopbackServer, Request, Send, Status, Step

pytestmark = pytest.mark.anyio

LIMIT = 20  # seconds; a hang fails the test
Samples = npt.NDArray[np.int16]


# -- what servers write ----------------------------------------------------------------------


def header44(rate: int, channels: int = 1, *, riff: int, data: int) -> bytes:
    """A 44-byte PCM16 header with the given RIFF and data size fields."""
    align = 2 * channels
    return (
        struct.pack("<4sI4s", b"RIFF", riff, b"WAVE")
        + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, rate * align, align, 16)
        + struct.pack("<4sI", b"data", data)
    )


def ffmpeg_header(rate: int, channels: int = 1) -> bytes:
    """ffmpeg's streaming WAV header: fmt, a LIST/INFO/ISFT chunk, data; sizes 0xFFFFFFFF
    (78 bytes, as Kokoro-FastAPI, openedai-speech and speaches send it)."""
    align = 2 * channels
    isft = b"Lavf61.7.100\0\0"
    info = b"INFO" + b"ISFT" + struct.pack("<I", len(isft)) + isft
    return (
        struct.pack("<4sI4s", b"RIFF", 0xFFFFFFFF, b"WAVE")
        + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, channels, rate, rate * align, align, 16)
        + b"LIST"
        + struct.pack("<I", len(info))
        + info
        + struct.pack("<4sI", b"data", 0xFFFFFFFF)
    )


def wave_file(samples: Samples, rate: int) -> bytes:
    """A complete WAV with true sizes, as Python's ``wave`` (and soundfile) write it."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def pcm(samples: Samples) -> bytes:
    return samples.astype("<i2").tobytes()


def size_trailer(audio_bytes: int, header_len: int = 78) -> bytes:
    """What ffmpeg's WAV muxer leaves when it patches its header into a buffer emptied after
    every chunk (Kokoro-FastAPI 0.3.0's finalize): zeros, RIFF size at 4, data size at the end."""
    block = bytearray(header_len)
    block[4:8] = struct.pack("<I", audio_bytes + header_len - 8)
    block[header_len - 4 :] = struct.pack("<I", audio_bytes)
    return bytes(block)


@dataclass
class Server:
    """One server's answer: its writes, its Content-Type, and the audio a listener must hear."""

    name: str
    writes: list[bytes]
    content_type: str
    expected: list[tuple[AudioFormat, Samples]]
    options: dict[str, object]


def seg(frames: int, rate: int, seed: int, channels: int = 1) -> Samples:
    s = tone(frames + seed, rate, channels)[seed:]
    return np.ascontiguousarray(s)


def fmt16(rate: int, channels: int = 1) -> AudioFormat:
    return AudioFormat(sample_rate=rate, channels=channels, dtype="int16")


def servers() -> list[Server]:
    out: list[Server] = []
    a, b, c = seg(300, 24000, 1), seg(251, 24000, 2), seg(170, 24000, 3)
    f24 = fmt16(24000)
    # Kokoro-FastAPI before 2025-01 (soundfile per segment), mlx-audio, ChatTTS: one complete
    # file per sentence, true sizes.
    out.append(
        Server(
            "kokoro-2024 (a complete WAV per sentence)",
            [wave_file(a, 24000), wave_file(b, 24000), wave_file(c, 24000)],
            "audio/wav",
            [(f24, np.concatenate([a, b, c]))],
            {},
        )
    )
    low = seg(200, 16000, 4)
    out.append(
        Server(
            "mlx-audio (complete files; the second one at 16 kHz)",
            [wave_file(a, 24000), wave_file(low, 16000), wave_file(c, 24000)],
            "audio/wav",
            [(f24, a), (fmt16(16000), low), (f24, c)],
            {},
        )
    )
    out.append(
        Server(
            "ChatTTS-style (complete files in one write; rates 24k, 16k, 22.05k)",
            [wave_file(a, 24000) + wave_file(low, 16000) + wave_file(b, 22050)],
            "audio/wav",
            [(f24, a), (fmt16(16000), low), (fmt16(22050), b)],
            {},
        )
    )
    # Streaming sizes, and the next file's header arriving inside such audio.
    for name, riff, data in [
        ("OpenAI / ffmpeg pipe (0xFFFFFFFF)", 0xFFFFFFFF, 0xFFFFFFFF),
        ("ElevenLabs wav_* (0x7FFFFFFF)", 0x7FFFFFFF, 0x7FFFFFFF),
        ("chatterbox-tts-api (RIFF 0x7FFFFFDB, data 0xFFFFFFFF)", 0x7FFFFFDB, 0xFFFFFFFF),
        ("AllTalk / xtts-api-server / GPT-SoVITS (wave, 0 frames)", 36, 0),
    ]:
        h = header44(24000, riff=riff, data=data)
        out.append(
            Server(
                f"{name}: a file per sentence",
                [h, pcm(a[:120]), pcm(a[120:]), h + pcm(b), h, pcm(c)],
                "audio/wav",
                [(f24, np.concatenate([a, b, c]))],
                {},
            )
        )
    # Kokoro-FastAPI 0.3.0: ffmpeg header glued to the first segment, a 78-byte trailer.
    audio = pcm(a) + pcm(b) + pcm(c)
    out.append(
        Server(
            "Kokoro-FastAPI 0.3.0 (78-byte size trailer)",
            [ffmpeg_header(24000) + pcm(a), pcm(b), pcm(c), size_trailer(len(audio))],
            "audio/wav",
            [(f24, np.concatenate([a, b, c]))],
            {},
        )
    )
    # LocalAI stream: true: a 44-byte header alone, then one piece per backend reply.
    out.append(
        Server(
            "LocalAI (header alone, then a piece per reply)",
            [header44(16000, riff=0xFFFFFFFF, data=0xFFFFFFFF), pcm(low), pcm(low[:50])],
            "audio/wav",
            [(fmt16(16000), np.concatenate([low, low[:50]]))],
            {},
        )
    )
    # Piper's own HTTP server: one complete WAV labelled text/html.
    piper = seg(333, 22050, 5)
    out.append(
        Server(
            "Piper HTTP server (WAV labelled text/html)",
            [wave_file(piper, 22050)],
            "text/html; charset=utf-8",
            [(fmt16(22050), piper)],
            {},
        )
    )
    # openedai-speech: rate=22050 for every tts-1 voice, here a 16 kHz Piper voice.
    voice16 = seg(240, 16000, 6)
    out.append(
        Server(
            "openedai-speech (audio/pcm;rate=22050, a 16 kHz voice)",
            [pcm(voice16[:100]), pcm(voice16[100:])],
            "audio/pcm;rate=22050",
            [(fmt16(16000), voice16)],
            {"response_format": "pcm", "pcm_format": fmt16(16000)},
        )
    )
    # speaches: audio/pcm without a rate, at the model's rate (Piper 22050).
    voice22 = seg(260, 22050, 7)
    out.append(
        Server(
            "speaches (audio/pcm, no rate, 22050 Hz Piper model)",
            [pcm(voice22)],
            "audio/pcm",
            [(fmt16(22050), voice22)],
            {"response_format": "pcm", "pcm_format": fmt16(22050)},
        )
    )
    # GPT-SoVITS: audio/raw at 32 kHz.
    voice32 = seg(320, 32000, 8)
    out.append(
        Server(
            "GPT-SoVITS (audio/raw, 32 kHz)",
            [pcm(voice32[:7]), pcm(voice32[7:])],
            "audio/raw",
            [(fmt16(32000), voice32)],
            {"response_format": "pcm", "pcm_format": fmt16(32000)},
        )
    )
    # fish-speech: headerless 44.1 kHz int16 labelled audio/wav.
    voice44 = seg(441, 44100, 9)
    out.append(
        Server(
            "fish-speech (raw 44.1 kHz labelled audio/wav)",
            [pcm(voice44[:200]), pcm(voice44[200:])],
            "audio/wav",
            [(fmt16(44100), voice44)],
            {"pcm_format": fmt16(44100)},
        )
    )
    # SSE deltas of raw PCM although WAV was asked for (speaches, chatterbox-tts-api).
    events = [
        b"data: "
        + json.dumps(
            {"type": "speech.audio.delta", "audio": base64.b64encode(pcm(part)).decode()}
        ).encode()
        + b"\n\n"
        for part in (a[:101], a[101:], b)
    ]
    events.append(b'data: {"type": "speech.audio.done", "usage": {}}\n\n')
    out.append(
        Server(
            "chatterbox-tts-api / speaches SSE (raw PCM deltas for wav)",
            events,
            "text/event-stream",
            [(f24, np.concatenate([a, b]))],
            {"stream_format": "sse"},
        )
    )
    return out


SERVERS = {s.name: s for s in servers()}


# -- how the pieces reach the client ---------------------------------------------------------


def pieces_of(writes: Sequence[bytes], how: str, seed: int = 0) -> list[bytes]:
    """Split each server write (never joining two): whole, bytewise, odd sizes, random cuts,
    or after every 0x0A byte (openedai-speech's line-buffered pipe)."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for w in writes:
        if how == "whole":
            out.append(w)
        elif how == "bytes":
            out.extend(w[i : i + 1] for i in range(len(w)))
        elif how == "odd":
            sizes, i, k = (1, 1023, 777, 3), 0, 0
            while i < len(w):
                out.append(w[i : i + sizes[k % 4]])
                i += sizes[k % 4]
                k += 1
        elif how == "newline":
            start = 0
            for i, byte in enumerate(w):
                if byte == 0x0A:
                    out.append(w[start : i + 1])
                    start = i + 1
            if start < len(w):
                out.append(w[start:])
        else:
            cuts = sorted(rng.sample(range(1, len(w)), min(len(w) - 1, 6))) if len(w) > 1 else []
            bounds = [0, *cuts, len(w)]
            out.extend(w[x:y] for x, y in itertools.pairwise(bounds))
    return out


async def play(server: Server, pieces: list[bytes]) -> list[tuple[AudioFormat, Samples]]:
    """Serve ``pieces`` (one HTTP chunk each); return the audio grouped by format."""

    def script(r: Request, n: int) -> list[Step]:
        return [Status(200, {"Content-Type": server.content_type}), *map(Send, pieces), End()]

    got: list[tuple[AudioFormat, Samples]] = []
    with LoopbackServer(script) as http:
        provider = ttsstream.OpenAI(
            base_url=http.url,
            retries=Retries(0),
            **server.options,  # type: ignore[arg-type]
        )
        with anyio.fail_after(LIMIT):
            async with ttsstream.stream("Hello there. Second one.", provider=provider) as audio:
                async for chunk in audio:
                    assert chunk.samples.shape[0] > 0
                    if got and got[-1][0] == chunk.format:
                        got[-1] = (chunk.format, np.concatenate([got[-1][1], chunk.samples]))
                    else:
                        got.append((chunk.format, chunk.samples))
    return got


def assert_heard(got: list[tuple[AudioFormat, Samples]], server: Server) -> None:
    assert [f for f, _ in got] == [f for f, _ in server.expected], server.name
    for (_, samples), (_, expected) in zip(got, server.expected, strict=True):
        assert samples.dtype == expected.dtype
        np.testing.assert_array_equal(samples, expected)


@pytest.mark.parametrize("name", sorted(SERVERS))
@pytest.mark.parametrize("how", ["whole", "bytes", "odd", "random", "newline"])
async def test_server_framings_play_exactly(name: str, how: str) -> None:
    server = SERVERS[name]
    if how == "bytes" and sum(map(len, server.writes)) > 3000:
        how = "odd"  # keep the byte-by-byte runs short; they still cover every header
    assert_heard(await play(server, pieces_of(server.writes, how, seed=len(name))), server)


@pytest.mark.parametrize("seed", range(4))
async def test_random_splits_of_every_server(seed: int) -> None:
    for server in SERVERS.values():
        assert_heard(await play(server, pieces_of(server.writes, "random", seed)), server)


async def test_kokoro_trailer_would_be_39_frames_of_click() -> None:
    """The trailer decoded as audio is 39 frames, two of them loud: what we must not play."""
    server = SERVERS["Kokoro-FastAPI 0.3.0 (78-byte size trailer)"]
    trailer = np.frombuffer(server.writes[-1], "<i2")
    assert trailer.size == 39
    assert np.abs(trailer).max() > 1000
    got = await play(server, pieces_of(server.writes, "whole"))
    assert sum(s.shape[0] for _, s in got) == sum(s.shape[0] for _, s in server.expected)


async def test_fish_speech_without_pcm_format_says_what_to_set() -> None:
    server = SERVERS["fish-speech (raw 44.1 kHz labelled audio/wav)"]
    bare = Server(server.name, server.writes, server.content_type, server.expected, {})
    with pytest.raises(DecodeError, match=r"without a WAV header.*pcm_format=AudioFormat"):
        await play(bare, pieces_of(bare.writes, "whole"))


async def test_pcm_format_wins_over_the_content_type_rate() -> None:
    server = SERVERS["openedai-speech (audio/pcm;rate=22050, a 16 kHz voice)"]
    options: dict[str, object] = {"response_format": "pcm"}
    without = Server(server.name, server.writes, server.content_type, [], options)
    got = await play(without, pieces_of(server.writes, "whole"))
    assert [f.sample_rate for f, _ in got] == [22050]  # what the label says, when not told
    assert_heard(await play(server, pieces_of(server.writes, "whole")), server)


def test_pcm_format_is_the_expected_format_and_reaches_the_request() -> None:
    told = fmt16(16000)
    tts = ttsstream.OpenAI(base_url="http://127.0.0.1:9/v1", pcm_format=told)
    assert tts.pcm_format == told
    assert tts.expected_format == told
    assert ttsstream.OpenAI(base_url="http://127.0.0.1:9/v1").expected_format == fmt16(24000)
    assert ttsstream.OpenAI(base_url="http://127.0.0.1:9/v1").pcm_format is None
