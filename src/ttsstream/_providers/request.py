"""The request an HTTP provider builds: where to send what, and how to read the answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .._format import AudioFormat

if TYPE_CHECKING:
    from .._decode.pcm import Encoding

__all__ = ["AudioRequest", "Expected"]

#: What a request asks for: the decoder to use when the response does not say.
Expected = Literal["wav", "pcm", "mp3", "opus", "aac", "flac"]


@dataclass
class AudioRequest:
    """One synthesis request, as :meth:`HttpProvider.build_request` returns it.

    To support a new HTTP service, subclass :class:`~ttsstream.HttpProvider` and return one of
    these from ``build_request(text)``; ttsstream sends it (``POST`` with ``json`` as the body,
    ``params`` in the query string), retries, follows redirects, maps error statuses to
    exceptions and decodes the body as it streams:

    >>> import ttsstream
    >>> class MyTTS(ttsstream.HttpProvider):
    ...     name = "mytts"
    ...
    ...     def __init__(self, api_key: str, **options):
    ...         super().__init__(**options)  # client=, timeouts=, retries=
    ...         self._key = api_key
    ...
    ...     def build_request(self, text: str) -> ttsstream.AudioRequest:
    ...         return ttsstream.AudioRequest(
    ...             provider=self.name,
    ...             url="https://tts.example/v1/speak",
    ...             headers={"Authorization": f"Bearer {self._key}"},
    ...             json={"text": text, "format": "pcm_24000"},
    ...             expect="pcm",
    ...             pcm_format=ttsstream.AudioFormat(24000, 1, "int16"),
    ...             secrets=(self._key,),
    ...         )
    >>> MyTTS("sk-my-secret-key").build_request("Hello")
    AudioRequest(provider='mytts', url='https://tts.example/v1/speak',
    headers={'Authorization': '***'}, json={'text': 'Hello', 'format': 'pcm_24000'}, ...)

    The answer's Content-Type decides the decoder (WAV, raw PCM with its ``rate=``, server-sent
    events); ``expect``, ``pcm_format`` and ``pcm_encoding`` are used when it does not say.
    Put every credential in ``secrets`` (scrubbed from every error message, repr and log line,
    even when the server echoes it) and name its headers in ``secret_headers`` (dropped when a
    redirect leaves the host).
    """

    #: Short name used in messages, e.g. ``"openai"``.
    provider: str
    #: The endpoint to ``POST`` to.
    url: str
    #: Request headers (credentials included: they are masked in this object's repr).
    headers: dict[str, str]
    #: The JSON request body.
    json: dict[str, Any]
    #: What was asked for: the decoder to use when the response's Content-Type is generic.
    expect: Expected
    #: Format of headerless PCM when the server gives no rate.
    pcm_format: AudioFormat = field(default_factory=lambda: AudioFormat(24000, 1, "int16"))
    #: Byte encoding of headerless PCM (``"s16le"``, ``"s16be"``, ``"mulaw"``, ``"alaw"``).
    pcm_encoding: Encoding = "s16le"
    #: The user's word for this server's raw PCM (``pcm_format=``): wins over Content-Type
    #: parameters and defaults, and a "WAV" body without a header is decoded as this PCM.
    server_pcm_format: AudioFormat | None = None
    #: Query parameters.
    params: dict[str, str] = field(default_factory=dict)
    #: Header names (lower case) carrying credentials: dropped when a redirect leaves the host.
    secret_headers: frozenset[str] = frozenset({"authorization"})
    #: Secret values to scrub from any text that reaches an exception or a log.
    secrets: tuple[str, ...] = ()
    #: Where the user can set the key, for error messages ("OPENAI_API_KEY").
    key_hint: str = "the API key"
    #: A body that is not JSON (e.g. SSML), sent instead of ``json``; set its Content-Type in
    #: ``headers``.
    content: bytes | None = None
    #: The request fixes the audio format exactly (headerless samples as ``pcm_format`` and
    #: ``pcm_encoding`` say), so an ``audio/*`` Content-Type is not consulted: services label
    #: raw audio loosely (Deepgram calls little-endian samples ``audio/l16``). A WAV header in the
    #: body is still recognised, and a text or JSON body is still an error.
    format_known: bool = False
    #: The service's own message in an error body, for services whose error bodies the generic
    #: reader does not understand: ``(body, content_type) -> message``, or ``None`` to fall back
    #: to the generic reader.
    error_message: Callable[[bytes, str | None], str | None] | None = None

    def __repr__(self) -> str:
        headers = {
            k: ("***" if k.lower() in self.secret_headers else v) for k, v in self.headers.items()
        }
        # Lazy import: errors.py imports this module.
        from .errors import redact

        text = (
            f"AudioRequest(provider={self.provider!r}, url={self.url!r}, headers={headers!r}, "
            f"json={self.json!r}, expect={self.expect!r}, pcm_format={self.pcm_format!r}, "
            f"pcm_encoding={self.pcm_encoding!r}, params={self.params!r}, "
            f"secrets=({len(self.secrets)} hidden))"
        )
        return redact(text, self.secrets)
