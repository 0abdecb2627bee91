"""Cold start: what ``import ttsstream``, the CLI and a first call import, and where.

Fresh processes (subprocesses) check ``sys.modules``; in-process tests check in which thread
PortAudio is loaded, that it overlaps the request, and that its errors still reach the caller.
Timing is measured in ``benchmarks/bench_coldstart.py``, never here.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import anyio
import pytest

import ttsstream
from ttsstream import AudioChunk, DeviceNotFoundError, PortAudioMissingError, StreamStats
from ttsstream._lean import LazyModule, without_modules
from ttsstream._play import device as device_module

from .fakes import FakeProvider
from .fakesd import FakeSoundDevice

#: Modules a first call must not pay for before it needs them.
HEAVY = ("numpy", "httpx", "httpcore", "sounddevice", "trio", "anyio", "_cffi_backend")


def loaded_after(code: str, *, env: dict[str, str] | None = None) -> set[str]:
    """The modules (of HEAVY, plus httpx._main, rich and click) loaded after running ``code``
    in a fresh interpreter."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json, sys
        names = (*HEAVY, "httpx._main", "rich", "click")
        print("LOADED " + json.dumps([n for n in names if n in sys.modules]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("LOADED ")), None)
    assert line is not None, done.stderr
    return set(json.loads(line[7:]))


def test_import_ttsstream_loads_none_of_the_heavy_modules() -> None:
    assert loaded_after("import ttsstream") == set()


def test_cli_help_and_devices_load_no_http_stack() -> None:
    helped = loaded_after(
        """
        from ttsstream._cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        """
    )
    assert helped == set()
    # Whether PortAudio finds devices here or not, listing them needs no HTTP and no numpy.
    listed = loaded_after(
        """
        from ttsstream._cli import main
        main(["devices"])
        """
    )
    assert not listed & {"httpx", "httpcore", "numpy", "trio", "anyio"}


def test_making_a_provider_loads_httpx_without_trio_numpy_or_its_cli() -> None:
    loaded = loaded_after(
        """
        import ttsstream
        ttsstream.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
        """
    )
    assert {"httpx", "httpcore"} <= loaded
    assert not loaded & {"numpy", "sounddevice", "trio", "httpx._main", "rich", "click"}


def test_the_cli_say_path_loads_numpy_only_with_the_device() -> None:
    # Everything `ttsstream say` does before sending the request, in order.
    loaded = loaded_after(
        """
        import argparse
        from ttsstream import _cli, _cli_say
        args = _cli._parser().parse_args(["say", "--base-url", "http://127.0.0.1:9/v1", "hi"])
        provider = _cli_say._make_provider(args)
        _cli_say._describe(provider)
        sink = _cli_say._make_sink(args)
        """,
    )
    assert "httpx" in loaded
    assert not loaded & {"numpy", "sounddevice", "trio"}


