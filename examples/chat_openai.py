"""A spoken chat with OpenAI: streamed chat completions in, speech out, Ctrl-C interrupts.

    export OPENAI_API_KEY=sk-...
    python examples/chat_openai.py

Type a message; the answer is spoken sentence by sentence while it is still being written.
Press Ctrl-C while it speaks to interrupt: the speech stops at once and only the part that was
actually heard is kept in the conversation history. Ctrl-C at the prompt (or an empty line)
quits. Uses httpx directly for the chat API, so it needs nothing beyond ttsstream.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator

import anyio
import httpx

import ttsstream

CHAT_URL = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1") + "/chat/completions"
MODEL = os.environ.get("CHAT_MODEL", "gpt-4o-mini")


async def chat_deltas(
    client: httpx.AsyncClient, messages: list[dict[str, str]]
) -> AsyncIterator[str]:
    """Stream the assistant's answer from the chat completions API, delta by delta."""
    body = {"model": MODEL, "messages": messages, "stream": True}
    headers = {"Authorization": f"Bearer {os.environ['OPENAI_API_KEY']}"}
    async with client.stream("POST", CHAT_URL, json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            delta = choices[0].get("delta", {}).get("content")
            if delta:
                yield delta


async def interrupt_on_ctrl_c(speaker: ttsstream.Speaker, scope: anyio.CancelScope) -> None:
    """Ctrl-C while speaking interrupts the speech; the chat loop goes on."""
    with anyio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            speaker.interrupt()
            scope.cancel()


async def main() -> None:
    if not os.environ.get("OPENAI_API_KEY"):
        sys.exit("set OPENAI_API_KEY first")
    messages = [{"role": "system", "content": "You are a friendly voice assistant. Be brief."}]
    async with (
        httpx.AsyncClient(timeout=60) as client,
        ttsstream.Speaker(
            ttsstream.OpenAI(model="gpt-4o-mini-tts", voice="coral", client=client)
        ) as speaker,
    ):
        while True:
            prompt = await anyio.to_thread.run_sync(lambda: input("you> ").strip())
            if not prompt:
                return
            messages.append({"role": "user", "content": prompt})
            failed: Exception | None = None
            async with anyio.create_task_group() as tg:
                with anyio.CancelScope() as answer_scope:
                    tg.start_soon(interrupt_on_ctrl_c, speaker, answer_scope)
                    try:
                        await speaker.say_stream(chat_deltas(client, messages))
                    except (ttsstream.TTSStreamError, httpx.HTTPError) as exc:
                        failed = exc  # caught here: a task group would wrap it in a group
                tg.cancel_scope.cancel()
            if failed is not None:
                sys.exit(f"error: {str(failed).splitlines()[0]}")
            if answer_scope.cancelled_caught:
                heard = await speaker.stop()  # waits for silence, then reports
                print(f"(interrupted; the user heard: {heard.text!r})")
            else:
                heard = speaker.report()
            said = heard.text
            messages.append({"role": "assistant", "content": said})


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
