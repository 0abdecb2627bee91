"""The exceptions ttsstream raises.

Everything derives from :class:`TTSStreamError`, so ``except ttsstream.TTSStreamError`` catches
every failure the library reports. Messages say what happened and what to do about it; they
never contain API keys.
"""

from __future__ import annotations

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AudioDeviceError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "DecodeError",
    "DeviceNotFoundError",
    "NoAudioError",
    "PoolExhaustedError",
    "PortAudioMissingError",
    "ProviderNotAvailableError",
    "RateLimitError",
    "ResamplerMissingError",
    "ServerError",
    "StreamInterruptedError",
    "TTSStreamError",
]


class TTSStreamError(Exception):
    """Base class of every error raised by ttsstream."""


class DecodeError(TTSStreamError):
    """The audio stream is malformed or in a format ttsstream cannot decode."""


class AudioDeviceError(TTSStreamError):
    """An audio output device could not be found, opened, or failed while playing."""


class PortAudioMissingError(AudioDeviceError):
    """The PortAudio library is not installed, so no sound can be played."""


class DeviceNotFoundError(AudioDeviceError, LookupError):
    """No output device matches the requested name or index, or there is no output at all."""


class ResamplerMissingError(AudioDeviceError):
    """The device needs another sample rate and the resampler (``ttsstream[resample]``) is
    not installed."""


class ConfigurationError(TTSStreamError, ValueError):
    """An option has a value ttsstream cannot use (a missing API key, an unsupported format)."""


class ProviderNotAvailableError(ConfigurationError):
    """The provider needs an optional extra that is not installed (e.g. ``ttsstream[piper]``)."""


class APIError(TTSStreamError):
    """A request to a text-to-speech service failed.

    ``retryable`` says whether the same request may succeed if sent again (ttsstream retries
    those itself, per :class:`~ttsstream.Retries`, before any audio arrived); ``retry_after`` is
    how many seconds the server asked us to wait first, when it said.
    """

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        #: Whether sending the same request again may succeed.
        self.retryable = retryable
        #: Seconds the server asked us to wait before trying again (``Retry-After``), if it said.
        self.retry_after = retry_after


class APIStatusError(APIError):
    """The service answered with an HTTP error status.

    ``message`` is the service's own explanation, whatever the shape of its error body.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        server_message: str | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after)
        #: The HTTP status, e.g. 401.
        self.status_code = status_code
        #: What the server said, extracted from its error body (``None`` if it said nothing).
        self.server_message = server_message
        #: The server's request id header, when it sent one (useful in support requests).
        self.request_id = request_id


class AuthenticationError(APIStatusError):
    """401 or 403: the API key is missing, wrong, or lacks access."""


class BadRequestError(APIStatusError):
    """400, 404, 422 and other 4xx: the request (model, voice, text, options) was refused."""


class RateLimitError(APIStatusError):
    """429: too many requests, or the quota is used up (``retryable`` is false for a quota)."""


class ServerError(APIStatusError):
    """5xx: the service failed."""


class APIConnectionError(APIError):
    """The service could not be reached, or the connection failed."""


class APITimeoutError(APIConnectionError):
    """The service took too long: to connect, to send the first byte, or between chunks."""


class PoolExhaustedError(APITimeoutError):
    """No connection came free in time: more streams at once than the connection pool allows.

    Not a slow server: the request never left. A provider keeps up to ``max_connections``
    connections inside ``async with provider`` (1000 by default); an ``httpx.AsyncClient``
    passed as ``client=`` has its own ``limits`` (httpx's default is 100). Raise the limit, or
    wait longer with ``Timeouts(pool=...)``.
    """


class NoAudioError(APIError):
    """The service answered with success but sent no audio.

    An empty body, a WAV header with no samples after it, or a stream of events without audio:
    typically a voice or model the server failed to load. Retrying does not help; check the
    voice, the model and the server's log.
    """


class StreamInterruptedError(APIConnectionError):
    """The audio stream broke off after the server had answered (closed, or stalled).

    The audio received before the break, if any, has been played (or delivered) already. A
    break before any audio is retried like a failed connection; after audio, never.
    """
