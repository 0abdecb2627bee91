"""Any HTTP text-to-speech service in about 30 lines: subclass HttpProvider.

The service here is made up ("Acme TTS") but shaped like many real ones: ``POST /v1/synthesize``
with JSON ``{"text", "voice"}``, the key in an ``X-Acme-Key`` header, raw 16-bit 22050 Hz mono
samples back, and errors as ``{"fault": {"reason": "..."}}``.

    python examples/custom_provider.py --base-url http://127.0.0.1:8000 out.wav "Hello."

Everything else (streaming, odd-sized chunks, retries, timeouts, error mapping, keys kept out of
messages and redirects, splitting long text at sentences) comes from the base class.
"""

from __future__ import annotations

import argparse
import json
import os

import anyio

import ttsstream


class AcmeTTS(ttsstream.HttpProvider):
    """Acme TTS: raw 16-bit mono at 22050 Hz."""

    name = "acme"
    max_input_chars = 3000  # what the service accepts in one request

    def __init__(self, *, base_url: str, voice: str = "river", api_key: str | None = None) -> None:
        super().__init__(client=None, timeouts=None, retries=None)
        self.base_url = base_url.rstrip("/")
        self.voice = voice
        self.api_key = api_key or os.environ.get("ACME_API_KEY", "")

    @property
    def expected_format(self) -> ttsstream.AudioFormat:
        return ttsstream.AudioFormat(22050, 1, "int16")  # lets speak() open the device early

    def build_request(self, text: str) -> ttsstream.AudioRequest:
        self.check_text(text)  # empty or too long: a clear ConfigurationError
        return ttsstream.AudioRequest(
            provider=self.name,
            url=f"{self.base_url}/v1/synthesize",
            headers={"X-Acme-Key": self.api_key},
            json={"text": text, "voice": self.voice},
            expect="pcm",  # headerless samples ...
            pcm_format=self.expected_format,  # ... in exactly this format
            format_known=True,  # whatever audio/* label the server puts on them
            secret_headers=frozenset({"x-acme-key"}),  # never sent to another host
            secrets=(self.api_key,),  # scrubbed from every error message
            key_hint="the API key (ACME_API_KEY)",
            error_message=acme_error,
        )


def acme_error(body: bytes, content_type: str | None) -> str | None:
    """Acme's own error shape; ``None`` lets ttsstream's generic reader try."""
    try:
        return str(json.loads(body)["fault"]["reason"])
    except (ValueError, KeyError, TypeError):
        return None


async def main(base_url: str, out: str, text: str) -> None:
    sink = ttsstream.WavFileSink(out)
    report = await ttsstream.speak(text, provider=AcmeTTS(base_url=base_url), sink=sink)
    rate = report.format.sample_rate if report.format else 0
    print(f"{report.frames} frames at {rate} Hz written to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("out")
    parser.add_argument("text", nargs="?", default="Hello from a custom provider.")
    args = parser.parse_args()
    anyio.run(main, args.base_url, args.out, args.text)
