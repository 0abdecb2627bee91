"""Mutation testing of the sans-IO modules (``nox -s mutants``; not run in CI: it takes minutes).

For each module, mutmut mutates that module alone and runs only the test files that exercise it,
in a scratch copy of the project. Prints a table of killed / total per module and exits non-zero
when a module is under ``--goal`` percent. Usage::

    python tools/mutants.py                 # every module below
    python tools/mutants.py ring sse        # some of them
    python tools/mutants.py --show ring     # also list the surviving mutants (mutmut show NAME)

A mutant counts as killed when a test fails or times out; "no tests" counts as surviving.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: short name -> (module file under src/ttsstream, the test files that exercise it)
MODULES: dict[str, tuple[str, list[str]]] = {
    "format": ("_format.py", ["test_format.py", "test_pcm.py", "test_wav.py"]),
    "wav": ("_decode/wav.py", ["test_wav.py"]),
    "pcm": ("_decode/pcm.py", ["test_pcm.py"]),
    "sse": ("_decode/sse.py", ["test_sse.py"]),
    "sniff": ("_decode/sniff.py", ["test_sniff.py", "test_codecs.py"]),
    "ogg": ("_decode/ogg.py", ["test_codecs.py"]),
    "codecs": ("_decode/codecs.py", ["test_codecs.py"]),
    "httperrors": ("_providers/errors.py", ["test_errors.py"]),
    "ring": ("_play/ring.py", ["test_ring.py"]),
    "convert": ("_play/convert.py", ["test_convert.py"]),
    "engine": ("_play/engine.py", ["test_engine.py", "test_engine_hold.py"]),
    "policy": ("_play/policy.py", ["test_policy.py"]),
    "sentences": ("_text/sentences.py", ["test_sentences.py"]),
    "speakable": ("_text/speakable.py", ["test_speakable.py"]),
    "deepgram": ("_providers/deepgram.py", ["test_deepgram.py"]),
    "cartesia": ("_providers/cartesia.py", ["test_cartesia.py"]),
    "azure_speech": ("_providers/azure_speech.py", ["test_azure_speech.py"]),
}


def run_one(name: str, *, show: bool) -> tuple[int, int, list[str]]:
    module, tests = MODULES[name]
    tests = [t for t in tests if (ROOT / "tests" / t).exists()]
    if not (ROOT / "src/ttsstream" / module).exists():
        raise SystemExit(f"{module} does not exist")
    with tempfile.TemporaryDirectory(prefix=f"mutants-{name}-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "src", work / "src")
        shutil.copytree(ROOT / "tests", work / "tests")
        config = (ROOT / "pyproject.toml").read_text()
        config += (
            "\n[tool.mutmut]\n"
            'source_paths = ["src/"]\n'
            f'only_mutate = ["src/ttsstream/{module}"]\n'
            f"pytest_add_cli_args_test_selection = {json.dumps(['tests/' + t for t in tests])}\n"
        )
        (work / "pyproject.toml").write_text(config)
        env = {**os.environ, "PYTHONPATH": ""}
        subprocess.run(
            [sys.executable, "-m", "mutmut", "run"],
            cwd=work,
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        out = subprocess.run(
            [sys.executable, "-m", "mutmut", "results", "--all", "true"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        results = [line.strip().rsplit(": ", 1) for line in out.splitlines() if ": " in line]
        killed = sum(1 for _, status in results if status in ("killed", "timeout"))
        survivors = [key for key, status in results if status not in ("killed", "timeout")]
        if show:
            for key in survivors:
                shown = subprocess.run(
                    [sys.executable, "-m", "mutmut", "show", key],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
                print(shown)
        return killed, len(results), survivors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", choices=[*MODULES, []], default=[])
    parser.add_argument("--show", action="store_true", help="print each surviving mutant")
    parser.add_argument("--goal", type=float, default=90.0, help="minimum percent killed")
    args = parser.parse_args()
    names = args.modules or list(MODULES)
    rows = []
    for name in names:
        if not (ROOT / "src/ttsstream" / MODULES[name][0]).exists():
            continue
        killed, total, survivors = run_one(name, show=args.show)
        rows.append((name, killed, total, survivors))
        score = 100.0 * killed / total if total else 100.0
        print(f"{name:<10} {killed:>4} / {total:<4} killed  {score:5.1f} %", flush=True)
    failed = [r for r in rows if r[2] and 100.0 * r[1] / r[2] < args.goal]
    for name, _, _, survivors in failed:
        print(f"{name}: surviving: {' '.join(survivors[:20])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
