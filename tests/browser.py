"""Open a page in headless Chromium and read back what a script measured in it.

`check_page(page, chromium, script)` loads a copy of `page` with a recorder injected at the
top of its <head>: it records every resource that fails to load (an <img> whose file is
missing fires "error"), every script error and console.error, and after "load" every image
not drawn. Then it runs `script`, the body of an
async JavaScript function whose returned value (anything JSON can hold) comes back as
`report["result"]`. The report travels through the DOM (`--dump-dom`), so no driver is needed.

Headless Chromium will not make its window narrower than 500 pixels, so `page_widths` lays
out pages at a phone's width inside iframes of that width (pages opened from files in one
folder may read each other under --allow-file-access-from-files).
"""

from __future__ import annotations

import json
import re
import subprocess
from html import unescape
from pathlib import Path

RECORDER = """<script>
const browserCheckProblems = [];
window.addEventListener("error", (e) => {
  browserCheckProblems.push(
    e.target && e.target.src ? "missing " + e.target.src : "error " + e.message);
}, true);
const browserCheckConsoleError = console.error;
console.error = (...args) => {
  browserCheckProblems.push("console " + args.join(" "));
  browserCheckConsoleError(...args);
};
window.addEventListener("load", async () => {
  for (const img of document.images) {
    if (!(img.complete && img.naturalWidth > 0)) browserCheckProblems.push("not drawn " + img.src);
  }
  let result = null;
  try {
    result = await (async () => { %s })();
  } catch (e) {
    browserCheckProblems.push("check threw " + e);
  }
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify({
    images: document.images.length,
    problems: browserCheckProblems,
    result,
  });
  document.body.appendChild(out);
});
</script>"""


PHONE_WIDTH = 390  # CSS pixels: a common phone held upright

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",  # this machine's closed network refuses it
    "--disable-component-update",
    "--no-first-run",
    "--allow-file-access-from-files",
    "--virtual-time-budget=20000",
)


def dumped(chromium: str, page: Path, dark: bool = False) -> tuple[dict, str]:
    """Load `page`, whose script writes <pre id="browser-check">JSON</pre> when it is done:
    (that JSON, Chromium's stderr). With `dark`, the system asks pages for dark colours."""
    run = subprocess.run(
        [
            chromium,
            *FLAGS,
            *(["--blink-settings=preferredColorScheme=0"] if dark else []),  # 0: dark
            "--window-size=1200,900",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', run.stdout, re.S)
    assert found, f"the page did not finish loading: {run.stderr[-2000:]}"
    return json.loads(unescape(found.group(1))), run.stderr


def check_page(
    page: Path, chromium: str, script: str = "return null;", dark: bool = False
) -> tuple[dict, str]:
    """Open a copy of `page` (beside it, so relative links hold) in headless Chromium, run
    `script` after "load": (its report, Chromium's stderr). `dark`: as on a dark system."""
    checked = page.with_name(f"browser-check-{page.stem}.html")
    text = page.read_text()
    assert "<head>" in text, f"{page} has no <head>"
    checked.write_text(text.replace("<head>", "<head>" + RECORDER % script, 1))
    try:
        return dumped(chromium, checked, dark)
    finally:
        checked.unlink()


WIDTHS = """<!DOCTYPE html><html><head></head><body>%s<script>
window.addEventListener("load", () => {
  const widths = {};
  for (const frame of document.querySelectorAll("iframe")) {
    const inner = frame.contentWindow;
    widths[frame.dataset.page] = [inner.innerWidth, inner.document.documentElement.scrollWidth];
  }
  const out = document.createElement("pre");
  out.id = "browser-check";
  out.textContent = JSON.stringify(widths);
  document.body.appendChild(out);
});
</script></body></html>"""


def page_widths(pages: list[Path], chromium: str, width: int) -> dict[str, list[int]]:
    """Each page (all in one folder) laid out `width` CSS pixels wide: its name → [the
    window's width, the page's width]; a page wider than its window overflows."""
    folder = pages[0].parent
    frames = "".join(
        f'<iframe data-page="{page.name}" src="{page.name}" '
        f'style="width: {width}px; height: 600px; border: 0"></iframe>'
        for page in pages
    )
    wrapper = folder / "browser-widths.html"
    wrapper.write_text(WIDTHS % frames)
    try:
        return dumped(chromium, wrapper)[0]
    finally:
        wrapper.unlink()
