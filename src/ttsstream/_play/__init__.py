"""Playback: where decoded chunks go.

Sinks (the :class:`~ttsstream.Sink` interface, memory, WAV file, tee, the PortAudio device),
the lock-free frame ring between the event loop and the audio callback, and sample conversion.
"""
