"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright, for the web page tests."""
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).parent / "screenshots"  # git-ignored


def screenshot(page, name: str) -> Path:
    """Save the whole page as screenshots/<name>.png (look at them: they show what users see)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def badge_state(locator) -> str:
    """The state a badge shows as text (the icon is decoration)."""
    return locator.get_attribute("data-state") or ""
