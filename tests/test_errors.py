"""Error mapping and key scrubbing (``_providers/errors.py``), driven directly: pure functions."""

from __future__ import annotations

import email.utils
import logging
import time

import pytest

import ttsstream
from ttsstream import (
    AudioRequest,
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServerError,
)
from ttsstream._providers.errors import (
    error_from_response,
    parse_retry_after,
    redact,
    scrub_exception,
    scrubbed_logs,
    server_message,
)

KEY = "sk-errors-0123456789abcdef"
REQUEST = AudioRequest(
    provider="acme",
    url="https://tts.example/v1",
    headers={"Authorization": f"Bearer {KEY}"},
    json={},
    expect="wav",
    secrets=(KEY,),
    key_hint="the API key (ACME_KEY)",
)


def mapped(
    status: int, body: bytes = b"", reason: str = "Reason", **headers: str
) -> ttsstream.APIStatusError:
    # a plain dict: the mapping is documented to look headers up by lower-case name
    return error_from_response(status, reason, headers, body, REQUEST)


# -- server_message ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'{"error": {"message": "m1", "type": "t"}}', None, "m1"),
        (b'{"error": "m2"}', None, "m2"),
        (b'{"detail": "m3"}', None, "m3"),
        (b'{"detail": [{"loc": ["body", "speed"], "msg": "m4"}]}', None, "body.speed: m4"),
        (b'{"detail": [{"msg": "a"}, {"msg": "b"}]}', None, "a; b"),
        (b'{"detail": {"message": "m5"}}', None, "m5"),
        (b'{"message": "m6"}', None, "m6"),
        (b'{"msg": "m7"}', None, "m7"),
        (b'{"error_description": "m8"}', None, "m8"),
        (b'{"title": "m9"}', None, "m9"),
        (b'{"error": {}, "message": "m10"}', None, "m10"),  # an empty error falls through
        (b'"just a string"', "application/json", "just a string"),
        (b"[]", None, None),
        (b"[1, 2]", None, None),
        (b"42", None, None),
        (b'{"code": 5}', None, None),
        (b"  plain   text\n here  ", "text/plain", "plain text here"),
        (
            b"<html><head><TITLE>502 Bad\nGateway</TITLE></head></html>",
            "text/html",
            "502 Bad Gateway",
        ),
        (b"<p>no <b>title</b></p>", None, "no title"),
        (b"<p>x</p>", "text/html", "x"),
        (b"Bad <b>gateway</b>", "text/html; charset=utf-8", "Bad gateway"),  # no leading <
        (b"Bad <b>gateway</b>", "text/plain", "Bad <b>gateway</b>"),
        (b"Bad <b>gateway</b>", None, "Bad <b>gateway</b>"),
        (
            b"<html><head><TITLE>502 Bad\nGateway</TITLE></head><body><h1>nginx</h1></body>",
            None,
            "502 Bad Gateway",
        ),
        (b"", None, None),
        (b"   ", None, None),
        (b"<b></b>", "text/html", None),
        (b"\xff\xfe oops", None, "\ufffd\ufffd oops"),
        (b"[" * 5000, None, "[" * 500),  # nesting too deep for json: plain text, bounded
    ],
)
def test_server_message_whatever_the_shape(
    body: bytes, content_type: str | None, message: str | None
) -> None:
    assert server_message(body, content_type) == message


def test_server_message_is_bounded() -> None:
    assert server_message(b"x" * 2000) == "x" * 500
    assert server_message(b'{"error": "' + b"y" * 2000 + b'"}') == "y" * 500
    long_list = b'{"detail": [' + b",".join([b'{"msg": "' + b"z" * 300 + b'"}'] * 3) + b"]}"
    said = server_message(long_list)
    assert said is not None
    assert len(said) == 500
    assert said.startswith("z" * 300 + "; ")


# -- Retry-After -------------------------------------------------------------------------------


def test_retry_after_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = parse_retry_after(future)
    assert wait is not None
    assert 25 < wait <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after(past) == 0.0


