""":class:`WavFileSink`: write the audio to a WAV file instead of (or, with
:class:`~ttsstream.TeeSink`, as well as) playing it."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import anyio
import numpy as np
import numpy.typing as npt

from .._errors import TTSStreamError
from .._format import AudioFormat
from .sink import Sink

__all__ = ["WavFileSink"]

_HEADER_BYTES = 44
_RIFF_LIMIT = 0xFFFFFFFF
_FORMAT_TAGS = {"int16": 1, "int32": 1, "float32": 3}  # PCM, IEEE float


class WavFileSink(Sink):
    """Write everything to ``path`` as one WAV file.

    The header carries the final sizes after every :meth:`drain` and :meth:`abort`, and after
    :meth:`aclose`, so the file is valid even when speech was interrupted (it then holds what was
    received up to the interruption). Several utterances in one format are appended into the
    same file; a later utterance in another format raises :class:`ValueError`.

    >>> async with WavFileSink("speech.wav") as sink:  # doctest: +SKIP
    ...     await ttsstream.speak("Saved, not played.", sink=sink)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.format: AudioFormat | None = None
        self._file: BinaryIO | None = None
        self._data_bytes = 0
        self._frames_this_utterance = 0
        self._closed = False

    async def open(self, format: AudioFormat) -> None:
        if self._closed:
            raise RuntimeError(f"WavFileSink({str(self.path)!r}) is closed")
        if self.format is not None and format != self.format:
            raise ValueError(
                f"{self.path} holds {self.format} audio; cannot append {format} audio "
                "(use one WavFileSink per format)"
            )
        self._frames_this_utterance = 0
        if self._file is None:
            self._file = await anyio.to_thread.run_sync(self._create, format)
            self.format = format

    def _create(self, format: AudioFormat) -> BinaryIO:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = self.path.open("wb")
        except OSError as exc:
            raise TTSStreamError(
                f"cannot write {self.path}: {exc.strerror or exc}; choose another path"
            ) from exc
        file.write(_header(format, 0))
        return file

    async def write(self, samples: npt.NDArray[np.generic]) -> None:
        if self._file is None or self.format is None:
            raise RuntimeError("write() before open()")
        fmt = self.format
        if samples.ndim != 2 or samples.shape[1] != fmt.channels or samples.dtype != fmt.dtype:
            raise ValueError(
                f"expected ({fmt.channels}-channel, {fmt.dtype}) samples of shape "
                f"(frames, {fmt.channels}), got {samples.dtype} {samples.shape}"
            )
        data = np.ascontiguousarray(samples, dtype=fmt.numpy_dtype.newbyteorder("<"))
        if self._data_bytes + data.nbytes > _RIFF_LIMIT - _HEADER_BYTES:
            raise ValueError(f"{self.path} would exceed the 4 GiB limit of the WAV format")
        self._file.write(data.tobytes())
        self._data_bytes += data.nbytes
        self._frames_this_utterance += int(data.shape[0])

    async def drain(self) -> None:
        await self._finalize_header()

    async def abort(self) -> None:
        await self._finalize_header()

    async def aclose(self) -> None:
        if self._file is None:
            self._closed = True
            return
        file, self._file = self._file, None
        self._closed = True
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close, file)

    def _close(self, file: BinaryIO) -> None:
        try:
            self._rewrite_header(file)
        finally:
            file.close()

    async def _finalize_header(self) -> None:
        if self._file is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._rewrite_header, self._file)

    def _rewrite_header(self, file: BinaryIO) -> None:
        assert self.format is not None
        end = file.tell()
        file.seek(0)
        file.write(_header(self.format, self._data_bytes))
        file.seek(end)
        file.flush()

    @property
    def frames(self) -> int:
        """Frames written to the file in total."""
        return self._data_bytes // self.format.bytes_per_frame if self.format else 0

    @property
    def frames_played(self) -> int:
        return self._frames_this_utterance

    @property
    def duration(self) -> float:
        """Seconds of audio in the file."""
        return self.format.duration(self.frames) if self.format else 0.0

    def __repr__(self) -> str:
        return f"WavFileSink({str(self.path)!r})"


def _header(fmt: AudioFormat, data_bytes: int) -> bytes:
    """A canonical 44-byte header: ``fmt `` of size 16, PCM or IEEE float."""
    block_align = fmt.bytes_per_frame
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", 36 + data_bytes),
            b"WAVE",
            b"fmt ",
            struct.pack(
                "<IHHIIHH",
                16,
                _FORMAT_TAGS[fmt.dtype],
                fmt.channels,
                fmt.sample_rate,
                fmt.sample_rate * block_align,
                block_align,
                fmt.bytes_per_sample * 8,
            ),
            b"data",
            struct.pack("<I", data_bytes),
        )
    )
