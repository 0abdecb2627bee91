"""The connection pool a provider keeps inside ``async with``: its size, waits, and exhaustion.

Over a real loopback server (the pool opens real connections). Streams hold their connection
by not reading on: each takes its first chunk, then waits for the test. Nothing here depends on
how fast the machine is: a full pool is full whatever the clock says.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import ttsstream
from ttsstream import ConfigurationError, PoolExhaustedError, StreamStats, Timeouts
from ttsstream._providers.transport import DEFAULT_MAX_CONNECTIONS, ConnectionPool

from .httpfakes import streaming_wav, tone
from .loopback import LoopbackServer, Request, Send, Sleep, Status, Step

pytestmark = pytest.mark.anyio

KEY = "sk-test-SECRET-0123456789abcdef"
NO_RETRY = ttsstream.Retries(max_retries=0)


def held(request: Request, n: int) -> list[Step]:
    """One chunk of audio, then the body stays open (until the server closes)."""
    return [Status(200, {"Content-Type": "audio/wav"}), Send(streaming_wav(tone(480))), Sleep(30)]


async def hold_one(
    provider: ttsstream.Provider, release: anyio.Event, results: list[object]
) -> None:
    """Stream until the first chunk, keep the connection until ``release``; record the end."""
    try:
        async with ttsstream.stream("Hello.", provider=provider) as audio:
            await anext(aiter(audio))
            results.append("streaming")
            await release.wait()
    except ttsstream.TTSStreamError as exc:
        results.append(exc)
        release.set()  # the pool is full: the test has seen what it needs


async def run_streams(provider: ttsstream.Provider, n: int) -> list[object]:
    """``n`` streams at once on ``provider``: what each got (``"streaming"`` or an error)."""
    release = anyio.Event()
    results: list[object] = []
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for _ in range(n):
                tg.start_soon(hold_one, provider, release, results)
            while len(results) < n and not release.is_set():
                await anyio.sleep(0.01)
            release.set()
    return results


async def test_the_pool_holds_max_connections_and_the_next_stream_fails_saying_so() -> None:
    with LoopbackServer(held) as server:
        provider = ttsstream.OpenAI(
            api_key=KEY,
            base_url=server.url,
            max_connections=3,
            timeouts=Timeouts(pool=0.2),
            retries=NO_RETRY,
        )
        async with provider:
            results = await run_streams(provider, 4)
    assert results.count("streaming") == 3
    (error,) = [r for r in results if isinstance(r, Exception)]
    assert isinstance(error, PoolExhaustedError)
    assert isinstance(error, ttsstream.APITimeoutError)  # what callers caught before
    message = str(error)
    assert "all 3 connections" in message
    assert "max_connections" in message
    assert "Timeouts.pool" in message
    assert "not sent" in message
    assert len(server.requests) == 3  # the fourth request never went out


async def test_a_pool_as_large_as_the_streams_serves_them_all() -> None:
    with LoopbackServer(held) as server:
        provider = ttsstream.OpenAI(
            api_key=KEY,
            base_url=server.url,
            max_connections=20,  # over one httpx client's share: spread over two
            timeouts=Timeouts(pool=0.2),
            retries=NO_RETRY,
        )
        async with provider:
            results = await run_streams(provider, 20)
    assert results == ["streaming"] * 20


async def test_a_user_client_with_a_full_pool_fails_saying_so() -> None:
    with LoopbackServer(held) as server:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as client:
            provider = ttsstream.OpenAI(
                api_key=KEY,
                base_url=server.url,
                client=client,
                timeouts=Timeouts(pool=0.2),
                retries=NO_RETRY,
            )
            results = await run_streams(provider, 2)
    (error,) = [r for r in results if isinstance(r, Exception)]
    assert isinstance(error, PoolExhaustedError)
    message = str(error)
    assert "client=" in message
    assert "httpx.Limits(max_connections=" in message
    assert "not sent" in message


async def test_a_stream_waits_for_a_free_connection_and_the_wait_is_counted() -> None:
    pool = ConnectionPool("test", Timeouts(pool=10), max_connections=1)
    first, second = StreamStats(), StreamStats()
    got_in = anyio.Event()

    async def waiter() -> None:
        async with pool.client(second):
            got_in.set()

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                async with pool.client(first) as client:
                    assert isinstance(client, httpx.AsyncClient)
                    assert pool.in_use == 1
                    tg.start_soon(waiter)
                    await anyio.sleep(0.05)
                    assert not got_in.is_set()  # waiting for the one connection
                await got_in.wait()
    finally:
        await pool.aclose()
    assert pool.in_use == 0
    assert first.pool_wait < second.pool_wait
    assert second.pool_wait >= 0.04


async def test_streams_fill_the_first_client_first_so_idle_connections_are_reused() -> None:
    pool = ConnectionPool("test", Timeouts(pool=1), max_connections=40)
    try:
        async with pool.client(StreamStats()) as a:
            pass
        async with pool.client(StreamStats()) as b:
            pass
        assert a is b  # one after another: the same client, its connection reused
        clients: list[Any] = []
        async with anyio.create_task_group() as tg:
            release = anyio.Event()

            async def hold() -> None:
                async with pool.client(StreamStats()) as c:
                    clients.append(c)
                    await release.wait()

            for _ in range(20):
                tg.start_soon(hold)
            while len(clients) < 20:
                await anyio.sleep(0.01)
            assert pool.in_use == 20
            assert clients[0] is a
            assert 2 <= len(set(map(id, clients))) < 20  # shared, but over more than one
            release.set()
    finally:
        await pool.aclose()


async def test_leaving_async_with_closes_the_pool() -> None:
    with LoopbackServer(held) as server:
        provider = ttsstream.OpenAI(api_key=KEY, base_url=server.url, max_connections=2)
        async with provider:
            pool = provider._pool
            assert pool is not None
            assert pool.max_connections == 2
        assert provider._pool is None


# -- configuration ---------------------------------------------------------------------------


def test_the_default_pool_is_large() -> None:
    assert ttsstream.OpenAI(api_key=KEY).max_connections == DEFAULT_MAX_CONNECTIONS == 1000
    assert Timeouts().pool == 10.0


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_connections_must_be_a_whole_number_of_at_least_one(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="max_connections must be a whole number"):
        ttsstream.OpenAI(api_key=KEY, max_connections=bad)  # type: ignore[arg-type]


async def test_max_connections_with_a_client_of_ones_own_is_refused() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigurationError, match=r"client= has its own: httpx\.AsyncClient"):
            ttsstream.OpenAI(api_key=KEY, client=client, max_connections=10)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ttsstream.OpenAI(api_key=KEY, max_connections=7),
        lambda: ttsstream.AzureOpenAI(
            deployment="d", endpoint="https://x.example", api_key=KEY, max_connections=7
        ),
        lambda: ttsstream.ElevenLabs(api_key=KEY, max_connections=7),
        lambda: ttsstream.Deepgram(api_key=KEY, max_connections=7),
        lambda: ttsstream.Cartesia(api_key=KEY, max_connections=7),
        lambda: ttsstream.AzureSpeech(api_key=KEY, region="westeurope", max_connections=7),
    ],
)
async def test_every_http_provider_takes_max_connections(make: Any) -> None:
    provider = make()
    assert provider.max_connections == 7
    async with provider:
        assert provider._pool.max_connections == 7
