"""The SSE audio decoder, driven directly (h11 style): any split of the bytes, hostile input."""

from __future__ import annotations

import base64
import json
import random

import numpy as np
import numpy.typing as npt
import pytest

from ttsstream import AudioFormat, DecodeError, PcmDecoder, ServerError, WavDecoder
from ttsstream._decode.sse import DEFAULT_MAX_EVENT_BYTES, SseAudioDecoder, SseParser

from .httpfakes import split, streaming_wav, tone

FMT = AudioFormat(24000, 1, "int16")


def delta(raw: bytes, key: str = "audio", kind: str = "speech.audio.delta") -> dict[str, str]:
    return {"type": kind, key: base64.b64encode(raw).decode()}


def event(obj: object, nl: str = "\n", name: str | None = None) -> str:
    head = f"event: {name}{nl}" if name else ""
    data = obj if isinstance(obj, str) else json.dumps(obj)
    return f"{head}data: {data}{nl}{nl}"


def decode(pieces: list[bytes], inner: PcmDecoder | WavDecoder | None = None) -> np.ndarray:
    dec = SseAudioDecoder(inner or PcmDecoder(FMT))
    out = [dec.feed(p) for p in pieces] + [dec.flush()]
    return np.concatenate(out)


def whole(data: bytes) -> list[bytes]:
    return [data]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def random_split(data: bytes) -> list[bytes]:
    rng = random.Random(len(data))
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 97)
        out.append(data[i : i + n])
        i += n
    return out


SPLITS = [whole, bytewise, random_split, lambda d: split(d, [61])]


def pcm_stream(nl: str = "\n") -> tuple[bytes, npt.NDArray[np.int16]]:
    source = tone(1201)
    raw = source.astype("<i2").tobytes()
    text = "".join(event(delta(p), nl) for p in split(raw, [333, 77]))  # samples cut in two
    text += event({"type": "speech.audio.done", "usage": {"input_tokens": 3}}, nl)
    return text.encode(), source


@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("cut", SPLITS)
def test_any_split_decodes_the_same_samples(nl: str, cut) -> None:  # type: ignore[no-untyped-def]
    data, source = pcm_stream(nl)
    dec = SseAudioDecoder(PcmDecoder(FMT))
    got = np.concatenate([dec.feed(p) for p in cut(data)] + [dec.flush()])
    np.testing.assert_array_equal(got, source)
    assert dec.usage == {"input_tokens": 3}
    assert dec.format == FMT


@pytest.mark.parametrize("cut", SPLITS)
def test_wav_inside_events(cut) -> None:  # type: ignore[no-untyped-def]
    source = tone(700)
    body = streaming_wav(source)
    text = "".join(event(delta(p)) for p in split(body, [45, 101])) + "data: [DONE]\n\n"
    assert np.array_equal(decode(cut(text.encode()), WavDecoder()), source)


@pytest.mark.parametrize("cut", SPLITS)
def test_stream_ending_without_the_final_blank_line(cut) -> None:  # type: ignore[no-untyped-def]
    raw = tone(100).astype("<i2").tobytes()
    text = event(delta(raw[:100])) + "data: " + json.dumps(delta(raw[100:]))
    for ending in ("", "\n", "\r\n", "\r"):
        got = decode(cut((text + ending).encode()))
        np.testing.assert_array_equal(got, tone(100))


def test_events_after_done_are_ignored_even_garbage() -> None:
    raw = tone(100).astype("<i2").tobytes()
    for done in ("[DONE]", " [DONE] ", json.dumps({"type": "speech.audio.done"})):
        text = (
            event(delta(raw))
            + f"data: {done}\n\n"
            + event(delta(raw))
            + "data: not json at all\n\n"
            + event({"type": "error", "error": {"message": "late"}})
        )
        np.testing.assert_array_equal(decode([text.encode()]), tone(100))


def test_event_id_retry_comments_and_unknown_fields_are_ignored() -> None:
    raw = tone(50).astype("<i2").tobytes()
    text = (
        ": keep-alive comment\n"
        "id: 1\n"
        "retry: 1000\n"
        "event: speech.audio.delta\n"
        "foo: bar\n"
        "justafield\n"
        f"data: {json.dumps(delta(raw[:40]))}\n\n"
        ":\n\n\n"
        f"data:{json.dumps(delta(raw[40:], key='delta'))}\n\n"
    )
    np.testing.assert_array_equal(decode(bytewise(text.encode())), tone(50))


