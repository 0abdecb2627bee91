"""The examples in the docstrings run, and say what they print."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import ttsstream

# __main__ runs the command line when imported.
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(ttsstream.__path__, "ttsstream.")
    if m.name != "ttsstream.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
