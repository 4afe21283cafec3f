"""A real browser for tests: Playwright driving Debian's Chromium, never a downloaded one.

Pages Cradle writes (the evaluator's report, the review UI) are checked the way a person sees
them: loaded in Chromium, screenshotted, their images decoded. `make test` installs the
`chromium` apt package; without it these tests skip on a user's machine and fail in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; Playwright must not fetch its own


def require_chromium() -> None:
    """Skips (fails under CI) when Chromium or Playwright is missing."""
    missing = None
    if not CHROMIUM.is_file():
        missing = f"Chromium is not installed at {CHROMIUM}: `make test` installs it (apt chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            missing = "Playwright is not installed: pip install -c requirements.lock -e '.[dev]'"
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(missing)
    pytest.skip(missing)


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[Page]:
    """A fresh page in headless Chromium (`--no-sandbox`: tests run as root in CI)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def pixel_variance(png: bytes) -> float:
    """Grey-level variance of a screenshot: ~0 for a blank or single-colour page."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("not a PNG screenshot")
    return float(image.astype(np.float64).var())