def test_multi_line_data_is_joined_with_newlines() -> None:
    raw = tone(20).astype("<i2").tobytes()
    obj = delta(raw, key="data")
    text = "data: {\n" + "".join(
        f"data: {json.dumps(k)}: {json.dumps(v)},\n" for k, v in obj.items()
    )
    text = text.rstrip(",\n") + "\ndata: }\n\n"
    np.testing.assert_array_equal(decode([text.encode()]), tone(20))
    parser = SseParser()
    assert parser.feed(b"data: a\ndata:  b\ndata\n\n") == [("", "a\n b\n")]


def test_parser_reports_event_names_and_resets_them() -> None:
    parser = SseParser()
    got = parser.feed(b"event: one\ndata: 1\n\nevent: two\n\ndata: 3\n\n")
    assert got == [("one", "1"), ("", "3")]  # an event with no data is not dispatched
    assert parser.feed(b"data: 4\r\n") == []
    assert parser.flush() == [("", "4")]
    assert parser.flush() == []


@pytest.mark.parametrize("key", ["usage", "token_usage"])
def test_usage_under_either_name(key: str) -> None:
    dec = SseAudioDecoder(PcmDecoder(FMT))
    dec.feed(event({"type": "speech.audio.done", key: {"total_tokens": 9}}).encode())
    assert dec.usage == {"total_tokens": 9}
    dec = SseAudioDecoder(PcmDecoder(FMT))
    dec.feed(event({"type": "speech.audio.done", key: "nine"}).encode())
    assert dec.usage is None


def test_events_without_audio_yield_nothing() -> None:
    dec = SseAudioDecoder(PcmDecoder(FMT))
    text = event({"type": "speech.audio.delta", "audio": ""}) + event({"type": "ping", "n": 1})
    text += event({"type": "speech.audio.delta", "audio": 5})
    out = dec.feed(text.encode())
    assert out.shape == (0, 1)
    assert dec.format == FMT


def test_format_unknown_until_a_wav_header() -> None:
    dec = SseAudioDecoder(WavDecoder())
    assert dec.format is None
    assert dec.feed(event({"type": "ping"}).encode()).shape == (0, 1)
    dec.feed(event(delta(streaming_wav(tone(10)))).encode())
    assert dec.format == FMT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (event({"type": "error", "error": {"message": "voice exploded"}}), "voice exploded"),
        (event({"error": {"detail": "model gone"}}), "model gone"),
        (event({"error": "plain"}), "plain"),
        (event({"message": "named error"}, name="error"), "named error"),
        (event({"type": "error", "message": "flat"}), "flat"),
    ],
)
def test_error_events_raise_server_error_with_the_message(text: str, message: str) -> None:
    with pytest.raises(ServerError) as info:
        decode(bytewise(text.encode()))
    assert info.value.server_message == message
    assert message in str(info.value)
    assert info.value.status_code == 200


