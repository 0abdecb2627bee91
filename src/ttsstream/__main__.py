"""``python -m ttsstream``: the ``ttsstream`` command."""

from ttsstream._cli import main

raise SystemExit(main())