# -- mapping -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "hint"),
    [
        (400, BadRequestError, False, "Check the text and the options."),
        (401, AuthenticationError, False, "Check the API key (ACME_KEY): it is missing"),
        (403, AuthenticationError, False, "Check the API key (ACME_KEY)"),
        (404, BadRequestError, False, "Check base_url, the model and the voice."),
        (409, BadRequestError, False, "Check the text and the options."),
        (422, BadRequestError, False, "Check the options sent (model, voice, format, speed)."),
        (429, RateLimitError, True, "Too many requests or quota used up."),
        (500, ServerError, True, "The service failed; try again later."),
        (501, ServerError, False, "The service failed"),
        (502, ServerError, True, "The service failed"),
        (503, ServerError, True, "The service failed"),
        (504, ServerError, True, "The service failed"),
        (505, ServerError, False, "The service failed"),
    ],
)
def test_each_status_maps_to_its_exception(
    status: int, kind: type[Exception], retryable: bool, hint: str
) -> None:
    error = mapped(status, b'{"error": {"message": "said so"}}', reason="Because")
    assert type(error) is kind
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.server_message == "said so"
    assert str(error).startswith(f"acme answered {status} Because: said so. ")
    assert hint in str(error)


def test_whole_messages() -> None:
    assert str(mapped(401, b'{"detail": "nope"}', reason="Unauthorized")) == (
        "acme answered 401 Unauthorized: nope. Check the API key (ACME_KEY): it is missing, "
        "wrong, or has no access to this model."
    )
    assert str(mapped(429, b"", reason="Too Many Requests")) == (
        "acme answered 429 Too Many Requests. Too many requests or quota used up."
    )
    html = mapped(502, b"Bad <b>gateway</b>", **{"content-type": "text/html"})
    assert html.server_message == "Bad gateway"


def test_no_message_and_no_reason() -> None:
    error = mapped(500, reason="")
    assert str(error) == "acme answered 500. The service failed; try again later."
    assert error.server_message is None
    assert error.request_id is None
    assert error.retry_after is None


def test_request_id_from_either_header() -> None:
    assert mapped(500, **{"x-request-id": "req_1"}).request_id == "req_1"
    assert mapped(500, **{"request-id": "req_2"}).request_id == "req_2"
    both = mapped(500, **{"x-request-id": "a", "request-id": "b"})
    assert both.request_id == "a"


def test_retry_after_is_read_for_every_status_and_said_for_429() -> None:
    error = mapped(429, **{"retry-after": "3"})
    assert error.retry_after == 3.0
    assert "The server asks to wait 3 s." in str(error)
    assert mapped(503, **{"retry-after": "2"}).retry_after == 2.0
    assert "asks to wait" not in str(mapped(429))


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"message": "slow down", "code": "insufficient_quota"}}',
        b'{"error": {"message": "slow down", "type": "Quota_Exceeded"}}',
        b'{"detail": {"status": "quota_exceeded", "message": "slow down"}}',
        b'{"error": {"message": "You exceeded your current QUOTA"}}',
        b"quota reached",
    ],
)
def test_a_used_up_quota_is_not_retryable(body: bytes) -> None:
    error = mapped(429, body)
    assert isinstance(error, RateLimitError)
    assert error.retryable is False


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}',
        b'{"error": {"message": "slow down", "code": 429}}',
        b'{"detail": "slow down"}',
        b"[1]",
        b"",
    ],
)
def test_a_rate_limit_is_retryable(body: bytes) -> None:
    assert mapped(429, body).retryable is True


def test_keys_are_redacted_from_message_reason_and_request_id() -> None:
    error = mapped(
        401, f'{{"error": "bad {KEY}"}}'.encode(), reason=f"No {KEY}", **{"x-request-id": KEY}
    )
    assert KEY not in str(error)
    assert error.server_message == "bad ***"
    assert "answered 401 No ***" in str(error)
    assert error.request_id == "***"


# -- redact and scrub --------------------------------------------------------------------------


