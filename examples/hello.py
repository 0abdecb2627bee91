"""The smallest ttsstream program: say one line and report the timings.

    python examples/hello.py "Hello from ttsstream"

Uses the default provider (OPENAI_API_KEY, else the offline Piper voice if installed).
"""

from __future__ import annotations

import sys

import anyio

import ttsstream


async def main(text: str) -> None:
    report = await ttsstream.speak(text)
    print(
        f"{report.provider}: first byte {report.ttfb or 0:.3f} s, first audio "
        f"{report.ttfa or 0:.3f} s, {report.duration:.2f} s of speech, "
        f"{report.underruns} underruns"
    )


if __name__ == "__main__":
    anyio.run(main, " ".join(sys.argv[1:]) or "Hello from ttsstream.")
