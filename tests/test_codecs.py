"""Compressed formats (mp3, Ogg Opus, AAC in ADTS, FLAC) through PyAV.

The bodies are real speech (espeak-ng) encoded by the ffmpeg CLI, served by the loopback HTTP
server in odd pieces, decoded through ``ttsstream.stream()`` and compared with ffmpeg's own
decode of the very same bytes. Needs ``av`` (the ``codecs`` extra), ffmpeg and espeak-ng.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ttsstream
from ttsstream import ConfigurationError, DecodeError, Retries, SampleDType
from ttsstream._decode.codecs import (
    AacDecoder,
    FlacDecoder,
    Mp3Decoder,
    OpusDecoder,
    lame_trim,
    mp3_frame_size,
)
from ttsstream._decode.ogg import OggReader, ogg_crc
from ttsstream._decode.sniff import choose_decoder

from .audio import PulseServer
from .loopback import End, LoopbackServer, Request, Send, Status, Step, audio_response

pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
)

Samples = npt.NDArray[Any]
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = "Hello there. This is a short test of compressed speech streaming."


@dataclass(frozen=True)
class Format:
    name: str  # the response_format asked for
    mime: str
    ffmpeg: tuple[str, ...]  # encoder arguments
    ref: str  # ffmpeg's raw output format for the reference decode
    rate: int  # the decoded rate
    decoder: Callable[[], Any]


FORMATS = {
    "mp3": Format(
        "mp3", "audio/mpeg", ("-c:a", "libmp3lame", "-b:a", "48k", "-f", "mp3"), "f32le", 24000,
        Mp3Decoder,
    ),
    # No ID3 tag and no Xing/Info frame (as ffmpeg writes into a pipe): nothing to trim.
    "mp3-bare": Format(
        "mp3", "audio/mpeg",
        ("-c:a", "libmp3lame", "-b:a", "48k", "-write_xing", "0", "-id3v2_version", "0",
         "-f", "mp3"),
        "f32le", 24000, Mp3Decoder,
    ),
    # 100 ms pages, as a streaming encoder writes them (ffmpeg's default is up to 1 s).
    "opus": Format(
        "opus", "audio/ogg",
        ("-c:a", "libopus", "-b:a", "24k", "-page_duration", "100000", "-f", "ogg"),
        "f32le", 48000, OpusDecoder,
    ),
    "aac": Format(
        "aac", "audio/aac", ("-c:a", "aac", "-b:a", "48k", "-f", "adts"), "f32le", 24000,
        AacDecoder,
    ),
    "flac": Format("flac", "audio/flac", ("-c:a", "flac", "-f", "flac"), "s16le", 24000,
                   FlacDecoder),
}  # fmt: skip
NAMES = list(FORMATS)


@dataclass(frozen=True)
class Body:
    fmt: Format
    data: bytes
    reference: Samples  # ffmpeg's decode, (frames, 1)


def _ffmpeg(*args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", *args], input=stdin, capture_output=True, check=True
    )
    return result.stdout


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed by the codec tests (apt-get install {tool})")
    path = tmp_path_factory.mktemp("codecs") / "speech.wav"
    raw = subprocess.run(["espeak-ng", "--stdout", TEXT], capture_output=True, check=True).stdout
    _ffmpeg("-i", "-", "-ar", "24000", "-ac", "1", "-y", str(path), stdin=raw)
    return path


@pytest.fixture(scope="session")
def bodies(speech: Path) -> dict[str, Body]:
    out = {}
    for key, fmt in FORMATS.items():
        # Into a file, not a pipe: only then does ffmpeg go back and write the mp3 Info frame
        # (with its LAME tag) and the FLAC sample count. Streaming servers pipe (mp3-bare).
        path = speech.with_name(f"{key}.{fmt.name}")
        _ffmpeg("-i", str(speech), *fmt.ffmpeg, "-y", str(path))
        data = path.read_bytes()
        dtype = "<f4" if fmt.ref == "f32le" else "<i2"
        # From the file too: reading a pipe, ffmpeg leaves the mp3 end padding in.
        ref = np.frombuffer(_ffmpeg("-i", str(path), "-f", fmt.ref, "-"), dtype)
        out[key] = Body(fmt, data, ref.reshape(-1, 1))
    return out


def _decode_with_ffmpeg(data: bytes, raw: str) -> bytes:
    return _ffmpeg("-i", "-", "-f", raw, "-", stdin=data)


def decode(make: Callable[[], Any], data: bytes, cuts: list[int] | None = None) -> Samples:
    """Decode ``data`` fed in pieces cut at ``cuts`` (default: 1 byte at a time)."""
    dec = make()
    points = sorted(set(cuts)) if cuts is not None else list(range(1, len(data)))
    parts = []
    start = 0
    for p in [*points, len(data)]:
        parts.append(dec.feed(data[start:p]))
        start = p
    parts.append(dec.flush())
    return np.concatenate(parts)


def provider(server: LoopbackServer, response_format: str = "wav") -> ttsstream.OpenAI:
    return ttsstream.OpenAI(
        base_url=server.url, response_format=response_format, retries=Retries(max_retries=0)
    )


async def collect(tts: ttsstream.OpenAI | ttsstream.ElevenLabs) -> tuple[Samples, set[Any]]:
    parts: list[Samples] = []
    formats = set()
    async with ttsstream.stream("Hello.", provider=tts) as audio:
        async for chunk in audio:
            parts.append(chunk.samples)
            formats.add(chunk.format)
    return np.concatenate(parts), formats


def assert_like_ffmpeg(out: Samples, body: Body) -> None:
    """Same length, no shift, correlation >= 0.999; FLAC bit-exact."""
    ref = body.reference
    if body.fmt.name == "flac":
        assert out.dtype == np.int16
        np.testing.assert_array_equal(out, ref)
        return
    assert out.dtype == np.float32
    assert out.shape == ref.shape
    x, y = out[:, 0].astype(np.float64), ref[:, 0].astype(np.float64)
    lags = range(-1000, 1001)
    best = max(lags, key=lambda k: float(np.dot(x[max(k, 0) :], y[: len(y) - max(k, 0)]))
               if k >= 0 else float(np.dot(x[: len(x) + k], y[-k:])))  # fmt: skip
    assert best == 0  # delay and padding trimmed as ffmpeg trims them
    assert np.corrcoef(x, y)[0, 1] >= 0.999


# -- through stream(), over a real socket ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("key", NAMES)
async def test_stream_decodes_like_ffmpeg(bodies: dict[str, Body], key: str) -> None:
    body = bodies[key]

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(body.data, (1, 1023, 777, 2), content_type=body.fmt.mime)

    with LoopbackServer(script) as server:
        with anyio.fail_after(30):
            out, formats = await collect(provider(server, body.fmt.name))
        assert server.requests[0].json()["response_format"] == body.fmt.name  # type: ignore[index]
    dtype: SampleDType = "int16" if body.fmt.name == "flac" else "float32"
    assert formats == {ttsstream.AudioFormat(body.fmt.rate, 1, dtype)}
    assert_like_ffmpeg(out, body)


@pytest.mark.anyio
@pytest.mark.parametrize("key", NAMES)
async def test_a_generic_content_type_is_decoded_by_its_first_bytes(
    bodies: dict[str, Body], key: str
) -> None:
    body = bodies[key]

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(body.data, (333,), content_type="application/octet-stream")

    with LoopbackServer(script) as server, anyio.fail_after(30):
        out, _ = await collect(provider(server, body.fmt.name))
    assert_like_ffmpeg(out, body)


@pytest.mark.anyio
@pytest.mark.parametrize("key", ["mp3", "opus", "flac"])
async def test_the_server_label_wins_over_what_was_asked(bodies: dict[str, Body], key: str) -> None:
    body = bodies[key]  # asked for wav, the server sends (and says) another format

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(body.data, (4096,), content_type=body.fmt.mime)

    with LoopbackServer(script) as server, anyio.fail_after(30):
        out, _ = await collect(provider(server, "wav"))
    assert_like_ffmpeg(out, body)


@pytest.mark.anyio
@pytest.mark.parametrize("key", NAMES)
async def test_first_audio_comes_before_half_the_body_was_sent(
    bodies: dict[str, Body], key: str
) -> None:
    body = bodies[key]
    half = len(body.data) // 2
    first_audio = threading.Event()
    waited: list[bool] = []

    def script(r: Request, n: int) -> Iterator[Step]:
        yield Status(200, {"Content-Type": body.fmt.mime})
        for i in range(0, half, 777):
            yield Send(body.data[i : min(i + 777, half)])
        # The server stops here until the client has audio (or 20 s have passed).
        waited.append(first_audio.wait(20))
        yield Send(body.data[half:])
        yield End()

    with LoopbackServer(script) as server, anyio.fail_after(40):
        async with ttsstream.stream("Hello.", provider=provider(server, body.fmt.name)) as audio:
            async for chunk in audio:
                assert chunk.frames > 0
                first_audio.set()
    assert waited == [True]


@pytest.mark.anyio
async def test_elevenlabs_mp3_output_format(speech: Path) -> None:
    data = _ffmpeg("-i", str(speech), "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k",
                   "-f", "mp3", "-")  # fmt: skip
    ref = np.frombuffer(_decode_with_ffmpeg(data, "f32le"), "<f4").reshape(-1, 1)

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(data, (1, 1023, 777), content_type="audio/mpeg")

    with LoopbackServer(script) as server, anyio.fail_after(30):
        tts = ttsstream.ElevenLabs(
            api_key="k", output_format="mp3_44100_128", base_url=server.url.removesuffix("/v1")
        )
        assert tts.expected_format == ttsstream.AudioFormat(44100, 1, "float32")
        out, formats = await collect(tts)
        assert "output_format=mp3_44100_128" in server.requests[0].path
    assert formats == {ttsstream.AudioFormat(44100, 1, "float32")}
    np.testing.assert_array_equal(out, ref)


@pytest.mark.anyio
async def test_a_44k_mp3_on_a_device_that_only_takes_48k_is_resampled(speech: Path) -> None:
    soxr = pytest.importorskip("soxr")
    from .fakesd import FakeSoundDevice

    data = _ffmpeg("-i", str(speech), "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k",
                   "-f", "mp3", "-")  # fmt: skip
    decoded = decode(Mp3Decoder, data, [])
    sd = FakeSoundDevice(accept=lambda dev, ch, dtype, rate: rate == 48000 and dtype == "int16")

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(data, (1, 1023, 777), content_type="audio/mpeg")

    with LoopbackServer(script) as server, anyio.fail_after(30):
        async with ttsstream.DeviceSink("pulse", backend=sd) as sink:
            report = await ttsstream.speak("Hi.", provider=provider(server, "mp3"), sink=sink)
            assert sink.stream_format == ttsstream.AudioFormat(48000, 1, "int16")
    assert report.frames == len(decoded)
    out = sd.stream.output()[:, 0].astype(np.float64) / 32768
    expected = soxr.resample(decoded, 44100, 48000)[:, 0].astype(np.float64)
    # Where the audio starts among the silence the device played around it.
    n = len(out) + len(expected)
    xcorr = np.fft.irfft(np.fft.rfft(out, n) * np.conj(np.fft.rfft(expected, n)), n)
    start = int(np.argmax(xcorr[: len(out)]))
    got = out[start : start + len(expected)]
    assert len(got) == len(expected)
    assert np.corrcoef(got, expected)[0, 1] >= 0.999


# -- damage ---------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("key", NAMES)
async def test_a_truncated_body_plays_what_was_whole(bodies: dict[str, Body], key: str) -> None:
    body = bodies[key]
    cut = len(body.data) * 3 // 5 + 1  # mid-frame
    full = decode(body.fmt.decoder, body.data, [])

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(body.data[:cut], (1, 1023, 777), content_type=body.fmt.mime)

    with LoopbackServer(script) as server, anyio.fail_after(30):
        out, _ = await collect(provider(server, body.fmt.name))
    assert len(out) > len(full) * 0.4
    np.testing.assert_array_equal(out, full[: len(out)])  # a prefix: nothing made up


def corrupt(key: str, data: bytes) -> bytes:
    """Damage each format where it can tell: mp3 and AAC frames carry no checksum, so only
    damage to the framing is detectable there; Ogg pages and FLAC frames have CRCs."""
    mid = len(data) // 2
    if key in ("flac", "opus"):
        b = bytearray(data)
        b[mid] ^= 0x10  # one bit
        return bytes(b)
    return data[:mid] + b"\0" * 300 + data[mid + 300 :]


@pytest.mark.anyio
@pytest.mark.parametrize("key", NAMES)
async def test_a_corrupted_body_is_a_decode_error_after_the_good_audio(
    bodies: dict[str, Body], key: str
) -> None:
    body = bodies[key]
    full = decode(body.fmt.decoder, body.data, [])
    parts: list[Samples] = []

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(corrupt(key, body.data), (1, 1023, 777), content_type=body.fmt.mime)

    with (
        LoopbackServer(script) as server,
        anyio.fail_after(30),
        pytest.raises(DecodeError, match=r"corrupted|out of step"),
    ):
        async with ttsstream.stream("Hi.", provider=provider(server, body.fmt.name)) as audio:
            async for chunk in audio:
                parts.append(chunk.samples)
    out = np.concatenate(parts)
    assert len(out) > len(full) * 0.2
    np.testing.assert_array_equal(out, full[: len(out)])


@pytest.mark.parametrize("key", NAMES)
def test_fuzzed_bodies_only_ever_raise_decode_error(bodies: dict[str, Body], key: str) -> None:
    body = bodies[key]
    data = body.data

    @FAST
    @given(
        edits=st.lists(
            st.tuples(
                st.integers(0, len(data) - 1), st.integers(0, 2), st.binary(min_size=1, max_size=40)
            ),
            min_size=1,
            max_size=4,
        ),
        cuts=st.lists(st.integers(0, len(data)), max_size=20),
    )
    def check(edits: list[tuple[int, int, bytes]], cuts: list[int]) -> None:
        b = bytearray(data)
        for pos, op, junk in edits:
            pos = min(pos, len(b))
            if op == 0:
                b[pos : pos + len(junk)] = junk  # overwrite
            elif op == 1:
                del b[pos : pos + len(junk)]
            else:
                b[pos:pos] = junk
        try:
            out = decode(body.fmt.decoder, bytes(b), cuts)
        except DecodeError:
            return
        assert out.dtype in (np.float32, np.int16)
        assert out.ndim == 2
        if out.dtype == np.float32:
            assert np.isfinite(out).all()

    check()


@pytest.mark.parametrize("truncated", [False, True])
@pytest.mark.parametrize("key", NAMES)
def test_any_split_decodes_to_the_same_samples(
    bodies: dict[str, Body], key: str, truncated: bool
) -> None:
    body = bodies[key]
    # Cut inside a frame too: where a stream ends must not depend on how it arrived.
    data = body.data[: len(body.data) * 3 // 5 + 1] if truncated else body.data
    whole = decode(body.fmt.decoder, data, [])
    one_by_one = decode(body.fmt.decoder, data)
    np.testing.assert_array_equal(one_by_one, whole)

    @settings(max_examples=15, deadline=None)
    @given(cuts=st.lists(st.integers(0, len(data)), max_size=40))
    def check(cuts: list[int]) -> None:
        np.testing.assert_array_equal(decode(body.fmt.decoder, data, cuts), whole)

    check()


@pytest.mark.parametrize("key", NAMES)
@pytest.mark.parametrize("cut", [0, 3, 20])
def test_a_body_without_audio_is_a_decode_error(
    bodies: dict[str, Body], key: str, cut: int
) -> None:
    dec = bodies[key].fmt.decoder()
    dec.feed(bodies[key].data[:cut])
    with pytest.raises(DecodeError, match=r"empty|without a complete"):
        dec.flush()


@pytest.mark.parametrize(
    ("make", "body", "found"),
    [
        (Mp3Decoder, b'{"error": {"message": "quota"}}', "not an mp3 stream"),
        (AacDecoder, b"<html><body>502</body></html>", "not an AAC"),
        (FlacDecoder, b"RIFF\x00\x00\x00\x00WAVE", "not a FLAC stream"),
        (OpusDecoder, b"ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00" * 3, "out of step"),
    ],
)
def test_something_else_is_named(make: Callable[[], Any], body: bytes, found: str) -> None:
    with pytest.raises(DecodeError, match=found):
        make().feed(body)


# -- the pieces -----------------------------------------------------------------------------


def test_mp3_lame_tag_gives_delay_and_padding(bodies: dict[str, Body]) -> None:
    data = bodies["mp3"].data
    at = 10 + int.from_bytes(data[6:10], "big")  # after the ID3 tag (sizes < 128 here)
    size = mp3_frame_size(data[at : at + 4])
    assert size is not None
    assert size[1:] == (24000, 1)
    delay, padding = lame_trim(data[at : at + size[0]]) or (-1, -1)
    assert delay == 576  # LAME's encoder delay
    dec = Mp3Decoder()
    out = np.concatenate([dec.feed(data), dec.flush()])
    assert dec.lame == (delay, padding)
    # Everything the encoder added is gone: the frames' samples minus delay and padding.
    frames = 0
    i = at + size[0]
    while (info := mp3_frame_size(data[i : i + 4])) is not None:
        frames += 1
        i += info[0]
    assert len(out) == frames * 576 - delay - padding
    bare = bodies["mp3-bare"].data
    assert lame_trim(bare[: mp3_frame_size(bare[:4])[0]]) is None  # type: ignore[index]


def test_ogg_reader_checks_every_page(bodies: dict[str, Body]) -> None:
    data = bodies["opus"].data
    reader = OggReader()
    packets = [p for i in range(0, len(data), 5) for p in reader.feed(data[i : i + 5])]
    reader.flush()
    assert packets[0].data.startswith(b"OpusHead")
    assert packets[1].data.startswith(b"OpusTags")
    assert packets[-1].last
    assert not any(p.last for p in packets[:-1])
    assert packets[-1].granule > 0
    assert ogg_crc(b"") == 0
    assert ogg_crc(b"OggS") == 0x5FB0A94F  # libogg's CRC of these bytes
    # A page dropped in the middle: its sequence number tells.
    second = data.index(b"OggS", 1)
    third = data.index(b"OggS", second + 1)
    with pytest.raises(DecodeError, match=r"sequence|continuation"):
        OggReader().feed(data[:second] + data[third:])


def test_opus_trims_pre_skip_and_end_padding(bodies: dict[str, Body]) -> None:
    body = bodies["opus"]
    reader = OggReader()
    packets = reader.feed(body.data)
    pre_skip = int.from_bytes(packets[0].data[10:12], "little")
    out = decode(OpusDecoder, body.data, [])
    assert len(out) == packets[-1].granule - pre_skip


def test_flac_frames_come_out_one_frame_behind(bodies: dict[str, Body]) -> None:
    data = bodies["flac"].data
    dec = FlacDecoder()
    got_at = None
    for i in range(0, len(data), 256):
        if dec.feed(data[i : i + 256]).shape[0]:
            got_at = i
            break
    assert got_at is not None
    assert got_at < len(data) // 3  # FFmpeg's own parser would wait for ten frames


# -- sniffing and configuration -------------------------------------------------------------


PCM_24K = ttsstream.AudioFormat(24000)


@dataclass(frozen=True)
class Asked:
    provider: str = "test"
    expect: Any = "wav"
    pcm_format: ttsstream.AudioFormat = PCM_24K
    pcm_encoding: Any = "s16le"
    server_pcm_format: ttsstream.AudioFormat | None = None


@pytest.mark.parametrize(
    ("content_type", "key", "decoder"),
    [
        ("audio/mpeg", "mp3", Mp3Decoder),
        ("audio/mpeg", "mp3-bare", Mp3Decoder),
        ("audio/ogg", "opus", OpusDecoder),
        ("audio/opus", "opus", OpusDecoder),
        ("audio/aac", "aac", AacDecoder),
        ("audio/flac", "flac", FlacDecoder),
        (None, "flac", FlacDecoder),
        ("binary/octet-stream", "opus", OpusDecoder),
    ],
)
def test_content_type_and_magic_bytes_choose_the_decoder(
    bodies: dict[str, Body], content_type: str | None, key: str, decoder: type
) -> None:
    chosen = choose_decoder(content_type, Asked())
    out = decode(lambda: chosen, bodies[key].data, [7, 4000])
    assert isinstance(chosen._inner, decoder)  # type: ignore[attr-defined]
    assert chosen.format == ttsstream.AudioFormat(
        bodies[key].fmt.rate, 1, "int16" if key == "flac" else "float32"
    )
    assert len(out) == len(bodies[key].reference)


@pytest.mark.parametrize(
    ("content_type", "found"),
    [("audio/mpeg", "not an mp3 stream"), ("audio/flac", "not a FLAC stream"),
     ("audio/mp4", "not an AAC"), ("audio/ogg", "out of step")],
)  # fmt: skip
def test_a_compressed_label_on_something_else_is_a_decode_error_not_noise(
    content_type: str, found: str
) -> None:
    body = b'{"error": {"message": "The server had an error"}}'
    dec = choose_decoder(content_type, Asked(expect="mp3" if "mpeg" not in content_type else "aac"))
    with pytest.raises(DecodeError, match=found):
        dec.feed(body)


@pytest.mark.parametrize("first", [0, -1, -3])
def test_pcm_asked_and_labelled_mpeg_is_pcm(first: int) -> None:
    # ElevenLabs labels its pcm_* output audio/mpeg: what was asked decides, not the label,
    # even when the first sample's bytes (-3 then 5: ff ff 05 00) look like a frame sync.
    samples = np.array([first, 5, *range(-500, 500)], "<i2")
    dec = lambda: choose_decoder("audio/mpeg", Asked(expect="pcm"))  # noqa: E731
    out = decode(dec, samples.tobytes(), [3, 501])
    np.testing.assert_array_equal(out[:, 0], samples)


@pytest.mark.parametrize("key", ["mp3-bare", "aac"])
def test_a_label_matching_the_bytes_wins_over_pcm_asked(bodies: dict[str, Body], key: str) -> None:
    body = bodies[key]
    out = decode(lambda: choose_decoder(body.fmt.mime, Asked(expect="pcm")), body.data, [])
    assert len(out) == len(body.reference)


def test_adts_without_a_label_or_a_request_is_not_guessed(bodies: dict[str, Body]) -> None:
    # 0xFF 0xF1 could be PCM: without a compressed label or request it stays what was asked.
    with pytest.raises(DecodeError, match="AAC"):
        decode(lambda: choose_decoder("application/octet-stream", Asked()), bodies["aac"].data)
    out = decode(lambda: choose_decoder(None, Asked(expect="aac")), bodies["aac"].data, [])
    assert len(out) == len(bodies["aac"].reference)


def test_without_pyav_compressed_formats_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    with pytest.raises(ConfigurationError, match=r"ttsstream\[codecs\]"):
        ttsstream.OpenAI(response_format="mp3")
    with pytest.raises(ConfigurationError, match=r"ttsstream\[codecs\]"):
        ttsstream.ElevenLabs(api_key="k", output_format="opus_48000_64")
    with pytest.raises(ConfigurationError, match=r"ttsstream\[codecs\]"):
        Mp3Decoder()
    ttsstream.OpenAI(response_format="wav")  # the rest works without it


def test_compressed_formats_are_accepted_with_pyav() -> None:
    assert ttsstream.OpenAI(response_format="opus").expected_format.sample_rate == 48000
    assert ttsstream.OpenAI(response_format="flac").expected_format.dtype == "int16"
    assert ttsstream.OpenAI(response_format="mp3").expected_format.dtype == "float32"
    tts = ttsstream.ElevenLabs(api_key="k", output_format="mp3_22050_32")
    assert tts.expected_format == ttsstream.AudioFormat(22050, 1, "float32")
    assert tts.build_request("Hi.").expect == "mp3"
    request = ttsstream.OpenAI(api_key="sk", response_format="aac").build_request("Hi.")
    assert request.json["response_format"] == "aac"
    assert request.expect == "aac"


# -- the real-audio path --------------------------------------------------------------------


@pytest.mark.audio
@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_speak_plays_an_mp3_stream_whole_without_underruns(
    pulse: PulseServer, tmp_path: Path
) -> None:
    from .audio import noise, nonsilent_span

    # Noise, never silent, so that a cut at either end shows; 24 kHz like the null sink.
    source = tmp_path / "noise.wav"
    with wave.open(str(source), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(noise(36000, seed=15).tobytes())
    path = tmp_path / "noise.mp3"
    _ffmpeg("-i", str(source), "-c:a", "libmp3lame", "-b:a", "128k", "-y", str(path))
    data = path.read_bytes()
    ref = np.frombuffer(_ffmpeg("-i", str(path), "-f", "f32le", "-"), "<f4").astype(np.float64)

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(data, (1, 1023, 777), pace=0.002, content_type="audio/mpeg")

    with LoopbackServer(script) as server, pulse.record() as rec:
        sink = ttsstream.DeviceSink("pulse")
        try:
            with anyio.fail_after(60):
                report = await ttsstream.speak("Hi.", provider=provider(server, "mp3"), sink=sink)
        finally:
            await sink.aclose()
    assert rec.samples is not None
    first, end = nonsilent_span(rec.samples)
    heard = rec.samples[first:end].astype(np.float64) / 32768
    assert abs(len(heard) - len(ref)) <= 2  # the first and the last sample are there
    n = min(len(heard), len(ref))
    assert np.corrcoef(heard[:n], ref[:n])[0, 1] >= 0.999
    assert report.underruns == 0
    assert report.frames == len(ref)


def test_mp3_segments_one_after_another_play_in_turn(bodies: dict[str, Body]) -> None:
    # Per-sentence servers glue complete mp3 files: a second ID3 tag and Info frame mid-stream.
    ref = decode(Mp3Decoder, bodies["mp3"].data, [])
    out = decode(Mp3Decoder, bodies["mp3"].data * 2, [1000, 20000])
    np.testing.assert_array_equal(out[: len(ref)], ref)
    assert len(out) > 2 * len(ref)  # the second one whole (its encoder delay is not trimmed)