def test_error_message_is_bounded() -> None:
    with pytest.raises(ServerError) as info:
        decode([event({"type": "error", "error": {"message": "x" * 5000}}).encode()])
    assert info.value.server_message == "x" * 500


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("data: not json\n\n", "not JSON: 'not json'"),
        ("data: [1, 2]\n\n", "not a JSON object"),
        ('data: "text"\n\n', "not a JSON object"),
        (event({"type": "speech.audio.delta", "audio": "!!!!"}), "invalid base64"),
        (event({"audio": "AAA"}), "invalid base64 audio in a data event"),
        ("data: " + "[" * 100_000 + "\n\n", "not JSON"),  # RecursionError inside json
        ("data: " + "[" * 100 + "]" * 100 + "\n\n", "not a JSON object"),
    ],
)
def test_malformed_events_are_decode_errors(text: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode([text.encode()])


@pytest.mark.parametrize("closed", [False, True])
def test_deeply_nested_arrays_are_a_decode_error_not_recursion(closed: bool) -> None:
    # 1 KB of nesting: a RecursionError inside json at the default recursion limit, a list
    # (not an object) under a raised one (hypothesis raises it): a DecodeError either way.
    text = "data: " + "[" * 1024 + ("]" * 1024 if closed else "") + "\n\n"
    with pytest.raises(DecodeError):
        decode([text.encode()])


def test_not_json_message_shows_at_most_80_characters() -> None:
    with pytest.raises(DecodeError) as info:
        decode([("data: " + "y" * 200 + "\n\n").encode()])
    assert "y" * 80 in str(info.value)
    assert "y" * 81 not in str(info.value)


def test_data_lines_without_a_blank_line_are_bounded() -> None:
    parser = SseParser(max_event_bytes=1000)
    line = b"data: " + b"z" * 99 + b"\n"  # 100 bytes of data each (with the joining newline)
    for _ in range(10):
        assert parser.feed(line) == []
    with pytest.raises(DecodeError, match="over 1000 bytes"):
        parser.feed(line)


def test_the_bound_is_exact_for_data_and_for_a_pending_line() -> None:
    parser = SseParser(max_event_bytes=10)
    assert parser.feed(b"data: 123456789\n") == []  # 9 bytes + 1 = 10: allowed
    assert parser.feed(b"\n") == [("", "123456789")]
    parser = SseParser(max_event_bytes=10)
    with pytest.raises(DecodeError):
        parser.feed(b"data: 1234567890\n")  # 11
    parser = SseParser(max_event_bytes=10)
    with pytest.raises(DecodeError):
        parser.feed(b"data: 12345678")  # a pending line of 14 bytes > 10
    parser = SseParser(max_event_bytes=20)
    assert parser.feed(b"data: 12345\n") == []  # 6 bytes of data so far
    assert parser.feed(b"data: 1234567") == []  # 6 + 13 pending = 19
    with pytest.raises(DecodeError):
        parser.feed(b"89")  # 6 + 15 = 21


def test_a_pending_line_over_the_bound_is_refused_byte_by_byte() -> None:
    parser = SseParser(max_event_bytes=64)
    with pytest.raises(DecodeError, match="over 64 bytes"):
        for _ in range(65):
            parser.feed(b"a")


def test_the_bound_resets_with_each_event() -> None:
    parser = SseParser(max_event_bytes=100)
    for i in range(50):
        assert parser.feed(b"data: " + b"q" * 90 + b"\n\n") == [("", "q" * 90)], i


def test_default_bound_and_configuration() -> None:
    assert DEFAULT_MAX_EVENT_BYTES == 16 * 1024 * 1024
    assert SseParser().max_event_bytes == DEFAULT_MAX_EVENT_BYTES
    dec = SseAudioDecoder(PcmDecoder(FMT), max_event_bytes=50)
    with pytest.raises(DecodeError):
        dec.feed(b"data: " + b"a" * 60)
    with pytest.raises(ValueError, match="positive"):
        SseParser(0)
    SseParser(1)


def test_a_long_line_fed_in_pieces_is_one_event() -> None:
    raw = tone(30000).astype("<i2").tobytes()  # 80 kB of base64 on one line
    text = event(delta(raw)).encode()
    dec = SseAudioDecoder(PcmDecoder(FMT))
    got = [dec.feed(p) for p in split(text, [1000])]
    assert sum(g.shape[0] for g in got[:-1]) == 0
    np.testing.assert_array_equal(np.concatenate([*got, dec.flush()]), tone(30000))


class _TailDecoder:
    """An inner decoder whose flush returns held frames (as a decoder with a lookahead may)."""

    format = FMT

    def feed(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        return np.frombuffer(bytes(data), "<i2").reshape(-1, 1).astype(np.int16)

    def flush(self) -> np.ndarray:
        return np.array([[7], [8]], np.int16)


def test_flush_returns_the_last_event_then_the_inner_tail() -> None:
    dec = SseAudioDecoder(_TailDecoder())
    got = dec.flush()
    np.testing.assert_array_equal(got, [[7], [8]])
    dec = SseAudioDecoder(_TailDecoder())
    dec.feed(b"data: " + json.dumps(delta(b"\x01\x00")).encode())
    np.testing.assert_array_equal(dec.flush(), [[1], [7], [8]])


def test_a_stream_that_starts_with_a_blank_line() -> None:
    parser = SseParser()
    assert parser.feed(b"\ndata: x\n\n") == [("", "x")]
    assert parser.feed(b"\n\r\n") == []


def test_a_last_line_ending_in_cr_alone_at_the_end_of_the_stream() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.feed(b"\r") == [("", "a")]
    assert parser.flush() == []
    parser = SseParser()
    parser.feed(b"data: b\r")
    assert parser.flush() == [("", "b")]


def test_bytes_that_are_not_utf8_are_replaced_not_fatal() -> None:
    parser = SseParser()
    assert parser.feed(b"event: \xff\ndata: \xfe1\n\n") == [("\ufffd", "\ufffd1")]


def test_the_bound_counts_each_event_from_zero() -> None:
    parser = SseParser(max_event_bytes=10)
    for _ in range(3):
        assert parser.feed(b"data: 123456789\n\n") == [("", "123456789")]  # exactly 10


def test_bound_messages_say_what_to_do() -> None:
    for data in (b"data: 12345678901\n", b"data: 12345678901"):
        with pytest.raises(DecodeError) as info:
            SseParser(max_event_bytes=10).feed(data)
        assert str(info.value) == (
            "a server-sent event grew over 10 bytes without ending; the stream is malformed "
            "(or raise max_event_bytes)"
        )


def test_not_an_object_message_shows_at_most_80_characters() -> None:
    with pytest.raises(DecodeError) as info:
        decode([("data: [" + "1," * 100 + "1]\n\n").encode()])
    assert str(info.value).endswith(": '[" + "1," * 39 + "1'")  # 80 characters


def test_usage_is_none_until_the_done_event() -> None:
    assert SseAudioDecoder(PcmDecoder(FMT)).usage is None


class _Inner:
    """An inner decoder that hands back the very arrays it was given to return."""

    def __init__(self, fmt: AudioFormat | None, outputs: list[np.ndarray]) -> None:
        self.format = fmt
        self.outputs = outputs

    def feed(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        return self.outputs.pop(0)

    def flush(self) -> np.ndarray:
        return np.empty((0, 1), np.float32)


def test_one_piece_is_returned_as_is_and_empty_pieces_are_left_out() -> None:
    piece = np.ones((3, 1), np.float32)
    empty = np.empty((0, 1), np.float32)
    fmt = AudioFormat(24000, 1, "float32")
    text = (event(delta(b"a")) + event(delta(b"b"))).encode()
    dec = SseAudioDecoder(_Inner(fmt, [empty, piece]))
    assert dec.feed(text) is piece  # no copy
    dec = SseAudioDecoder(_Inner(fmt, [piece, empty]))
    assert dec.feed(text) is piece
    dec = SseAudioDecoder(_Inner(fmt, [piece, piece]))
    out = dec.feed(text)
    assert out.shape == (6, 1)


def test_nothing_decoded_is_empty_in_the_inner_format() -> None:
    fmt = AudioFormat(24000, 2, "float32")
    out = SseAudioDecoder(_Inner(fmt, [])).feed(b": nothing\n\n")
    assert out.shape == (0, 2)
    assert out.dtype == np.float32
    out = SseAudioDecoder(_Inner(None, [])).feed(b": nothing\n\n")
    assert out.shape == (0, 1)
    assert out.dtype == np.int16


@pytest.mark.parametrize("cut", SPLITS)
def test_cr_lf_and_crlf_mixed_in_one_stream(cut) -> None:  # type: ignore[no-untyped-def]
    data = b"data: 1\r\rdata: 2\n\ndata: 3\r\n\r\ndata: 4\r\n\ndata: 5\n\r: c\r\rdata: 6"
    parser = SseParser()
    got = [e for piece in cut(data) for e in parser.feed(piece)] + parser.flush()
    assert got == [("", str(i)) for i in range(1, 7)]


def test_a_cr_at_the_end_of_a_piece_ends_its_line_at_once() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"") == []  # an empty piece changes nothing
    assert parser.feed(b"\n") == []  # the CRLF ended one line, not two
    assert parser.feed(b"\r") == [("", "a")]  # a CR alone is a blank line: no waiting
    assert parser.feed(b"data: b\r\r") == [("", "b")]
    assert parser.feed(b"\ndata: c\r\n\r") == [("", "c")]
    assert parser.feed(b"\ndata: d\n") == []
    assert parser.feed(b"\n") == [("", "d")]  # after an LF, an LF is a blank line
    assert parser.feed(b"data: e\r") == []
    assert parser.feed(b"x\n\n") == [("", "e")]  # "x" after the CR: a line of its own


def test_a_crlf_cut_after_the_cr_then_flush() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.flush() == [("", "a")]
    assert parser.feed(b"\ndata: b\n\n") == [("", "b")]  # flush forgot the CR


@pytest.mark.parametrize("nl", ["\n", "\r\n", "\r"])
def test_data_lines_of_one_event_stay_together_whatever_the_line_end(nl: str) -> None:
    data = f"data: a{nl}data: b{nl}{nl}data: c{nl}".encode()
    parser = SseParser()
    assert parser.feed(data) == [("", "a\nb")]
    assert parser.flush() == [("", "c")]
