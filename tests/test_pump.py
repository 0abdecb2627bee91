"""The pump shared by speak() and Speaker: an Output session on a sink, chunks written into it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

import ttsstream
from ttsstream import AudioChunk, AudioFormat, MemorySink, TTSStreamError
from ttsstream._pump import Gaps, Output, pump, split_for

from .fakes import FakeProvider

pytestmark = pytest.mark.anyio

A = AudioFormat(8000, 1, "int16")
B = AudioFormat(16000, 1, "int16")


class LoggingSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    async def open(self, format: AudioFormat) -> None:
        self.log.append(f"open {format.sample_rate}")
        self.chunks.clear()  # a MemorySink keeps one format: forget the old one here
        await super().open(format)

    async def write(self, samples: np.ndarray) -> None:  # type: ignore[override]
        self.log.append(f"write {len(samples)}")
        await super().write(samples)

    async def drain(self) -> None:
        self.log.append("drain")

    async def abort(self) -> None:
        self.log.append("abort")


def chunk(frames: int, fmt: AudioFormat = A) -> AudioChunk:
    return AudioChunk(np.ones((frames, 1), np.int16), fmt)


async def chunks(*items: AudioChunk | Exception) -> AsyncIterator[AudioChunk]:
    for item in items:
        if isinstance(item, Exception):
            raise item
        yield item


async def test_output_opens_once_counts_frames_and_reopens_on_a_format_change() -> None:
    sink = LoggingSink()
    drained: list[tuple[AudioFormat, int]] = []
    output = Output(sink, on_drained=lambda fmt, frames: drained.append((fmt, frames)))
    assert not output.is_open
    assert [await output.write(chunk(n)) for n in (10, 20, 5)] == [0, 10, 30]
    assert (output.format, output.frames) == (A, 35)
    assert await output.write(chunk(7, B)) == 0  # a new session starts at frame 0
    assert drained == [(A, 35)]
    await output.drain()
    assert drained == [(A, 35), (B, 7)]
    assert not output.is_open
    await output.drain()  # nothing open: nothing to drain
    await output.abort()  # nor to abort
    assert sink.log == [
        *["open 8000", "write 10", "write 20", "write 5", "drain"],
        *["open 16000", "write 7", "drain"],
    ]


async def test_output_abort_closes_the_session() -> None:
    sink = LoggingSink()
    output = Output(sink)
    await output.write(chunk(4))
    await output.abort()
    assert not output.is_open
    await output.write(chunk(4))
    assert sink.log == ["open 8000", "write 4", "abort", "open 8000", "write 4"]


async def test_pump_tracks_progress_and_stops_at_a_source_error() -> None:
    sink = LoggingSink()
    output = Output(sink)
    starts: list[int] = []
    failure = TTSStreamError("cut")
    progress = await pump(
        chunks(chunk(3), chunk(4), failure, chunk(100)),
        output,
        on_chunk=lambda c, start: starts.append(start),
    )
    assert progress.error is failure
    assert (progress.frames, progress.format) == (7, A)
    assert progress.first_audio is not None
    assert starts == [0, 3]
    assert output.is_open  # the caller decides: drain what arrived, or abort


async def test_pump_lets_other_errors_through() -> None:
    with pytest.raises(ValueError, match="bug"):
        await pump(chunks(chunk(3), ValueError("bug")), Output(LoggingSink()))


async def test_pump_of_nothing_opens_nothing() -> None:
    sink = LoggingSink()
    progress = await pump(chunks(), Output(sink))
    assert (progress.frames, progress.format, progress.first_audio) == (0, None, None)
    assert sink.log == []


def test_split_for_keeps_short_text_whole_and_packs_sentences_under_the_limit() -> None:
    provider = FakeProvider(max_input_chars=30)
    assert split_for(provider, "x" * 30) == ["x" * 30]
    text = "One two three. Four five six. Seven eight nine. Ten."
    pieces = split_for(provider, text)
    assert pieces == ["One two three. Four five six.", "Seven eight nine. Ten."]


def test_gaps_of_a_sink_and_their_difference() -> None:
    sink = ttsstream.MemorySink()
    assert Gaps.of(sink) == Gaps(0, 0.0)
    assert Gaps(5, 0.5) - Gaps(2, 0.25) == Gaps(3, 0.25)
