"""Play audio on a sound device through PortAudio (python-sounddevice), without gaps or cut-offs.

:class:`DeviceSink` is the I/O shell around a :class:`~ttsstream._play.engine.PlaybackEngine`:
it finds the device (:mod:`~ttsstream._play.devices`), opens the PortAudio stream, pushes the
producer's samples into the engine's ring (waiting while it is full), and waits on the stream
clock. PortAudio's callback only hands each block to the engine, which fills it (real frames,
or silence, counted as a gap when the utterance has not ended). The callback never blocks, never
calls into the event loop and never lets an exception escape (PortAudio would abort the stream
and only print it); failures are stored and raised on the event loop side.

``drain()`` returns when the device has *played* the last sample: the engine records the DAC
time of the end of the last real frame, silence keeps flowing, and ``drain()`` waits until the
stream clock passes that time. Stopping right after the last write would lose the audio still
buffered in the device (PortAudio's ALSA backend drops it on stop).

Blocking PortAudio calls (open, start, stop, close) run in daemon threads with a deadline: a
sound server that died or hung must not hold the caller or its cleanup hostage.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from .._errors import AudioDeviceError, ResamplerMissingError
from .._format import AudioFormat
from .devices import (
    DeviceInfo,
    choose_format,
    find_device,
    list_devices,
    load_sounddevice,
    output_devices,
)
from .policy import VOICES, Hold, StartPolicy, VoiceStats
from .sink import Sink

if TYPE_CHECKING:
    # numpy, the engine and the converters are imported by prepare()'s worker thread, with
    # PortAudio, while the request is in flight: not with ttsstream, not on the event loop.
    from .convert import Converter
    from .engine import PlaybackEngine
    from .sink import Samples

__all__ = ["DeviceInfo", "DeviceSink", "list_devices"]

logger = logging.getLogger("ttsstream")

_T = TypeVar("_T")

#: Seconds without a callback, while someone waits on the device, before it counts as dead.
_STALL_TIMEOUT = 1.5
_ACK_TIMEOUT = 1.0  # seconds to wait for the callback to act on an abort
_OPEN_TIMEOUT = 5.0  # seconds a device may take to open and start (slow USB devices, busy hosts)
_CLOSE_TIMEOUT = 0.3  # seconds a stream may take to stop and close before it is abandoned
#: The longest the event loop sleeps between looks at a running device (waiting for room in
#: the ring, or for the end of playback): the device watchdog is checked at least this often.
_LONGEST_NAP = 0.25
#: With the adaptive start, the ring holds at least this many seconds: the most the policy may
#: wait for before starting (a long text from a slow server). Allocated lazily by the OS, so
#: the memory is used only when it fills.
_HOLD_LIMIT = 20.0


class DeviceSink(Sink):
    """Play audio on a sound device, from the first sample to the last.

    ``device`` is an index, a (case-insensitive) part of a device name as listed by
    :func:`list_devices`, or ``None`` for the default output. ``latency`` is PortAudio's
    suggested output latency in seconds: it is the floor under time-to-first-audio, and too low a
    value stutters. ``buffer`` is how many seconds the ring between the event loop and the audio
    thread holds (``write()`` waits when it is full). Playback starts once ``prebuffer`` seconds
    are queued (or the utterance is complete), and after an underrun once ``rebuffer`` seconds are.
    ``samplerate`` and ``channels`` force the device-side format; by default the stream's own
    format is used when the device takes it. Anything else is converted (channels mixed, rate
    resampled with the ``ttsstream[resample]`` extra). ``fade`` is the fade-out on abort.

    ``adaptive_start`` (on by default) lets a slow server play without gaps: told the length of
    the text (:meth:`expect`, which :func:`~ttsstream.speak` and :class:`~ttsstream.Speaker`
    call), the sink measures how fast audio arrives and, when it arrives slower than real time,
    waits before starting until the rest will arrive before it is needed (about
    ``speech left x (1 - rate)`` seconds buffered); after an underrun it rebuffers by the same
    rule. A server faster than real time starts at the plain ``prebuffer``, as does any
    utterance whose text length was not given. While it waits, the buffer may hold up to 20 s
    (or ``buffer``, if larger); once playing, ``write()`` keeps ``buffer`` seconds ahead as
    usual. :attr:`start_delay` and :attr:`start_reason` say what it did. ``False`` gives the
    fixed behaviour: start at ``prebuffer``, rebuffer ``rebuffer``.

    The device stays open across utterances: ``open()`` again after ``drain()`` or ``abort()``,
    even with another format, reuses it. Always ``aclose()`` (or use ``async with``). One sink
    may serve several tasks: an ``open()`` while another task's utterance is open waits until
    that one is drained or aborted, so utterances play one after another, whole.

    ``backend`` is the seam for tests: an object with the parts of the ``sounddevice`` module
    used here (``query_devices()``, ``query_hostapis()``, ``default.device``,
    ``check_output_settings()``, ``PortAudioError`` and ``RawOutputStream(...)``, whose stream
    has ``start()``, ``abort()``, ``close()``, ``active``, ``time`` and ``latency``, and calls
    ``callback(outdata, frames, time_info, status)`` for every block). ``None`` (the default)
    imports sounddevice. See the testing guide for a fake stream that a test drives block by
    block.

    If the device is lost (unplugged, sound server killed or hung), the next ``write()``,
    ``drain()`` or ``abort()`` raises :class:`~ttsstream.AudioDeviceError` within about a
    second and a half, and no PortAudio call is waited on for more than a second: a stream that
    does not close in time is abandoned.
    """

    realtime = True

    def __init__(
        self,
        device: int | str | None = None,
        *,
        latency: float = 0.05,
        buffer: float = 2.0,
        prebuffer: float = 0.03,
        rebuffer: float = 0.1,
        samplerate: int | None = None,
        channels: int | None = None,
        fade: float = 0.005,
        backend: Any = None,
        adaptive_start: bool = True,
    ) -> None:
        if not 0 < latency <= 2:
            raise ValueError(f"latency must be in (0, 2] seconds, got {latency!r}")
        if buffer <= 0 or prebuffer < 0 or rebuffer < 0 or fade < 0:
            raise ValueError("buffer must be positive; prebuffer, rebuffer and fade >= 0")
        self._device_request = device
        self._latency_request = latency
        self._buffer_seconds = buffer
        self._prebuffer_seconds = prebuffer
        self._rebuffer_seconds = rebuffer
        self._force_rate = samplerate
        self._force_channels = channels
        self._fade_seconds = fade
        self._sd: Any = backend
        self.device: DeviceInfo | None = None
        """The resolved output device (after :meth:`prepare`)."""

        self._stream: Any = None
        self._engine: PlaybackEngine | None = None
        self._stream_format: AudioFormat | None = None
        self._stream_latency = latency
        self._lost: str | None = None  # why the open stream is unusable, once it is
        self._past = _Counts()  # counts of the engines of streams already closed
        self._format: AudioFormat | None = None
        self._converter: Converter | None = None
        self._state: Literal["closed", "open", "drained", "aborted"] = "closed"
        self._utt_frames_in = 0
        self._final_played = 0
        self._paused = False
        self._warm_format: AudioFormat | None = None
        self._owner: object = None  # the task whose utterance is open
        self._released: anyio.Event | None = None
        self._stream_lock: anyio.Lock | None = None
        #: Whether the adaptive start policy is on (see the class docs).
        self.adaptive_start = adaptive_start
        self._voices: VoiceStats = VOICES
        self._policy: StartPolicy | None = None
        self._expected: list[tuple[int, str, float]] = []  # expect() before open(): text, clock
        self._clock: Callable[[], float] = time.monotonic  # a seam: tests pass a fake clock
        self._hold: Hold | None = None
        self._first_write: float | None = None  # stream time of the utterance's first write
        self._start_delay: float | None = None
        self._start_reason = ""
        #: The stream opened ahead by prepare(), not started yet: it starts when its first
        #: device buffer of audio is queued, so the first sound is not queued behind the
        #: silence a running stream would have buffered meanwhile (see _start_if_ready).
        self._unstarted: Any = None
        #: Set by abort(): wakes a writer or drain() sleeping until the ring has room or the
        #: audio has played (see _nap).
        self._wake: anyio.Event | None = None
        #: Whether the callback ran during the latest sleep: the device keeps its own pace, so
        #: sleeps may last until the predicted moment instead of half a block (see _nap).
        self._free_running = False
        self._longest_nap = _LONGEST_NAP

    # -- public state ----------------------------------------------------------------------

    @property
    def underruns(self) -> int:
        """Gaps heard in the sound since creation: the same as :attr:`gaps`."""
        return self.gaps

    @property
    def gaps(self) -> int:
        """Gaps a listener heard since creation: the ring ran dry mid-utterance (see
        :attr:`buffer_underruns`), or while audio played PortAudio reported an output
        underflow or the device's clock jumped because the callback came late."""
        return self._past.gaps + (self._engine.gaps if self._engine else 0)

    @property
    def gap_seconds(self) -> float:
        """Seconds of silence those gaps inserted into the sound (since creation).

        Counted from the ring's dry spells and the device clock's jumps; an underflow flag
        without a clock jump counts as a gap but adds no seconds here.
        """
        return self._past.gap_seconds + (self._engine.gap_seconds if self._engine else 0.0)

    @property
    def buffer_underruns(self) -> int:
        """Times the ring ran dry mid-utterance and silence was played (since creation)."""
        engine = self._engine
        return self._past.buffer_underruns + (engine.buffer_underruns if engine else 0)

    @property
    def device_underflows(self) -> int:
        """Times PortAudio reported an output underflow (the callback came too late)."""
        engine = self._engine
        return self._past.device_underflows + (engine.device_underflows if engine else 0)

    @property
    def callback_errors(self) -> int:
        """Exceptions caught inside the audio callback."""
        engine = self._engine
        return self._past.callback_errors + (engine.callback_errors if engine else 0)

    def set_paused(self, paused: bool) -> None:
        """Pause (fade out within one block, then silence) or resume (fade back in).

        Nothing buffered is lost, and a pause is not counted as an underrun.
        """
        self._paused = paused
        if self._engine is not None:
            self._engine.paused = paused

    @property
    def paused(self) -> bool:
        """Whether playback is paused (see :meth:`set_paused`)."""
        return self._paused

    @property
    def latency(self) -> float:
        """The output latency PortAudio reports for the open stream, in seconds."""
        return float(self._stream_latency)

    @property
    def start_delay(self) -> float | None:
        """Seconds the latest utterance waited before playing: from its first :meth:`write` to
        the audio callback that began handing its samples to the device (the device's own
        output latency comes on top). ``None`` until it started."""
        self._note_start()
        return self._start_delay

    @property
    def start_reason(self) -> str:
        """Why the latest utterance started when it did, in words (``""`` until it started)."""
        self._note_start()
        return self._start_reason

    def expect(self, *, chars: int, key: str, requested_at: float | None = None) -> None:
        """Hint for the adaptive start: a text of ``chars`` characters in voice ``key`` (any
        string naming the provider and voice) was requested at ``requested_at``
        (``time.monotonic()``; ``None``: just now); its audio is written next.

        Call it before writing the text's audio (before or after :meth:`open`); several calls
        in one utterance add up (e.g. a :class:`~ttsstream.Speaker` session). Without it the
        sink starts at the plain prebuffer.
        """
        clock = self._clock()
        when = clock if requested_at is None else min(clock, requested_at)
        policy = self._policy
        if policy is not None and self._state == "open":
            policy.expect(chars=chars, key=key, now=self._now() - (clock - when))
        else:
            self._expected.append((chars, key, when))

    @property
    def stream_format(self) -> AudioFormat | None:
        """The format the device stream was opened with (``None`` before :meth:`open`)."""
        return self._stream_format

    @property
    def block_frames(self) -> int:
        """Frames PortAudio asked for in the latest callback (0 before the first one)."""
        return self._engine.block_frames if self._engine else 0

    @property
    def frames_sent(self) -> int:
        """Frames of the current utterance handed to the device so far.

        Runs ahead of :attr:`frames_played` by the device's latency.
        """
        engine = self._engine
        if engine is None:
            return self._final_played
        return self._to_utterance_frames(engine.utterance_sent())

    @property
    def frames_played(self) -> int:
        """Frames of the current utterance heard so far, estimated from the device's DAC time."""
        stream, engine = self._stream, self._engine
        if stream is None or engine is None or self._format is None or self._lost:
            return self._final_played
        try:
            now = float(stream.time)
        except Exception:
            return self._final_played
        self._final_played = self._to_utterance_frames(engine.utterance_heard(now))
        return self._final_played

    def _to_utterance_frames(self, device_frames: int) -> int:
        fmt, stream_fmt = self._format, self._stream_format
        if fmt is not None and stream_fmt is not None and fmt.sample_rate != stream_fmt.sample_rate:
            device_frames = round(device_frames * fmt.sample_rate / stream_fmt.sample_rate)
        return min(device_frames, self._utt_frames_in)

    # -- life cycle ------------------------------------------------------------------------

    async def prepare(self, format: AudioFormat | None = None) -> None:
        """Load PortAudio and find the device (in a worker thread). Called by :meth:`open`.

        With ``format``, also open the stream for it now, so that the first :meth:`open` in
        that format finds the device ready. That stream starts once its first device buffer of
        audio is queued (or its utterance is drained): a stream running meanwhile would queue
        the device's latency of silence ahead of the first sound.
        """
        if self.device is None:
            self.device = await anyio.to_thread.run_sync(self._resolve)
        if format is not None and self._stream is None:
            async with self._lock():
                await self._open_ahead(format)

    async def _open_ahead(self, format: AudioFormat) -> None:
        if self._stream is not None:  # another task opened it while this one waited
            return
        stream_format = await self._choose_format(format)
        from .convert import Converter

        Converter(format, stream_format)  # raises ResamplerMissingError now, if it will
        await self._open_stream(stream_format, start=False)
        self._warm_format = format

    def _resolve(self) -> DeviceInfo:
        """Load PortAudio and what playing needs, and find the device (in a worker thread)."""
        if self._sd is None:
            self._sd = load_sounddevice()
        from . import convert, engine  # noqa: F401 - numpy and the engine, off the event loop

        return find_device(output_devices(self._sd), self._device_request)

    def _lock(self) -> anyio.Lock:
        if self._stream_lock is None:
            self._stream_lock = anyio.Lock()
        return self._stream_lock

    async def _take_turn(self) -> None:
        """Wait while another task's utterance is open on this sink, then own the next one."""
        me = anyio.get_current_task().id
        while self._owner is not None and self._owner != me:
            if self._released is None:
                self._released = anyio.Event()
            await self._released.wait()
        self._owner = me

    def _release(self) -> None:
        self._owner = None
        released, self._released = self._released, None
        if released is not None:
            released.set()

    async def open(self, format: AudioFormat) -> None:
        """Get ready to play ``format``; opens and starts the device stream the first time.

        Waits while another task's utterance is open on this sink (until it is drained or
        aborted).
        """
        await self.prepare()
        await self._take_turn()
        try:
            await self._open_utterance(format)
        except BaseException:
            self._release()
            raise

    async def _open_utterance(self, format: AudioFormat) -> None:
        from .convert import Converter

        converter: Converter | None = None
        warm, self._warm_format = self._warm_format, None
        # A stream opened ahead for a format that did not come is reopened for this one.
        reusable = warm is None or warm == format
        engine = self._engine
        if reusable and self._usable() and engine is not None and self._stream_format:
            if engine.busy and self._state == "open":
                await self._finish()  # the previous utterance was neither drained nor aborted
            try:
                converter = Converter(format, self._stream_format)
            except ResamplerMissingError:
                converter = None  # reopen at the new rate instead, if the device takes it
        if converter is None:
            async with self._lock():
                await self._close_stream()
                stream_format = await self._choose_format(format)
                converter = Converter(format, stream_format)  # may raise ResamplerMissingError
                await self._open_stream(stream_format)
        engine = self._engine
        assert engine is not None
        self._format = format
        self._converter = None if converter.identity else converter
        engine.begin_utterance()
        self._wake = None  # an event of an earlier utterance may belong to another event loop
        self._utt_frames_in = 0
        self._final_played = 0
        self._begin_policy(engine)
        self._state = "open"

    async def write(self, samples: Samples) -> None:
        """Queue ``samples`` for playback; waits while the ring is full.

        Samples written after :meth:`abort` (until the next :meth:`open`) are dropped, so a
        producer racing an interruption needs no special care.
        """
        fmt = self._format
        if fmt is None or self._state == "closed":
            raise RuntimeError("write() before open()")
        if self._state == "drained":
            raise RuntimeError("write() after drain(): open() the sink for the next utterance")
        if samples.ndim != 2 or samples.shape[1] != fmt.channels or samples.dtype != fmt.dtype:
            raise ValueError(
                f"expected ({fmt.channels}-channel, {fmt.dtype}) samples of shape "
                f"(frames, {fmt.channels}), got {samples.dtype} {samples.shape}"
            )
        if self._state != "open":
            return
        now = self._now()  # the audio arrived now
        self._check()
        self._utt_frames_in += len(samples)
        data = samples if self._converter is None else self._converter.process(samples)
        policy, engine = self._policy, self._engine
        assert policy is not None
        assert engine is not None
        if self._first_write is None:
            self._first_write = now
        policy.arrived(len(samples) / fmt.sample_rate, now)
        self._decide(engine, now)
        if self._unstarted is not None and len(data) > self._room(engine) - engine.ring.readable:
            await self._start()  # the ring would fill before the stream consumed anything
        await self._push(data)
        await self._start_if_ready()

    async def _push(self, data: Samples) -> None:
        engine = self._engine
        assert engine is not None
        generation = engine.abort_generation
        ring = engine.ring
        done = 0
        waited_since: float | None = None
        try:
            while True:
                room = self._room(engine) - ring.readable
                if room > 0:
                    done += ring.write_some(data[done : done + room])
                if done >= len(data):
                    return
                self._check()
                if self._state != "open" or engine.abort_generation != generation:
                    return  # aborted: the rest is dropped
                if waited_since is None:
                    waited_since = self._clock()
                # While the device plays, the ring empties at its rate: sleep until the rest
                # fits, but never past half of what is queued (no risk of running dry).
                seconds = 0.0
                if engine.playing:
                    queued = ring.readable / engine.rate
                    # The room is used up (or over-full, after the adaptive start's hold).
                    short = len(data) - done - (self._room(engine) - ring.readable)
                    needed = short / engine.rate
                    seconds = min(needed, queued / 2)
                await self._nap(engine, seconds, generation)
        finally:
            if waited_since is not None and self._policy is not None:
                self._policy.blocked(self._clock() - waited_since)

    def _room(self, engine: PlaybackEngine) -> int:
        """Frames the ring may hold now: ``buffer`` seconds, or while the adaptive start
        waits, as much as it waits for (up to the ring's capacity)."""
        capacity = engine.ring.capacity
        frames = min(capacity, max(1, math.ceil(self._buffer_seconds * engine.rate)))
        if frames >= capacity or engine.playing:
            return frames
        _, before, after, _ = engine.hold
        return min(capacity, max(frames, before + 1, after + 1))

    # -- the adaptive start (event loop side) ----------------------------------------------

    def _now(self) -> float:
        """The policy's clock: the stream's time (the engine's clock), else the sink's."""
        stream = self._stream
        if stream is not None:
            try:
                return float(stream.time)
            except Exception:
                pass
        return self._clock()

    def _begin_policy(self, engine: PlaybackEngine) -> None:
        rate = engine.rate
        policy = self._policy
        if policy is None:
            policy = self._policy = StartPolicy(
                prebuffer=self._prebuffer_seconds,
                rebuffer=self._rebuffer_seconds,
                voices=self._voices,
                enabled=self.adaptive_start,
            )
        policy.enabled = self.adaptive_start
        policy.limit = (engine.ring.capacity - 1) / rate
        policy.begin()
        self._hold = None
        self._first_write = None
        self._start_delay, self._start_reason = None, ""
        now, clock = self._now(), self._clock()
        for chars, key, when in self._expected:
            # Requested before the stream existed: that moment on the stream's clock.
            policy.expect(chars=chars, key=key, now=now - (clock - when))
        self._expected.clear()

    def _decide(self, engine: PlaybackEngine, now: float) -> None:
        """Ask the policy for the start threshold and hand it to the engine (one tuple)."""
        policy = self._policy
        assert policy is not None
        rate = engine.rate
        hold = policy.decide(now=now, played=engine.utterance_sent() / rate, restart=engine.started)
        self._hold = hold
        cap = engine.ring.capacity - 1

        def frames(seconds: float) -> int:
            return cap if seconds * rate >= cap else max(0, round(seconds * rate))

        before = frames(hold.seconds)
        after = before if hold.until == -math.inf else frames(hold.then)
        base = frames(self._rebuffer_seconds if engine.started else self._prebuffer_seconds)
        if max(before, after) <= base:
            # No waiting beyond the fixed prebuffer/rebuffer: exactly the fixed behaviour.
            engine.hold = (-math.inf, 0, 0, hold)
        else:
            engine.hold = (hold.until, before, after, hold)
        self._note_start()

    def _note_start(self) -> None:
        """Record the start delay and its reason once the engine has started the utterance."""
        engine = self._engine
        if self._start_delay is not None or engine is None or not engine.started:
            return
        first = self._first_write
        if first is None:
            return
        start = engine.start_time
        self._start_delay = max(0.0, start - first)
        hold = engine.start_hold[3]
        reason = hold.at(start)[1] if isinstance(hold, Hold) else "started at the prebuffer"
        if engine.start_ended:
            reason = f"all of its audio had arrived, so it started at once (the policy: {reason})"
        self._start_reason = reason

    async def drain(self) -> None:
        """Return once the device has played the last sample written (then keep it open)."""
        try:
            await self._finish()
        finally:
            self._release()

    async def _finish(self) -> None:
        engine = self._engine
        if self._stream is None or engine is None or self._state != "open":
            return
        try:
            if self._converter is not None:
                tail, self._converter = self._converter.flush(), None
                if len(tail):
                    await self._push(tail)
            engine.end_utterance()
            if self._unstarted is not None:
                await self._start()  # a short utterance: all of it is queued
            from .engine import DRAIN_MARGIN

            generation = engine.abort_generation
            while not engine.all_sent:
                self._check()
                await self._nap(engine, engine.ring.readable / engine.rate, generation)
            await self._wait_until(engine.drained, engine.last_real_dac + DRAIN_MARGIN)
            _ = self.frames_played  # freeze the final count
            self._note_start()
            if self._policy is not None:
                self._policy.finish()
        finally:
            if self._state == "open":
                self._state = "drained"

    async def abort(self) -> None:
        """Fade out within one audio block, drop everything buffered, keep the device open.

        Returns once the device is silent. A device that no longer calls back is closed (the
        next :meth:`open` opens it again).
        """
        if self._state == "open":
            self._state = "aborted"
        self._converter = None
        self._wake_sleepers()
        try:
            await self._stop_sound()
        finally:
            self._release()  # only now: the fade-out would drop the next user's first frames

    async def _stop_sound(self) -> None:
        stream, engine = self._stream, self._engine
        if stream is None or engine is None or not self._usable():
            return
        engine.request_abort()
        self._wake_sleepers()
        deadline = time.monotonic() + _ACK_TIMEOUT
        while not engine.abort_done and engine.error is None:
            if time.monotonic() > deadline or not self._active(stream):
                # The callback is not running (the device is lost or wedged): close the stream,
                # abandoning it if it will not close.
                _ = self.frames_played
                async with self._lock():
                    if self._stream is stream:
                        await self._close_stream()
                return
            await anyio.sleep(self._poll_interval())
        with contextlib.suppress(AudioDeviceError):  # the sound stopped anyway
            await self._wait_until(engine.silent)
        _ = self.frames_played
        self._note_start()

    async def aclose(self) -> None:
        """Fade out anything still playing, stop and close the device stream. Idempotent."""
        with anyio.CancelScope(shield=True):
            try:
                engine = self._engine
                if self._stream is not None and engine is not None and self._usable():
                    if engine.busy:
                        await self.abort()
                    else:  # let what the device still buffers play out: no click
                        await self._wait_until(engine.silent)
            except AudioDeviceError:
                pass  # the device is being released anyway
            finally:
                async with self._lock():
                    await self._close_stream()
                self._state = "closed"
                self._release()

    # -- stream management (event loop side) -----------------------------------------------

    async def _choose_format(self, want: AudioFormat) -> AudioFormat:
        """The closest format the device accepts (PortAudio opens the device to check)."""
        sd, dev = self._sd, self.device
        assert dev is not None

        def choose() -> AudioFormat:
            return choose_format(
                sd, dev, want, samplerate=self._force_rate, channels=self._force_channels
            )

        try:
            return await _call_with_deadline(choose, _OPEN_TIMEOUT)
        except _Wedged as exc:
            raise AudioDeviceError(
                f"checking the formats of {dev.name!r} did not finish within {_OPEN_TIMEOUT:g} s "
                "(is the sound server hung?)"
            ) from exc

    async def _start_if_ready(self) -> None:
        """Start the stream opened ahead once the ring can fill the device's first burst.

        On starting, PortAudio asks for a whole device buffer at once (on ALSA: the latency
        plus a period, as back-to-back callbacks); less queued than that would play a gap.
        """
        engine = self._engine
        if self._unstarted is None or engine is None:
            return
        burst = round(engine.rate * max(1.5 * self._stream_latency, self._prebuffer_seconds))
        if engine.ring.readable >= burst:
            await self._start()

    async def _start(self) -> None:
        """Start the stream opened ahead (in a worker thread, with a deadline)."""
        stream, engine, dev = self._unstarted, self._engine, self.device
        if stream is None or engine is None or dev is None:
            return
        self._unstarted = None
        try:
            await _call_with_deadline(stream.start, _OPEN_TIMEOUT)
        except _Wedged as exc:
            self._lost = f"starting {dev.name!r} did not finish within {_OPEN_TIMEOUT:g} s"
            raise AudioDeviceError(self._lost + " (is the sound server hung?)") from exc
        except Exception as exc:
            self._lost = f"cannot start {dev.name!r}: {exc}"
            raise AudioDeviceError(self._lost) from exc
        engine.watch(time.monotonic())

    async def _open_stream(self, fmt: AudioFormat, *, start: bool = True) -> None:
        from .engine import PlaybackEngine

        rate = fmt.sample_rate
        seconds = self._buffer_seconds
        if self.adaptive_start:
            seconds = max(seconds, _HOLD_LIMIT)
        engine = PlaybackEngine(
            rate=rate,
            channels=fmt.channels,
            dtype=fmt.numpy_dtype,
            capacity=max(1, math.ceil(seconds * rate)),
            prebuffer=round(self._prebuffer_seconds * rate),
            rebuffer=round(self._rebuffer_seconds * rate),
            fade=round(self._fade_seconds * rate),
            latency=self._latency_request,
        )
        engine.paused = self._paused
        sd, dev = self._sd, self.device
        assert dev is not None
        callback = _callback_for(engine)

        def open_and_start() -> Any:
            stream = sd.RawOutputStream(
                samplerate=rate,
                blocksize=0,
                device=dev.index,
                channels=fmt.channels,
                dtype=fmt.dtype,
                latency=self._latency_request,
                callback=callback,
            )
            try:
                if start:
                    stream.start()
            except BaseException:
                stream.close(ignore_errors=True)
                raise
            return stream

        try:
            stream = await _call_with_deadline(
                open_and_start, _OPEN_TIMEOUT, on_abandon=_close_quietly
            )
        except _Wedged as exc:
            raise AudioDeviceError(
                f"opening {dev.name!r} for {fmt} did not finish within {_OPEN_TIMEOUT:g} s "
                "(is the sound server hung?)"
            ) from exc
        except Exception as exc:
            raise AudioDeviceError(f"cannot open {dev.name!r} for {fmt}: {exc}") from exc
        self._stream, self._engine, self._stream_format, self._lost = stream, engine, fmt, None
        self._free_running = False
        self._unstarted = None if start else stream
        try:
            self._stream_latency = float(stream.latency)
        except Exception:
            self._stream_latency = self._latency_request
        engine.latency = self._stream_latency
        engine.watch(time.monotonic())
        logger.debug("opened %s for %s, latency %.3f s", dev, fmt, self._stream_latency)

    async def _close_stream(self) -> None:
        """Stop and close the stream; abandon it if PortAudio does not return in time."""
        stream, self._stream = self._stream, None
        engine, self._engine = self._engine, None
        self._unstarted = None
        self._stream_format = None
        if engine is not None:
            self._past.add(engine)
        if stream is None:
            return
        try:
            # Everything real has been played by now (drain/abort waited for the DAC), so
            # dropping what the device still buffers drops only silence.
            await _call_with_deadline(lambda: _close_quietly(stream), _CLOSE_TIMEOUT)
        except _Wedged:
            logger.warning("the audio device did not close within %g s: abandoned", _CLOSE_TIMEOUT)

    def _usable(self) -> bool:
        engine = self._engine
        return (
            self._stream is not None
            and engine is not None
            and engine.error is None
            and (self._lost is None)
        )

    def _poll_interval(self) -> float:
        engine = self._engine
        if engine is not None and engine.block_frames:
            block = engine.block_frames / engine.rate
        else:
            block = self._stream_latency / 4
        return min(max(block / 2, 0.001), 0.02)

    def _active(self, stream: Any) -> bool:
        try:
            return bool(stream.active)
        except Exception:
            return False

    def _check(self) -> None:
        """Raise AudioDeviceError if the callback failed or the device stopped playing."""
        engine = self._engine
        if engine is not None and engine.error is not None:
            error = engine.error
            raise AudioDeviceError(f"the audio callback failed: {error!r}") from error
        if self._lost is not None:
            raise AudioDeviceError(self._lost)
        stream = self._stream
        if stream is None or engine is None:
            raise AudioDeviceError("the audio device is closed")
        if stream is self._unstarted:
            return  # opened ahead, starts with its first audio: nothing to watch yet
        try:
            active = bool(stream.active)
        except Exception as exc:
            self._lost = f"the audio device failed: {exc}"
            raise AudioDeviceError(self._lost) from exc
        if not active:
            self._lost = "the audio device stopped playing unexpectedly"
            raise AudioDeviceError(self._lost)
        idle = engine.seconds_without_callback(time.monotonic())
        if idle > _STALL_TIMEOUT:
            self._lost = (
                f"the audio device stopped asking for audio ({idle:.1f} s without a callback)"
            )
            raise AudioDeviceError(self._lost)

    async def _wait_until(self, done: Callable[[float], bool], at: float | None = None) -> None:
        """Sleep until ``done(stream time)`` (bounded, in case the stream clock lies); ``at``
        is the stream time it is expected to become true."""
        stream, engine = self._stream, self._engine
        if stream is None or stream is self._unstarted or engine is None:
            return  # nothing has played
        limit = time.monotonic() + self._stream_latency + 1.0
        generation = engine.abort_generation
        while True:
            self._check()
            try:
                now = float(stream.time)
            except Exception as exc:
                self._lost = f"the audio device failed: {exc}"
                raise AudioDeviceError(self._lost) from exc
            if done(now) or time.monotonic() > limit:
                return
            await self._nap(engine, 0.0 if at is None else at - now, generation)

    async def _nap(self, engine: PlaybackEngine, seconds: float, generation: int) -> None:
        """Sleep about ``seconds`` (the moment the awaited state is predicted), or half a block.

        Every wake-up costs the event loop CPU, so while the device keeps its own pace (its
        callback ran during the previous sleep) the sleep lasts until the predicted moment, at
        most :data:`_LONGEST_NAP`; abort() ends it early. Otherwise (a device that has not been
        seen calling back on its own: just started, stalled, or driven by a test) it is the
        poll interval of half a block, as the device's progress cannot be predicted.
        """
        poll = self._poll_interval()
        callbacks = engine.callbacks
        if self._free_running and seconds > poll and engine.abort_generation == generation:
            wake = self._wake
            if wake is None:
                wake = self._wake = anyio.Event()
            with anyio.move_on_after(min(seconds, self._longest_nap)):
                await wake.wait()
            # A long sleep without a callback: the device is not keeping pace on its own.
            self._free_running = engine.callbacks != callbacks
        else:
            await anyio.sleep(poll)
            if engine.callbacks != callbacks:
                self._free_running = True

    def _wake_sleepers(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.set()


@dataclass
class _Counts:
    """What the engines of closed streams counted."""

    gaps: int = 0
    gap_seconds: float = 0.0
    buffer_underruns: int = 0
    device_underflows: int = 0
    callback_errors: int = 0

    def add(self, engine: PlaybackEngine) -> None:
        self.gaps += engine.gaps
        self.gap_seconds += engine.gap_seconds
        self.buffer_underruns += engine.buffer_underruns
        self.device_underflows += engine.device_underflows
        self.callback_errors += engine.callback_errors


def _callback_for(engine: PlaybackEngine) -> Callable[[Any, int, Any, Any], None]:
    """PortAudio's callback for one stream: hands the block to ``engine`` (in PortAudio's
    thread). Never raises: an exception escaping would abort the stream, only printed."""
    import numpy as np

    ring = engine.ring

    def callback(outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        try:
            out = np.frombuffer(outdata, dtype=ring.dtype).reshape(frames, ring.channels)
            engine.fill(
                out,
                float(time_info.outputBufferDacTime),
                float(time_info.currentTime),
                underflow=bool(status.output_underflow),
            )
        except Exception as exc:
            engine.callback_errors += 1
            if engine.error is None:
                engine.error = exc
            outdata[:] = bytes(len(outdata))

    return callback


def _close_quietly(stream: Any) -> None:
    stream.abort(ignore_errors=True)
    stream.close(ignore_errors=True)


class _Wedged(Exception):
    """A blocking PortAudio call did not return in time."""


#: Streams whose PortAudio calls never returned: kept referenced, never touched again.
_ABANDONED: list[Any] = []


async def _call_with_deadline(
    fn: Callable[[], _T],
    seconds: float,
    *,
    on_abandon: Callable[[_T], object] | None = None,
) -> _T:
    """Run blocking ``fn`` in a daemon thread; raise :class:`_Wedged` after ``seconds``.

    A wedged PortAudio call (a hung or killed sound server) must not hold the caller, its
    cleanup or the interpreter's exit hostage, so the thread is a daemon and is abandoned; if
    ``fn`` returns after all, ``on_abandon`` gets its result (to close a late stream). The wait
    also ends when the caller is cancelled.
    """
    done = threading.Event()
    lock = threading.Lock()
    result: list[_T] = []
    error: list[BaseException] = []
    abandoned: list[bool] = []

    def run() -> None:
        try:
            value = fn()
        except BaseException as exc:
            error.append(exc)
        else:
            with lock:
                result.append(value)
                late = bool(abandoned)
            if late and on_abandon is not None:
                _quietly(on_abandon, value)
        finally:
            done.set()

    thread = threading.Thread(target=run, name="ttsstream-portaudio", daemon=True)
    thread.start()
    deadline = time.monotonic() + seconds
    delay = 0.0005
    try:
        while not done.is_set():
            if time.monotonic() > deadline:
                raise _Wedged(f"no answer within {seconds:g} s")
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.01)
    except BaseException:
        with lock:
            abandoned.append(True)
            arrived = list(result)
        if arrived and on_abandon is not None:  # it came just as the caller gave up
            _quietly(on_abandon, arrived[0])
        _ABANDONED.append(thread)
        raise
    if error:
        raise error[0]
    return result[0]


def _quietly(fn: Callable[[_T], object], value: _T) -> None:
    try:
        fn(value)
    except Exception:
        logger.debug("cleaning up after an abandoned PortAudio call failed", exc_info=True)
