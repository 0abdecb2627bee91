"""examples/chat_llm_stream.py, run as a user runs it, against one loopback server that is both
the chat-completion stream (server-sent events) and the speech endpoint.

The first answer streams two sentences and then stalls for good: only a barge-in (a line typed
while it speaks) can move the conversation on, so the test waits for events, never for time.
The speech goes to a WAV file (``--out``): no sound device needed.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

from .httpfakes import streaming_wav, tone
from .loopback import End, LoopbackServer, Request, Send, Sleep, Status, Step, audio_response

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "chat_llm_stream.py"
LIMIT = 40  # seconds; the stalled first answer would hold the program for 60 without barge-in

LONG = ["Once upon a time ", "there was a river. ", "It ran past an old mill. ", "The miller"]
SHORT = ["It is **noon**. ", "Time for lunch."]
#: Audio frames the speech endpoint returns per character of input (24 kHz).
FRAMES_PER_CHAR = 100


def sse(deltas: list[str], *, stall: bool) -> list[Step]:
    steps: list[Step] = [Status(200, {"Content-Type": "text/event-stream"})]
    steps.append(Send(b": keep-alive\n\n"))
    for delta in deltas:
        event = {"choices": [{"index": 0, "delta": {"content": delta}}]}
        steps.append(Send(f"data: {json.dumps(event)}\n\n".encode()))
    if stall:
        steps.append(Sleep(60))  # cut short when the server closes
    steps.append(Send(b"data: [DONE]\n\n"))
    steps.append(End())
    return steps


class ChatServer:
    def __init__(self) -> None:
        self.chats: list[Request] = []
        self.speech: list[Request] = []
        self.server = LoopbackServer(self.respond)

    def respond(self, request: Request, n: int) -> list[Step]:
        if request.path.endswith("/chat/completions"):
            self.chats.append(request)
            return sse(LONG if len(self.chats) == 1 else SHORT, stall=len(self.chats) == 1)
        self.speech.append(request)
        text = str(request.json()["input"])  # type: ignore[index]
        return audio_response(streaming_wav(tone(FRAMES_PER_CHAR * len(text))), (1, 999))

    def wait_for_speech(self, count: int) -> None:
        deadline = time.monotonic() + LIMIT
        while len(self.speech) < count:
            assert time.monotonic() < deadline, "timed out waiting for a speech request"
            time.sleep(0.01)


def wait_for_line(lines: queue.Queue[str], wanted: str) -> None:
    deadline = time.monotonic() + LIMIT
    seen: list[str] = []
    while wanted not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"never printed {wanted!r}; got {seen}"
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=left))
    for line in seen:  # keep them for the final transcript
        lines.put(line)


def test_llm_stream_is_spoken_and_a_typed_line_barges_in(tmp_path: Path) -> None:
    chat = ChatServer()
    out = tmp_path / "chat.wav"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TTSSTREAM_"))}
    env |= {"OPENAI_BASE_URL": chat.server.url, "OPENAI_API_KEY": "sk-test-chat"}
    errors = tmp_path / "stderr.txt"
    lines: queue.Queue[str] = queue.Queue()
    with (
        chat.server,
        errors.open("w") as stderr_file,
        subprocess.Popen(
            [sys.executable, str(EXAMPLE), "--out", str(out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            env=env,
        ) as proc,
    ):
        assert proc.stdin is not None
        assert proc.stdout is not None
        stdout_pipe = proc.stdout
        reader = threading.Thread(target=lambda: [lines.put(x) for x in stdout_pipe])
        reader.start()
        try:
            proc.stdin.write("Tell me a story.\n")
            proc.stdin.flush()
            # The first sentence is heard while the answer is still being written (it stalls).
            wait_for_line(lines, "assistant> Once upon a time there was a river.\n")
            proc.stdin.write("What time is it?\n")  # barge-in
            proc.stdin.close()
            proc.wait(timeout=LIMIT)
        finally:
            proc.kill()
            reader.join(timeout=LIMIT)
    stdout = "".join(lines.queue)
    stderr = errors.read_text()
    assert proc.returncode == 0, stderr
    assert "assistant> It is noon.\nassistant> Time for lunch.\n" in stdout  # Markdown cleaned

    first, second = (r.json() for r in chat.chats)
    assert first["stream"] is True  # type: ignore[index]
    assert chat.chats[0].headers["authorization"] == "Bearer sk-test-chat"
    history = second["messages"]  # type: ignore[index]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    heard = history[2]["content"]
    # Only what was heard is kept: the first sentence, maybe part of the second (depending on
    # when the line arrived), never the unfinished "The miller".
    assert heard.startswith("Once upon a time there was a river.")
    assert "Once upon a time there was a river. It ran past an old mill.".startswith(heard)
    assert f"(interrupted; heard: {heard!r})" in stdout
    assert history[3]["content"] == "What time is it?"

    inputs = [str(r.json()["input"]) for r in chat.speech]  # type: ignore[index]
    assert inputs[-2:] == ["It is noon.", "Time for lunch."]
    assert all("miller" not in text for text in inputs)
    with wave.open(str(out), "rb") as w:
        frames = w.getnframes()
    answer_two = FRAMES_PER_CHAR * (len("It is noon.") + len("Time for lunch."))
    assert answer_two < frames <= FRAMES_PER_CHAR * sum(len(t) for t in inputs)
