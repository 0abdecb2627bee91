"""Providers: text in, :class:`~ttsstream.AudioChunk` out.

The provider interface, the shared HTTP machinery (requests, retries, error mapping), the
HTTP services built on it, and the local Piper voice.
"""

# Every HTTP provider needs httpx: import it lean (without its CLI, and without trio under
# asyncio) before any module here imports it.
from .._lean import import_httpx

import_httpx()
