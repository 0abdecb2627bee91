"""Convert decoded audio into the format an output device accepts (sans-IO).

Three steps, each skipped when not needed: channel mixing, streaming resampling with
``soxr.ResampleStream`` (stateful, so chunk edges never click; ``flush()`` returns the exact
tail), and sample type conversion. The resampler is the optional extra ``ttsstream[resample]``
and is imported only when a rate change is actually needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._errors import ResamplerMissingError

if TYPE_CHECKING:
    from .._format import AudioFormat, SampleDType

__all__ = ["Converter", "convert_dtype", "mix_channels"]

Samples = npt.NDArray[np.generic]

_FULL_SCALE = {"int16": 32768.0, "int32": 2147483648.0}


def convert_dtype(samples: Samples, dtype: SampleDType) -> Samples:
    """Convert between ``int16``, ``int32`` (full scale) and ``float32`` (-1.0 to 1.0)."""
    src = samples.dtype.name
    if src == dtype:
        return samples
    if src == "int16" and dtype == "int32":
        return samples.astype(np.int32) << 16
    if src == "int32" and dtype == "int16":
        return (samples.astype(np.int32) >> 16).astype(np.int16)
    if dtype == "float32":
        return (samples.astype(np.float64) / _FULL_SCALE[src]).astype(np.float32)
    # float32 -> int: scale in float64 so int32's full scale is exact, round, clip. NaN (a broken
    # float stream) becomes silence: cast as it is, it is a full-scale click and a RuntimeWarning.
    scale = _FULL_SCALE[dtype]
    scaled: Samples = np.nan_to_num(np.rint(samples.astype(np.float64) * scale), nan=0.0)
    return np.clip(scaled, -scale, scale - 1).astype(dtype)


def mix_channels(samples: Samples, channels: int) -> Samples:
    """Mix ``(frames, n)`` samples to ``channels`` channels.

    Mono is copied to every channel; anything is averaged down to mono; otherwise the first
    channels are kept and extra output channels are silent.
    """
    have = samples.shape[1]
    if have == channels:
        return samples
    if have == 1:
        copies: Samples = np.repeat(samples, channels, axis=1)
        return copies
    if channels == 1:
        mean = samples.astype(np.float64).mean(axis=1, keepdims=True)
        if samples.dtype.kind != "f":
            mean = np.rint(mean)
        mixed: Samples = mean.astype(samples.dtype)
        return mixed
    out = np.zeros((samples.shape[0], channels), samples.dtype)
    keep = min(have, channels)
    out[:, :keep] = samples[:, :keep]
    return out


def _load_soxr() -> Any:
    try:
        import soxr
    except ImportError as exc:
        raise ResamplerMissingError(
            "the output device needs a different sample rate and the resampler is not "
            "installed: pip install 'ttsstream[resample]' (or pip install soxr)"
        ) from exc
    return soxr


class Converter:
    """Turn audio in format ``src`` into format ``dst``, chunk by chunk, without clicks.

    >>> from ttsstream import AudioFormat
    >>> c = Converter(AudioFormat(24000, 1, "int16"), AudioFormat(24000, 2, "float32"))
    >>> c.process(np.array([[16384]], np.int16)).tolist()
    [[0.5, 0.5]]
    """

    def __init__(self, src: AudioFormat, dst: AudioFormat, *, quality: str = "HQ") -> None:
        self.src = src
        self.dst = dst
        self._resampler: Any = None
        # Mix down before resampling and up after it: the resampler then works on fewest channels.
        self._mid_channels = min(src.channels, dst.channels)
        if src.sample_rate != dst.sample_rate:
            soxr = _load_soxr()
            # Resample in the source type when the device takes it (int16 stays int16).
            self._work: SampleDType = src.dtype if src.dtype == dst.dtype else "float32"
            self._resampler = soxr.ResampleStream(
                src.sample_rate, dst.sample_rate, self._mid_channels, self._work, quality
            )

    @property
    def identity(self) -> bool:
        """True when nothing needs converting."""
        return self.src == self.dst

    @property
    def resampling(self) -> bool:
        """True when the sample rate changes."""
        return self._resampler is not None

    def process(self, samples: Samples) -> Samples:
        """Convert one chunk. Output may be shorter or longer than the input when resampling."""
        return self._convert(samples, last=False)

    def flush(self) -> Samples:
        """Return what the resampler still holds; call once at the end of the stream."""
        if self._resampler is None:
            return np.empty((0, self.dst.channels), self.dst.numpy_dtype)
        return self._convert(np.empty((0, self.src.channels), self.src.numpy_dtype), last=True)

    def _convert(self, samples: Samples, *, last: bool) -> Samples:
        x = mix_channels(samples, self._mid_channels)
        if self._resampler is not None:
            x = convert_dtype(x, self._work)
            x = self._resampler.resample_chunk(
                np.ascontiguousarray(x), last=last
            )  # 2-D in, 2-D out
        x = mix_channels(x, self.dst.channels)
        return np.ascontiguousarray(convert_dtype(x, self.dst.dtype))
