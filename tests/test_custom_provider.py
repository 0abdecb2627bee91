"""examples/custom_provider.py, the "Any HTTP TTS" guide's example, against a loopback server.

The server plays the made-up Acme service the example describes: ``POST /v1/synthesize``,
``X-Acme-Key``, raw 16-bit 22050 Hz mono labelled ``application/octet-stream``, errors as
``{"fault": {"reason": ...}}``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile

import ttsstream

from .httpfakes import tone
from .loopback import LoopbackServer, Request, Step, audio_response, json_response
from .wirecheck import collect, redirecting, samples

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "custom_provider.py"
KEY = "acme-secret-0123456789"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("custom_provider", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_runs_and_writes_the_servers_audio(tmp_path: Path) -> None:
    source = tone(22050, rate=22050)

    def script(r: Request, n: int) -> list[Step]:
        return audio_response(
            source.astype("<i2").tobytes(), (1, 1023, 777), content_type="application/octet-stream"
        )

    out = tmp_path / "out.wav"
    with LoopbackServer(script) as server:
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), "--base-url", server.root, str(out), "Hello, Acme."],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "", "ACME_API_KEY": KEY, "PYTHONPATH": ":".join(sys.path)},
        )
    assert done.returncode == 0, done.stderr
    assert "22050 frames at 22050 Hz" in done.stdout
    (request,) = server.requests
    assert request.path == "/v1/synthesize"
    assert request.headers["x-acme-key"] == KEY
    assert json.loads(request.body) == {"text": "Hello, Acme.", "voice": "river"}
    data, rate = soundfile.read(out, dtype="int16", always_2d=True)
    assert rate == 22050
    np.testing.assert_array_equal(data, source)


@pytest.mark.anyio
async def test_the_services_own_error_shape_and_the_generic_fallback() -> None:
    acme = example()
    bodies = [{"fault": {"reason": f"voice 'river' is asleep, key {KEY}"}}, {"detail": "no"}]
    with LoopbackServer(lambda r, n: json_response(400, bodies[n])) as server:
        tts = acme.AcmeTTS(base_url=server.root, api_key=KEY)
        with pytest.raises(ttsstream.BadRequestError) as first:
            await collect(tts)
        with pytest.raises(ttsstream.BadRequestError) as second:
            await collect(tts)
    assert first.value.server_message == "voice 'river' is asleep, key ***"
    assert KEY not in str(first.value)
    assert second.value.server_message == "no"


@pytest.mark.anyio
async def test_the_key_header_stays_home_on_a_redirect() -> None:
    acme = example()
    source = tone(441, rate=22050)
    with (
        LoopbackServer(
            lambda r, n: audio_response(source.tobytes(), content_type="audio/raw")
        ) as other,
        LoopbackServer(redirecting(other.root, "/v1/synthesize")) as first,
    ):
        chunks = await collect(acme.AcmeTTS(base_url=first.root, api_key=KEY))
    np.testing.assert_array_equal(samples(chunks), source)
    assert chunks[0].format == ttsstream.AudioFormat(22050, 1, "int16")
    assert first.requests[0].headers["x-acme-key"] == KEY
    assert "x-acme-key" not in other.requests[0].headers
