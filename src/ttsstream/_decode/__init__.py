"""Sans-IO decoders: bytes in, device-ready sample arrays out.

Nothing in this package imports httpx, anyio or sounddevice. Each decoder has the same shape
(``feed(bytes) -> ndarray``, ``flush() -> ndarray``, ``format``) and carries partial samples
between calls, so any byte split of a stream decodes to the same samples.
"""
