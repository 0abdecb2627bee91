"""Choosing an output device: PortAudio's device list, finding one by index or name, and the
closest format a device accepts. Nothing here plays audio (see :mod:`ttsstream._play.device`).

``sd`` below is the sounddevice module, or any object with the same interface (a fake, in tests):
``query_devices()``, ``query_hostapis()``, ``default.device``, ``check_output_settings()`` and
``PortAudioError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._errors import AudioDeviceError, DeviceNotFoundError, PortAudioMissingError
from .._format import AudioFormat, SampleDType

__all__ = ["DeviceInfo", "choose_format", "find_device", "list_devices", "load_sounddevice"]


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


def load_sounddevice() -> Any:
    """Import sounddevice, which loads PortAudio (and fixes the device list at that moment)."""
    from .alsa import route_alsa_messages  # ctypes: loaded with PortAudio, not before

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


def output_devices(sd: Any) -> list[DeviceInfo]:
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
    return output_devices(load_sounddevice())


def _device_list_text(devices: list[DeviceInfo]) -> str:
    return "\n".join(f"  {d}" for d in devices)


def find_device(devices: list[DeviceInfo], device: int | str | None) -> DeviceInfo:
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


def choose_format(
    sd: Any,
    device: DeviceInfo,
    want: AudioFormat,
    *,
    samplerate: int | None = None,
    channels: int | None = None,
) -> AudioFormat:
    """The format closest to ``want`` that ``device`` accepts: rate first, then channels, then
    sample type. ``samplerate`` and ``channels`` force those. May block (PortAudio opens the
    device to check)."""
    rates = [samplerate] if samplerate else [want.sample_rate]
    chans = [channels] if channels else [want.channels]
    if not samplerate:
        rates += [device.default_samplerate, 48000, 44100]
    if not channels:
        chans += [2, 1, device.max_output_channels]
    dtypes: list[SampleDType] = [want.dtype, "float32", "int32", "int16"]
    for rate in dict.fromkeys(rates):
        for ch in dict.fromkeys(chans):
            for dtype in dict.fromkeys(dtypes):
                try:
                    sd.check_output_settings(
                        device=device.index, channels=ch, dtype=dtype, samplerate=rate
                    )
                except (sd.PortAudioError, ValueError):
                    continue
                return AudioFormat(rate, ch, dtype)
    raise AudioDeviceError(
        f"device {device.name!r} accepts none of the sample rates {list(dict.fromkeys(rates))} "
        f"with channels {list(dict.fromkeys(chans))}"
    )
