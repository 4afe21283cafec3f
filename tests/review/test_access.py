"""Access: no route without a session, no state change without its CSRF token, no file paths
from requests, untrusted text inert, strict headers and cookies, throttled guessing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from manifests.ledger import Ledger
from manifests.outcomes import StageResult
from review.app import PUBLIC_PATHS
from review.security import CONTENT_SECURITY_POLICY
from tests.review.conftest import HAND, PASSWORD, csrf_of, form_fields, sign_in

pytestmark = pytest.mark.slow  # the curated demo data root is built once per session (~1 min)

SAMPLE_PATH_VALUES = {"clip_id": HAND, "name": "alice"}


def concrete(path: str) -> str:
    for name, value in SAMPLE_PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path


def route_table(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, from its OpenAPI description."""
    return [(method.upper(), path) for path, operations in app.openapi()["paths"].items()
            for method in operations]


def test_every_route_refuses_requests_without_a_session(app, client: TestClient) -> None:
    routes = route_table(app)
    assert len(routes) >= 12
    checked = 0
    for method, path in routes:
        if path.startswith(PUBLIC_PATHS):
            continue
        response = client.request(method, concrete(path), follow_redirects=False)
        assert response.status_code in (303, 401), (method, path, response.status_code)
        if response.status_code == 303:
            assert response.headers["location"].startswith("/login?next=")
        api = client.request(method, concrete(path), headers={"accept": "*/*"},
                             follow_redirects=False)
        assert api.status_code == 401, (method, path)
        checked += 1
    assert checked >= 11
    assert {path for _, path in routes if path.startswith(PUBLIC_PATHS)} == {"/login"}
    # A forged or expired session cookie is no session either.
    client.cookies.set("cradle_session", "forged")
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_state_changing_requests_need_the_sessions_csrf_token(alice: TestClient) -> None:
    page = alice.get(f"/clips/{HAND}")
    fields = form_fields(page.text, "form-confirm")
    without = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert alice.post(f"/clips/{HAND}/decisions", data=without).status_code == 403
    assert alice.post(f"/clips/{HAND}/decisions",
                      data={**fields, "csrf_token": "guessed"}).status_code == 403
    assert alice.post("/logout", follow_redirects=False).status_code == 403
    # The header form works for scripts, and the session's token is the only one accepted.
    assert alice.post("/logout", headers={"x-csrf-token": csrf_of(page.text)},
                      follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", [
    "/clips/..%2F..%2Fledger.sqlite", "/clips/%2E%2E", "/clips/.hidden/video",
    "/clips/-rf/video", "/clips/x%00y", "/clips/..%5C..%5Cetc%5Cpasswd/video",
    "/clips/demo-not-a-clip/video", "/clips/" + "a" * 300,
    "/queue?stage=../../etc", "/queue?reason=../x", "/queue?label=../../x",
    "/queue?since=yesterday", "/queue?page=-1",
    f"/queue/step?after=../{HAND}", "/static/../ledger.sqlite", "/static/%2E%2E/app.py",
])
def test_path_traversal_payloads_get_404_or_422(alice: TestClient, path: str) -> None:
    response = alice.get(path, follow_redirects=False)
    assert response.status_code in (404, 422), (path, response.status_code)
    assert b"SQLite format" not in response.content


def test_untrusted_provenance_renders_inert(alice: TestClient, ledger: Ledger) -> None:
    attempt = ledger.latest("download", [HAND])[HAND]
    hostile = {"title": "<script>alert('title')</script>",
               "channel": '"><img src=x onerror=alert(1)>', "license": "</dd><b>bold</b>"}
    metrics = {**attempt.metrics, "provenance": {**attempt.metrics["provenance"], **hostile}}
    now = datetime.now(UTC)
    ledger.record("download", attempt.stage_version, attempt.config_hash,
                  [StageResult.ok(HAND, metrics, {k: v for k, v in attempt.outputs.items()})],
                  started_at=now)
    html = alice.get(f"/clips/{HAND}").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_pages_carry_strict_security_headers(alice: TestClient, client: TestClient) -> None:
    for response in (alice.get("/queue"), client.get("/login")):
        headers = response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
    assert "<script>" not in alice.get("/queue").text  # scripts load from /static only


def test_session_cookie_is_httponly_strict_and_secure_over_https(app) -> None:
    plain = TestClient(app, headers={"accept": "text/html"})
    sign_in(plain, "alice")
    https = TestClient(app, base_url="https://testserver", headers={"accept": "text/html"})
    page = https.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = https.post("/login", data={"name": "alice", "password": PASSWORD,
                                          "csrf_token": token}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie


def _login(client: TestClient, name: str, password: str):
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token}, follow_redirects=False)


def test_failed_logins_are_throttled_per_account_and_per_address(app, ledger: Ledger) -> None:
    # Addresses of their own: the per-address limit must not lock the other tests out.
    guesser = TestClient(app, headers={"accept": "text/html"}, client=("192.0.2.7", 40000))
    for _ in range(3):  # settings.login_attempts
        wrong = _login(guesser, "bob", "wrong password!!")
        assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    # bob's account is throttled from anywhere, even with the right password ...
    elsewhere = TestClient(app, headers={"accept": "text/html"}, client=("192.0.2.8", 40000))
    blocked = _login(elsewhere, "bob", PASSWORD)
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    # ... and the guessing address is throttled for every account.
    assert _login(guesser, "alice", PASSWORD).status_code == 429
    assert _login(elsewhere, "alice", PASSWORD).status_code == 303
    assert "login_throttled" in [e.action for e in ledger.audit_log(10)]


def test_login_form_without_its_token_is_refused(client: TestClient) -> None:
    response = client.post("/login", data={"name": "alice", "password": PASSWORD,
                                           "csrf_token": "x"})
    assert response.status_code == 403


def test_only_admins_manage_users_and_see_the_audit(app, alice: TestClient,
                                                    ledger: Ledger) -> None:
    assert alice.get("/admin/users").status_code == 403
    assert alice.get("/admin/audit").status_code == 403
    root = sign_in(TestClient(app, headers={"accept": "text/html"}), "root")
    page = root.get("/admin/users")
    assert page.status_code == 200 and "alice" in page.text
    saved = root.post("/admin/users", data={"csrf_token": csrf_of(page.text), "name": "carol",
                                            "role": "annotator", "password": "x" * 12},
                      follow_redirects=False)
    assert saved.status_code == 303 and ledger.user("carol").role == "annotator"
    carol = sign_in(TestClient(app, headers={"accept": "text/html"}), "carol", "x" * 12)
    root.post("/admin/users/carol/active", data={"csrf_token": csrf_of(page.text),
                                                 "active": "false"})
    assert carol.get("/queue", follow_redirects=False).status_code == 303  # session ended
    audit = root.get("/admin/audit").text
    assert "user_deactivated" in audit and "user_saved" in audit
