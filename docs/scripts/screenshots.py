"""Look at the built documentation in a real browser: headless Chromium, desktop and phone.

    python docs/scripts/screenshots.py [SITE_DIR] [OUT_DIR]     (defaults: site, site-screenshots)

Serves the built site on 127.0.0.1, and for every page at 1280 px and at phone width (390 px):

* saves screenshots to look at: ``OUT_DIR/<page>-desktop.png`` (1280x900),
  ``<page>-phone.png`` (390x844) and ``<page>-full.png`` (1280 px wide, 6000 tall);
* measures the layout in the page itself (a script added to each page as it is served): at
  1280 px no Python code, diagram, table or image may be wider than its box (scroll sideways),
  and a table's first column may not wrap (terminal transcripts may scroll); at phone width the
  page itself may not scroll sideways (code blocks and tables may: inside their own box).

Exits 1 listing the problems, 0 when there are none. Run by ``nox -s docs`` after the build.
Needs Chromium (``apt-get install chromium``); set ``CHROMIUM`` to use another binary.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
#: A tall desktop window too: the whole of most pages in one picture, to look at.
FULL = (1280, 6000)
MARKER = "ttsstream-layout-check"
# Runs in the page once it has loaded (fonts included) and writes what it found into the DOM,
# where --dump-dom reads it.
CHECK = """
<script>
window.addEventListener("load", async () => {
  await document.fonts.ready;
  const problems = [];
  const desktop = window.innerWidth >= 1000;
  const describe = (el) => {
    const text = (el.innerText || el.getAttribute("alt") || el.tagName).trim();
    return el.tagName.toLowerCase() + ": " + text.split("\\n")[0].slice(0, 60);
  };
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1) {
    problems.push(`the page scrolls sideways: ${root.scrollWidth} px wide in a ` +
                  `${window.innerWidth} px window`);
  }
  const content = document.querySelector(".md-content") || document.body;
  if (desktop) {
    // Programs (at most 100 columns) and diagrams must fit; terminal transcripts and quoted
    // one-line messages may scroll inside their box.
    const diagrams = [...content.querySelectorAll("pre > code")].filter(
      (c) => c.closest(".language-python, .language-py") || /[─│┌└▼]/.test(c.textContent));
    const boxes = [...content.querySelectorAll(".md-typeset__table, table, img, svg")];
    for (const el of [...diagrams, ...boxes]) {
      if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
        problems.push(`wider than its box (${el.scrollWidth} > ${el.clientWidth} px): ` +
                      describe(el));
      }
    }
    for (const cell of content.querySelectorAll("table tr > :first-child")) {
      const range = document.createRange();
      range.selectNodeContents(cell);
      // Inline boxes (code, links) on one line have slightly different tops: a new line starts
      // only more than half a line below the previous one.
      const style = getComputedStyle(cell);
      const line = parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize);
      const tops = [...range.getClientRects()].filter((r) => r.width > 0).map((r) => r.top);
      tops.sort((a, b) => a - b);
      const lines = tops.filter((t, i) => i === 0 || t - tops[i - 1] > line / 2).length;
      if (lines > 1) problems.push(`first table column wraps: ${describe(cell)}`);
    }
  }
  const out = document.createElement("pre");
  out.id = "MARKER";
  out.textContent = JSON.stringify(problems);
  document.body.appendChild(out);
});
</script>
""".replace("MARKER", MARKER)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site, with the layout check added to HTML pages when ``?check`` is asked."""

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if query != "check":
            super().do_GET()
            return
        local = Path(self.translate_path(path))
        if local.is_dir():
            local = local / "index.html"
        body = local.read_bytes().replace(b"</body>", CHECK.encode() + b"</body>")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    sys.exit("docs screenshots need Chromium: apt-get install chromium (or set CHROMIUM)")


def browse(binary: str, url: str, size: tuple[int, int], *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="ttsstream-chromium-") as profile:
        done = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                "--virtual-time-budget=5000",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {done.stderr[-2000:]}")
    return done.stdout


def pages(site: Path) -> list[str]:
    found = []
    for page in sorted(site.rglob("index.html")):
        rel = page.parent.relative_to(site).as_posix()
        if rel.startswith(("assets", "search")):
            continue
        found.append("" if rel == "." else rel + "/")
    return found


def main() -> int:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else "site").resolve()
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "site-screenshots").resolve()
    if not (site / "index.html").is_file():
        sys.exit(f"{site} has no index.html: build the docs first (mkdocs build)")
    out.mkdir(parents=True, exist_ok=True)
    binary = chromium()
    handler = functools.partial(_Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems: list[str] = []
    try:
        for page in pages(site):
            name = page.strip("/").replace("/", "-") or "index"
            for label, size in WIDTHS.items():
                shot = out / f"{name}-{label}.png"
                browse(binary, base + page, size, f"--screenshot={shot}")
                dom = browse(binary, base + page + "?check", size, "--dump-dom")
                found = re.search(rf'<pre id="{MARKER}">(.*?)</pre>', dom, re.S)
                if found is None:
                    problems.append(f"/{page} at {size[0]} px: the layout check did not run")
                    continue
                for problem in json.loads(html.unescape(found.group(1))):
                    problems.append(f"/{page} at {size[0]} px: {problem}")
            browse(binary, base + page, FULL, f"--screenshot={out / f'{name}-full.png'}")
            print(f"checked /{page}")
    finally:
        server.shutdown()
    print(f"screenshots in {out}")
    for problem in problems:
        print(f"layout: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
