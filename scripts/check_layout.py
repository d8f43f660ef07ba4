"""Check the built site's layout in headless Chromium, at a desktop and a phone width.

    python scripts/check_layout.py                 # build the site into a temporary directory
    python scripts/check_layout.py --site site     # or check one already built
    python scripts/check_layout.py --screenshots out/shots   # also save full-page PNGs

Every HTML page of the site is loaded from a local server (127.0.0.1, a free port) at each
width (1280 and 390 CSS pixels by default), after MathJax has typeset it and the fonts are
loaded. A page fails when:

1. **it is wider than the viewport**: ``document.documentElement.scrollWidth`` is larger than
   the width asked for (not ``window.innerWidth``: in phone emulation a too-wide page widens
   ``innerWidth`` with it) — the reader would scroll the whole page sideways;
2. **a formula is clipped**: the rendered box of a MathJax formula (``mjx-container``, measured
   by its ``mjx-math`` child, which is what overflows) reaches more than 1 px past the left or
   right edge of the nearest ancestor whose ``overflow-x`` is not ``visible`` while that
   ancestor does not scroll (``hidden`` or ``clip``), or past the viewport when no ancestor
   clips or scrolls. A formula inside a scrolling ancestor (``overflow-x: auto``/``scroll``)
   can still be reached and is only counted;
3. **a table hides columns at the desktop width**: a Material table wrapper
   (``.md-typeset__scrollwrap``) whose content is wider than the wrapper, at widths of 1000 px
   and more (on a phone, tables may scroll).

Hidden formulas (zero size: closed ``<details>``, inactive tabs) are skipped. Chromium is
driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``), with the
standard library only. Exit status 0 when every page passes, 1 otherwise, 2 when Chromium is
missing (0 with ``--if-chromium``, as ``make test`` runs it after building the site).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from base64 import b64decode
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

MEASURE = r"""
((vw) => {
  const out = {width: document.documentElement.scrollWidth, viewport: vw, clipped: [], scrolled: 0,
               wide: [], tables: []};
  const describe = (el) => {
    const cls = (el.getAttribute("class") || "").split(/\s+/).filter(Boolean).slice(0, 2).join(".");
    const text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 60);
    return `<${el.tagName.toLowerCase()}${cls ? "." + cls : ""}> ${text}`;
  };
  for (const c of document.querySelectorAll("mjx-container")) {
    if (c.parentElement.closest("mjx-assistive-mml")) continue;  // MathJax's hidden copy for screen readers
    const box = (c.querySelector("mjx-math") || c).getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    let verdict = box.right > vw + 1 || box.left < -1 ? "past the viewport" : null;
    for (let a = c.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === "visible") continue;
      const r = a.getBoundingClientRect();
      const sticksOut = box.right > r.right + 1 || box.left < r.left - 1;
      if (ox === "auto" || ox === "scroll") { if (sticksOut) out.scrolled++; verdict = null; }
      else if (sticksOut) verdict = `clipped by ${describe(a).split(">")[0]}> (${Math.round(box.width)} px in ${Math.round(r.width)} px)`;
      break;
    }
    if (verdict) out.clipped.push(`${verdict}: ${describe(c)}`);
  }
  if (out.width > vw) {  // name the outermost elements that stick out
    for (const el of document.body.querySelectorAll("*")) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.right <= vw + 1) continue;
      const p = el.parentElement.getBoundingClientRect();
      if (p.right <= vw + 1) out.wide.push(`${describe(el)} (right edge ${Math.round(r.right)} px)`);
      if (out.wide.length >= 5) break;
    }
  }
  for (const w of document.querySelectorAll(".md-typeset__scrollwrap")) {
    if (w.scrollWidth > w.clientWidth + 1)
      out.tables.push(`${describe(w.querySelector("table") || w)} (${w.scrollWidth} px in ${w.clientWidth} px)`);
  }
  return JSON.stringify(out);
})(VIEWPORT)
"""

READY = r"""
new Promise(async (resolve) => {
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise((r) => setTimeout(r, 25));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  resolve(true);
})
"""


def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), *BROWSERS):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """Chromium over the DevTools protocol on a pipe: JSON messages ended by a NUL byte."""

    def __init__(self, exe: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        to_child_r, self._w = os.pipe()  # the browser reads commands on fd 3
        self._r, from_child_w = os.pipe()  # and writes replies and events on fd 4

        def wire() -> None:  # in the child: the pipe ends onto fds 3 and 4, whatever numbers they had
            r, w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        args = [exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
                "--disable-extensions", "--disable-background-networking", "--disable-dev-shm-usage",
                f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=wire, pass_fds=(3, 4, to_child_r, from_child_w),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, session: bool = False, **params: object) -> dict:
        self._id += 1
        msg: dict = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    del self.events[: i + 1]
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(self._read())

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", session=True, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def load(self, url: str, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=width < 600)
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")
        self.evaluate(READY)

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)
        path.write_bytes(b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - it may be gone already
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._w)
        os.close(self._r)
        shutil.rmtree(self.profile, ignore_errors=True)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def build_site(into: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "--site-dir", str(into)],
                   cwd=ROOT, env=env, check=True)


def pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)).replace("index.html", "") for p in site.rglob("*.html")
                  if "javascripts" not in p.parts)


def check(site: Path, widths: list[int], shots: Path | None = None, exe: str | None = None) -> list[str]:
    """Every failure, as one line each: '<width> px <page>: <what>'."""
    exe = exe or find_chromium()
    if exe is None:
        raise FileNotFoundError("no Chromium found (apt-get install chromium)")
    server, base = serve(site)
    browser = Browser(exe)
    failures: list[str] = []
    try:
        for width in widths:
            for page in pages(site):
                browser.load(base + page, width, 900)
                # the width asked for, not innerWidth: on a phone a too-wide page widens innerWidth too
                m = json.loads(browser.evaluate(MEASURE.replace("VIEWPORT", str(width))))  # type: ignore[arg-type]
                where = f"{width} px /{page}"
                if m["width"] > m["viewport"]:
                    failures.append(f"{where}: page is {m['width']} px wide in a {m['viewport']} px viewport; "
                                    + "; ".join(m["wide"]))
                failures += [f"{where}: formula {c}" for c in m["clipped"]]
                if width >= 1000:  # a desktop: every table column in view (a phone may scroll)
                    failures += [f"{where}: table hides columns: {t}" for t in m["tables"]]
                note = f", {m['scrolled']} formula(s) in a scroller" if m["scrolled"] else ""
                note += f", {len(m['tables'])} table(s) scroll" if m["tables"] else ""
                print(f"{where}: {m['width']} px wide{note}", flush=True)
                if shots is not None:
                    shots.mkdir(parents=True, exist_ok=True)
                    name = (page.strip("/").replace("/", "_") or "index").replace(".html", "")
                    browser.screenshot(shots / f"{name}-{width}.png")
    finally:
        browser.close()
        server.shutdown()
    return failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--site", type=Path, help="a built site (default: build one into a temporary directory)")
    ap.add_argument("--widths", default="1280,390", help="viewport widths in CSS pixels (default 1280,390)")
    ap.add_argument("--screenshots", type=Path, help="save a full-page PNG of every page at every width here")
    ap.add_argument("--if-chromium", action="store_true", help="without Chromium, say so and pass (for make test)")
    args = ap.parse_args(argv)
    if find_chromium() is None:
        print("check_layout: no Chromium found (apt-get install chromium)"
              + ("; layout not checked" if args.if_chromium else ""), file=sys.stderr)
        return 0 if args.if_chromium else 2
    widths = [int(w) for w in args.widths.split(",")]
    with tempfile.TemporaryDirectory(prefix="site-") as tmp:
        site = args.site
        if site is None:
            site = Path(tmp)
            build_site(site)
        failures = check(site, widths, args.screenshots)
        n = len(pages(site))
    for f in failures:
        print("FAIL", f)
    print(f"check_layout: {n} pages x {len(widths)} widths, {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
