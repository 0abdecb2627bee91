"""Speaker with fake providers and a simulated-clock sink."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator

import anyio
import numpy as np
import pytest

import ttsstream
from ttsstream import Speaker, UtteranceState

from .fakes import ClockSink, FakeProvider, audio_for

pytestmark = pytest.mark.anyio

LIMIT = 10


async def test_say_returns_once_heard_in_order() -> None:
    provider, sink = FakeProvider(), ClockSink(speed=20)
    events: list[tuple[str, str]] = []
    async with Speaker(
        provider, sink=sink, on_event=lambda e: events.append((e.kind, e.utterance.text))
    ) as speaker:
        with anyio.fail_after(LIMIT):
            first = await speaker.say("Hello there.")
            assert first.state is UtteranceState.DONE
            # Heard to its last frame when say() returns (the output may be drained or not).
            assert sink.frames_played == len(audio_for("Hello there."))
            second = await speaker.say("Second one.")
    np.testing.assert_array_equal(
        sink.heard_audio(), np.concatenate([audio_for("Hello there."), audio_for("Second one.")])
    )
    assert events == [
        ("started", "Hello there."),
        ("finished", "Hello there."),
        ("started", "Second one."),
        ("finished", "Second one."),
    ]
    assert first.heard_chars == len(first.text)
    assert first.heard_fraction == 1.0
    assert second.ttfa is not None
    assert second.duration == pytest.approx(len("Second one.") * 0.01)


async def test_queued_utterances_play_back_to_back_without_drain_between() -> None:
    provider, sink = FakeProvider(), ClockSink(speed=20)
    texts = ["One sentence here.", "Two is next.", "And three."]
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            handles = [speaker.enqueue(t) for t in texts]
            results = [await h for h in handles]
    assert [u.state for u in results] == [UtteranceState.DONE] * 3
    assert sink.calls.count("open") == 1
    assert sink.calls.count("drain") == 1
    np.testing.assert_array_equal(sink.heard_audio(), np.concatenate([audio_for(t) for t in texts]))


async def test_text_queued_while_the_last_one_still_plays_continues_without_a_drain() -> None:
    # An LLM's next sentence often comes just after the previous one was fully written: the
    # output must stay open (no drain, no restart, no gap) while the written audio plays.
    provider, sink = FakeProvider(), ClockSink(speed=1)
    first_text, second_text = "A fairly long first sentence is here.", "Then more."
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            first = speaker.enqueue(first_text)
            while sink.buffer.shape[0] < len(audio_for(first_text)):
                await anyio.sleep(0.005)
            await anyio.sleep(0.05)  # written, not yet all heard
            assert sink.frames_played < len(audio_for(first_text))
            second = speaker.enqueue(second_text)
            results = [await first, await second]
    assert [u.state for u in results] == [UtteranceState.DONE] * 2
    assert sink.calls.count("open") == 1
    assert sink.calls.count("drain") == 1
    np.testing.assert_array_equal(
        sink.heard_audio(), np.concatenate([audio_for(first_text), audio_for(second_text)])
    )


async def test_prefetch_requests_next_before_current_finishes() -> None:
    provider, sink = FakeProvider(delay=0.001), ClockSink(speed=5)
    finished_at: dict[str, float] = {}
    texts = ["First sentence is long enough.", "Second.", "Third.", "Fourth."]

    def on_event(e: ttsstream.SpeakerEvent) -> None:
        if e.kind == "finished":
            assert e.utterance.finished_at is not None
            finished_at[e.utterance.text] = e.utterance.finished_at

    async with Speaker(provider, sink=sink, lookahead=1, on_event=on_event) as speaker:
        with anyio.fail_after(LIMIT):
            for t in texts:
                speaker.enqueue(t)
            await speaker.wait_idle()
    started = {r.text: r.started for r in provider.requests}
    assert sorted(started) == sorted(texts)  # each requested once (in any order: trio shuffles)
    for current, following in itertools.pairwise(texts):
        assert started[following] < finished_at[current]
    # bounded look-ahead: the 3rd request waited until the 1st had been fully written
    assert started["Third."] > min(r.finished or 1e18 for r in provider.requests[:1])


async def test_interrupt_cuts_current_drops_queue_and_cancels_requests() -> None:
    provider, sink = FakeProvider(delay=0.02, chunk_frames=80), ClockSink(speed=1)
    long = "This is a long sentence that takes a while to speak out loud."
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            h1 = speaker.enqueue(long)
            h2 = speaker.enqueue("Queued and never heard, because the user interrupted it first.")
            h3 = speaker.enqueue("Also dropped, and this request is still streaming when it is.")
            while sink.frames_played < 1600:  # 0.2 s heard
                await anyio.sleep(0.01)
            report = await speaker.stop()
            u1, u2, u3 = await h1, await h2, await h3
            after = await speaker.say("Still works.")
    assert u1.state is UtteranceState.INTERRUPTED
    # Cut after the 0.2 s waited for, long before its end (fetching runs at half real time).
    assert 0.2 <= u1.heard_seconds < len(audio_for(long)) / 8000
    assert 0 < u1.heard_chars < len(long)
    assert long.startswith(u1.heard_text)
    assert u2.state is UtteranceState.CANCELLED
    assert u3.state is UtteranceState.CANCELLED
    assert report.heard == []
    assert report.partial is u1
    assert report.dropped == [u2, u3]
    assert report.text == u1.heard_text
    assert "abort" in sink.calls
    assert all(r.closed_early for r in provider.requests if r.text != "Still works.")
    assert after.state is UtteranceState.DONE
    # The ledger's heard_seconds is exactly what the sink played of it: a prefix of its audio,
    # then the next utterance whole.
    heard_frames = round(u1.heard_seconds * 8000)
    np.testing.assert_array_equal(
        sink.heard_audio(),
        np.concatenate([audio_for(long)[:heard_frames], audio_for("Still works.")]),
    )


async def test_interrupt_then_enqueue_keeps_the_new_text() -> None:
    provider, sink = FakeProvider(delay=0.01), ClockSink(speed=1)
    answer = "An answer that will be interrupted by the user. " * 6  # 2.9 s of audio
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            old = speaker.enqueue(answer)
            while sink.frames_played == 0:
                await anyio.sleep(0.005)
            speaker.interrupt()
            fresh = await speaker.say("New answer.")
            cut = await old
    assert cut.state is UtteranceState.INTERRUPTED
    assert fresh.state is UtteranceState.DONE
    assert "abort" in sink.calls
    # Silence came at once (what was heard of the answer is a short prefix), then the new text.
    heard_frames = round(cut.heard_seconds * 8000)
    assert 0 < heard_frames < len(audio_for(answer)) // 2
    np.testing.assert_array_equal(
        sink.heard_audio(),
        np.concatenate([audio_for(answer)[:heard_frames], audio_for("New answer.")]),
    )


async def test_cancel_a_queued_handle() -> None:
    provider, sink = FakeProvider(), ClockSink(speed=20)
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            h1 = speaker.enqueue("Keep me.")
            h2 = speaker.enqueue("Drop me.")
            h2.cancel()
            assert (await h2).state is UtteranceState.CANCELLED
            assert (await h1).state is UtteranceState.DONE
    np.testing.assert_array_equal(sink.heard_audio(), audio_for("Keep me."))


async def test_provider_failure_plays_what_arrived_and_raises_from_say() -> None:
    provider = FakeProvider(chunk_frames=80, fail={"Broken one.": 3, "Dead.": 0})
    sink = ClockSink(speed=20)
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            with pytest.raises(ttsstream.TTSStreamError, match="fake failure"):
                await speaker.say("Broken one.")
            with pytest.raises(ttsstream.TTSStreamError, match="fake failure"):
                await speaker.say("Dead.")
            ok = await speaker.say("Fine.")
    assert ok.state is UtteranceState.DONE
    np.testing.assert_array_equal(
        sink.heard_audio(), np.concatenate([audio_for("Broken one.")[:240], audio_for("Fine.")])
    )
    states = [u.state for u in speaker.history]
    assert states == [UtteranceState.FAILED, UtteranceState.FAILED, UtteranceState.DONE]


async def test_pause_and_resume_lose_nothing() -> None:
    provider, sink = FakeProvider(), ClockSink(speed=4)
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            h = speaker.enqueue("Pause in the middle of this.")
            await anyio.sleep(0.02)
            speaker.pause()
            assert speaker.paused
            played = sink.frames_played
            await anyio.sleep(0.05)
            assert sink.frames_played == played
            speaker.resume()
            await h
    np.testing.assert_array_equal(sink.heard_audio(), audio_for("Pause in the middle of this."))


async def test_leaving_the_block_waits_for_queued_speech() -> None:
    provider, sink = FakeProvider(), ClockSink(speed=20)
    async with Speaker(provider, sink=sink) as speaker:
        speaker.enqueue("Spoken before exit.")
    assert speaker.history[0].state is UtteranceState.DONE
    np.testing.assert_array_equal(sink.heard_audio(), audio_for("Spoken before exit."))


async def test_long_text_is_split_under_the_limit() -> None:
    provider, sink = FakeProvider(max_input_chars=40), ClockSink(speed=50)
    text = "Sentence number one is here. Sentence number two is here. And the third one."
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            u = await speaker.say(text)
    assert all(len(r.text) <= 40 for r in provider.requests)
    assert len(provider.requests) >= 2
    assert " ".join(r.text for r in provider.requests).split() == text.split()
    assert u.state is UtteranceState.DONE


def test_speaker_outside_context_is_an_error() -> None:
    speaker = Speaker(FakeProvider(), sink=ClockSink())
    with pytest.raises(RuntimeError, match="async with"):
        speaker.enqueue("x")


async def test_an_utterance_without_audio_at_the_end_still_lets_the_speaker_go_idle() -> None:
    provider, sink = FakeProvider(fail={"Dead.": 0}), ClockSink(speed=20)
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            first = speaker.enqueue("Hello there.")
            dead = speaker.enqueue("Dead.")
            empty = speaker.enqueue("   ")
            assert (await first).state is UtteranceState.DONE
            with pytest.raises(ttsstream.TTSStreamError):
                await dead
            assert (await empty).state is UtteranceState.DONE
            await speaker.wait_idle()
    assert sink.calls.count("drain") == 1  # the output was drained once the queue ran empty


async def test_a_waiting_wait_idle_is_woken_even_if_more_was_queued_meanwhile() -> None:
    provider, sink = FakeProvider(), ClockSink(speed=20)
    woken = anyio.Event()
    async with Speaker(provider, sink=sink) as speaker:
        speaker.enqueue("First one.")

        async def waiter() -> None:
            await speaker.wait_idle()
            woken.set()

        with anyio.fail_after(LIMIT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(waiter)
                await anyio.sleep(0.01)
                speaker.enqueue("Second one.")
                await woken.wait()
    assert [u.state for u in speaker.history] == [UtteranceState.DONE] * 2


async def test_cancelling_the_next_utterance_before_it_is_heard_drops_only_it() -> None:
    provider, sink = FakeProvider(first_delay=0.2), ClockSink(speed=20)
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            a = speaker.enqueue("First, still being fetched.")
            b = speaker.enqueue("Second, still spoken.")
            await anyio.sleep(0.05)
            a.cancel()
            assert (await a).state is UtteranceState.CANCELLED
            assert (await b).state is UtteranceState.DONE
    np.testing.assert_array_equal(sink.heard_audio(), audio_for("Second, still spoken."))


async def test_cancelling_a_queued_utterance_leaves_the_one_playing_alone() -> None:
    provider, sink = FakeProvider(delay=0.01), ClockSink(speed=1)
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            a = speaker.enqueue("A sentence that is playing now.")
            b = speaker.enqueue("Queued behind it.")
            while sink.frames_played == 0:
                await anyio.sleep(0.005)
            b.cancel()
            assert (await a).state is UtteranceState.DONE
            assert (await b).state is UtteranceState.CANCELLED
    np.testing.assert_array_equal(sink.heard_audio(), audio_for("A sentence that is playing now."))


async def test_a_sink_that_is_not_real_time_is_never_waited_for() -> None:
    class InstantSink(ttsstream.MemorySink):
        @property
        def frames_played(self) -> int:
            return 0  # reports no progress, like a custom sink that does not track it

    sink = InstantSink()
    async with Speaker(FakeProvider(), sink=sink) as speaker:
        with anyio.fail_after(1):  # 3 s of audio: must not take 3 s
            await speaker.say("x" * 300)


async def test_a_stall_speaks_the_complete_sentence_the_markdown_cleaner_holds() -> None:
    async def deltas() -> AsyncIterator[str]:
        yield "Let me check"
        yield " that for **you**."
        await anyio.sleep(1.0)  # the LLM pauses (a tool call) after a complete sentence
        yield " Found it."

    started: list[tuple[str, float]] = []
    t0 = time.monotonic()
    async with Speaker(
        FakeProvider(),
        sink=ClockSink(speed=20),
        stall_timeout=0.2,
        on_event=lambda e: (
            started.append((e.utterance.text, time.monotonic() - t0))
            if e.kind == "started"
            else None
        ),
    ) as speaker:
        with anyio.fail_after(LIMIT):
            await speaker.say_stream(deltas())
    assert [text for text, _ in started] == ["Let me check that for you.", "Found it."]
    assert started[0][1] < 0.8  # during the pause, not after it


async def test_an_error_in_the_block_leaves_as_itself_not_in_an_exception_group() -> None:
    provider = FakeProvider(fail={"Dead.": 0})
    with anyio.fail_after(LIMIT), pytest.raises(ttsstream.TTSStreamError) as info:
        async with Speaker(provider, sink=ClockSink(speed=20)) as speaker:
            await speaker.say("Dead.")
    assert type(info.value) is ttsstream.TTSStreamError
    assert str(info.value) == "fake failure in 'Dead.'"


async def test_a_failing_sink_fails_the_utterance_with_its_error_and_the_speaker_goes_on() -> None:
    class FlakySink(ClockSink):
        writes = 0

        async def write(self, samples: np.ndarray) -> None:
            self.writes += 1
            if self.writes == 2:
                raise ttsstream.AudioDeviceError("the device went away")
            await super().write(samples)

    sink = FlakySink(speed=20)
    with anyio.fail_after(LIMIT), pytest.raises(ttsstream.AudioDeviceError, match="went away"):
        async with Speaker(FakeProvider(), sink=sink) as speaker:
            with pytest.raises(ttsstream.AudioDeviceError, match="went away"):
                await speaker.say("Lost on the way.")
            after = await speaker.say("Still works.")
            raise ttsstream.AudioDeviceError("the device went away")  # leaves as itself
    assert after.state is UtteranceState.DONE
    assert [u.state for u in speaker.history] == [UtteranceState.FAILED, UtteranceState.DONE]
    assert speaker.history[0].error is not None
    assert str(speaker.history[0].error) == "the device went away"
    assert sink.calls[:3] == ["open", "abort", "open"]  # aborted, then opened again
    np.testing.assert_array_equal(
        sink.heard_audio()[-len(audio_for("Still works.")) :], audio_for("Still works.")
    )


async def test_an_error_from_the_deltas_leaves_say_stream_as_itself() -> None:
    async def deltas() -> AsyncIterator[str]:
        yield "First sentence is spoken. "
        while not speaker.history:  # queued
            await anyio.sleep(0.005)
        raise ConnectionError("the LLM went away")

    sink = ClockSink(speed=20)
    async with Speaker(FakeProvider(), sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            with pytest.raises(ConnectionError, match="LLM went away"):
                await speaker.say_stream(deltas())
            await speaker.wait_idle()
    # What was queued before the error is still spoken.
    assert [u.state for u in speaker.history] == [UtteranceState.DONE]
    np.testing.assert_array_equal(sink.heard_audio(), audio_for("First sentence is spoken."))


async def test_leaving_the_block_on_an_error_silences_and_settles_everything() -> None:
    sink = ClockSink(speed=1)
    with anyio.fail_after(LIMIT), pytest.raises(ValueError, match="app bug"):
        async with Speaker(FakeProvider(delay=0.01), sink=sink) as speaker:
            speaker.enqueue("Playing when the block fails, and long enough to be cut.")
            speaker.enqueue("Queued behind it.")
            while sink.frames_played == 0:
                await anyio.sleep(0.005)
            raise ValueError("app bug")
    states = [u.state for u in speaker.history]
    assert states == [UtteranceState.INTERRUPTED, UtteranceState.CANCELLED]
    assert sink.calls == ["open", "abort"]  # silenced on the way out, never drained


async def test_text_that_is_not_a_str_or_has_a_lone_surrogate_fails_at_the_call() -> None:
    provider = FakeProvider()
    async with Speaker(provider, sink=ClockSink(speed=20)) as speaker:
        with anyio.fail_after(LIMIT):
            with pytest.raises(TypeError, match=r"^text must be a str, not bytes: decode it"):
                speaker.enqueue(b"Hello")  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"^text must be a str, not int$"):
                await speaker.say(42)  # type: ignore[arg-type]
            with pytest.raises(ttsstream.ConfigurationError, match=r"lone surrogate \(U\+D800\)"):
                await speaker.say("\ud800")
            with pytest.raises(TypeError, match=r"async iterable of str .*not str; use say\(\)"):
                await speaker.say_stream("Hello there.")  # type: ignore[arg-type]

            async def deltas() -> AsyncIterator[object]:
                yield "Fine so far"
                yield b" but bytes."

            with pytest.raises(
                TypeError, match=r"^a say_stream\(\) delta must be a str, not bytes"
            ):
                await speaker.say_stream(deltas())  # type: ignore[arg-type]

            async def broken() -> AsyncIterator[str]:
                yield "Broken \udcff escape."

            with pytest.raises(ttsstream.ConfigurationError, match=r"\(U\+DCFF\) at index 7"):
                await speaker.say_stream(broken())
    assert speaker.history == []
    assert provider.requests == []


async def test_each_utterance_carries_the_gaps_heard_while_it_played() -> None:
    class GappySink(ttsstream.MemorySink):
        """A gap of 5 ms counted at every write (as if each came late)."""

        def __init__(self) -> None:
            super().__init__()
            self.gaps = 0
            self.silence = 0.0

        async def write(self, samples: np.ndarray) -> None:  # type: ignore[override]
            self.gaps += 1
            self.silence += 0.005
            await super().write(samples)

        @property
        def underruns(self) -> int:
            return self.gaps

        @property
        def gap_seconds(self) -> float:
            return self.silence

    sink = GappySink()
    provider = FakeProvider(chunk_frames=400)
    async with Speaker(provider, sink=sink) as speaker:
        with anyio.fail_after(LIMIT):
            first = await speaker.say("x" * 20)  # 4 chunks: the gaps of the 3 after its start
            second = await speaker.say("y" * 10)  # 2 chunks: 1 gap after its start
    assert (first.underruns, second.underruns) == (3, 1)
    assert first.gap_seconds == pytest.approx(0.015)
    assert second.gap_seconds == pytest.approx(0.005)
