"""Helpers shared by the per-service wire tests (Deepgram, Cartesia, Azure Speech)."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import numpy as np
import numpy.typing as npt

import ttsstream

from .loopback import Request, Step, redirect

LIMIT = 10  # seconds any one scenario may take: a hang fails the test


async def collect(
    provider: ttsstream.Provider, text: str = "Hello there."
) -> list[ttsstream.AudioChunk]:
    """Every chunk ``provider.stream(text)`` yields, within :data:`LIMIT`."""
    with anyio.fail_after(LIMIT):
        return [chunk async for chunk in provider.stream(text)]


def samples(chunks: list[ttsstream.AudioChunk]) -> npt.NDArray[np.generic]:
    return np.concatenate([c.samples for c in chunks])


def redirecting(target: str, path: str) -> Callable[[Request, int], list[Step]]:
    """A script that answers every request with a 307 to ``target + path``."""
    return lambda r, n: redirect(307, target + path)
