"""ttsstream: text to speech that plays while the service is still generating it.

``await ttsstream.speak("Hello")`` is the whole API for most programs. Underneath: providers
(:class:`OpenAI`, :class:`ElevenLabs`, :class:`Deepgram`, :class:`Cartesia`,
:class:`AzureSpeech`, :class:`Piper`, or any HTTP service through a small
:class:`HttpProvider` subclass) produce :class:`AudioChunk`s through sans-IO decoders
(:class:`WavDecoder`, :class:`PcmDecoder`; :class:`Mp3Decoder`, :class:`OpusDecoder`,
:class:`AacDecoder`, :class:`FlacDecoder` with the ``codecs`` extra) into sinks
(:class:`DeviceSink`, :class:`WavFileSink`, :class:`MemorySink`). Everything ttsstream raises is a
:class:`TTSStreamError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._decode.codecs import AacDecoder, FlacDecoder, Mp3Decoder, OpusDecoder
    from ._decode.pcm import Encoding, PcmDecoder
    from ._decode.sse import SseAudioDecoder
    from ._decode.wav import WavDecoder, WavInfo
    from ._errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AudioDeviceError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        DecodeError,
        DeviceNotFoundError,
        NoAudioError,
        PoolExhaustedError,
        PortAudioMissingError,
        ProviderNotAvailableError,
        RateLimitError,
        ResamplerMissingError,
        ServerError,
        StreamInterruptedError,
        TTSStreamError,
    )
    from ._format import AudioChunk, AudioFormat, SampleDType
    from ._play.device import DeviceInfo, DeviceSink, list_devices
    from ._play.sink import MemorySink, Sink
    from ._play.tee import TeeSink
    from ._play.wavfile import WavFileSink
    from ._providers.azure_speech import AzureSpeech
    from ._providers.base import Provider, RequestTiming, StreamStats
    from ._providers.cartesia import Cartesia
    from ._providers.deepgram import Deepgram
    from ._providers.elevenlabs import ElevenLabs
    from ._providers.http import AudioRequest, HttpProvider, Retries, Timeouts
    from ._providers.openai import AzureOpenAI, OpenAI
    from ._providers.piper import Piper, PiperVoiceInfo, piper_voices, piper_voices_dir
    from ._speak import AudioStream, SpeakReport, default_provider, speak, stream
    from ._speaker import (
        HeardReport,
        Speaker,
        SpeakerEvent,
        Utterance,
        UtteranceHandle,
        UtteranceState,
    )
    from ._text.sentences import SentenceSplitter
    from ._text.speakable import SpeakableFilter, speakable

__version__ = "0.1.0.dev0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AacDecoder",
    "AudioChunk",
    "AudioDeviceError",
    "AudioFormat",
    "AudioRequest",
    "AudioStream",
    "AuthenticationError",
    "AzureOpenAI",
    "AzureSpeech",
    "BadRequestError",
    "Cartesia",
    "ConfigurationError",
    "DecodeError",
    "Deepgram",
    "DeviceInfo",
    "DeviceNotFoundError",
    "DeviceSink",
    "ElevenLabs",
    "Encoding",
    "FlacDecoder",
    "HeardReport",
    "HttpProvider",
    "MemorySink",
    "Mp3Decoder",
    "NoAudioError",
    "OpenAI",
    "OpusDecoder",
    "PcmDecoder",
    "Piper",
    "PiperVoiceInfo",
    "PoolExhaustedError",
    "PortAudioMissingError",
    "Provider",
    "ProviderNotAvailableError",
    "RateLimitError",
    "RequestTiming",
    "ResamplerMissingError",
    "Retries",
    "SampleDType",
    "SentenceSplitter",
    "ServerError",
    "Sink",
    "SpeakReport",
    "SpeakableFilter",
    "Speaker",
    "SpeakerEvent",
    "SseAudioDecoder",
    "StreamInterruptedError",
    "StreamStats",
    "TTSStreamError",
    "TeeSink",
    "Timeouts",
    "Utterance",
    "UtteranceHandle",
    "UtteranceState",
    "WavDecoder",
    "WavFileSink",
    "WavInfo",
    "__version__",
    "default_provider",
    "list_devices",
    "piper_voices",
    "piper_voices_dir",
    "speak",
    "speakable",
    "stream",
]

#: Where each public name lives; the module is imported when the name is first used, so that
#: ``import ttsstream`` stays cheap (no numpy, httpx or PortAudio until a call needs them).
_EXPORTS = {
    "APIConnectionError": "._errors",
    "APIError": "._errors",
    "APIStatusError": "._errors",
    "APITimeoutError": "._errors",
    "AacDecoder": "._decode.codecs",
    "AudioChunk": "._format",
    "AudioDeviceError": "._errors",
    "AudioFormat": "._format",
    "AudioRequest": "._providers.http",
    "AudioStream": "._speak",
    "AuthenticationError": "._errors",
    "AzureOpenAI": "._providers.openai",
    "AzureSpeech": "._providers.azure_speech",
    "BadRequestError": "._errors",
    "Cartesia": "._providers.cartesia",
    "ConfigurationError": "._errors",
    "DecodeError": "._errors",
    "Deepgram": "._providers.deepgram",
    "DeviceInfo": "._play.devices",
    "DeviceNotFoundError": "._errors",
    "DeviceSink": "._play.device",
    "ElevenLabs": "._providers.elevenlabs",
    "Encoding": "._decode.pcm",
    "FlacDecoder": "._decode.codecs",
    "HeardReport": "._speaker",
    "HttpProvider": "._providers.http",
    "MemorySink": "._play.sink",
    "Mp3Decoder": "._decode.codecs",
    "NoAudioError": "._errors",
    "PoolExhaustedError": "._errors",
    "OpenAI": "._providers.openai",
    "OpusDecoder": "._decode.codecs",
    "PcmDecoder": "._decode.pcm",
    "Piper": "._providers.piper",
    "PiperVoiceInfo": "._providers.piper",
    "PortAudioMissingError": "._errors",
    "Provider": "._providers.base",
    "ProviderNotAvailableError": "._errors",
    "RateLimitError": "._errors",
    "RequestTiming": "._providers.base",
    "ResamplerMissingError": "._errors",
    "Retries": "._providers.http",
    "SampleDType": "._format",
    "SentenceSplitter": "._text.sentences",
    "ServerError": "._errors",
    "Sink": "._play.sink",
    "SpeakReport": "._speak",
    "SpeakableFilter": "._text.speakable",
    "Speaker": "._speaker",
    "SpeakerEvent": "._speaker",
    "SseAudioDecoder": "._decode.sse",
    "StreamInterruptedError": "._errors",
    "StreamStats": "._providers.base",
    "TTSStreamError": "._errors",
    "TeeSink": "._play.tee",
    "Timeouts": "._providers.http",
    "Utterance": "._speaker",
    "UtteranceHandle": "._speaker",
    "UtteranceState": "._speaker",
    "WavDecoder": "._decode.wav",
    "WavFileSink": "._play.wavfile",
    "WavInfo": "._decode.wav",
    "default_provider": "._speak",
    "list_devices": "._play.devices",
    "piper_voices": "._providers.piper",
    "piper_voices_dir": "._providers.piper",
    "speak": "._speak",
    "speakable": "._text.speakable",
    "stream": "._speak",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later reads skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