def test_redact() -> None:
    assert redact(f"a {KEY} b {KEY}", (KEY,)) == "a *** b ***"
    assert redact(f"cut {KEY[:8]}", (KEY,)) == "cut ***"
    assert redact(f"cut {KEY[:7]}", (KEY,)) == f"cut {KEY[:7]}"
    assert redact(f"{KEY[5:20]}!", (KEY,)) == "***!"
    assert redact(f"{KEY[:9]} {KEY[-9:]}", (KEY,)) == "*** ***"
    assert redact("abcd abc", ("abcd",)) == "*** abc"
    assert redact("abc", ("abc",)) == "abc"
    assert redact("12345678 and 123456789", ("12345678",)) == "*** and ***9"
    assert redact("nothing here", (KEY, "", "zz")) == "nothing here"
    assert redact("x", ()) == "x"
    assert redact(f"x {KEY}", ("", "ab", KEY)) == "x ***"  # short ones skipped, not the rest
    assert redact(f"ends {KEY[-7:]}", (KEY,)) == f"ends {KEY[-7:]}"  # 7 characters: kept
    assert redact(f"starts {KEY[:7]}!", (KEY,)) == f"starts {KEY[:7]}!"
    assert redact(f"{KEY[:8]}{KEY[-8:]} x", (KEY,)) == "*** x"  # touching runs join
    assert redact(f"{KEY[:8]}{KEY[:8]} x", (KEY,)) == "*** x"
    assert redact(f"{KEY[:8]} {KEY[:8]}", (KEY,)) == "*** ***"
    assert redact(f"a{KEY[2:11]}b", (KEY,)) == "a***b"  # overlapping runs join
    assert redact("abcdefgh", ("abcdefgh",)) == "***"
    assert redact("abcdefg abcdefgh", ("abcdefgh",)) == "abcdefg ***"


class _Custom(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text, 3)
        self.detail = text
        self.code = 7


def test_scrub_exception_walks_args_attributes_and_the_chain() -> None:
    try:
        try:
            try:
                raise _Custom(f"inner {KEY}")
            except _Custom as inner:
                raise ValueError(f"middle {KEY}") from inner
        except ValueError:
            raise ServerError(
                f"outer {KEY}", status_code=500, server_message=KEY, request_id=KEY[:10]
            ) from None
    except ServerError as outer:
        error = outer
    error.__cause__ = error.__context__  # both links followed
    scrub_exception(error, (KEY,))
    assert str(error) == "outer ***"
    assert error.server_message == "***"
    assert error.request_id == "***"
    middle = error.__context__
    assert middle is not None
    assert str(middle) == "middle ***"
    inner = middle.__cause__
    assert isinstance(inner, _Custom)
    assert inner.args == ("inner ***", 3)
    assert inner.detail == "inner ***"
    assert inner.code == 7


def test_scrub_exception_follows_cause_and_context_each() -> None:
    a = ValueError(f"a {KEY}")
    a.__cause__, a.__context__ = ValueError(f"cause {KEY}"), ValueError(f"context {KEY}")
    scrub_exception(a, (KEY,))
    assert (str(a), str(a.__cause__), str(a.__context__)) == ("a ***", "cause ***", "context ***")
    b = ValueError(f"b {KEY}")
    b.__cause__ = ValueError(f"only a cause {KEY}")  # and no context
    scrub_exception(b, (KEY,))
    assert str(b.__cause__) == "only a cause ***"


def test_scrub_exception_survives_a_cycle_and_ignores_short_secrets() -> None:
    a, b = ValueError(f"a {KEY}"), ValueError(f"b {KEY} abc")
    a.__context__, b.__context__ = b, a
    scrub_exception(a, (KEY, "abc"))
    assert str(a) == "a ***"
    assert str(b) == "b *** abc"
    c = ValueError("c abc")
    scrub_exception(c, ("abc", ""))
    assert str(c) == "c abc"


def test_scrubbed_logs_filters_httpx_while_a_request_is_in_flight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("httpcore.http11")
    with scrubbed_logs((KEY, "")):
        log.debug("headers %s", [("x-echo", KEY)])
        with scrubbed_logs((KEY,)):
            logging.getLogger("httpx").info("status %s", f"401 {KEY}")
        log.debug("still %s", KEY)  # the outer request is still in flight
    log.debug("after %s", KEY)
    lines = caplog.messages
    assert lines[:3] == ["headers [('x-echo', '***')]", "status 401 ***", "still ***"]
    assert lines[3] == f"after {KEY}"  # nothing in flight: nothing to hide
