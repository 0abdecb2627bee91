"""A lock-free ring buffer of audio frames between the event loop and PortAudio's callback thread.

One producer (a task on the event loop) and one consumer (the audio callback). The producer is
the only writer of :attr:`FrameRing.write_pos`, the consumer the only writer of
:attr:`FrameRing.read_pos`; both are ever-growing frame counts, and each side publishes its
counter only *after* it has copied the frames, so the other side never sees a frame before it is
there. Under the GIL an attribute store is atomic, so no lock is needed, and the consumer never
blocks. The producer waits for free space by polling with :func:`anyio.sleep`: the callback
thread never calls into the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["FrameRing"]

Samples = npt.NDArray[np.generic]


class FrameRing:
    """A fixed-capacity FIFO of ``(frames, channels)`` samples, preallocated once.

    >>> import anyio
    >>> ring = FrameRing(4, channels=1, dtype="int16")
    >>> ring.write_some(np.arange(6, dtype=np.int16).reshape(-1, 1))   # only 4 fit
    4
    >>> out = np.zeros((3, 1), np.int16)
    >>> n = ring.peek_into(out); ring.consume(n); out[:n, 0].tolist()
    [0, 1, 2]
    >>> ring.readable, ring.writable
    (1, 3)
    """

    def __init__(self, capacity: int, channels: int, dtype: npt.DTypeLike) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.channels = channels
        self.buffer: Samples = np.zeros((capacity, channels), dtype=dtype)
        #: Frames written in total. Written only by the producer.
        self.write_pos = 0
        #: Frames read in total. Written only by the consumer.
        self.read_pos = 0

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The sample type held."""
        return self.buffer.dtype

    @property
    def readable(self) -> int:
        """Frames waiting to be read."""
        return self.write_pos - self.read_pos

    @property
    def writable(self) -> int:
        """Frames that can be written without waiting."""
        return self.capacity - (self.write_pos - self.read_pos)

    # -- producer side ---------------------------------------------------------------------

    def write_some(self, samples: Samples) -> int:
        """Copy as many frames of ``samples`` as fit; return how many. Never waits."""
        w = self.write_pos
        n = min(len(samples), self.capacity - (w - self.read_pos))
        if n <= 0:
            return 0
        i = w % self.capacity
        first = min(n, self.capacity - i)
        self.buffer[i : i + first] = samples[:first]
        if n > first:
            self.buffer[: n - first] = samples[first:n]
        self.write_pos = w + n  # publish only once the frames are in place
        return n

    async def write(
        self,
        samples: Samples,
        *,
        poll_interval: float,
        check: Callable[[], bool] | None = None,
    ) -> int:
        """Write every frame of ``samples``, sleeping ``poll_interval`` while the ring is full.

        ``check`` is called before each wait; it may raise to abandon the write, or return
        ``False`` to stop quietly (the rest of ``samples`` is dropped). Returns frames written.
        """
        done = self.write_some(samples)
        while done < len(samples):
            if check is not None and not check():
                return done
            await anyio.sleep(poll_interval)
            done += self.write_some(samples[done:])
        return done

    # -- consumer side ---------------------------------------------------------------------

    def peek_into(self, out: Samples) -> int:
        """Copy up to ``len(out)`` frames into ``out`` without consuming them; return how many.

        Call :meth:`consume` afterwards to release them. Never allocates a sample buffer.
        """
        r = self.read_pos
        n = min(len(out), self.write_pos - r)
        if n <= 0:
            return 0
        i = r % self.capacity
        first = min(n, self.capacity - i)
        out[:first] = self.buffer[i : i + first]
        if n > first:
            out[first:n] = self.buffer[: n - first]
        return n

    def consume(self, frames: int) -> None:
        """Release ``frames`` frames that :meth:`peek_into` returned."""
        self.read_pos += frames

    def discard_all(self) -> int:
        """Drop every readable frame (consumer side); return how many were dropped."""
        w = self.write_pos
        dropped = w - self.read_pos
        self.read_pos = w
        return dropped
