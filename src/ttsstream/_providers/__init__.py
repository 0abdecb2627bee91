"""Providers: text in, :class:`~ttsstream.AudioChunk` out.

The provider interface, the shared HTTP machinery (requests, retries, error mapping), the
HTTP services built on it, and the local Piper voice.
"""
