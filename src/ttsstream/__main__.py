"""``python -m ttsstream``: the ``ttsstream`` command."""

from ttsstream._cli import entry

entry()
