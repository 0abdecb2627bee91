"""An LLM's streamed reply, spoken sentence by sentence, with barge-in on user input.

    export OPENAI_API_KEY=sk-...                     # or a compatible server:
    export OPENAI_BASE_URL=http://localhost:8000/v1  # chat completions and /audio/speech
    python examples/chat_llm_stream.py               # plays on the default device
    python examples/chat_llm_stream.py --out chat.wav   # writes a WAV file instead

Type a message and press Enter. The answer comes from an OpenAI-compatible chat completion
stream (``"stream": true``: server-sent events ``data: {"choices":[{"delta":{"content":...}}]}``
ending with ``data: [DONE]``) and is spoken while it is being written: each sentence as soon as
it is complete. Typing a new message while it speaks interrupts it (barge-in): the speech stops
within one audio block, the rest of the answer is not fetched, and only what was heard goes
into the conversation history. An empty line or end of input (Ctrl-D) quits, after the answer
being spoken has finished.

Only httpx (a ttsstream dependency) talks to the chat API: any server that speaks the protocol
works, the test suite's loopback server included (tests/test_chat_example.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import threading
from collections.abc import AsyncGenerator

import anyio
import httpx
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

import ttsstream

SYSTEM = "You are a friendly voice assistant. Answer in a few short sentences."


async def chat_deltas(
    client: httpx.AsyncClient, base_url: str, model: str, messages: list[dict[str, str]]
) -> AsyncGenerator[str, None]:
    """The assistant's answer from a streamed chat completion, delta by delta."""
    key = os.environ.get("OPENAI_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": messages, "stream": True}
    async with client.stream(
        "POST", f"{base_url}/chat/completions", json=body, headers=headers
    ) as response:
        if response.status_code >= 400:
            await response.aread()
            raise SystemExit(
                f"chat completion failed: HTTP {response.status_code}: {response.text}"
            )
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, comments (": keep-alive"), event names
            data = line[5:].strip()
            if data == "[DONE]":
                return
            choices = json.loads(data).get("choices") or [{}]
            content = (choices[0].get("delta") or {}).get("content")
            if content:
                yield content


def read_lines(portal: BlockingPortal, send: MemoryObjectSendStream[str]) -> None:
    """Standard input, line by line, into ``send`` (a daemon thread: reads cannot be cancelled)."""
    try:
        for line in sys.stdin:
            portal.call(send.send_nowait, line.strip())
    except (RuntimeError, anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the program is ending
    finally:
        with contextlib.suppress(RuntimeError):
            portal.call(send.close)


async def answer(
    speaker: ttsstream.Speaker,
    deltas: AsyncGenerator[str, None],
    lines: MemoryObjectReceiveStream[str],
) -> tuple[ttsstream.HeardReport, str | None]:
    """Speak ``deltas``; a line typed meanwhile interrupts. Returns what was heard, and the
    line that barged in (None if the answer was heard to the end)."""
    barged_in: str | None = None
    async with contextlib.aclosing(deltas), anyio.create_task_group() as tg:

        async def listen() -> None:
            nonlocal barged_in
            async for line in lines:
                barged_in = line
                tg.cancel_scope.cancel()  # stops say_stream, and with it the chat stream
                return
            # End of input while speaking: let the answer finish.

        tg.start_soon(listen)
        await speaker.say_stream(deltas)
        tg.cancel_scope.cancel()
    if barged_in is not None:
        return await speaker.stop(), barged_in  # silence within one block, then the report
    return speaker.report(), None


def show(event: ttsstream.SpeakerEvent) -> None:
    """The transcript follows the speech: each sentence once it has been heard."""
    if event.kind == "finished":
        print(f"assistant> {event.utterance.text}", flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", metavar="FILE.wav", help="write the speech to a WAV file")
    parser.add_argument("--model", default=os.environ.get("CHAT_MODEL", "gpt-4o-mini"))
    args = parser.parse_args()
    base_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    if "api.openai.com" in base_url and not os.environ.get("OPENAI_API_KEY"):
        sys.exit("set OPENAI_API_KEY, or OPENAI_BASE_URL for a compatible server")
    sink: ttsstream.Sink | None = ttsstream.WavFileSink(args.out) if args.out else None
    messages = [{"role": "system", "content": SYSTEM}]
    send, lines = anyio.create_memory_object_stream[str](math.inf)
    async with (
        BlockingPortal() as portal,
        httpx.AsyncClient(timeout=60) as client,
        ttsstream.Speaker(ttsstream.OpenAI(client=client), sink=sink, on_event=show) as speaker,
    ):
        threading.Thread(target=read_lines, args=(portal, send), daemon=True).start()
        print("you> ", flush=True)
        prompt = await anext(aiter(lines), "")
        while prompt:
            messages.append({"role": "user", "content": prompt})
            deltas = chat_deltas(client, base_url, args.model, messages)
            heard, barged_in = await answer(speaker, deltas, lines)
            if barged_in is not None:
                print(f"(interrupted; heard: {heard.text!r})", flush=True)
            messages.append({"role": "assistant", "content": heard.text})
            if barged_in is None:
                print("you> ", flush=True)
                barged_in = await anext(aiter(lines), "")
            prompt = barged_in
        lines.close()


if __name__ == "__main__":
    try:
        anyio.run(main)
    except KeyboardInterrupt:
        sys.exit(130)
