"""Open a labeltune HTML page in a real headless browser (Debian's chromium, driven by Playwright).

    from browser import open_page
    with open_page(path, "explain") as (page, problems):
        assert page.locator(".tok").count() == n_words
    # leaving the block fails the test on any console error, page error or network request

The browser is the system one (`apt-get install chromium`, done by scripts/install_browser.sh from `make setup`);
Playwright never downloads its own. A page must be self-contained: any request that is not for the file itself is
blocked and reported as a problem. A screenshot of each page is kept in `test-artifacts/` at the repository root.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil

CHROMIUM = os.environ.get("LABELTUNE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "test-artifacts"
# flags that keep a root, headless, offline chromium from trying to phone home or sandbox itself
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]


def _require_browser() -> None:
    # a missing browser is a broken set-up, not a reason to skip: `make test` must fail loudly
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        raise AssertionError(f"no browser at {CHROMIUM}: run `bash scripts/install_browser.sh .venv` (make setup does)")


@contextlib.contextmanager
def open_page(path: str, name: str, width: int = 1200, height: int = 900, check: bool = True):
    """Yield (page, problems) for the HTML file at `path`; `problems` collects console errors, page errors and
    network requests. On exit the page is screenshotted to test-artifacts/<name>.png and, with `check`, the
    test fails if there were problems or if an <img> did not render."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    url = pathlib.Path(path).resolve().as_uri()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            def route(r):
                if r.request.url == url or r.request.url.startswith("data:"):
                    r.continue_()
                else:
                    problems.append(f"network request: {r.request.url}")
                    r.abort()

            page.route("**/*", route)
            page.goto(url, wait_until="load")
            yield page, problems
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            if check:
                broken = page.evaluate(
                    "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 40))"
                )
                assert not broken, f"{path}: images that did not render: {broken}"
                assert not problems, f"{path}: {problems}"
        finally:
            browser.close()
