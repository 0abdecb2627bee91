"""A chatbot's voice, offline: a fake LLM token stream spoken by Piper through a Speaker.

    pip install "ttsstream[piper]"
    python examples/chat_offline.py            # plays on the default device
    python examples/chat_offline.py out.wav    # or writes a WAV file (no sound card needed)

The "LLM" yields Markdown a few characters at a time with pauses, like a real one. The Speaker
cleans the Markdown, starts speaking the first sentence while the rest is still "generated",
and prefetches the next sentence while the current one plays.
"""

from __future__ import annotations

import random
import sys
from collections.abc import AsyncIterator

import anyio

import ttsstream

ANSWER = (
    "**Sure!** Here is the plan for today.\n\n"
    "1. Water the plants at 8.30 in the morning.\n"
    "2. Call Dr. Smith about the results, e.g. the blood test.\n"
    "3. Read chapter 3.5 of the book.\n\n"
    "That's all... Have a *great* day!"
)


async def fake_llm(text: str) -> AsyncIterator[str]:
    """Yield ``text`` in small random pieces with small random pauses."""
    rng = random.Random(7)
    i = 0
    while i < len(text):
        n = rng.randint(1, 6)
        yield text[i : i + n]
        i += n
        await anyio.sleep(rng.uniform(0.0, 0.03))


async def main(out: str | None) -> None:
    sink: ttsstream.Sink | None = ttsstream.WavFileSink(out) if out else None
    events: list[str] = []
    async with ttsstream.Speaker(
        ttsstream.Piper(), sink=sink, on_event=lambda e: events.append(e.kind)
    ) as speaker:
        utterances = await speaker.say_stream(fake_llm(ANSWER))
    for u in utterances:
        print(f"{u.state.value:>9}  {u.duration:5.2f} s  ttfa {u.ttfa or 0:.2f} s  {u.text!r}")
    if out:
        print(f"wrote {out}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else None)
