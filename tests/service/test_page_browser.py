"""The page in a real headless Chromium against a real gunicorn server on the emulator.

It loads the page, picks a voice, creates a soundbite, sees it listed as pending, sees it
turn ready once the audio exists (real espeak-ng audio, as the worker would upload), and
loads that audio through the API's redirect to the bucket. Any CSP violation, console
error or uncaught exception fails the test.
"""

from __future__ import annotations

import shutil

import pytest

from soundbite.core import domain
from soundbite.core.repository import SoundbiteRepository
from tests.service.conftest import user_pool

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and shutil.os.path.exists(p)), None)
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 20_000

# Recorded from inside the page: the event fires for every violation, reported or not.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian package `chromium`)"),
]


@pytest.fixture
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda r: problems.append(f"CSP report sent: {r.post_data}")
                if r.url.endswith("/api/csp-report") else None)
        page.add_init_script(WATCH_CSP)
        yield page, problems
        browser.close()


def test_create_watch_and_play_a_soundbite_with_no_csp_violation(
        api_server, browser_page, fresh_data_plane, boto_session, aws_emulator):
    import jwt

    from infra.local import cognito
    from worker.synth import build_synthesizer

    server = api_server("ec2", SOUNDBITE_CACHE_TTL_SECONDS="1")
    pool, idp = user_pool(aws_emulator.endpoint)
    password = cognito.ensure_user(idp, pool, "page-user")
    page, problems = browser_page
    page.goto(server.url + "/")
    page.wait_for_selector("#voice:not([disabled])", timeout=WAIT_MS)
    assert page.locator("#voice option").count() >= 1
    assert page.locator("#voice").input_value() == "en-us"
    assert page.locator("#sign-in-form").is_visible(), "signed out: the page asks first"

    # Signed in at the local user pool: every call after this carries the ID token.
    page.fill("#username", "page-user")
    page.fill("#password", password)
    page.click("#sign-in")
    page.locator("#user-id", has_text="page-user").wait_for(timeout=WAIT_MS)
    assert page.locator("#sign-in-form").is_hidden()
    user = jwt.decode(cognito.sign_in(idp, pool, "page-user", password)["IdToken"],
                      options={"verify_signature": False})["sub"]

    page.fill("#text", "Hello from a real browser")
    page.select_option("#format", "wav")
    page.click("#create")
    row = page.locator("#recent li").first
    row.locator(".badge", has_text="pending").wait_for(timeout=WAIT_MS)
    soundbite_id = row.get_attribute("data-id")
    assert domain.ID_PATTERN.match(soundbite_id)
    assert row.locator(".title").text_content() == "Hello from a real browser"

    repo = SoundbiteRepository(fresh_data_plane.soundbites_table, fresh_data_plane.environment)
    stored = repo.get(soundbite_id)
    assert (stored.user_id, stored.format, stored.status.value) == (user, "wav", "pending")

    # Reloading lists it again from the API, for the same signed-in user (the tab keeps the token).
    page.reload()
    page.locator(f'#recent li[data-id="{soundbite_id}"] .badge', has_text="pending").wait_for(
        timeout=WAIT_MS)
    assert page.locator("#user-id").text_content() == "page-user"
    assert page.locator("#served-by").text_content() == "ec2"

    # Do what the worker does: real audio into the bucket, then the status change.
    audio = build_synthesizer().synthesize(stored.text, stored.voice, "wav")
    key = domain.audio_key(stored, "wav")
    boto_session.client("s3").put_object(Bucket=fresh_data_plane.bucket, Key=key,
                                         Body=audio.data, ContentType=audio.content_type)
    repo.mark_processing(soundbite_id)
    repo.mark_ready(soundbite_id, key, audio.size, audio.duration_seconds)

    ready = page.locator(f'#recent li[data-id="{soundbite_id}"]')
    ready.locator(".badge", has_text="ready").wait_for(timeout=WAIT_MS)
    player = ready.locator("audio")
    player.wait_for(timeout=WAIT_MS)
    # Metadata loaded: the presigned link to the bucket's origin passed media-src and decoded.
    page.wait_for_function(
        "(el) => (el.readyState >= 1 && el.duration > 0) || el.error !== null",
        arg=player.element_handle(), timeout=WAIT_MS)
    assert page.evaluate("window.__cspViolations") == []
    assert problems == []
    assert player.evaluate("(el) => el.error && el.error.message") is None
    duration = player.evaluate("(el) => el.duration")
    assert duration == pytest.approx(audio.duration_seconds, abs=0.1)

    # A soundbite that ended failed shows why.
    page.fill("#text", "This one will fail")
    page.click("#create")
    doomed = page.locator("#recent li").first
    doomed.locator(".badge", has_text="pending").wait_for(timeout=WAIT_MS)
    repo.mark_failed(doomed.get_attribute("data-id"), "gave up after 18 attempts; engine_timeout")
    doomed.locator(".badge", has_text="failed").wait_for(timeout=WAIT_MS)
    assert "gave up after 18 attempts; engine_timeout" in doomed.locator(".meta").text_content()
    assert problems == []
