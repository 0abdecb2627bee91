"""Importing httpx without what a text-to-speech client never uses on asyncio.

httpx's package imports its command-line client (``httpx._main``: click, pygments, rich; ~40 ms
when they are installed), and httpcore imports trio whenever it is installed (~45 ms), only to
call ``trio.Lock()`` and friends when it runs under trio. :func:`import_httpx` imports both
without those modules and then puts stand-ins in their place that import them on first use:
``httpx.main()`` still runs the real command-line client, and httpcore still works under trio
(it finds trio through the stand-in, already imported by then). Nothing changes for a program
that imported trio or httpx itself before ttsstream, and other threads import as usual meanwhile.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["LazyModule", "import_httpx", "without_modules"]

_lock = threading.Lock()


class LazyModule:
    """Stands in for the module ``name``: imports it on the first attribute read."""

    def __init__(self, name: str) -> None:
        self._lazy_name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._lazy_name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._lazy_name!r}>"


class _Refuse:
    """Make ``import NAME`` fail with ImportError, in one thread only."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = frozenset(names)
        self.thread = threading.get_ident()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.names and threading.get_ident() == self.thread:
            raise ImportError(f"{fullname} is not imported with ttsstream", name=fullname)
        return None


@contextmanager
def without_modules(names: Sequence[str]) -> Iterator[None]:
    """While the block runs, importing one of ``names`` (not imported yet) in this thread
    raises ImportError; other threads are not affected."""
    refuse = _Refuse([n for n in names if n not in sys.modules])
    sys.meta_path.insert(0, refuse)
    try:
        yield
    finally:
        sys.meta_path.remove(refuse)


def import_httpx() -> types.ModuleType:
    """``import httpx`` (and httpcore) without httpx's CLI and trio; see the module docstring."""
    with _lock:
        if "httpx" in sys.modules and "httpcore" in sys.modules:
            return sys.modules["httpx"]
        trio_refused = "trio" not in sys.modules
        main_refused = "httpx" not in sys.modules
        try:
            with without_modules(["trio", *(["httpx._main"] if main_refused else [])]):
                import httpcore._synchronization
                import httpx
        except ImportError:
            # A version that needs one of them at import time: import them as usual.
            import httpcore._synchronization
            import httpx

            return httpx
        sync: Any = httpcore._synchronization
        if trio_refused and sync.trio is None and importlib.util.find_spec("trio") is not None:
            sync.trio = LazyModule("trio")
        if main_refused and "httpx._main" not in sys.modules:
            module: Any = httpx
            module.main = _httpx_main
        return httpx


def _httpx_main(*args: Any, **kwargs: Any) -> Any:
    """httpx's command-line client, imported when it is run."""
    from httpx._main import main

    return main(*args, **kwargs)
