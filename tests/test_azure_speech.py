"""Azure AI Speech over a loopback server that speaks the documented REST wire format.

Documentation facts encoded here (learn.microsoft.com "Text to speech REST API", its
authentication include, "Speech service quotas and limits"; MicrosoftDocs/azure-ai-docs
``articles/ai-services/speech-service/rest-text-to-speech.md``, checked 2026-11):

* ``POST https://{region}.tts.speech.microsoft.com/cognitiveservices/v1``; headers
  ``Ocp-Apim-Subscription-Key`` (or ``Authorization: Bearer``), ``Content-Type:
  application/ssml+xml``, ``X-Microsoft-OutputFormat``, ``User-Agent``; the body is SSML that
  names the voice and language.
* Streaming formats include ``raw-8khz-8bit-mono-mulaw``, ``raw-8khz-8bit-mono-alaw``,
  ``raw-8khz-16bit-mono-pcm``, ``raw-16khz-16bit-mono-pcm``, ``raw-22050hz-16bit-mono-pcm``,
  ``raw-24khz-16bit-mono-pcm``, ``raw-44100hz-16bit-mono-pcm``, ``raw-48khz-16bit-mono-pcm``;
  ``riff-*`` formats are listed as non-streaming. The 200 body is "an audio file in the
  requested format" that "can be played as it's transferred"; its Content-Type is not
  documented, so the tests try several.
* Status codes: 400 (bad parameter or header), 401 (key or token wrong, or wrong region), 415
  (wrong Content-Type), 429 (quota or rate), 502, 503. No error body is documented: the tests
  send empty bodies and plain text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

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

from .httpfakes import streaming_wav, tone
from .loopback import LoopbackServer, Request, Sleep, Step, audio_response, text_response
from .wirecheck import LIMIT, collect, redirecting, samples

pytestmark = pytest.mark.anyio

KEY = "0123456789abcdef0123456789abcdef"
NS = {"s": "http://www.w3.org/2001/10/synthesis", "mstts": "https://www.w3.org/2001/mstts"}


def azure(server: LoopbackServer, **options: object) -> ttsstream.AzureSpeech:
    options.setdefault("retries", Retries(max_retries=0))
    endpoint = server.root + "/cognitiveservices/v1"
    return ttsstream.AzureSpeech(api_key=KEY, endpoint=endpoint, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("content_type", ["audio/x-wav", "audio/wav", "audio/pcm", None])
async def test_raw_24khz_request_and_audio_bit_exact(content_type: str | None) -> None:
    source = tone(4801)
    payload = source.astype("<i2").tobytes()

    def script(r: Request, n: int) -> list[Step]:
        steps = audio_response(payload, (1, 1023, 777), content_type=content_type or "")
        return steps

    with LoopbackServer(script) as server:
        tts = azure(server, voice="en-GB-SoniaNeural", language="en-GB", style="cheerful")
        assert tts.expected_format == ttsstream.AudioFormat(24000, 1, "int16")
        chunks = await collect(tts, 'Fish & chips <now> "please"')
    np.testing.assert_array_equal(samples(chunks), source)
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/cognitiveservices/v1"
    assert request.headers["ocp-apim-subscription-key"] == KEY
    assert request.headers["content-type"] == "application/ssml+xml"
    assert request.headers["x-microsoft-outputformat"] == "raw-24khz-16bit-mono-pcm"
    assert request.headers["user-agent"]
    root = ET.fromstring(request.body)  # well-formed: the text was escaped
    assert root.tag == "{http://www.w3.org/2001/10/synthesis}speak"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-GB"
    voice = root.find("s:voice", NS)
    assert voice is not None
    assert voice.get("name") == "en-GB-SoniaNeural"
    style = voice.find("mstts:express-as", NS)
    assert style is not None
    assert style.get("style") == "cheerful"
    assert "".join(style.itertext()) == 'Fish & chips <now> "please"'


async def test_a_wav_header_sent_anyway_is_parsed_not_played() -> None:
    source = tone(2400)
    with LoopbackServer(
        lambda r, n: audio_response(streaming_wav(source), content_type="audio/x-wav")
    ) as server:
        np.testing.assert_array_equal(samples(await collect(azure(server))), source)


@pytest.mark.parametrize(
    ("output_format", "rate", "wire"),
    [
        ("raw-8khz-8bit-mono-mulaw", 8000, "mulaw"),
        ("raw-8khz-8bit-mono-alaw", 8000, "alaw"),
        ("raw-16khz-16bit-mono-pcm", 16000, "s16le"),
        ("raw-22050hz-16bit-mono-pcm", 22050, "s16le"),
        ("raw-44100hz-16bit-mono-pcm", 44100, "s16le"),
        ("raw-48khz-16bit-mono-pcm", 48000, "s16le"),
    ],
)
async def test_other_raw_formats(output_format: str, rate: int, wire: ttsstream.Encoding) -> None:
    payload = bytes(np.random.default_rng(7).integers(0, 256, 2001, dtype=np.uint8))
    fmt = ttsstream.AudioFormat(rate, 1, "int16")
    with LoopbackServer(lambda r, n: audio_response(payload, content_type="audio/x-wav")) as server:
        tts = azure(server, output_format=output_format)
        assert tts.expected_format == fmt
        chunks = await collect(tts)
    assert server.requests[0].headers["x-microsoft-outputformat"] == output_format
    assert chunks[0].format == fmt
    np.testing.assert_array_equal(samples(chunks), ttsstream.PcmDecoder(fmt, wire).feed(payload))


def test_rate_goes_into_prosody_and_users_ssml_is_sent_as_it_is() -> None:
    tts = ttsstream.AzureSpeech(api_key=KEY, region="westeurope", rate=1.25)
    assert tts.endpoint == "https://westeurope.tts.speech.microsoft.com/cognitiveservices/v1"
    root = ET.fromstring(tts.build_request("Hi.").content or b"")
    prosody = root.find("s:voice/s:prosody", NS)
    assert prosody is not None
    assert prosody.get("rate") == "1.25"
    assert prosody.text == "Hi."
    mine = "\n  <speak version='1.0' xml:lang='en-US'><voice name='x'>Hi <break/></voice></speak>"
    assert tts.build_request(mine).content == mine.encode()
    too_long = (
        "SSML must be one whole <speak>...</speak> document of at most 5000 characters "
        "(longer SSML cannot be split at sentences)"
    )
    with pytest.raises(ConfigurationError, match=f"^{re.escape(too_long)}$"):
        tts.build_request("Hello. " + mine)
    words = ttsstream.AzureSpeech(api_key=KEY, region="westeurope", rate="+10%")
    prosody = ET.fromstring(words.ssml("Hi.")).find("s:voice/s:prosody", NS)
    assert prosody is not None
    assert prosody.get("rate") == "+10%"


def test_defaults_voice_and_language() -> None:
    root = ET.fromstring(ttsstream.AzureSpeech(api_key=KEY, region="eastus").ssml("Hi."))
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-US"
    voice = root.find("s:voice", NS)
    assert voice is not None
    assert voice.get("name") == "en-US-AvaMultilingualNeural"
    assert voice.text == "Hi."  # no style, no prosody unless asked


async def test_own_client_and_timeouts_are_used() -> None:
    def script(r: Request, n: int) -> list[Step]:
        return [*audio_response(b"")[:1], Sleep(5.0)]

    with LoopbackServer(script) as server:
        async with httpx.AsyncClient(headers={"X-Mine": "1"}) as client:
            tts = ttsstream.AzureSpeech(
                api_key=KEY,
                endpoint=server.root + "/cognitiveservices/v1",
                client=client,
                timeouts=ttsstream.Timeouts(first_byte=0.2),
                retries=Retries(max_retries=0),
            )
            with anyio.fail_after(LIMIT), pytest.raises(ttsstream.APITimeoutError):
                await collect(tts)
    (request,) = server.requests
    assert request.headers["x-mine"] == "1"


@pytest.mark.parametrize(
    ("status", "text", "error", "said"),
    [
        (400, "", BadRequestError, None),
        (401, "", AuthenticationError, None),
        (415, "Unsupported media type", BadRequestError, "Unsupported media type"),
        (429, "", RateLimitError, None),
        (502, "", ServerError, None),
        (503, "Service Unavailable: overloaded", ServerError, "overloaded"),
    ],
)
async def test_documented_statuses_map_even_with_empty_bodies(
    status: int, text: str, error: type[Exception], said: str | None
) -> None:
    with (
        LoopbackServer(lambda r, n: text_response(status, text)) as server,
        pytest.raises(error) as info,
    ):
        await collect(azure(server))
    assert isinstance(info.value, ttsstream.APIStatusError)
    assert info.value.status_code == status
    assert info.value.server_message == (said and text)
    assert str(info.value).startswith(f"azure-speech answered {status} ")
    assert KEY not in str(info.value)
    assert len(server.requests) == 1  # Retries(max_retries=0) reached the transport


async def test_401_names_the_key_and_the_region() -> None:
    tts = ttsstream.AzureSpeech(api_key=KEY, region="westeurope", retries=Retries(max_retries=0))
    with LoopbackServer(lambda r, n: text_response(401, "")) as server:
        tts.endpoint = server.root + "/cognitiveservices/v1"
        with pytest.raises(AuthenticationError) as info:
            await collect(tts)
    assert (
        "Check the key (AZURE_SPEECH_KEY) and that it belongs to the region westeurope "
        "(AZURE_SPEECH_REGION)"
    ) in str(info.value)
    with (
        LoopbackServer(lambda r, n: text_response(401, "")) as server,
        pytest.raises(AuthenticationError) as info,
    ):
        await collect(azure(server))
    assert "belongs to the region of the endpoint (AZURE_SPEECH_REGION)" in str(info.value)


async def test_a_key_echoed_in_an_error_body_is_scrubbed() -> None:
    with (
        LoopbackServer(lambda r, n: text_response(400, f"bad key {KEY}")) as server,
        pytest.raises(BadRequestError) as info,
    ):
        await collect(azure(server))
    assert KEY not in str(info.value)
    assert "bad key ***" in str(info.value)


async def test_redirect_to_another_host_does_not_carry_the_key() -> None:
    source = tone(480)
    payload = source.astype("<i2").tobytes()
    with (
        LoopbackServer(lambda r, n: audio_response(payload, content_type="audio/x-wav")) as other,
        LoopbackServer(redirecting(other.root, "/cognitiveservices/v1")) as first,
    ):
        np.testing.assert_array_equal(samples(await collect(azure(first))), source)
    assert first.requests[0].headers["ocp-apim-subscription-key"] == KEY
    assert "ocp-apim-subscription-key" not in other.requests[0].headers
    assert other.requests[0].body == first.requests[0].body  # 307 repeats the SSML


COMPRESSED = "that format is compressed and ttsstream cannot decode it yet"


@pytest.mark.parametrize(
    ("output_format", "hint"),
    [
        ("riff-24khz-16bit-mono-pcm", "riff-* formats are not streamed by Azure"),
        ("audio-24khz-48kbitrate-mono-mp3", COMPRESSED),
        ("ogg-24khz-16bit-mono-opus", COMPRESSED),
        ("webm-24khz-16bit-mono-opus", COMPRESSED),
        ("amr-wb-16000hz", COMPRESSED),
        ("raw-24khz-16bit-mono-truesilk", COMPRESSED),
        ("raw-11khz-16bit-mono-pcm", "unknown format"),
        ("raw-24khz-8bit-mono-pcm", "unknown format"),
    ],
)
def test_unusable_output_formats_are_refused(output_format: str, hint: str) -> None:
    message = (
        f"output_format={output_format!r}: {hint}; use raw-24khz-16bit-mono-pcm (default) or "
        "another raw-*-16bit-mono-pcm rate (8khz, 16khz, 22050hz, 44100hz, 48khz), "
        "raw-8khz-8bit-mono-mulaw or raw-8khz-8bit-mono-alaw"
    )
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        ttsstream.AzureSpeech(api_key=KEY, region="eastus", output_format=output_format)


def test_key_and_region_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_SPEECH_REGION", raising=False)
    monkeypatch.delenv("AZURE_SPEECH_KEY", raising=False)
    no_region = (
        "no Azure Speech region: pass AzureSpeech(region='westeurope') or set "
        "AZURE_SPEECH_REGION (the location of your Speech resource)"
    )
    with pytest.raises(ConfigurationError, match=f"^{re.escape(no_region)}$"):
        ttsstream.AzureSpeech()
    monkeypatch.setenv("AZURE_SPEECH_REGION", "eastus")
    with pytest.raises(ConfigurationError, match=r"^voice must not be empty$"):
        ttsstream.AzureSpeech(voice="")
    no_key = "no Azure Speech key: set AZURE_SPEECH_KEY or pass AzureSpeech(api_key=...)"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(no_key)}$"):
        ttsstream.AzureSpeech().build_request("Hi.")
    monkeypatch.setenv("AZURE_SPEECH_KEY", KEY)
    request = ttsstream.AzureSpeech().build_request("Hi.")
    assert request.url.startswith("https://eastus.tts.speech.microsoft.com/")
    assert request.headers["Ocp-Apim-Subscription-Key"] == KEY
