"""ALSA's own messages, routed into logging instead of onto the user's terminal.

libasound prints its errors (``ALSA lib pcm.c:8570:(snd_pcm_recover) underrun occurred``)
straight to stderr, under whatever the program writes there. :func:`route_alsa_messages` installs
a handler (``snd_lib_error_set_handler``) that sends them to the ``ttsstream.alsa`` logger instead
(level WARNING; DEBUG for the noise PortAudio causes while it probes devices), and counts the
underruns they report: :func:`alsa_underruns`.

The handler is a C variadic function, ``(file, line, function, err, fmt, ...)``. ctypes cannot
receive a ``va_list``; on x86-64 and AArch64 Linux the first variadic argument travels in the
register that follows the five fixed ones, so it is read as a sixth argument and used only when
``fmt`` has exactly one conversion and it is ``%s`` (as in ``"%s occurred"``,
``"Unknown PCM %s"``). Other formats are logged as they are, conversions unexpanded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import re
import sys
import threading
from typing import Any

__all__ = ["alsa_routed", "alsa_underruns", "route_alsa_messages"]

logger = logging.getLogger("ttsstream.alsa")

_HANDLER = ctypes.CFUNCTYPE(
    None,
    ctypes.c_char_p,  # file
    ctypes.c_int,  # line
    ctypes.c_char_p,  # function
    ctypes.c_int,  # err (a negative errno, or 0)
    ctypes.c_char_p,  # fmt
    ctypes.c_void_p,  # the first variadic argument (see the module docstring)
)
#: Machines whose C calling convention passes the first variadic pointer like a sixth argument.
_SIXTH_ARG_MACHINES = {"x86_64", "amd64", "aarch64", "arm64"}
_CONVERSION = re.compile(r"%[-+ #0]*[0-9*]*(?:\.[0-9*]+)?(?:hh|h|ll|l|j|z|t|L)?[a-zA-Z%]")
#: What PortAudio's device probing makes ALSA say: expected, so only logged at DEBUG.
_PROBING = ("snd_pcm_open_noupdate", "snd_config_evaluate", "snd_func_refer", "parse_card")

_lock = threading.Lock()
_installed: dict[str, Any] = {}
_underruns = 0


def route_alsa_messages() -> bool:
    """Send libasound's messages to the ``ttsstream.alsa`` logger from now on (idempotent).

    Returns whether the handler is in place: False where there is no libasound (not Linux,
    or ALSA not installed), which is not an error.
    """
    with _lock:
        if "handler" in _installed:
            return True
        if not sys.platform.startswith("linux"):
            return False
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
            set_handler = lib.snd_lib_error_set_handler
            strerror = lib.snd_strerror
        except (OSError, AttributeError):
            return False
        set_handler.argtypes = [_HANDLER]
        set_handler.restype = ctypes.c_int
        strerror.argtypes = [ctypes.c_int]
        strerror.restype = ctypes.c_char_p
        handler = _HANDLER(_on_message)
        if set_handler(handler) != 0:
            return False
        # libasound keeps only the C pointer: the ctypes object must live as long as it.
        _installed.update(handler=handler, lib=lib, strerror=strerror)
        return True


def alsa_routed() -> bool:
    """Whether :func:`route_alsa_messages` has put its handler in place."""
    return "handler" in _installed


def alsa_underruns() -> int:
    """How many underruns ALSA has reported in this process since :func:`route_alsa_messages`."""
    return _underruns


def format_message(fmt: str, first_arg: str | None) -> str:
    """``fmt`` with its one ``%s`` replaced by ``first_arg``; unchanged when that cannot be
    done safely (other conversions, or no argument)."""
    conversions = [m.group() for m in _CONVERSION.finditer(fmt) if m.group() != "%%"]
    if conversions == ["%s"] and first_arg is not None:
        return _CONVERSION.sub(lambda m: "%" if m.group() == "%%" else first_arg, fmt)
    return fmt


def _first_string(fmt: str, arg: int | None) -> str | None:
    if arg is None or platform.machine().lower() not in _SIXTH_ARG_MACHINES:
        return None
    conversions = [m.group() for m in _CONVERSION.finditer(fmt) if m.group() != "%%"]
    if conversions != ["%s"]:
        return None  # the register may hold anything: never dereference it then
    return ctypes.string_at(arg).decode("utf-8", "replace")


def _on_message(
    file: bytes | None,
    line: int,
    function: bytes | None,
    err: int,
    fmt: bytes | None,
    arg: int | None,
) -> None:
    global _underruns
    # An exception must not cross back into C: everything is caught.
    try:
        text = (fmt or b"").decode("utf-8", "replace")
        func = (function or b"").decode("utf-8", "replace")
        message = format_message(text, _first_string(text, arg))
        if err:
            reason = _installed["strerror"](err)
            message += f": {(reason or b'').decode('utf-8', 'replace')}"
        # "%s occurred": an underrun while playing, an overrun while recording.
        recovered = func == "snd_pcm_recover" and text.endswith("occurred")
        if recovered and not message.startswith("overrun"):
            with _lock:
                _underruns += 1
        where = f"{(file or b'?').decode('utf-8', 'replace')}:{line}:({func})"
        level = logging.DEBUG if func in _PROBING else logging.WARNING
        logger.log(level, "ALSA lib %s %s", where, message)
    except Exception:  # see above
        logger.debug("could not report an ALSA message", exc_info=True)
