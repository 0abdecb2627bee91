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
    """A request to a text-to-speech service failed."""


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
    ) -> None:
        super().__init__(message)
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
    """429: too many requests, or the quota is used up."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        server_message: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, status_code=status_code, server_message=server_message, request_id=request_id
        )
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the service failed."""


class APIConnectionError(APIError):
    """The service could not be reached, or the connection failed."""


class APITimeoutError(APIConnectionError):
    """The service took too long: to connect, to send the first byte, or between chunks."""


class StreamInterruptedError(APIConnectionError):
    """The audio stream broke off after audio had started to arrive.

    The audio received before the break has been played (or delivered) already.
    """
