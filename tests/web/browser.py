"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright, for the web page tests."""
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).parent / "screenshots"  # git-ignored


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save the page as screenshots/<name>.png (look at them: they show what users see)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def badge_state(locator) -> str:
    """The state a badge shows as text (the icon is decoration)."""
    return locator.get_attribute("data-state") or ""


def wait_js(page, predicate: str, timeout: float = 15.0, interval: float = 0.1) -> None:
    """Wait until the JavaScript function `predicate` returns true. (Playwright's own
    wait_for_function evaluates strings with eval, which the page's CSP rightly refuses.)"""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {predicate}")
        time.sleep(interval)
