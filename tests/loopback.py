"""A real HTTP/1.1 server on 127.0.0.1 whose every byte, chunk boundary and pause is scripted.

Tests describe each response as a list of steps; the server writes them to the socket with
Nagle off, so the client sees the chunking the test chose. Used by the integration tests and
the benchmarks. Every wait is bounded and :meth:`LoopbackServer.close` ends them all.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Status:
    """Start the response: status line and headers (``Transfer-Encoding: chunked`` is added)."""

    code: int
    headers: dict[str, str] = field(default_factory=dict)
    #: The reason phrase; by default the usual one for the code.
    reason: str | None = None


@dataclass(frozen=True)
class Send:
    """Send ``data`` as one HTTP chunk."""

    data: bytes


@dataclass(frozen=True)
class Raw:
    """Write ``data`` to the socket as it is (no chunk framing): for malformed answers."""

    data: bytes


@dataclass(frozen=True)
class Sleep:
    """Pause (bounded; cut short when the server closes)."""

    seconds: float


@dataclass(frozen=True)
class End:
    """Finish the body properly (the terminating zero-length chunk)."""


@dataclass(frozen=True)
class Drop:
    """Close the connection abruptly, mid-body."""


Step = Status | Send | Raw | Sleep | End | Drop


@dataclass
class Request:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def json(self) -> object:
        return json.loads(self.body)


Script = Callable[[Request, int], Iterable[Step]]


def audio_response(
    payload: bytes,
    sizes: Sequence[int] = (1, 1023, 777),
    *,
    pace: float = 0.0,
    first_byte_delay: float = 0.0,
    content_type: str = "audio/wav",
) -> list[Step]:
    """A 200 response sending ``payload`` in chunks of ``sizes`` (cycled), ``pace`` s apart."""
    steps: list[Step] = [Status(200, {"Content-Type": content_type})]
    if first_byte_delay:
        steps.append(Sleep(first_byte_delay))
    i = k = 0
    while i < len(payload):
        n = sizes[k % len(sizes)]
        steps.append(Send(payload[i : i + n]))
        if pace:
            steps.append(Sleep(pace))
        i += n
        k += 1
    steps.append(End())
    return steps


def text_response(
    code: int, text: str, content_type: str = "text/plain", headers: dict[str, str] | None = None
) -> list[Step]:
    """A response with a text body (an empty ``text`` sends no body at all)."""
    steps: list[Step] = [Status(code, {"Content-Type": content_type, **(headers or {})})]
    if text:
        steps.append(Send(text.encode()))
    return [*steps, End()]


def redirect(code: int, location: str) -> list[Step]:
    """A redirect to ``location`` with an empty body."""
    return [Status(code, {"Location": location}), End()]


def json_response(code: int, body: object, headers: dict[str, str] | None = None) -> list[Step]:
    """An error (or any JSON) response."""
    data = json.dumps(body).encode()
    return [
        Status(code, {"Content-Type": "application/json", **(headers or {})}),
        Send(data),
        End(),
    ]


class LoopbackServer:
    """Serve ``script(request, n)`` (n counts requests from 0) on 127.0.0.1 in a thread."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._closing = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer._handle(self.connection, self.rfile)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 128  # many connections at once (connection pool tests)

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def root(self) -> str:
        """Origin without a path, e.g. ``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and end every pending pause."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handle(self, conn: socket.socket, rfile: object) -> None:
        import io

        assert isinstance(rfile, io.BufferedIOBase)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not self._closing.is_set():
            request = _read_request(rfile)
            if request is None:
                return
            with self._lock:
                n = len(self.requests)
                self.requests.append(request)
            try:
                if not self._respond(conn, self.script(request, n)):
                    return
            except OSError:  # the client went away: fine, that is its right
                return

    def _respond(self, conn: socket.socket, steps: Iterable[Step]) -> bool:
        """Write the steps; return whether the connection can be reused."""
        for step in steps:
            if isinstance(step, Status):
                reason = step.reason if step.reason is not None else _REASONS.get(step.code)
                head = [f"HTTP/1.1 {step.code} {reason or 'Status'}"]
                head += [f"{k}: {v}" for k, v in step.headers.items()]
                head.append("Transfer-Encoding: chunked")
                conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            elif isinstance(step, Send):
                if step.data:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(step.data), step.data))
            elif isinstance(step, Raw):
                conn.sendall(step.data)
            elif isinstance(step, Sleep):
                if self._closing.wait(step.seconds):
                    return False
            elif isinstance(step, End):
                conn.sendall(b"0\r\n\r\n")
            else:
                conn.shutdown(socket.SHUT_RDWR)
                return False
        return True


def _read_request(rfile: object) -> Request | None:
    import io

    assert isinstance(rfile, io.BufferedIOBase)
    line = rfile.readline(65536)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (h := rfile.readline(65536)) not in (b"\r\n", b"\n", b""):
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    body = rfile.read(int(headers.get("content-length", "0")))
    return Request(method, path, headers, body, time.monotonic())


_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
