"""Draw docs/img/slow_server.png from docs/data/slow_server.json (written by the benchmark).

``benchmarks/bench_slow_server.py`` measures, for a server slower than real time, the audio
handed to the sink and the audio heard over time, starting at once (today's behaviour) and with
the start policy; it saves one run of each in the JSON. This script draws the buffer level
(handed to the sink minus heard) and both curves from it.

    python docs/scripts/plot_slow_server.py [DATA.json [OUTPUT.png]]

``nox -s docs`` runs it before building the site, so the picture always matches the data.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

DOCS = Path(__file__).resolve().parent.parent
DATA = DOCS / "data" / "slow_server.json"
OUTPUT = DOCS / "img" / "slow_server.png"
STYLE = {
    "today": ("tab:red", "start at once (adaptive_start=False)"),
    "policy": ("tab:blue", "start policy, first utterance"),
    "warm": ("tab:green", "start policy, voice learned"),
    "fastwarm": ("tab:purple", "start policy, voice fast a moment ago"),
}


def main(data: Path = DATA, output: Path = OUTPUT) -> None:
    doc = json.loads(data.read_text())
    rate = doc["meta"]["plot_rate"]
    fig, (level_ax, flow_ax) = plt.subplots(
        2, 1, figsize=(10, 6.4), sharex=True, layout="constrained"
    )
    fig.suptitle(
        f"{doc['meta']['speech_s']:.1f} s of speech from a server at {rate:g}x real time, in bursts"
    )
    for mode, points in doc["timelines"].items():
        color, label = STYLE[mode]
        t = [p[0] for p in points]
        got = [p[1] for p in points]
        heard = [p[2] for p in points]
        level_ax.plot(t, [g - h for g, h in zip(got, heard, strict=True)], color=color, label=label)
        flow_ax.plot(t, got, color=color, lw=1, ls="--")
        flow_ax.plot(t, heard, color=color, lw=2, label=f"heard: {label}")
    least = [r["minimum_s"] for r in doc["rows"] if r["rate"] == rate and r["minimum_s"]]
    if least:  # the same schedule in every mode
        for ax in (level_ax, flow_ax):
            ax.axvline(
                least[0], color="0.3", ls=":", lw=1.2, label="least possible first sound, no gaps"
            )
    level_ax.set_ylabel("buffered: handed to sink - heard (s)")
    level_ax.set_title("Buffer level: at 0 mid-speech the listener hears silence")
    level_ax.axhline(0, color="k", lw=0.6)
    level_ax.legend(loc="upper right")
    flow_ax.plot([], [], color="0.4", lw=1, ls="--", label="handed to the sink (same colour)")
    flow_ax.set_ylabel("audio (s)")
    flow_ax.set_xlabel("time since speak() was called (s)")
    flow_ax.set_title(
        "Audio handed to the sink (dashed) and heard (solid): flat solid stretches are gaps"
    )
    flow_ax.legend(loc="upper left")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=110)
    print(f"plot: {output}")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:3]))