@pytest.mark.skipif(importlib.util.find_spec("trio") is None, reason="trio is not installed")
def test_httpx_still_works_under_trio_after_a_lean_import(tmp_path: Path) -> None:
    # A real request through httpcore's connection pool (its locks come from trio) in a process
    # where ttsstream imported httpx before trio was ever imported.
    code = """
        import http.server, threading
        import ttsstream
        ttsstream.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
        import httpx, sys
        assert "trio" not in sys.modules

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            def log_message(self, *args):
                pass

        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        import trio

        async def main():
            async with httpx.AsyncClient() as client:
                url = f"http://127.0.0.1:{server.server_address[1]}/"
                return (await client.get(url)).text

        print("GOT " + trio.run(main))
        print("MAIN " + repr(callable(httpx.main)))
        server.shutdown()
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "GOT ok" in done.stdout
    assert "MAIN True" in done.stdout


def test_every_public_name_resolves_lazily_and_is_listed() -> None:
    names = set(ttsstream.__all__) - {"__version__"}
    assert set(ttsstream._EXPORTS) == names
    for name in sorted(names):
        value = getattr(ttsstream, name)
        module = importlib.import_module(ttsstream._EXPORTS[name], "ttsstream")
        assert value is getattr(module, name)
    assert names <= set(dir(ttsstream))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = ttsstream.Nope  # type: ignore[attr-defined]


def test_star_import_gives_every_public_name() -> None:
    scope: dict[str, Any] = {}
    exec("from ttsstream import *", scope)
    assert set(ttsstream.__all__) <= set(scope)


def test_refused_modules_fail_in_this_thread_only(tmp_path: Path) -> None:
    (tmp_path / "coldstart_probe_mod.py").write_text("VALUE = 7\n")
    sys.path.insert(0, str(tmp_path))
    seen: list[object] = []
    try:
        with without_modules(["coldstart_probe_mod"]):
            with pytest.raises(ImportError):
                importlib.import_module("coldstart_probe_mod")

            def other() -> None:
                seen.append(importlib.import_module("coldstart_probe_mod").VALUE)

            thread = threading.Thread(target=other)
            thread.start()
            thread.join(10)
        assert seen == [7]
        assert importlib.import_module("coldstart_probe_mod").VALUE == 7  # refused no more
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("coldstart_probe_mod", None)


def test_a_lazy_module_imports_on_first_use() -> None:
    lazy = LazyModule("json")
    assert lazy.dumps([1]) == "[1]"
    assert "json" in repr(lazy)
    with pytest.raises(AttributeError):
        _ = lazy.no_such_thing


# -- PortAudio in a worker thread, while the request is in flight ----------------------------


@pytest.mark.anyio
async def test_portaudio_loads_off_the_event_loop_while_the_request_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_thread = threading.get_ident()
    loaded_in: list[int] = []
    portaudio_loading = threading.Event()
    sd = FakeSoundDevice()

    def load() -> FakeSoundDevice:
        loaded_in.append(threading.get_ident())
        portaudio_loading.set()
        return sd

    monkeypatch.setattr(device_module, "load_sounddevice", load)

    class WaitsForPortAudio(FakeProvider):
        """A server that answers only once PortAudio is loading: a speak() that loaded it
        before or after the request, rather than alongside it, never gets an answer."""

        async def stream(
            self, text: str, *, stats: StreamStats | None = None
        ) -> AsyncGenerator[AudioChunk, None]:
            with anyio.fail_after(10):
                while not portaudio_loading.is_set():
                    await anyio.sleep(0.001)
            async for chunk in super().stream(text, stats=stats):
                yield chunk

    report = await ttsstream.speak("Hello.", WaitsForPortAudio(), device="pulse")
    assert report.frames > 0
    assert loaded_in
    assert loaded_in[0] != loop_thread


@pytest.mark.anyio
async def test_missing_portaudio_still_reaches_speak_with_its_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Refuse:
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "sounddevice":
                raise OSError("libportaudio.so.2: cannot open shared object file")

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Refuse(), *sys.meta_path])
    with pytest.raises(PortAudioMissingError, match="libportaudio2") as info:
        await ttsstream.speak("Hello.", FakeProvider(), device="pulse")
    assert "cannot open shared object file" in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.anyio
async def test_a_missing_device_still_reaches_speak_with_the_device_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(device_module, "load_sounddevice", FakeSoundDevice)
    with pytest.raises(DeviceNotFoundError, match="no output device matching 'no-such-card'"):
        await ttsstream.speak("Hello.", FakeProvider(), device="no-such-card")


def test_the_cli_tells_speak_the_providers_format_so_the_device_opens_ahead() -> None:
    from ttsstream._cli_say import _Counting

    inner = ttsstream.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    assert inner.expected_format is not None
    assert _Counting(inner).expected_format == inner.expected_format


# -- the stream opened ahead starts with its first audio: its failures -----------------------

S16 = ttsstream.AudioFormat(24000, 1, "int16")


@pytest.mark.anyio
async def test_a_start_that_never_returns_is_a_device_error_at_the_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    monkeypatch.setattr(device_module, "_OPEN_TIMEOUT", 0.2)
    sd = FakeSoundDevice()
    sink = ttsstream.DeviceSink("pulse", backend=sd)
    try:
        await sink.prepare(S16)
        await sink.open(S16)
        sd.wedge()  # start() hangs
        with anyio.fail_after(10), pytest.raises(ttsstream.AudioDeviceError, match="did not"):
            await sink.write(np.ones((4800, 1), np.int16))
        with pytest.raises(ttsstream.AudioDeviceError, match="did not finish"):
            await sink.write(np.ones((10, 1), np.int16))  # lost: says so again
    finally:
        sd.unwedge()
        with anyio.fail_after(10):
            await sink.aclose()


@pytest.mark.anyio
async def test_a_start_that_fails_is_a_device_error_that_says_why() -> None:
    import numpy as np

    sd = FakeSoundDevice()

    def refuse() -> None:
        raise sd.PortAudioError("Device unavailable [PaErrorCode -9985]")

    async with ttsstream.DeviceSink("pulse", backend=sd) as sink:
        await sink.prepare(S16)
        await sink.open(S16)
        sd.stream.start = refuse  # type: ignore[method-assign]
        with pytest.raises(ttsstream.AudioDeviceError, match=r"cannot start.*-9985"):
            await sink.write(np.ones((4800, 1), np.int16))


def test_the_decoders_load_while_the_first_request_waits() -> None:
    # A server that answers only once the decoders are loaded: a speak() that left them to
    # the first bytes would never get its answer (and fail after 10 s).
    code = """
        import sys
        import anyio
        import ttsstream

        class Waits(ttsstream.Provider):
            name = "waits"
            max_input_chars = 100

            async def stream(self, text, *, stats=None):
                with anyio.fail_after(10):
                    while "ttsstream._decode.sniff" not in sys.modules:
                        await anyio.sleep(0.001)
                import numpy as np
                fmt = ttsstream.AudioFormat(8000)
                yield ttsstream.AudioChunk(np.ones((80, 1), np.int16), fmt)

        async def main():
            assert "ttsstream._decode.sniff" not in sys.modules
            report = await ttsstream.speak("Hi.", Waits(), sink=ttsstream.MemorySink())
            print("FRAMES", report.frames)

        anyio.run(main)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "FRAMES 80" in done.stdout


