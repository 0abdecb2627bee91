"""From an HTTP error answer to a ttsstream exception, and keys kept out of every message.

Pure functions: a status, headers and a bounded body in, an :class:`~ttsstream.APIStatusError`
out, with the server's own message whatever the shape of its body, and a typed retry decision
(``retryable``, ``retry_after``) that the transport acts on. :func:`redact` and
:func:`scrub_exception` keep API keys out of anything a user or a log can see.
"""

from __future__ import annotations

import collections
import contextlib
import email.utils
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

from .._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServerError,
)
from .request import AudioRequest

__all__ = [
    "error_from_response",
    "parse_retry_after",
    "redact",
    "scrub_exception",
    "scrubbed_logs",
    "server_message",
]

#: Statuses worth sending the same request again for (a quota 429 excepted).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MESSAGE_CHARS = 500
#: A run this long copied from a key counts as the key (a message cut short mid-key).
_FRAGMENT = 8
_MIN_SECRET = 4


def server_message(body: bytes, content_type: str | None = None) -> str | None:
    """The human message in an error body, whatever its shape.

    Handles OpenAI's ``{"error": {"message": ...}}``, ``{"error": "..."}``, FastAPI's
    ``{"detail": "..."}`` and ``{"detail": [{"msg": ...}]}``, ElevenLabs'
    ``{"detail": {"message": ...}}``, flat ``{"message": ...}``, and plain text or HTML.
    """
    text = body.decode(errors="replace").strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        if "html" in (content_type or "") or text.startswith("<"):
            title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
            text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
        return " ".join(text.split())[:_MESSAGE_CHARS] or None
    return _json_message(data)


def _json_message(data: object) -> str | None:
    if isinstance(data, str):
        return data[:_MESSAGE_CHARS]
    if isinstance(data, list):
        parts = [m for item in data if (m := _json_message(item))]
        return "; ".join(parts)[:_MESSAGE_CHARS] if parts else None
    if not isinstance(data, dict):
        return None
    for key in ("error", "detail", "message", "msg", "error_description", "title"):
        if key in data and (m := _json_message(data[key])):
            if key == "msg" and isinstance(data.get("loc"), list):
                where = ".".join(str(p) for p in data["loc"])
                return f"{where}: {m}"
            return m
    return None


def _is_quota(body: bytes, said: str | None) -> bool:
    """A 429 that waiting cannot cure: the account's quota or credits are used up."""
    if said is not None and "quota" in said.lower():
        return True
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return False
    inner = data.get("error", data.get("detail")) if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return False
    codes = (inner.get("code"), inner.get("type"), inner.get("status"))
    return any(isinstance(c, str) and "quota" in c.lower() for c in codes)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret replaced by ``***``.

    Also any run of 8 or more characters copied from a secret, so that a key cut short (a
    message truncated mid-key) does not leak its first half. Secrets under 4 characters are
    ignored: replacing them would garble ordinary words.
    """
    for secret in secrets:
        if not secret or len(secret) < _MIN_SECRET:
            continue
        text = _redact_fragments(text.replace(secret, "***"), secret)
    return text


def _redact_fragments(text: str, secret: str) -> str:
    # Every 8-character run of the secret; a shorter secret has none.
    grams = {secret[i : i + _FRAGMENT] for i in range(len(secret) - _FRAGMENT + 1)}
    out: list[str] = []
    hidden_until = -1  # text[:hidden_until] lies inside runs already replaced
    for j, ch in enumerate(text):
        if text[j : j + _FRAGMENT] in grams:
            if j > hidden_until:  # a run touching the previous one joins it
                out.append("***")
            hidden_until = j + _FRAGMENT
        elif j >= hidden_until:
            out.append(ch)
    return "".join(out)


def scrub_exception(exc: BaseException, secrets: tuple[str, ...]) -> None:
    """Redact ``secrets`` in place from ``exc``, its text attributes and its causes.

    Run on every exception leaving the HTTP layer: a server can echo a key anywhere (an error
    body, the reason phrase, an event in the audio stream, a malformed status line that
    httpx quotes), and tracebacks print the whole chain.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        e.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in e.args)
        for name, value in list(vars(e).items()):
            if isinstance(value, str):
                setattr(e, name, redact(value, secrets))
        todo += [e.__cause__, e.__context__]


#: Secrets of the requests in flight (with a count: two requests may share a key).
_ACTIVE: collections.Counter[str] = collections.Counter()
#: httpx's and httpcore's loggers quote what the server sent (status line, headers).
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)


class _SecretFilter(logging.Filter):
    """Redacts the secrets of requests in flight from a log record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _ACTIVE:
            message = record.getMessage()
            clean = redact(message, tuple(_ACTIVE))
            if clean != message:
                record.msg, record.args = clean, ()
        return True


_FILTER = _SecretFilter()


@contextlib.contextmanager
def scrubbed_logs(secrets: tuple[str, ...]) -> Iterator[None]:
    """While inside, ``secrets`` are redacted from httpx's and httpcore's log lines.

    A filter is attached to each logger that quotes server text, because a server may echo a
    key in its reason phrase or a header and httpx logs both (``INFO`` and ``DEBUG``).
    """
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    kept = [s for s in secrets if s and len(s) >= _MIN_SECRET]
    _ACTIVE.update(kept)
    try:
        yield
    finally:
        _ACTIVE.subtract(kept)
        for s in kept:
            if _ACTIVE[s] <= 0:
                _ACTIVE.pop(s, None)


def error_from_response(
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    request: AudioRequest,
) -> APIStatusError:
    """Map an HTTP error answer to the ttsstream exception for its status.

    ``headers`` is looked up by lower-case name (``httpx.Headers`` is). The exception carries
    the server's message (redacted) and whether retrying may help.
    """
    content_type = headers.get("content-type")
    said = request.error_message(body, content_type) if request.error_message else None
    if said is None:
        said = server_message(body, content_type)
    if said is not None:
        said = redact(said, request.secrets)
    request_id = headers.get("x-request-id") or headers.get("request-id")
    head = redact(f"{request.provider} answered {status} {reason}".rstrip(), request.secrets)
    detail = f": {said}" if said else ""
    retry_after = parse_retry_after(headers.get("retry-after"))
    kwargs: dict[str, Any] = {
        "status_code": status,
        "server_message": said,
        "request_id": redact(request_id, request.secrets) if request_id else None,
        "retryable": status in RETRY_STATUSES,
        "retry_after": retry_after,
    }
    if status in (401, 403):
        return AuthenticationError(
            f"{head}{detail}. Check {request.key_hint}: it is missing, wrong, or has no access "
            "to this model.",
            **kwargs,
        )
    if status == 429:
        if _is_quota(body, said):
            kwargs["retryable"] = False  # waiting cannot refill a quota
        when = f" The server asks to wait {retry_after:g} s." if retry_after is not None else ""
        return RateLimitError(
            f"{head}{detail}. Too many requests or quota used up.{when}", **kwargs
        )
    if status >= 500:
        return ServerError(f"{head}{detail}. The service failed; try again later.", **kwargs)
    hint = {
        404: " Check base_url, the model and the voice.",
        422: " Check the options sent (model, voice, format, speed).",
    }.get(status, " Check the text and the options.")
    return BadRequestError(f"{head}{detail}.{hint}", **kwargs)
