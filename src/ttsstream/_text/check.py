"""The check every text given to ttsstream passes at the call, before any request is made."""

from __future__ import annotations

from .._errors import ConfigurationError

__all__ = ["check_text"]


def check_text(text: object, what: str = "text") -> str:
    """Return ``text`` if it is a ``str`` that can be sent (encoded as UTF-8).

    Raises :class:`TypeError` for anything but ``str`` (``bytes`` included), and
    :class:`~ttsstream.ConfigurationError` for a lone surrogate (``"\\ud800"``, left by
    ``errors="surrogateescape"`` or a broken JSON escape), which no server can receive.

    >>> check_text(b"Hi")
    Traceback (most recent call last):
    TypeError: text must be a str, not bytes: decode it first, e.g. data.decode("utf-8")
    """
    if not isinstance(text, str):
        hint = ': decode it first, e.g. data.decode("utf-8")' if isinstance(text, bytes) else ""
        raise TypeError(f"{what} must be a str, not {type(text).__name__}{hint}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        raise ConfigurationError(
            f"{what} contains a lone surrogate (U+{code:04X}) at index {exc.start}, which "
            "cannot be encoded as UTF-8 to send it; it usually comes from decoding bytes with "
            "errors='surrogateescape' or from a broken \\ud800-style escape. Clean it first, "
            "e.g. text.encode('utf-8', 'replace').decode('utf-8')"
        ) from None
    return text
