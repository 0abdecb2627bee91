"""choose_decoder: what the Content-Type says, what the body's first bytes say, what the user
said (``pcm_format``), in that order of trust: magic bytes > pcm_format > Content-Type."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pytest

from ttsstream import AudioFormat, DecodeError
from ttsstream._decode.sniff import choose_decoder
from ttsstream._providers.http import AudioRequest

Samples = npt.NDArray[Any]
AUDIO = np.array([[1], [-2], [300], [-32768], [32767]], np.int16)
RAW = AUDIO.astype("<i2").tobytes()


def request(
    expect: Literal["wav", "pcm"] = "wav", server: AudioFormat | None = None, **kw: Any
) -> AudioRequest:
    return AudioRequest(
        provider="srv", url="", headers={}, json={}, expect=expect, server_pcm_format=server, **kw
    )


def wav(samples: Samples = AUDIO, rate: int = 22050, magic: bytes = b"RIFF") -> bytes:
    big = magic == b"RIFX"
    e = ">" if big else "<"
    data = samples.astype(e + "i2").tobytes()
    fmt = struct.pack(e + "4sIHHIIHH", b"fmt ", 16, 1, 1, rate, rate * 2, 2, 16)
    return (
        magic
        + struct.pack(e + "I", 36 + len(data))
        + b"WAVE"
        + fmt
        + struct.pack(e + "4sI", b"data", len(data))
        + data
    )


def decode(content_type: str | None, body: bytes, req: AudioRequest, *, bytewise: bool) -> Any:
    dec = choose_decoder(content_type, req)
    pieces = [body[i : i + 1] for i in range(len(body))] if bytewise else [body]
    out = [dec.feed(p) for p in pieces]
    out.append(dec.flush())
    frames = [o for o in out if o.shape[0]]
    samples = np.concatenate(frames) if frames else out[-1]
    return samples, dec.format


BOTH = pytest.mark.parametrize("bytewise", [False, True])


@BOTH
@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=utf-8",  # Piper's own HTTP server
        "application/json",
        "text/plain",
        "audio/pcm;rate=16000",
        "audio/wav",
        "application/octet-stream",
        None,
        "audio/mpeg",
    ],
)
def test_wav_magic_wins_over_any_content_type(content_type: str | None, bytewise: bool) -> None:
    samples, fmt = decode(content_type, wav(), request("pcm"), bytewise=bytewise)
    np.testing.assert_array_equal(samples, AUDIO)
    assert fmt == AudioFormat(22050, 1, "int16")


@pytest.mark.parametrize("magic", [b"RF64", b"BW64", b"RIFX"])
def test_every_wav_container_magic_counts(magic: bytes) -> None:
    body = wav(magic=magic)
    if magic != b"RIFX":  # RF64/BW64: no ds64 here, so the data size is the real one
        body = magic + body[4:]
    samples, _ = decode("text/html", body, request(), bytewise=True)
    np.testing.assert_array_equal(samples, AUDIO)


@BOTH
@pytest.mark.parametrize("mime", ["text/html", "application/json", "text/plain"])
def test_text_without_wav_magic_is_refused(mime: str, bytewise: bool) -> None:
    with pytest.raises(DecodeError, match=f"srv sent {mime} instead of audio"):
        decode(f"{mime}; charset=utf-8", b'{"detail": "no"}', request(), bytewise=bytewise)


def test_short_text_body_is_refused_at_flush() -> None:
    with pytest.raises(DecodeError, match="instead of audio"):
        decode("text/plain", b"no", request(), bytewise=True)


@BOTH
def test_pcm_parameters_then_defaults(bytewise: bool) -> None:
    stereo = RAW + RAW[:2]
    _, fmt = decode("audio/pcm; rate=16000; channels=2", stereo, request("pcm"), bytewise=bytewise)
    assert fmt == AudioFormat(16000, 2, "int16")
    samples, fmt = decode("audio/pcm", RAW, request("pcm"), bytewise=bytewise)
    assert fmt == AudioFormat(24000, 1, "int16")
    np.testing.assert_array_equal(samples, AUDIO)
    _, fmt = decode("audio/x-raw;rate=junk;channels=0", RAW, request("pcm"), bytewise=bytewise)
    assert fmt == AudioFormat(24000, 1, "int16")


@BOTH
@pytest.mark.parametrize("mime", ["audio/pcm;rate=22050", "audio/raw", "audio/x-pcm;rate=8000"])
def test_pcm_format_wins_over_content_type(mime: str, bytewise: bool) -> None:
    told = AudioFormat(16000, 1, "int16")  # openedai-speech's 16 kHz voices say 22050
    samples, fmt = decode(mime, RAW, request("pcm", told), bytewise=bytewise)
    assert fmt == told
    np.testing.assert_array_equal(samples, AUDIO)


def test_pcm_format_of_another_dtype_decodes_little_endian() -> None:
    told = AudioFormat(8000, 1, "float32")
    body = np.array([0.5, -0.25], "<f4").tobytes()
    samples, fmt = decode("audio/pcm", body, request("pcm", told), bytewise=True)
    assert fmt == told
    np.testing.assert_array_equal(samples, [[0.5], [-0.25]])


def test_l16_is_big_endian() -> None:
    body = AUDIO.astype(">i2").tobytes()
    samples, fmt = decode("audio/L16;rate=8000", body, request("pcm"), bytewise=False)
    assert fmt == AudioFormat(8000, 1, "int16")
    np.testing.assert_array_equal(samples, AUDIO)


def test_pcm_encoding_of_the_request_is_kept_when_int16() -> None:
    body = AUDIO.astype(">i2").tobytes()
    samples, _ = decode("audio/pcm", body, request("pcm", pcm_encoding="s16be"), bytewise=False)
    np.testing.assert_array_equal(samples, AUDIO)
    samples, _ = decode("audio/pcm", RAW, request("pcm", pcm_encoding="mulaw"), bytewise=False)
    np.testing.assert_array_equal(samples, AUDIO)  # not int16 wire: falls back to s16le


@pytest.mark.parametrize("mime", ["audio/basic", "audio/x-mulaw;rate=16000"])
def test_mulaw(mime: str) -> None:
    samples, fmt = decode(mime, b"\xff\x00", request("pcm"), bytewise=True)
    assert fmt == AudioFormat(16000 if "16000" in mime else 8000, 1, "int16")
    assert samples.tolist() == [[0], [-32124]]


@BOTH
@pytest.mark.parametrize("mime", ["audio/wav", "audio/x-wav", "application/octet-stream", None])
def test_headerless_wav_plays_as_pcm_format(mime: str | None, bytewise: bool) -> None:
    told = AudioFormat(44100, 1, "int16")  # fish-speech: raw 44.1 kHz labelled audio/wav
    samples, fmt = decode(mime, RAW, request("wav", told), bytewise=bytewise)
    assert fmt == told
    np.testing.assert_array_equal(samples, AUDIO)


@BOTH
@pytest.mark.parametrize("mime", ["audio/wav", "application/octet-stream", None])
def test_headerless_wav_without_pcm_format_names_it(mime: str | None, bytewise: bool) -> None:
    with pytest.raises(DecodeError) as info:
        decode(mime, RAW, request("wav"), bytewise=bytewise)
    msg = str(info.value)
    assert msg.startswith(f"srv sent a body without a WAV header ({mime or 'no Content-Type'}")
    assert "pcm_format=AudioFormat(sample_rate, channels, 'int16')" in msg
    assert repr(RAW[:4])[:-1] in msg  # the first bytes it saw (at least 4)
    assert "JSON" not in msg


@pytest.mark.parametrize("body", [b'{"error": "voice not found"}', b"<html>502</html>"])
def test_headerless_wav_that_looks_like_text_says_so(body: bytes) -> None:
    with pytest.raises(DecodeError, match=r"looks like JSON or HTML, probably an error"):
        decode("audio/wav", body, request("wav"), bytewise=False)


def test_empty_wav_body_is_the_wav_decoders_error() -> None:
    with pytest.raises(DecodeError, match="the audio stream was empty"):
        decode("audio/wav", b"", request("wav"), bytewise=False)


def test_generic_type_asked_for_pcm_is_pcm() -> None:
    samples, fmt = decode("application/octet-stream", RAW, request("pcm"), bytewise=True)
    assert fmt == AudioFormat(24000, 1, "int16")
    np.testing.assert_array_equal(samples, AUDIO)
    told = AudioFormat(32000, 1, "int16")
    _, fmt = decode(None, RAW, request("pcm", told), bytewise=True)
    assert fmt == told


@pytest.mark.parametrize(
    ("mime", "body", "name"),
    [
        ("application/octet-stream", b"ID3\x04" + b"\0" * 20, "not an mp3 stream"),
        (None, b"OggS" + b"\0" * 20, "Ogg Opus stream ended"),
        ("audio/flac", b"fLaC" + b"\0" * 20, "FLAC STREAMINFO"),
        ("audio/mpeg", b"\xff\xfb\x90\x00" + b"\0" * 20, "mp3 stream ended"),
        ("audio/aac", b"\xff\xf1\x50\x80" + b"\0" * 20, "ADTS frame header"),
    ],
)
def test_compressed_audio_goes_to_its_codec(mime: str | None, body: bytes, name: str) -> None:
    # Magic bytes (or a frame header under a label naming that codec) choose the codec's
    # decoder even though PCM was asked for; these bodies are cut short, so it says so.
    with pytest.raises(DecodeError, match=name):
        decode(mime, body, request("pcm"), bytewise=True)


def test_mulaw_silence_is_not_taken_for_mpeg() -> None:
    samples, _ = decode("audio/mpeg", b"\xff" * 8, request("pcm"), bytewise=False)
    assert samples.shape == (4, 1)


def sse(*payloads: bytes) -> bytes:
    events = [
        b"data: "
        + json.dumps({"type": "speech.audio.delta", "audio": base64.b64encode(p).decode()}).encode()
        + b"\n\n"
        for p in payloads
    ]
    return b"".join(events) + b'data: {"type": "speech.audio.done"}\n\n'


@BOTH
def test_sse_raw_pcm_deltas_when_wav_was_asked_for(bytewise: bool) -> None:
    body = sse(RAW[:3], RAW[3:])  # speaches, chatterbox-tts-api: raw int16 deltas
    samples, fmt = decode("text/event-stream", body, request("wav"), bytewise=bytewise)
    assert fmt == AudioFormat(24000, 1, "int16")
    np.testing.assert_array_equal(samples, AUDIO)
    told = AudioFormat(22050, 1, "int16")
    _, fmt = decode("text/event-stream", body, request("wav", told), bytewise=bytewise)
    assert fmt == told


@BOTH
def test_sse_wav_deltas(bytewise: bool) -> None:
    whole = wav()
    samples, fmt = decode(
        "text/event-stream", sse(whole[:7], whole[7:]), request("wav"), bytewise=bytewise
    )
    assert fmt == AudioFormat(22050, 1, "int16")
    np.testing.assert_array_equal(samples, AUDIO)


def test_sse_pcm_asked_uses_pcm_format() -> None:
    told = AudioFormat(16000, 1, "int16")
    samples, fmt = decode("text/event-stream", sse(RAW), request("pcm", told), bytewise=False)
    assert fmt == told
    np.testing.assert_array_equal(samples, AUDIO)


def test_error_messages_in_full() -> None:
    with pytest.raises(DecodeError) as info:
        decode("text/html", b"<html>", request(), bytewise=False)
    assert str(info.value) == (
        "srv sent text/html instead of audio; is base_url pointing at a text-to-speech endpoint?"
    )
    body = RAW + RAW
    with pytest.raises(DecodeError) as info:
        decode("audio/wav", body, request(), bytewise=False)
    assert str(info.value) == (
        f"srv sent a body without a WAV header (audio/wav, starting {body[:12]!r}). If this "
        "server streams raw PCM when asked for wav (fish-speech does), tell ttsstream its "
        "format: pass pcm_format=AudioFormat(sample_rate, channels, 'int16') to the provider"
    )
    with pytest.raises(DecodeError) as info:
        decode(None, b'{"detail": "Not Found"}', request(), bytewise=False)
    assert str(info.value).startswith(
        'srv sent a body without a WAV header (no Content-Type, starting b\'{"detail": "\')'
        " (it looks like JSON or HTML, probably an error message). If this server"
    )


@pytest.mark.parametrize(
    ("content_type", "want"),
    [
        ('audio/pcm; rate="16000"', AudioFormat(16000, 2, "int16")),
        ("audio/pcm;channels=1", AudioFormat(24000, 1, "int16")),
        ("Audio/PCM; RATE=8000 ; Channels = 1", AudioFormat(8000, 1, "int16")),
        ("audio/pcm;rate=0;channels=-1", AudioFormat(24000, 2, "int16")),
    ],
)
def test_content_type_parameters(content_type: str, want: AudioFormat) -> None:
    req = request("pcm", pcm_format=AudioFormat(24000, 2, "int16"))
    _, fmt = decode(content_type, RAW + RAW[:2] * 3, req, bytewise=False)
    assert fmt == want


def test_mulaw_channels_parameter() -> None:
    _, fmt = decode("audio/basic;channels=2", b"\xff\x00", request("pcm"), bytewise=False)
    assert fmt == AudioFormat(8000, 2, "int16")


def test_generic_pcm_keeps_the_requests_encoding() -> None:
    big = AUDIO.astype(">i2").tobytes()
    req = request("pcm", pcm_encoding="s16be")
    samples, _ = decode("application/octet-stream", big, req, bytewise=False)
    np.testing.assert_array_equal(samples, AUDIO)


def test_four_bytes_are_enough_to_decide() -> None:
    dec = choose_decoder("audio/pcm", request("pcm"))
    assert dec.feed(RAW[:4]).tolist() == [[1], [-2]]
    dec = choose_decoder("audio/pcm", request("pcm"))
    assert dec.feed(RAW[:3]).shape[0] == 0
    assert dec.feed(RAW[3:5]).tolist() == [[1], [-2]]


def test_a_body_under_four_bytes_is_decoded_at_flush() -> None:
    dec = choose_decoder("audio/pcm", request("pcm"))
    assert dec.feed(RAW[:3]).shape[0] == 0
    assert dec.format is None
    assert dec.flush().tolist() == [[1]]
    assert dec.format == AudioFormat(24000, 1, "int16")


def test_pending_is_forwarded_from_the_wav_decoder() -> None:
    a = wav(AUDIO[:2], rate=8000)
    b = wav(AUDIO[2:], rate=16000)
    dec = choose_decoder("audio/wav", request())
    assert not dec.pending  # type: ignore[attr-defined]
    assert dec.feed(a + b).tolist() == [[1], [-2]]
    assert dec.pending  # type: ignore[attr-defined]
    assert dec.format == AudioFormat(8000, 1, "int16")
    assert dec.feed(b"").tolist() == [[300], [-32768], [32767]]
    assert dec.format == AudioFormat(16000, 1, "int16")
    assert not dec.pending  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("head", "mpeg"),
    [
        (b"\xff\xfb\x90", True),  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
        (b"\xff\xf3\x40", True),  # MPEG-2 layer III
        (b"\xff\xf1\x50", True),  # ADTS (AAC), layer bits 00
        (b"\xff\xf9\x50", True),  # ADTS, MPEG-2 id
        (b"\xff\xfb", False),  # too short to tell
        (b"\xfe\xfb\x90", False),  # no sync byte
        (b"\xff\x1b\x90", False),  # sync bits incomplete
        (b"\xff\xe9\x50", False),  # layer 00 with a version that is not ADTS
        (b"\xff\xfb\xf0", False),  # bitrate index 15 is invalid
        (b"\xff\xfb\x9c", False),  # sample rate index 3 is reserved
        (b"\xff\xff\xff", False),  # mu-law silence
    ],
)
def test_mpeg_frame_header_detection(head: bytes, mpeg: bool) -> None:
    from ttsstream._decode.sniff import _looks_like_mpeg

    assert _looks_like_mpeg(head) is mpeg
    body = head + b"\0" * (24 - len(head))
    if len(head) < 3:
        return
    if mpeg and head[1] & 0x06:  # a layer III header under a label naming mp3: mp3
        with pytest.raises(DecodeError, match=r"mp3 stream"):
            decode("audio/mpeg", body, request("pcm"), bytewise=False)
    else:  # not mp3 (ADTS under an mp3 label, or no header): the PCM that was asked for
        samples, fmt = decode("audio/mpeg", body, request("pcm"), bytewise=False)
        assert fmt == AudioFormat(24000, 1, "int16")
        assert samples.shape == (12, 1)
