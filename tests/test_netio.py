"""The asyncio network backend under the clients ttsstream makes, over real loopback sockets.

The rest of the suite runs every HTTP test through it (asyncio) and through httpcore's own
backend (trio); these tests check what only it does: that it is installed, TLS, a read
timeout, a body larger than its buffer, a request body, and an idle connection the server
closed being noticed without a system call.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import httpcore
import httpx
import pytest

from ttsstream._providers import netio
from ttsstream._providers.transport import ResponseBody, Timeouts, new_client

from .loopback import Drop, End, LoopbackServer, Request, Send, Sleep, Status, Step

pytestmark = pytest.mark.anyio
#: What only the asyncio backend does (under trio httpcore's own backend runs, unchanged).
asyncio_only = pytest.mark.parametrize("anyio_backend", ["asyncio"])


def body(request: Request, n: int) -> list[Step]:
    size = int(request.headers.get("x-size", "5"))
    data = bytes(i % 251 for i in range(size))
    return [Status(200, {"Content-Type": "application/octet-stream"}), Send(data), End()]


async def test_ttsstreams_clients_read_through_it_under_asyncio(anyio_backend: str) -> None:
    with LoopbackServer(body) as server:
        async with (
            new_client(Timeouts()) as client,
            client.stream("GET", server.root, headers={"x-size": "3000"}) as r,
        ):
            data = await r.aread()
            stream = r.extensions["network_stream"]
    assert data == bytes(i % 251 for i in range(3000))
    ours = isinstance(stream, netio._Stream)
    assert ours == (anyio_backend == "asyncio")  # trio: httpcore's own backend


def test_install_leaves_a_client_it_does_not_know_alone() -> None:
    assert netio.install(object()) is False
    client = httpx.AsyncClient()
    assert netio.install(client) is True


async def test_a_body_larger_than_the_buffer_arrives_whole(anyio_backend: str) -> None:
    size = 3 * netio._HIGH_WATER + 17
    with LoopbackServer(body) as server:
        async with new_client(Timeouts()) as client:
            with anyio.fail_after(30):
                async with client.stream("GET", server.root, headers={"x-size": str(size)}) as r:
                    got = bytearray()
                    async for piece in r.aiter_raw():
                        got += piece
                        await anyio.lowlevel.checkpoint()  # the buffer fills meanwhile
    assert got == bytes(i % 251 for i in range(size))


async def test_a_large_request_body_is_sent_whole() -> None:
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than a socket buffer holds
    with LoopbackServer(body) as server:
        async with new_client(Timeouts()) as client:
            with anyio.fail_after(30):
                r = await client.post(server.root, content=payload)
    assert r.status_code == 200
    assert server.requests[0].body == payload


@asyncio_only
async def test_a_read_timeout_is_httpxs_read_timeout() -> None:
    def slow(request: Request, n: int) -> list[Step]:
        return [Status(200), Sleep(10)]

    with LoopbackServer(slow) as server:
        async with new_client(Timeouts()) as client:
            with anyio.fail_after(10):
                async with client.stream("GET", server.root, timeout=httpx.Timeout(0.2)) as r:
                    with pytest.raises(httpx.ReadTimeout):
                        await r.aread()


@asyncio_only
async def test_an_idle_connection_the_server_closed_is_not_reused() -> None:
    def once(request: Request, n: int) -> list[Step]:
        return [Status(200), Send(b"x"), End(), Drop()]

    with LoopbackServer(once) as server:
        async with new_client(Timeouts()) as client:
            with anyio.fail_after(10):
                async with client.stream("GET", server.root) as r:
                    await r.aread()
                    stream = r.extensions["network_stream"]
                while not stream.get_extra_info("is_readable"):  # the server's FIN arrives
                    await anyio.sleep(0.01)
                second = await client.get(server.root)
    assert second.content == b"x"
    assert len(server.requests) == 2


async def test_connecting_to_a_closed_port_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        async with new_client(Timeouts()) as client:
            with anyio.fail_after(10), pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{port}/")


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 answering every request with ``hello over tls``."""
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(10)

    def serve() -> None:
        try:
            raw, _ = listener.accept()
        except OSError:
            return
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(4096)
                reply = b"hello over tls"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply)
                )
                conn.recv(1)  # until the client closes
        except OSError:  # ssl.SSLError too: the client refused the certificate
            raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=10)


@asyncio_only
async def test_https_through_it(tls_server: int, certificate: tuple[Path, Path]) -> None:
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    pool = httpcore.AsyncConnectionPool(ssl_context=trust, network_backend=netio.AsyncioBackend())
    async with pool:
        with anyio.fail_after(20):
            response = await pool.request("GET", f"https://localhost:{tls_server}/")
    assert response.status == 200
    assert response.content == b"hello over tls"


@asyncio_only
async def test_an_untrusted_certificate_fails_to_connect(tls_server: int) -> None:
    pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(), network_backend=netio.AsyncioBackend()
    )
    async with pool:
        with anyio.fail_after(20), pytest.raises(httpcore.ConnectError):
            await pool.request("GET", f"https://localhost:{tls_server}/")


@asyncio_only
async def test_a_body_read_past_its_deadline_times_out_without_a_cancel_scope() -> None:
    def slow(request: Request, n: int) -> list[Step]:
        return [Status(200), Send(b"a"), Sleep(10)]

    with LoopbackServer(slow) as server:
        async with new_client(Timeouts()) as client:
            response = await client.send(client.build_request("GET", server.root), stream=True)
            body = ResponseBody(response)
            try:
                assert body._timed is not None  # timed by the socket reads, not a scope
                assert await body.next_within(5) == b"a"
                with anyio.fail_after(10), pytest.raises(TimeoutError):
                    await body.next_within(0.1)
                assert body._timed.deadline is None  # nothing left over for the next read
            finally:
                await body.aclose()
