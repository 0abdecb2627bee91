"""Fakes for the HTTP edge: response bodies with chosen chunking, pacing and failures."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Callable, Sequence

import anyio
import httpx
import numpy as np
import numpy.typing as npt


def tone(frames: int, rate: int = 24000, channels: int = 1) -> npt.NDArray[np.int16]:
    """A deterministic int16 test signal (a chirp with a little noise), shape (frames, ch)."""
    t = np.arange(frames) / rate
    base = 12000 * np.sin(2 * np.pi * (200 + 400 * t) * t)
    noise = np.random.default_rng(frames).integers(-300, 300, frames)
    mono = (base + noise).astype(np.int16)
    return np.repeat(mono[:, None], channels, axis=1)


def streaming_wav(
    samples: npt.NDArray[np.int16], rate: int = 24000, size: int = 0xFFFFFFFF
) -> bytes:
    """A WAV as OpenAI streams it: 44-byte header, RIFF and data sizes ``size``."""
    channels = samples.shape[1]
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        size,
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        rate,
        rate * 2 * channels,
        2 * channels,
        16,
        b"data",
        size,
    )
    return header + samples.astype("<i2").tobytes()


def split(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """Cut ``data`` into pieces of the given sizes, cycling through them."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[i : i + n])
        i += n
        k += 1
    return out


class Body(httpx.AsyncByteStream):
    """A response body that yields ``pieces``, optionally pausing, then optionally failing."""

    def __init__(
        self,
        pieces: Sequence[bytes],
        *,
        delay: float = 0.0,
        stall_after: int | None = None,
        stall_for: float = 60.0,
        fail_after: int | None = None,
    ) -> None:
        self.pieces = list(pieces)
        self.delay = delay
        self.stall_after = stall_after
        self.stall_for = stall_for
        self.fail_after = fail_after
        self.closed = False
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i, piece in enumerate(self.pieces):
            if self.fail_after is not None and i == self.fail_after:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body"
                )
            if self.stall_after is not None and i == self.stall_after:
                await anyio.sleep(self.stall_for)
            if self.delay:
                await anyio.sleep(self.delay)
            self.sent += 1
            yield piece

    async def aclose(self) -> None:
        self.closed = True


Handler = Callable[[httpx.Request], httpx.Response]


def client_for(handler: Handler) -> httpx.AsyncClient:
    """An AsyncClient whose every request goes to ``handler``."""

    async def async_handler(request: httpx.Request) -> httpx.Response:
        await request.aread()
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(async_handler))
