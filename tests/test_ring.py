"""The frame ring, directly: writes and reads across the end, any split of them, full and empty."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsstream._play.ring import FrameRing


def frames(start: int, n: int, channels: int = 1) -> np.ndarray:
    """``n`` distinct frames (every sample differs), numbered from ``start``."""
    k = np.arange(start * channels, (start + n) * channels, dtype=np.int64) + 1
    return k.astype(np.int16).reshape(n, channels)


def read(ring: FrameRing, n: int) -> np.ndarray:
    out = np.full((n, ring.channels), -1, ring.dtype)
    got = ring.peek_into(out)
    ring.consume(got)
    return out[:got]


def test_a_write_across_the_end_wraps_to_the_start() -> None:
    ring = FrameRing(8, 1, np.int16)
    assert ring.write_some(frames(0, 6)) == 6
    np.testing.assert_array_equal(read(ring, 6), frames(0, 6))
    assert ring.write_some(frames(6, 5)) == 5  # slots 6, 7, then 0, 1, 2
    assert ring.buffer[6:, 0].tolist() == [7, 8]
    assert ring.buffer[:3, 0].tolist() == [9, 10, 11]
    np.testing.assert_array_equal(read(ring, 5), frames(6, 5))


def test_a_read_across_the_end_wraps_to_the_start() -> None:
    ring = FrameRing(5, 2, np.int16)
    ring.write_some(frames(0, 4, 2))
    read(ring, 3)
    ring.write_some(frames(4, 4, 2))  # slots 4, 0, 1, 2
    out = np.zeros((5, 2), np.int16)
    assert ring.peek_into(out) == 5
    np.testing.assert_array_equal(out, frames(3, 5, 2))
    assert ring.readable == 5  # peek does not consume
    ring.consume(5)
    assert ring.readable == 0


def test_a_write_that_ends_exactly_at_the_end_does_not_wrap() -> None:
    ring = FrameRing(6, 1, np.int16)
    ring.write_some(frames(0, 2))
    read(ring, 2)
    assert ring.write_some(frames(2, 4)) == 4  # slots 2..5
    assert ring.buffer[:2, 0].tolist() == [1, 2]  # the first frames, untouched
    np.testing.assert_array_equal(read(ring, 4), frames(2, 4))


def test_full_takes_nothing_more_and_empty_gives_nothing() -> None:
    ring = FrameRing(4, 1, np.int16)
    assert (ring.readable, ring.writable) == (0, 4)
    out = np.full((3, 1), 7, np.int16)
    assert ring.peek_into(out) == 0
    assert out[:, 0].tolist() == [7, 7, 7]  # untouched
    assert ring.write_some(frames(0, 6)) == 4  # only 4 fit
    assert (ring.readable, ring.writable) == (4, 0)
    assert ring.write_some(frames(6, 1)) == 0
    assert ring.write_pos == 4
    assert ring.write_some(frames(0, 0)) == 0
    np.testing.assert_array_equal(read(ring, 10), frames(0, 4))
    assert (ring.readable, ring.writable) == (0, 4)
    assert (ring.read_pos, ring.write_pos) == (4, 4)


def test_a_short_out_buffer_takes_what_fits() -> None:
    ring = FrameRing(8, 1, np.int16)
    ring.write_some(frames(0, 5))
    np.testing.assert_array_equal(read(ring, 2), frames(0, 2))
    np.testing.assert_array_equal(read(ring, 2), frames(2, 2))
    np.testing.assert_array_equal(read(ring, 2), frames(4, 1))


def test_discard_all_drops_what_is_readable() -> None:
    ring = FrameRing(4, 1, np.int16)
    ring.write_some(frames(0, 3))
    read(ring, 1)
    assert ring.discard_all() == 2
    assert (ring.read_pos, ring.write_pos, ring.readable) == (3, 3, 0)
    assert ring.discard_all() == 0
    ring.write_some(frames(3, 4))  # wraps after the discard
    np.testing.assert_array_equal(read(ring, 4), frames(3, 4))


def test_shape_type_and_bad_capacity() -> None:
    ring = FrameRing(3, 2, "float32")
    assert ring.dtype == np.float32
    assert ring.buffer.shape == (3, 2)
    assert (ring.capacity, ring.channels) == (3, 2)
    for bad in (0, -1):
        with pytest.raises(ValueError, match="capacity must be positive"):
            FrameRing(bad, 1, np.int16)
    assert FrameRing(1, 1, np.int16).write_some(frames(0, 3)) == 1


@pytest.mark.parametrize("capacity", [1, 2, 3, 7, 64])
def test_whole_and_one_frame_at_a_time_give_the_same_frames(capacity: int) -> None:
    source = frames(0, 200)
    ring = FrameRing(capacity, 1, np.int16)
    got = []
    done = 0
    while done < len(source):  # one frame at a time
        done += ring.write_some(source[done : done + 1])
        got.append(read(ring, 1))
    np.testing.assert_array_equal(np.concatenate(got), source)
    whole = FrameRing(capacity, 1, np.int16)
    got = []
    done = 0
    while done < len(source):  # as much as fits each time
        done += whole.write_some(source[done:])
        got.append(read(whole, capacity))
    np.testing.assert_array_equal(np.concatenate(got), source)


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 40),
    channels=st.integers(1, 3),
    steps=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50)), min_size=1, max_size=40),
)
def test_any_split_of_writes_and_reads_keeps_the_frames_in_order(
    capacity: int, channels: int, steps: list[tuple[int, int]]
) -> None:
    total = sum(w for w, _ in steps)
    source = frames(0, total, channels)
    ring = FrameRing(capacity, channels, np.int16)
    done = 0
    got = []
    for want_write, want_read in steps:
        free = ring.writable
        n = ring.write_some(source[done : done + want_write])
        assert n == min(want_write, free, total - done)
        done += n
        before = ring.readable
        out = read(ring, want_read)
        assert len(out) == min(want_read, before)
        got.append(out)
        assert 0 <= ring.readable <= capacity
        assert ring.readable + ring.writable == capacity
    got.append(read(ring, capacity))
    np.testing.assert_array_equal(np.concatenate(got), source[:done])


# -- the producer's waiting write ----------------------------------------------------------


@pytest.mark.anyio
async def test_write_waits_for_room_and_delivers_everything() -> None:
    ring = FrameRing(4, 1, np.int16)
    source = frames(0, 11)
    got: list[np.ndarray] = []

    def consumer() -> bool:  # called before each wait: the "device" makes room
        got.append(read(ring, 3))
        return True

    assert await ring.write(source, poll_interval=0, check=consumer) == 11
    got.append(read(ring, 4))
    np.testing.assert_array_equal(np.concatenate(got), source)
    assert len(got) == 4  # it waited three times: 4 + 3 + 3 + 1


@pytest.mark.anyio
async def test_write_stops_quietly_when_check_says_so_or_raises() -> None:
    ring = FrameRing(4, 1, np.int16)
    assert await ring.write(frames(0, 9), poll_interval=0, check=lambda: False) == 4
    assert ring.readable == 4
    ring.discard_all()

    def broken() -> bool:
        raise RuntimeError("device gone")

    with pytest.raises(RuntimeError, match="device gone"):
        await ring.write(frames(0, 9), poll_interval=0, check=broken)
    assert await ring.write(frames(0, 0), poll_interval=0, check=broken) == 0


@pytest.mark.anyio
async def test_write_that_fits_never_waits_or_checks() -> None:
    ring = FrameRing(4, 1, np.int16)
    calls = []
    with anyio.fail_after(5):
        n = await ring.write(frames(0, 4), poll_interval=10, check=lambda: bool(calls.append(1)))
    assert n == 4
    assert calls == []


@pytest.mark.anyio
async def test_write_without_check_sleeps_until_room_appears() -> None:
    ring = FrameRing(2, 1, np.int16)
    ring.write_some(frames(0, 2))
    got: list[np.ndarray] = []

    async def consume() -> None:
        while sum(map(len, got)) < 6:
            got.append(read(ring, 2))
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        with anyio.fail_after(5):
            assert await ring.write(frames(2, 4), poll_interval=0) == 4
    np.testing.assert_array_equal(np.concatenate(got), frames(0, 6))
