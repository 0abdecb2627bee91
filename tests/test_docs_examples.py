"""The Python examples in README.md and the documentation (``docs/**/*.md``) are correct.

Every fenced ``python`` block must compile, and must pass ``mypy --strict`` (skipped only when
mypy is not installed; ``nox -s tests`` and ``nox -s docs`` install it): a fragment with
``await`` outside a function or an undefined name fails. A block preceded by the line
``<!-- test: run -->`` is also run, as a script in a fresh interpreter, and must exit 0: those
examples check what they claim with ``assert``. Options after ``run``, comma-separated:
``plays`` (it plays on the default device: run with the private PulseAudio daemon, marked
``audio``), ``server`` (it needs a key: run against a loopback OpenAI-compatible speech server
given by ``OPENAI_BASE_URL``). Shell commands go in ``console`` or ``sh`` blocks, which are not
checked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .httpfakes import streaming_wav, tone
from .loopback import LoopbackServer, audio_response

if TYPE_CHECKING:
    from .audio import PulseServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
_RUN_MARKER = re.compile(r"^<!-- test: run(?P<options>(?:, *[a-z]+)*) -->$")
RUN_OPTIONS = frozenset({"plays", "server"})
PYTHON = frozenset({"python", "py", "python3"})
# Languages a fence may name; an unnamed fence could hide Python from these tests.
LANGUAGES = PYTHON | {"console", "sh", "bash", "text", "pycon", "toml", "yaml", "json"}

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a documentation page."""

    page: str  # relative to the repository, e.g. docs/index.md
    line: int  # 1-based line of the opening fence
    language: str
    source: str
    #: None: only checked; else run, with these options (see the module docstring).
    run: frozenset[str] | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def module(self) -> str:
        """A module name for the block's temporary file."""
        stem = re.sub(r"\W", "_", self.page.removesuffix(".md").removeprefix("docs/"))
        return f"doc_{stem}_L{self.line}"


def parse(page: Path) -> list[Block]:
    """The fenced code blocks of ``page``."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], opening["indent"]
        language = opening["info"].split()[0].lower() if opening["info"].strip() else ""
        previous = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        else:
            raise AssertionError(f"{page.relative_to(ROOT)}:{i + 1}: code block is never closed")
        blocks.append(
            Block(
                page=page.relative_to(ROOT).as_posix(),
                line=i + 1,
                language=language,
                source="\n".join(body) + "\n",
                run=run_options(previous),
            )
        )
        i = j + 1
    return blocks


def run_options(line: str) -> frozenset[str] | None:
    """The options of a ``<!-- test: run, ... -->`` line; None for any other line."""
    match = _RUN_MARKER.match(line)
    if match is None:
        return None
    options = frozenset(o.strip() for o in match["options"].split(",") if o.strip())
    unknown = options - RUN_OPTIONS
    assert not unknown, f"{line}: unknown options {sorted(unknown)}; known: {sorted(RUN_OPTIONS)}"
    return options


PAGES = [README, *sorted(DOCS.rglob("*.md"))]
BLOCKS = [block for page in PAGES for block in parse(page)]
EXAMPLES = [block for block in BLOCKS if block.language in PYTHON]
RUNNABLE = [
    pytest.param(block, id=block.id, marks=[pytest.mark.audio] if "plays" in block.run else [])
    for block in EXAMPLES
    if block.run is not None
]


def test_the_docs_have_examples() -> None:
    assert PAGES, f"no pages found under {DOCS}"
    assert len(EXAMPLES) >= 10
    assert RUNNABLE
    readme = [block for block in EXAMPLES if block.page == "README.md"]
    assert len(readme) >= 7
    assert sum(block.run is not None for block in readme) >= 5


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_run_markers_precede_python_blocks(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    starts = {block.line for block in parse(page) if block.language in PYTHON}
    for number, line in enumerate(lines, start=1):
        if line.strip().startswith("<!-- test:"):
            assert run_options(line.strip()) is not None, f"{page.name}:{number}: bad marker"
            following = next(
                (n for n in range(number + 1, len(lines) + 1) if lines[n - 1].strip()), None
            )
            assert following in starts, f"{page.name}:{number}: marker not before a python block"


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_code_blocks_name_their_language(block: Block) -> None:
    assert block.language in LANGUAGES, (
        f"{block.id}: fence language {block.language!r}; use python for Python (it is then "
        f"checked), console or sh for shell commands, text for output"
    )


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: b.id)
def test_example_compiles(block: Block) -> None:
    compile(block.source, block.id, "exec", dont_inherit=True)


@pytest.fixture(scope="session")
def mypy_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Run ``mypy --strict`` once over every example; the errors of each, by block id."""
    api = pytest.importorskip("mypy.api", reason="mypy is not installed")
    folder = tmp_path_factory.mktemp("doc_examples")
    paths: dict[str, Block] = {}
    for block in EXAMPLES:
        path = folder / f"{block.module}.py"
        path.write_text(block.source, encoding="utf-8")
        paths[path.name] = block
    stdout, stderr, status = api.run(
        [
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--show-error-codes",
            "--no-error-summary",
            "--no-color-output",
            *sorted(str(folder / name) for name in paths),
        ]
    )
    errors: dict[str, list[str]] = {block.id: [] for block in EXAMPLES}
    for line in stdout.splitlines():
        match = re.match(r"(?P<path>[^:]+\.py):(?P<line>\d+):(?P<rest>.*)$", line)
        if match is None or Path(match["path"]).name not in paths:
            continue
        block = paths[Path(match["path"]).name]
        doc_line = block.line + int(match["line"])
        errors[block.id].append(f"{block.page}:{doc_line}:{match['rest']}")
    assert status in (0, 1), f"mypy failed to run:\n{stdout}{stderr}"
    return errors


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: b.id)
def test_example_type_checks(block: Block, mypy_errors: dict[str, list[str]]) -> None:
    assert not mypy_errors[block.id], "\n".join(mypy_errors[block.id])


@pytest.mark.timeout(240)
@pytest.mark.parametrize("block", RUNNABLE)
def test_example_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    assert block.run is not None
    script = tmp_path / f"{block.module}.py"
    script.write_text(block.source, encoding="utf-8")
    if "plays" in block.run:
        pulse: PulseServer = request.getfixturevalue("pulse")  # sets PULSE_SERVER for the child
        assert pulse.sinks
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ELEVENLABS_", "AZURE_OPENAI_", "TTSSTREAM_PROVIDER"))
    }
    with LoopbackServer(lambda r, n: audio_response(streaming_wav(tone(4800)), (1, 999))) as server:
        if "server" in block.run:
            env["OPENAI_BASE_URL"] = server.url
            env["OPENAI_API_KEY"] = "sk-docs-example"
        result = subprocess.run(
            [sys.executable, "-X", "dev", "-W", "error", str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=200,
            check=False,
        )
    assert result.returncode == 0, f"{block.page}:{block.line} failed:\n{result.stderr}"
    if "server" in block.run:
        assert server.requests, f"{block.page}:{block.line} never asked the server"
