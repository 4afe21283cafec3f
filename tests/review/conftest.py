"""The review tests' world: a private copy of the curated demo data root, accounts, a client.

The session's `demo_home` is shared and read-only, so each module reviews its own copy.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from manifests.ledger import Ledger
from review.app import create_app
from review.security import hash_password
from review.settings import ReviewSettings

PASSWORD = "correct horse battery"
ANNOTATORS = ("alice", "bob")
ADMIN = "root"
HAND = "demo-mouth_occluded_hand-0-6000"  # rejected by the faces stage: a hand over the mouth
MUSIC = "demo-music-0-8000"  # rejected by the audio stage


def copy_home(source: Path, target: Path) -> Path:
    """A copy of a curated data root: the ledger names files relative to it, so it just works."""
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def review_home(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = copy_home(demo_home, tmp_path_factory.mktemp("review") / "cradle-data")
    ledger = Ledger.open(f"sqlite:///{home / 'ledger.sqlite'}")
    for name in ANNOTATORS:
        ledger.add_user(name, "annotator", hash_password(PASSWORD))
    ledger.add_user(ADMIN, "admin", hash_password(PASSWORD))
    ledger.close()
    return home


@pytest.fixture(scope="module")
def ledger(review_home: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(f"sqlite:///{review_home / 'ledger.sqlite'}")
    yield ledger
    ledger.close()


@pytest.fixture(scope="module")
def settings() -> ReviewSettings:
    return ReviewSettings(spot_check_fraction=0.0, login_attempts=3)


@pytest.fixture(scope="module")
def app(ledger: Ledger, settings: ReviewSettings, review_home: Path):
    return create_app(ledger, settings, review_home, {"/t/dd00002": "Baby cry, infant cry"})


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"name": name, "password": password,
                                           "csrf_token": token, "next": "/queue"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def form_fields(html: str, form_id: str) -> dict[str, str]:
    """The hidden fields of one form on a page."""
    form = re.search(rf'<form[^>]*id="{form_id}"[^>]*>(.*?)</form>', html, re.S).group(1)
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


@pytest.fixture
def client(app) -> TestClient:
    return TestClient(app, headers={"accept": "text/html"})


@pytest.fixture
def alice(app) -> TestClient:
    return sign_in(TestClient(app, headers={"accept": "text/html"}), "alice")


@pytest.fixture(scope="module")
def live_server(app) -> Iterator[str]:
    """The app on a free loopback port, for the browser tests."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the review server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
