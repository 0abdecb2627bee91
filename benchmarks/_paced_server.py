"""A lean HTTP/1.1 server that streams WAV at real time on an absolute schedule, in its own process.

``bench_concurrency.py --transport tcp`` starts it with ``python _paced_server.py`` and reads
``PORT <n>`` from its first line. It serves ``POST /audio/speech`` (OpenAI's path) with a
request body whose ``input`` reads ``start=<monotonic seconds> seconds=<audio seconds>``: the
answer is a streaming WAV (OpenAI's 44-byte header, sizes 0xFFFFFFFF) in HTTP chunks of 4 KiB of
24 kHz 16-bit audio (85.3 ms), chunk ``k`` written at ``start + k * 85.3 ms`` (the header goes
with chunk 0). ``time.monotonic()`` is the same clock in every process of the machine, so the
client measures each chunk's lateness against the very schedule the server keeps.

The server is one asyncio event loop with a ``Protocol`` per connection and one timer
(``loop.call_at``) per chunk, the framed chunks prepared once: it does little more than
``transport.write()``. ``GET /stats`` answers its process CPU seconds (user + system) and how
late its own timers fired since the previous ``/stats`` (so a slow server shows as such).
Connections are kept alive, as a pooled client expects.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import socket
import struct
import sys

import numpy as np

RATE = 24000
CHUNK = 4096
CHUNK_SECONDS = CHUNK / 2 / RATE
_INPUT = re.compile(rb"start=([0-9.]+) seconds=([0-9.]+)")


def wav_body(seconds: float) -> bytes:
    """A streaming WAV (OpenAI's header, sizes 0xFFFFFFFF) of ``seconds`` of noise."""
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(int(seconds * RATE)) * 3000).astype("<i2").tobytes()
    size = 0xFFFFFFFF
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", size, b"WAVE", b"fmt ", 16, 1, 1, RATE, RATE * 2, 2, 16, b"data", size),
    )
    return header + pcm


def framed_chunks(seconds: float) -> list[bytes]:
    """The body as HTTP/1.1 chunks: header + 4 KiB, then 4 KiB each, then the last-chunk."""
    data = wav_body(seconds)
    first = 44 + CHUNK
    pieces = [data[:first]] + [data[i : i + CHUNK] for i in range(first, len(data), CHUNK)]
    framed = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
    framed[-1] += b"0\r\n\r\n"
    return framed


class Stats:
    """How late the server's own timers fired (seconds), since the last ``/stats``."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self.requests = 0
        #: The framed body of each length asked for, prepared once.
        self.bodies: dict[float, list[bytes]] = {}


class PacedProtocol(asyncio.Protocol):
    """One keep-alive connection: parse a request, stream its answer on schedule, repeat."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self.parse()

    def parse(self) -> None:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buf) < end + 4 + length:
            return
        body = self.buf[end + 4 : end + 4 + length]
        self.buf = self.buf[end + 4 + length :]
        if method == "GET" and path == "/stats":
            self.answer_stats()
        else:
            self.answer_audio(body)

    def answer_stats(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        late = sorted(self.stats.late)
        payload = json.dumps(
            {
                "cpu": usage.ru_utime + usage.ru_stime,
                "requests": self.stats.requests,
                "timer_late_p99": late[int(0.99 * (len(late) - 1))] if late else 0.0,
                "timer_late_max": late[-1] if late else 0.0,
            }
        ).encode()
        self.stats.late.clear()
        self.stats.requests = 0
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload)
        )
        self.parse()

    def answer_audio(self, body: bytes) -> None:
        match = _INPUT.search(body)
        assert self.transport is not None
        if match is None:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        start, seconds = float(match[1]), float(match[2])
        chunks = self.stats.bodies.get(seconds)
        if chunks is None:
            chunks = self.stats.bodies[seconds] = framed_chunks(seconds)
        self.stats.requests += 1
        self.busy = True
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        self.loop.call_at(start, self.send, chunks, 0, start)

    def send(self, chunks: list[bytes], k: int, start: float) -> None:
        if self.transport is None:
            return
        due = start + k * CHUNK_SECONDS
        self.stats.late.append(self.loop.time() - due)
        self.transport.write(chunks[k])
        if k + 1 < len(chunks):
            self.loop.call_at(start + (k + 1) * CHUNK_SECONDS, self.send, chunks, k + 1, start)
        else:
            self.busy = False
            self.parse()  # a pipelined request, if any


async def serve() -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: PacedProtocol(stats), "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    # Run until the parent closes our stdin.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.read()
    server.close()


if __name__ == "__main__":
    asyncio.run(serve())
