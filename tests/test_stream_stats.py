"""StreamStats keeps one timing per request: ttfb never mixes two requests.

The unit tests set the times by hand, as providers do; the ``piper`` test speaks a text longer
than one Piper request (2000 characters) with the real engine, so it goes out as several
requests sharing one StreamStats.
"""

from __future__ import annotations

import importlib.util
import os

import anyio
import pytest

from ttsstream import MemorySink, RequestTiming, SpeakReport, StreamStats, speak
from ttsstream._providers.piper import Piper
from ttsstream._speak import split_for

REQUIRE_AUDIO = os.environ.get("TTSSTREAM_REQUIRE_AUDIO") == "1"


def test_ttfb_is_the_first_requests_when_first_byte_is_set_once() -> None:
    # Piper's pattern: first_byte only set while the current request has none.
    stats = StreamStats(started=0.0)
    stats.request_sent = 1.0
    if stats.first_byte is None:
        stats.first_byte = 1.5
    stats.request_sent = 600.0  # the second request, long after
    if stats.first_byte is None:
        stats.first_byte = 600.25
    assert stats.ttfb == 0.5
    assert stats.requests == [RequestTiming(1.0, 1.5), RequestTiming(600.0, 600.25)]
    assert [r.ttfb for r in stats.requests] == [0.5, 0.25]
    assert stats.request_sent == 600.0
    assert stats.first_byte == 600.25


def test_ttfb_is_the_first_requests_when_first_byte_is_set_every_time() -> None:
    # The HTTP providers' pattern: request_sent then first_byte, for each request.
    stats = StreamStats(started=0.0)
    for sent, first in ((1.0, 1.25), (5.0, 7.0), (9.0, 9.5)):
        stats.request_sent = sent
        stats.first_byte = first
    assert stats.ttfb == 0.25
    assert [r.ttfb for r in stats.requests] == [0.25, 2.0, 0.5]


def test_a_retry_replaces_the_send_time_of_its_request() -> None:
    stats = StreamStats(started=0.0)
    stats.request_sent = 1.0  # failed attempt: no first byte
    stats.request_sent = 3.0  # the retry that succeeds
    stats.first_byte = 3.5
    assert stats.requests == [RequestTiming(3.0, 3.5)]
    assert stats.ttfb == 0.5


def test_only_the_first_byte_of_a_request_counts() -> None:
    stats = StreamStats(started=0.0)
    stats.request_sent = 1.0
    stats.first_byte = 2.0
    stats.first_byte = 4.0
    assert stats.first_byte == 2.0
    assert stats.ttfb == 1.0


def test_nothing_sent_means_no_figures() -> None:
    stats = StreamStats(started=0.0)
    assert stats.ttfb is None
    assert stats.request_sent is None
    assert stats.first_byte is None
    assert stats.requests == []
    stats.request_sent = 2.0
    assert stats.ttfb is None
    assert stats.requests[0].ttfb is None


def test_first_byte_without_a_send_time_counts_from_started() -> None:
    stats = StreamStats(started=10.0)
    stats.first_byte = 10.75
    assert stats.ttfb == 0.75
    assert stats.request_sent == 10.0


def test_times_cannot_be_unset() -> None:
    stats = StreamStats()
    with pytest.raises(ValueError, match="request_sent"):
        stats.request_sent = None
    with pytest.raises(ValueError, match="first_byte"):
        stats.first_byte = None


#: Well over Piper's 2000 characters per request.
LONG = " ".join(
    f"Sentence number {i} tells of the slow river that runs past the old mill." for i in range(60)
)


@pytest.mark.piper
@pytest.mark.timeout(300)
def test_long_text_with_real_piper_reports_the_first_requests_ttfb() -> None:
    if importlib.util.find_spec("piper") is None:
        if REQUIRE_AUDIO:
            pytest.fail("TTSSTREAM_REQUIRE_AUDIO=1 but piper is not installed", pytrace=False)
        pytest.skip("the piper extra is not installed")
    piper = Piper(speed=3.0, sentence_silence=0.0)
    assert len(LONG) > 2 * piper.max_input_chars
    assert len(split_for(piper, LONG)) >= 3

    async def run() -> SpeakReport:
        async with piper:
            await piper.load()
            return await speak(LONG, piper, sink=MemorySink())

    report = anyio.run(run)
    assert report.ttfb is not None
    assert report.ttfa is not None
    # The first request's wait: positive, and shorter than the whole run (which spans all
    # requests); before the fix it was the first byte minus the LAST request's send time.
    assert 0 < report.ttfb <= report.ttfa < report.elapsed
    assert report.ttfb < report.elapsed / 3
