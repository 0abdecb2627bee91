"""The offline example runs end to end (the others need an API key or a sound card)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from .test_piper import require_piper

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.piper
def test_chat_offline_writes_the_whole_answer(tmp_path: Path) -> None:
    require_piper()
    out = tmp_path / "chat.wav"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "chat_offline.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("done")]
    # Markdown cleaned, split into sentences, every one of them spoken.
    assert len(lines) == 7
    assert "'Call Dr. Smith about the results, e.g. the blood test.'" in done.stdout
    assert "**" not in done.stdout
    data, rate = soundfile.read(out)
    assert rate == 22050
    assert 8 < len(data) / rate < 30
