"""Audio formats and the chunks of samples that flow from decoders to sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:  # numpy loads with the first samples, not with ttsstream (see docs/benchmarks)
    import numpy as np
    import numpy.typing as npt

__all__ = ["AudioChunk", "AudioFormat", "SampleDType"]

SampleDType = Literal["int16", "int32", "float32"]
"""The sample types ttsstream hands to sinks: PortAudio's native ``paInt16``, ``paInt32``
and ``paFloat32``, so playback needs no conversion."""

_DTYPES: tuple[str, ...] = get_args(SampleDType)


@dataclass(frozen=True)
class AudioFormat:
    """The shape of decoded audio: sample rate, channel count and sample type.

    >>> fmt = AudioFormat(sample_rate=24000, channels=1, dtype="int16")
    >>> fmt.bytes_per_frame, fmt.duration(12000)
    (2, 0.5)
    """

    sample_rate: int
    channels: int = 1
    dtype: SampleDType = "int16"

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive int, got {self.sample_rate!r}")
        if not isinstance(self.channels, int) or self.channels <= 0:
            raise ValueError(f"channels must be a positive int, got {self.channels!r}")
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(_DTYPES)}; got {self.dtype!r}")

    @property
    def numpy_dtype(self) -> np.dtype[np.generic]:
        """The numpy dtype of the samples (native byte order)."""
        import numpy as np

        return np.dtype(self.dtype)

    @property
    def bytes_per_sample(self) -> int:
        """Size of one sample of one channel, in bytes."""
        return self.numpy_dtype.itemsize

    @property
    def bytes_per_frame(self) -> int:
        """Size of one frame (one sample of every channel), in bytes."""
        return self.bytes_per_sample * self.channels

    def duration(self, frames: int) -> float:
        """Seconds that ``frames`` frames last at this sample rate."""
        return frames / self.sample_rate

    def frames(self, seconds: float) -> int:
        """Whole frames in ``seconds`` seconds (rounded to the nearest frame)."""
        return round(seconds * self.sample_rate)

    def empty(self) -> npt.NDArray[np.generic]:
        """An empty ``(0, channels)`` array of this format's dtype."""
        import numpy as np

        return np.empty((0, self.channels), dtype=self.numpy_dtype)

    def __str__(self) -> str:
        return f"{self.sample_rate} Hz, {self.channels} ch, {self.dtype}"


@dataclass(frozen=True)
class AudioChunk:
    """A run of decoded frames: ``samples`` has shape ``(frames, channels)``."""

    samples: npt.NDArray[np.generic]
    format: AudioFormat
    #: Where the chunk starts in its stream, in frames; informational.
    offset: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        s = self.samples
        if s.ndim != 2 or s.shape[1] != self.format.channels:
            raise ValueError(
                f"samples must have shape (frames, {self.format.channels}), got {s.shape}"
            )
        if s.dtype != self.format.numpy_dtype:
            raise ValueError(f"samples are {s.dtype}, format says {self.format.dtype}")

    @property
    def frames(self) -> int:
        """Number of frames in the chunk."""
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Seconds of audio in the chunk."""
        return self.format.duration(self.frames)

    def __len__(self) -> int:
        return self.frames
