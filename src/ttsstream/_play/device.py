"""Play audio on a sound device through PortAudio (python-sounddevice), without gaps or cut-offs.

:class:`DeviceSink` keeps a :class:`~ttsstream._ring.FrameRing` between the event loop and
PortAudio's callback thread. The callback fills every block it is given: real frames while there
are some, silence otherwise (counted as an underrun when the utterance has not ended). It never
blocks, never calls into the event loop and never lets an exception escape (PortAudio would abort
the stream and only print it); failures are stored and raised on the event loop side.

``drain()`` returns when the device has *played* the last sample: the callback records the DAC
time of the end of the last real frame, silence keeps flowing, and ``drain()`` waits until the
stream clock passes that time. Stopping right after the last write would lose the audio still
buffered in the device (PortAudio's ALSA backend drops it on stop).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import numpy as np
import numpy.typing as npt

from .._errors import (
    AudioDeviceError,
    DeviceNotFoundError,
    PortAudioMissingError,
    ResamplerMissingError,
)
from .._format import AudioFormat, SampleDType
from .alsa import route_alsa_messages
from .convert import Converter
from .ring import FrameRing
from .sink import Samples, Sink

__all__ = ["DeviceInfo", "DeviceSink", "list_devices"]

logger = logging.getLogger("ttsstream")

Floats = npt.NDArray[np.float64]

_HISTORY = 64  # blocks of timing history kept for frames_played (a few seconds)
_STALL_TIMEOUT = 5.0  # seconds without a callback before the device counts as dead
_ACK_TIMEOUT = 1.0  # seconds to wait for the callback to act on an abort
# drain() waits this much past the DAC time of the last sample: the reported DAC time is exact
# to a few ms on PulseAudio (measured: stopping 5 ms early loses samples), not on every host API.
_DRAIN_MARGIN = 0.02


@dataclass(frozen=True)
class DeviceInfo:
    """An audio output device, as PortAudio sees it."""

    index: int
    name: str
    hostapi: str
    default_samplerate: int
    max_output_channels: int
    is_default: bool

    def __str__(self) -> str:
        mark = "*" if self.is_default else " "
        return (
            f"{mark} [{self.index}] {self.name} ({self.hostapi}, "
            f"{self.max_output_channels} ch, {self.default_samplerate} Hz)"
        )


def _load_sounddevice() -> Any:
    """Import sounddevice, which loads PortAudio (and fixes the device list at that moment)."""
    route_alsa_messages()  # before PortAudio probes devices (ALSA complains then too)
    try:
        import sounddevice
    except OSError as exc:
        raise PortAudioMissingError(
            "the PortAudio library is not installed, so ttsstream cannot play sound. "
            "Install it: 'sudo apt-get install libportaudio2' (Debian/Ubuntu), "
            "'sudo dnf install portaudio' (Fedora), 'sudo pacman -S portaudio' (Arch); "
            "on macOS and Windows the sounddevice wheel includes it "
            f"(loading it failed: {exc})"
        ) from exc
    except ImportError as exc:
        raise AudioDeviceError(
            f"python-sounddevice cannot be imported ({exc}): pip install sounddevice"
        ) from exc
    return sounddevice


def _output_devices(sd: Any) -> list[DeviceInfo]:
    hostapis = sd.query_hostapis()
    default = sd.default.device[1]
    return [
        DeviceInfo(
            index=int(d["index"]),
            name=str(d["name"]),
            hostapi=str(hostapis[d["hostapi"]]["name"]),
            default_samplerate=round(d["default_samplerate"]),
            max_output_channels=int(d["max_output_channels"]),
            is_default=d["index"] == default,
        )
        for d in sd.query_devices()
        if d["max_output_channels"] > 0
    ]


def list_devices() -> list[DeviceInfo]:
    """The audio output devices PortAudio knows; the default one has ``is_default`` set.

    Raises :class:`~ttsstream.PortAudioMissingError` when PortAudio is not installed.
    """
    return _output_devices(_load_sounddevice())


def _device_list_text(devices: list[DeviceInfo]) -> str:
    return "\n".join(f"  {d}" for d in devices)


def _find_device(devices: list[DeviceInfo], device: int | str | None) -> DeviceInfo:
    if not devices:
        raise DeviceNotFoundError(
            "no audio output device found. On Linux, PulseAudio or PipeWire must be running "
            "(with libasound2-plugins installed for the ALSA 'pulse' device) before the first "
            "import of sounddevice; PortAudio reads the device list only once"
        )
    if device is None:
        for d in devices:
            if d.is_default:
                return d
        raise DeviceNotFoundError(
            "there is no default output device; pass device= one of:\n" + _device_list_text(devices)
        )
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
    if isinstance(device, int):
        for d in devices:
            if d.index == device:
                return d
        raise DeviceNotFoundError(
            f"no output device with index {device}; output devices:\n" + _device_list_text(devices)
        )
    query = device.casefold()
    exact = [d for d in devices if d.name.casefold() == query]
    if exact:
        return exact[0]
    matches = [d for d in devices if query in d.name.casefold()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DeviceNotFoundError(
            f"{device!r} matches several output devices; be more specific:\n"
            + _device_list_text(matches)
        )
    raise DeviceNotFoundError(
        f"no output device matching {device!r}; output devices:\n" + _device_list_text(devices)
    )


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

    The device stays open across utterances: ``open()`` again after ``drain()`` or ``abort()``,
    even with another format, reuses it. Always ``aclose()`` (or use ``async with``).
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
        _backend: Any = None,
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
        self._sd: Any = _backend
        self.device: DeviceInfo | None = None
        """The resolved output device (after :meth:`prepare`)."""

        self._stream: Any = None
        self._stream_format: AudioFormat | None = None
        self._ring = FrameRing(1, 1, np.int16)
        self._rate = 1
        self._stream_latency = latency
        # Producer side (event loop) state.
        self._format: AudioFormat | None = None
        self._converter: Converter | None = None
        self._state: Literal["closed", "open", "drained", "aborted"] = "closed"
        self._utt_start = 0
        self._utt_generation = 0
        self._utt_frames_in = 0
        self._final_played = 0
        self._prebuffer = 0
        self._rebuffer = 0
        self._fade_frames = 0
        self._ramp_down: Floats = np.ones(1)
        self._pause_request = False
        self._end_pos = -1  # ring position of the end of the utterance once drain() began
        self._abort_req = 0
        self._seen_callbacks = 0
        self._seen_at = 0.0
        # Consumer side (callback thread) state.
        self._playing = False
        self._paused_out = False  # the callback has faded out for a pause
        self._fade_in_left = 0
        self._need = 0
        self._abort_ack = 0
        # (abort generation, ring position where the fade-out ended): what an abort let through
        self._cut = (0, 0)
        self._last_real_dac = 0.0
        self._callbacks = 0
        self._block_frames = 0
        self._warm_format: AudioFormat | None = None
        self._underruns = 0
        self._device_underflows = 0
        self._callback_errors = 0
        self._error: BaseException | None = None
        self._h_dac = np.zeros(_HISTORY, np.float64)
        self._h_pos = np.zeros(_HISTORY, np.int64)
        self._h_real = np.zeros(_HISTORY, np.int64)
        self._h_count = 0

    # -- public state ----------------------------------------------------------------------

    @property
    def underruns(self) -> int:
        """Times the ring ran dry mid-utterance and silence was played (since creation)."""
        return self._underruns

    def set_paused(self, paused: bool) -> None:
        """Pause (fade out within one block, then silence) or resume (fade back in).

        Nothing buffered is lost, and a pause is not counted as an underrun.
        """
        self._pause_request = paused

    @property
    def paused(self) -> bool:
        """Whether playback is paused (see :meth:`set_paused`)."""
        return self._pause_request

    @property
    def device_underflows(self) -> int:
        """Times PortAudio reported an output underflow (the callback came too late)."""
        return self._device_underflows

    @property
    def callback_errors(self) -> int:
        """Exceptions caught inside the audio callback."""
        return self._callback_errors

    @property
    def latency(self) -> float:
        """The output latency PortAudio reports for the open stream, in seconds."""
        return float(self._stream_latency)

    @property
    def stream_format(self) -> AudioFormat | None:
        """The format the device stream was opened with (``None`` before :meth:`open`)."""
        return self._stream_format

    @property
    def block_frames(self) -> int:
        """Frames PortAudio asked for in the latest callback (0 before the first one)."""
        return self._block_frames

    @property
    def frames_sent(self) -> int:
        """Frames of the current utterance handed to the device so far.

        Runs ahead of :attr:`frames_played` by the device's latency.
        """
        pos = self._ring.read_pos
        generation, cut = self._cut
        if generation > self._utt_generation:
            pos = min(pos, cut)
        sent = max(0, pos - self._utt_start)
        fmt = self._format
        if fmt is not None and fmt.sample_rate != self._rate:
            sent = round(sent * fmt.sample_rate / self._rate)
        return min(sent, self._utt_frames_in)

    @property
    def frames_played(self) -> int:
        """Frames of the current utterance heard so far, estimated from the device's DAC time."""
        stream, fmt = self._stream, self._format
        if stream is None or fmt is None or self._stream_format is None:
            return self._final_played
        try:
            now = float(stream.time)
        except Exception:
            return self._final_played
        heard = self._heard_pos(now)
        generation, cut = self._cut
        if generation > self._utt_generation:  # aborted: nothing after the fade was heard
            heard = min(heard, cut)
        played = max(0, heard - self._utt_start)
        if fmt.sample_rate != self._rate:
            played = round(played * fmt.sample_rate / self._rate)
        self._final_played = min(played, self._utt_frames_in)
        return self._final_played

    # -- life cycle ------------------------------------------------------------------------

    async def prepare(self, format: AudioFormat | None = None) -> None:
        """Load PortAudio and find the device (in a worker thread). Called by :meth:`open`.

        With ``format``, also open and start the stream for it now (playing silence), so that
        the first :meth:`open` in that format finds the device running.
        """
        if self.device is None:
            self.device = await anyio.to_thread.run_sync(self._resolve)
        if format is not None and self._stream is None:
            stream_format = await anyio.to_thread.run_sync(self._choose_format, format)
            Converter(format, stream_format)  # raises ResamplerMissingError now, if it will
            await self._open_stream(stream_format)
            self._warm_format = format

    def _resolve(self) -> DeviceInfo:
        if self._sd is None:
            self._sd = _load_sounddevice()
        return _find_device(_output_devices(self._sd), self._device_request)

    async def open(self, format: AudioFormat) -> None:
        """Get ready to play ``format``; opens and starts the device stream the first time."""
        await self.prepare()
        converter: Converter | None = None
        warm, self._warm_format = self._warm_format, None
        # A stream opened ahead for a format that did not come is reopened for this one.
        reusable = warm is None or warm == format
        if reusable and self._stream is not None and self._error is None and self._stream_format:
            if self._ring.readable or self._playing:
                await self.drain()  # the previous utterance was neither drained nor aborted
            try:
                converter = Converter(format, self._stream_format)
            except ResamplerMissingError:
                converter = None  # reopen at the new rate instead, if the device takes it
        if converter is None:
            await self._close_stream()
            stream_format = await anyio.to_thread.run_sync(self._choose_format, format)
            converter = Converter(format, stream_format)  # may raise ResamplerMissingError
            await self._open_stream(stream_format)
        self._format = format
        self._converter = None if converter.identity else converter
        self._utt_start = self._ring.write_pos
        self._utt_generation = self._abort_req
        self._utt_frames_in = 0
        self._final_played = 0
        self._end_pos = -1
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
        self._check()
        self._utt_frames_in += len(samples)
        data = samples if self._converter is None else self._converter.process(samples)
        await self._push(data)

    async def _push(self, data: Samples) -> None:
        generation = self._abort_req

        def keep_going() -> bool:
            self._check()
            return self._state == "open" and self._abort_req == generation

        await self._ring.write(data, poll_interval=self._poll_interval(), check=keep_going)

    async def drain(self) -> None:
        """Return once the device has played the last sample written (then keep it open)."""
        if self._stream is None or self._state != "open":
            return
        if self._converter is not None:
            tail, self._converter = self._converter.flush(), None
            if len(tail):
                await self._push(tail)
        end = self._ring.write_pos
        self._end_pos = end
        poll = self._poll_interval()
        while self._ring.read_pos < end:
            self._check()
            await anyio.sleep(poll)
        await self._wait_for_dac(self._last_real_dac + _DRAIN_MARGIN)
        if self._state == "open":
            self._state = "drained"
        _ = self.frames_played  # freeze the final count

    async def abort(self) -> None:
        """Fade out within one audio block, drop everything buffered, keep the device open.

        Returns once the device is silent.
        """
        if self._state == "open":
            self._state = "aborted"
        self._converter = None
        stream = self._stream
        if stream is None or self._error is not None:
            return
        self._abort_req += 1
        request = self._abort_req
        deadline = time.monotonic() + _ACK_TIMEOUT
        while self._abort_ack != request and self._error is None:
            if time.monotonic() > deadline or not stream.active:
                await self._restart_stream()  # the callback is not running: reset by hand
                break
            await anyio.sleep(self._poll_interval())
        if self._error is None:
            await self._wait_for_dac(self._last_real_dac)
        _ = self.frames_played

    async def aclose(self) -> None:
        """Fade out anything still playing, stop and close the device stream. Idempotent."""
        with anyio.CancelScope(shield=True):
            try:
                if self._stream is not None and self._error is None:
                    if self._ring.readable or self._playing:
                        await self.abort()
                    else:  # let what the device still buffers play out: no click
                        await self._wait_for_dac(self._last_real_dac)
            except AudioDeviceError:
                pass  # the device is being released anyway
            finally:
                await self._close_stream()
                self._state = "closed"

    # -- stream management (event loop side) -----------------------------------------------

    def _choose_format(self, want: AudioFormat) -> AudioFormat:
        """The closest format the device accepts: rate first, then channels, then type."""
        sd, dev = self._sd, self.device
        assert dev is not None
        rates = [self._force_rate] if self._force_rate else [want.sample_rate]
        chans = [self._force_channels] if self._force_channels else [want.channels]
        if not self._force_rate:
            rates += [dev.default_samplerate, 48000, 44100]
        if not self._force_channels:
            chans += [2, 1, dev.max_output_channels]
        dtypes: list[SampleDType] = [want.dtype, "float32", "int32", "int16"]
        for rate in dict.fromkeys(rates):
            for ch in dict.fromkeys(chans):
                for dtype in dict.fromkeys(dtypes):
                    try:
                        sd.check_output_settings(
                            device=dev.index, channels=ch, dtype=dtype, samplerate=rate
                        )
                    except (sd.PortAudioError, ValueError):
                        continue
                    return AudioFormat(rate, ch, dtype)
        raise AudioDeviceError(
            f"device {dev.name!r} accepts none of the sample rates {list(dict.fromkeys(rates))} "
            f"with channels {list(dict.fromkeys(chans))}"
        )

    async def _open_stream(self, fmt: AudioFormat) -> None:
        rate = fmt.sample_rate
        capacity = max(1, math.ceil(self._buffer_seconds * rate))
        self._ring = FrameRing(capacity, fmt.channels, fmt.numpy_dtype)
        self._rate = rate
        self._prebuffer = min(capacity - 1, round(self._prebuffer_seconds * rate))
        self._rebuffer = min(capacity - 1, round(self._rebuffer_seconds * rate))
        self._fade_frames = max(1, round(self._fade_seconds * rate))
        # raised cosine, reaching 0 at the end of the fade
        self._ramp_down = self._ramp(self._fade_frames)
        self._paused_out = False
        self._fade_in_left = 0
        self._playing = False
        self._need = self._prebuffer
        self._error = None
        self._h_count = 0
        self._last_real_dac = 0.0
        self._abort_ack = self._abort_req
        self._stream_format = fmt

        def start() -> Any:
            assert self.device is not None
            stream = self._sd.RawOutputStream(
                samplerate=rate,
                blocksize=0,
                device=self.device.index,
                channels=fmt.channels,
                dtype=fmt.dtype,
                latency=self._latency_request,
                callback=self._callback,
            )
            try:
                stream.start()
            except BaseException:
                stream.close(ignore_errors=True)
                raise
            return stream

        try:
            self._stream = await anyio.to_thread.run_sync(start)
        except Exception as exc:
            self._stream_format = None
            raise AudioDeviceError(
                f"cannot open {self.device.name if self.device else 'the device'!r} for "
                f"{fmt}: {exc}"
            ) from exc
        self._stream_latency = float(self._stream.latency)
        self._seen_callbacks, self._seen_at = 0, time.monotonic()
        logger.debug("opened %s for %s, latency %.3f s", self.device, fmt, self._stream_latency)

    async def _restart_stream(self) -> None:
        """Stop the stream (the callback is not running after that), reset it, start again."""
        stream = self._stream

        def restart() -> None:
            stream.abort(ignore_errors=True)
            self._cut = (self._abort_req, self._ring.read_pos)
            self._ring.discard_all()
            self._playing = False
            self._need = self._prebuffer
            self._abort_ack = self._abort_req
            self._last_real_dac = 0.0
            stream.start()

        try:
            await anyio.to_thread.run_sync(restart)
        except Exception as exc:
            raise AudioDeviceError(f"the audio device failed to restart: {exc}") from exc
        self._seen_callbacks, self._seen_at = self._callbacks, time.monotonic()

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        self._stream_format = None
        if stream is None:
            return

        def close() -> None:
            # Everything real has been played by now (drain/abort waited for the DAC), so
            # dropping what the device still buffers drops only silence.
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)

        await anyio.to_thread.run_sync(close)

    def _poll_interval(self) -> float:
        block = self._block_frames / self._rate if self._block_frames else self._stream_latency / 4
        return min(max(block / 2, 0.001), 0.02)

    def _check(self) -> None:
        """Raise AudioDeviceError if the callback failed or the device stopped playing."""
        if self._error is not None:
            raise AudioDeviceError(f"the audio callback failed: {self._error!r}") from self._error
        stream = self._stream
        if stream is None:
            raise AudioDeviceError("the audio device is closed")
        try:
            active = bool(stream.active)
        except Exception as exc:
            raise AudioDeviceError(f"the audio device failed: {exc}") from exc
        if not active:
            raise AudioDeviceError("the audio device stopped playing unexpectedly")
        now = time.monotonic()
        if self._callbacks != self._seen_callbacks:
            self._seen_callbacks, self._seen_at = self._callbacks, now
        elif now - self._seen_at > _STALL_TIMEOUT:
            raise AudioDeviceError(
                f"the audio device stopped asking for audio ({_STALL_TIMEOUT:.0f} s without a "
                "callback)"
            )

    async def _wait_for_dac(self, target: float) -> None:
        """Sleep until the stream clock passes ``target`` (bounded, in case the clock lies)."""
        stream = self._stream
        if stream is None:
            return
        limit = time.monotonic() + self._stream_latency + 1.0
        while True:
            self._check()
            try:
                now = float(stream.time)
            except Exception as exc:
                raise AudioDeviceError(f"the audio device failed: {exc}") from exc
            if now >= target or time.monotonic() > limit:
                return
            await anyio.sleep(min(target - now, 0.05))

    def _heard_pos(self, now: float) -> int:
        """Ring position of the frame the device is playing at stream time ``now``."""
        count = self._h_count
        for k in range(count - 1, max(count - _HISTORY + 1, 0) - 1, -1):
            i = k % _HISTORY
            start = float(self._h_dac[i])
            if start <= now:
                into = math.floor((now - start) * self._rate)
                return int(self._h_pos[i]) + min(int(self._h_real[i]), into)
        if count:
            return int(self._h_pos[max(count - _HISTORY + 1, 0) % _HISTORY])
        return self._utt_start

    # -- the audio callback (PortAudio's thread) -------------------------------------------

    def _callback(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        try:
            self._fill(outdata, frames, time_info, status)
        except Exception as exc:
            # Escaping would abort the stream with only a printed traceback: keep the stream
            # alive with silence and let the event loop side raise.
            self._callback_errors += 1
            if self._error is None:
                self._error = exc
            outdata[:] = bytes(len(outdata))

    def _fill(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        self._callbacks += 1
        self._block_frames = frames
        if status.output_underflow:
            self._device_underflows += 1
        ring = self._ring
        out = np.frombuffer(outdata, dtype=ring.dtype).reshape(frames, ring.channels)
        dac = float(time_info.outputBufferDacTime)
        if dac <= 0:  # some host APIs leave it unset
            dac = float(time_info.currentTime) + self._stream_latency
        if self._error is not None:
            out.fill(0)
            return
        if self._abort_req != self._abort_ack:
            self._fade_out(out, frames, dac)
            return
        if self._pause_request:
            self._pause_block(out, frames, dac)
            return
        if self._paused_out:  # resuming: fade back in
            self._paused_out = False
            self._fade_in_left = self._fade_frames
        n = 0
        if not self._playing:
            ready = ring.readable
            if ready and (self._end_pos >= 0 or ready >= self._start_threshold(time_info, dac)):
                self._playing = True
        if self._playing:
            n = ring.peek_into(out)
            if n < frames:
                out[n:] = 0
                self._playing = False
                if ring.read_pos + n == self._end_pos:
                    self._need = self._prebuffer
                else:
                    self._underruns += 1
                    self._need = self._rebuffer
        else:
            out.fill(0)
        if self._fade_in_left and n:
            done = self._fade_frames - self._fade_in_left
            k = min(n, self._fade_in_left)
            ramp = self._ramp_down[::-1][done : done + k]
            out[:k] = (out[:k].astype(np.float64) * ramp[:, None]).astype(out.dtype)
            self._fade_in_left -= k
        self._record(dac, ring.read_pos, n)
        ring.consume(n)  # publish last: drain() reads _last_real_dac once read_pos moves

    def _start_threshold(self, time_info: Any, dac: float) -> int:
        """Frames needed before (re)starting: the prebuffer, plus what the device still asks
        for at once while it fills its buffer (just after the stream started, PortAudio calls
        back in a burst until the buffer holds ``latency`` seconds; starting with less would
        run dry inside the burst and put a gap of silence in the speech)."""
        now = float(time_info.currentTime)
        deficit = 0
        if now > 0:
            deficit = max(0, round((self._stream_latency - (dac - now)) * self._rate))
        return min(self._need + deficit, self._ring.capacity - 1)

    def _pause_block(self, out: Samples, frames: int, dac: float) -> None:
        """One block while paused: the first fades out what would have played, then silence."""
        ring = self._ring
        n = 0
        if not self._paused_out:
            self._paused_out = True
            if self._playing:
                n = ring.peek_into(out[: min(self._fade_frames, frames)])
                ramp = self._ramp_down[:n]
                out[:n] = (out[:n].astype(np.float64) * ramp[:, None]).astype(out.dtype)
        out[n:] = 0
        self._record(dac, ring.read_pos, n)
        ring.consume(n)

    def _fade_out(self, out: Samples, frames: int, dac: float) -> None:
        ring = self._ring
        fade = min(self._fade_frames, frames)
        n = ring.peek_into(out[:fade]) if self._playing else 0
        if n:
            ramp = self._ramp_down if fade == self._fade_frames else self._ramp(fade)
            out[:n] = out[:n].astype(np.float64) * ramp[:n, None]
        out[n:] = 0
        request = self._abort_req
        self._record(dac, ring.read_pos, n)
        self._cut = (request, ring.read_pos + n)
        ring.discard_all()
        self._playing = False
        self._need = self._prebuffer
        self._abort_ack = request

    @staticmethod
    def _ramp(frames: int) -> Floats:
        k = np.arange(1, frames + 1, dtype=np.float64)
        ramp: Floats = 0.5 + 0.5 * np.cos(np.pi * k / frames)
        return ramp

    def _record(self, dac: float, pos: int, real: int) -> None:
        i = self._h_count % _HISTORY
        self._h_dac[i] = dac
        self._h_pos[i] = pos
        self._h_real[i] = real
        if real:
            self._last_real_dac = dac + real / self._rate
        self._h_count += 1
