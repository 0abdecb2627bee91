"""The shape every decoder has."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from .._format import AudioFormat

__all__ = ["ByteDecoder"]

_Samples = npt.NDArray[np.generic]


class ByteDecoder(Protocol):
    """What every ttsstream decoder offers: bytes in, frames out."""

    @property
    def format(self) -> AudioFormat | None: ...

    def feed(self, data: bytes | bytearray | memoryview) -> _Samples: ...

    def flush(self) -> _Samples: ...
