"""Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s typecheck``, ``nox -s bench``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

# Everything the test suite needs beyond the package and its extras.
TEST_DEPS = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
    "trio>=0.31",
    "soundfile>=0.12",
    "mypy>=1.10",
]
# The peers the benchmarks compare against (PyAudio builds against portaudio19-dev).
PEERS = ["requests>=2.31", "pyaudio>=0.2.14", "openai[voice-helpers]>=1.60", "realtimetts>=0.5"]
EXTRAS = ".[piper,resample,codecs]"


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (asyncio and trio). Extra arguments go to pytest."""
    session.install("-e", EXTRAS, *TEST_DEPS)
    # pytest exits 5 when it collected no tests; nox treats any non-zero exit as a failure.
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library, and the examples."""
    session.install("-e", EXTRAS, "mypy>=1.10", *TEST_DEPS)
    session.run("mypy", "--strict", "src", "examples")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: measured, never asserted. Results are printed as tables."""
    session.install("-e", EXTRAS, "soundfile>=0.12", "matplotlib>=3.8", *PEERS)
    scripts = session.posargs or [str(p) for p in sorted(Path("benchmarks").glob("bench_*.py"))]
    for script in scripts:
        session.run("python", script)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site in site/: redraw its figure, check the examples, build --strict,
    and check the pages in a real browser (screenshots in site-screenshots/)."""
    session.install(
        "-e",
        EXTRAS,  # the README's examples speak with Piper, and are run
        "mkdocs-material>=9.6",
        "mkdocstrings[python]>=1.0",
        # The oldest versions that build these docs (docs/scripts/griffe_sphinx_markup.py).
        "mkdocstrings-python>=2.0",
        "griffe>=1.14",
        "matplotlib>=3.8",
        "ruff>=0.6",  # mkdocstrings formats the signatures in the API reference with it
        # tests/test_docs_examples.py: every Python example compiles, passes mypy --strict,
        # and the ones marked to run do.
        "pytest>=8",
        "pytest-timeout>=2.3",
        "mypy>=1.10",
    )
    session.run("python", "docs/scripts/plot_crackle.py")
    # From the numbers benchmarks/bench_slow_server.py saved in docs/data/slow_server.json.
    session.run("python", "docs/scripts/plot_slow_server.py")
    session.run("pytest", "tests/test_docs_examples.py")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
    # The built pages in headless Chromium at 1280 px and phone width: screenshots to look at in
    # site-screenshots/, and a failure when code, a diagram or a table overflows (apt: chromium).
    session.run("python", "docs/scripts/screenshots.py", "site", "site-screenshots")


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of the sans-IO modules (minutes; not in CI). Arguments: module names."""
    session.install("-e", EXTRAS, *TEST_DEPS, "mutmut>=3.3")
    session.run("python", "tools/mutants.py", *session.posargs)
