"""The review UI in headless Chromium: an annotator's whole round, as a person does it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from manifests.formats.facetrack import FaceTrack
from manifests.ledger import Ledger
from manifests.outcomes import StageResult
from tests.browser import browser_page
from tests.review.conftest import HAND, PASSWORD

pytestmark = pytest.mark.slow

PURGED = "demo-face_turned-0-5000"  # its raw video is deleted below
HOSTILE = "demo-two_faces-0-8000"  # its provenance gets script-like text below


def sign_in(page, base: str, name: str = "alice") -> None:
    page.goto(f"{base}/queue")
    page.wait_for_url("**/login?next=*")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/queue")


def wait_until(page, expression: str, timeout_s: float = 15.0) -> None:
    """Polls `expression` from outside the page: the CSP (rightly) forbids Playwright's
    in-page `wait_for_function`, which evaluates a string."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.05)


def green_pixels(png: bytes) -> np.ndarray:
    """Where the overlay drew landmarks: saturated green."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).astype(int)
    b, g, r = image[..., 0], image[..., 1], image[..., 2]
    return (g > 180) & (r < 140) & (b < 140)


def face_box(track: FaceTrack, frame: int, shown: tuple[float, float]) -> tuple[int, ...]:
    """The frame's landmark bounding box in screenshot pixels of an element `shown` big."""
    points = track.landmarks[frame, :, :2]
    scale = min(shown[0] / track.width, shown[1] / track.height)
    x0 = (shown[0] - track.width * scale) / 2
    y0 = (shown[1] - track.height * scale) / 2
    lo, hi = np.nanmin(points, axis=0), np.nanmax(points, axis=0)
    return (int(x0 + lo[0] * scale) - 4, int(y0 + lo[1] * scale) - 4,
            int(x0 + hi[0] * scale) + 4, int(y0 + hi[1] * scale) + 4)


def test_annotator_filters_plays_steps_seeks_and_decides(live_server: str, ledger: Ledger,
                                                         review_home: Path) -> None:
    track = FaceTrack.load(review_home / "faces" / f"{HAND}.npz")
    with browser_page(1400, 1000) as page:
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, live_server)

        page.select_option("select[name=reason]", "mouth_occluded")
        page.click("#filters button[type=submit]")
        page.wait_for_url("**reason=mouth_occluded*")
        rows = page.locator("#queue tbody tr")
        assert HAND in rows.evaluate_all("rows => rows.map(r => r.dataset.clip)")
        assert all(r == "mouth_occluded" for r in page.locator("#queue tbody td:nth-child(4)")
                   .all_inner_texts())

        page.click(f"a[href^='/clips/{HAND}']")
        page.wait_for_selector("#clip[data-ready='1']")
        video = page.locator("#video")

        page.keyboard.press(" ")  # play
        wait_until(page, "document.getElementById('video').currentTime > 0.4")
        page.keyboard.press(" ")  # pause
        assert video.evaluate("v => v.paused")

        # Step to a frame the face track says has a face, then one forward and one back.
        frame = int(np.flatnonzero(track.present)[len(track.present) // 2])
        box = page.locator("#timeline").bounding_box()
        page.mouse.click(box["x"] + box["width"] * (frame + 0.5) / track.frames, box["y"] + 5)
        wait_until(page, f"document.getElementById('clip').dataset.frame === '{frame}'")
        seconds = video.evaluate("v => v.currentTime")
        assert abs(seconds - (frame + 0.5) / track.fps) < 1.5 / track.fps  # the video seeked
        page.keyboard.press(".")
        wait_until(page, f"document.getElementById('clip').dataset.frame === '{frame + 1}'")
        page.keyboard.press(",")
        wait_until(page, f"document.getElementById('clip').dataset.frame === '{frame}'")
        wait_until(page, "!document.getElementById('video').seeking")
        time.sleep(0.3)

        stage = page.locator("#stage")
        shown = stage.bounding_box()
        drawn = green_pixels(stage.screenshot())
        x0, y0, x1, y1 = face_box(track, frame, (shown["width"], shown["height"]))
        inside = int(drawn[max(0, y0):y1, max(0, x0):x1].sum())
        assert inside > 300, "the landmarks are drawn where the face is"
        assert inside > 0.9 * drawn.sum()
        page.keyboard.press("l")  # landmarks off: the green goes
        time.sleep(0.2)
        assert green_pixels(stage.screenshot()).sum() < 0.1 * inside

        page.keyboard.press("?")
        assert page.locator("#help").is_visible()
        page.keyboard.press("Escape")
        assert not page.locator("#help").is_visible()

        page.keyboard.press("c")  # confirm the rejection
        page.wait_for_url(f"**/clips/{HAND}?decided=1*")
        history = page.locator("#history").inner_text()
        assert "alice" in history and "confirmed the verdict" in history
        assert not errors, errors
    (review,) = ledger.reviews(HAND)
    assert (review.annotator, review.decision.value, review.stage) == ("alice", "confirm", "faces")


def test_purged_raw_media_shows_landmarks_and_qc_alone(live_server: str, ledger: Ledger,
                                                       review_home: Path) -> None:
    video = ledger.latest("download", [PURGED])[PURGED].output("video", review_home)
    assert video is not None and video.is_relative_to(review_home)
    video.unlink()
    with browser_page() as page:
        sign_in(page, live_server)
        page.goto(f"{live_server}/clips/{PURGED}")
        page.wait_for_selector("#clip[data-ready='1']")
        assert "no longer on disk" in page.locator("#purged").inner_text()  # deleted by hand
        assert page.locator("video").count() == 0
        page.keyboard.press(" ")  # plays the landmarks alone
        wait_until(page, "Number(document.getElementById('clip').dataset.frame) > 5")
        page.keyboard.press(" ")
        assert green_pixels(page.locator("#stage").screenshot()).sum() > 100
        status = page.evaluate(f"fetch('/clips/{PURGED}/video').then(r => r.status)")
        assert status == 404


def test_script_in_a_video_title_stays_text(live_server: str, ledger: Ledger) -> None:
    attempt = ledger.latest("download", [HOSTILE])[HOSTILE]
    provenance = {**attempt.metrics["provenance"], "title": "<script>alert('x')</script>",
                  "channel": '"><img src=x onerror=alert(1)>'}
    ledger.record("download", attempt.stage_version, attempt.config_hash,
                  [StageResult.ok(HOSTILE, {**attempt.metrics, "provenance": provenance},
                                  dict(attempt.outputs))], started_at=datetime.now(UTC))
    with browser_page() as page:
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        sign_in(page, live_server)
        page.goto(f"{live_server}/clips/{HOSTILE}")
        page.wait_for_selector("#clip[data-ready='1']")
        text = page.locator("#provenance").inner_text()
        assert "<script>alert('x')</script>" in text
        assert '"><img src=x onerror=alert(1)>' in text
        assert page.locator("#provenance img, #provenance script").count() == 0
        assert dialogs == []