def test_a_speaker_loads_the_decoders_while_its_device_opens() -> None:
    code = """
        import sys
        import anyio
        import ttsstream

        async def main():
            async with ttsstream.Speaker(
                provider=ttsstream.OpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1"),
                sink=ttsstream.MemorySink(),
            ):
                with anyio.fail_after(10):
                    while "ttsstream._decode.sniff" not in sys.modules:
                        await anyio.sleep(0.001)
            print("LOADED")

        anyio.run(main)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "LOADED" in done.stdout


# -- Piper: the device opens while the model loads ------------------------------------------


def test_piper_knows_its_format_from_the_config_before_loading_the_model(tmp_path: Path) -> None:
    model = tmp_path / "xx_XX-test-low.onnx"
    model.write_bytes(b"not a model: never loaded here")
    Path(f"{model}.json").write_text(json.dumps({"audio": {"sample_rate": 16000}}))
    piper = ttsstream.Piper(voice=model)
    assert piper.expected_format == ttsstream.AudioFormat(16000, 1, "int16")
    assert piper._voice is None  # the model is left to load alongside the device


@pytest.mark.parametrize(
    "config", ["{", json.dumps({"audio": {}}), json.dumps({"audio": {"sample_rate": "x"}}), None]
)
def test_piper_without_a_readable_rate_expects_nothing(tmp_path: Path, config: str | None) -> None:
    model = tmp_path / "v.onnx"
    model.write_bytes(b"")
    if config is not None:
        Path(f"{model}.json").write_text(config)
    assert ttsstream.Piper(voice=model).expected_format is None


def test_an_httpx_that_needs_trio_at_import_is_imported_as_usual(tmp_path: Path) -> None:
    # Stand-ins for a future httpcore that imports trio unconditionally.
    for name, files in {
        "trio": {"__init__.py": "LOCK = 'trio'\n"},
        "httpcore": {"__init__.py": "", "_synchronization.py": "import trio\n"},
        "httpx": {"__init__.py": "import httpcore._synchronization\n"},
    }.items():
        (tmp_path / name).mkdir()
        for file, text in files.items():
            (tmp_path / name / file).write_text(text)
    code = f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from ttsstream._lean import import_httpx
        httpx = import_httpx()
        import httpcore._synchronization as sync
        print("OK", httpx.__file__.startswith({str(tmp_path)!r}), sync.trio.LOCK)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "OK True trio" in done.stdout
