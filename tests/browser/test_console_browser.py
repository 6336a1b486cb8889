"""The web console in a real browser (issue 14): Debian's headless Chromium driven by
Playwright for Python, against a real server on 127.0.0.1 on a virtual clock (nothing times
out while the browser works; the page's own waits are Playwright's, bounded).

A user signs in with the account's API credentials, sees a call created through the API appear
(the live feed, not a reload), opens its timeline, answers as the virtual callee, hears what the
call says, presses a key on the keypad from the keyboard and sees the gather webhook carrying
it, and hangs up. A second call whose app answers with bad BXML shows its error in red.

With SWITCHBOARD_SCREENSHOTS=<directory> the test also saves the screenshots docs/console.md
shows (`make console-screenshots`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import calls_path
from tests.support.receiver import Receiver
from tests.support.server import (
    ACCOUNT_ID,
    APPLICATION_ID,
    CONFIG,
    FROM_NUMBER,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
if shutil.which(CHROMIUM) is None:
    pytest.skip(
        f"{CHROMIUM} is missing (scripts/install-browser.sh installs it)", allow_module_level=True
    )
expect = playwright_sync.expect
pytestmark = pytest.mark.slow

CALLEE = "+15555550177"
GATHER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather gatherUrl="/gather" maxDigits="1" firstDigitTimeout="30">'
    "<SpeakSentence>Welcome to the console test. Press one for sales.</SpeakSentence>"
    "</Gather></Response>"
)
AFTER_GATHER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<SpeakSentence>You pressed one. Please hold.</SpeakSentence><Pause duration="60"/>'
    "</Response>"
)


@pytest.fixture
def virtual(tmp_path: Path) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1180, "height": 680})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert errors == [], errors  # the page's script threw


@pytest.fixture
def api(virtual: VirtualTimeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=virtual.base_url, auth=(USERNAME, PASSWORD), timeout=10) as client:
        yield client


def shoot(page: Any, name: str) -> None:
    directory = os.environ.get("SWITCHBOARD_SCREENSHOTS")
    if directory:
        page.screenshot(path=str(Path(directory) / f"console-{name}.png"))


def test_sign_in_watch_a_call_press_a_key_and_hang_up(
    virtual: VirtualTimeServer, page: Any, app: Receiver, api: httpx.Client
) -> None:
    app.on("/answer", GATHER)
    app.on("/gather", AFTER_GATHER)
    app.on("/bad", "<Bxml><Hangup/></Bxml>")
    # The callee rings until someone answers it: here, the user, from the page.
    api.put(f"/switchboard/v1/phones/{CALLEE}", json={"outcome": "no-answer"}).raise_for_status()

    page.goto(virtual.base_url + "/")
    shoot(page, "sign-in")
    page.get_by_label("Account id").fill(ACCOUNT_ID)
    page.get_by_label("API user").fill(USERNAME)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Sign-in failed")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard signs in too
    expect(page.locator("#connection")).to_have_text("Live")
    expect(page.locator("#list-status")).to_have_text("0 calls, 0 live")

    # A call made through the API (as the README's curl does) appears without a reload.
    created = api.post(
        calls_path(),
        json={
            "from": FROM_NUMBER,
            "to": CALLEE,
            "applicationId": APPLICATION_ID,
            "answerUrl": app.url("/answer"),
            "tag": "browser-test",
        },
    )
    assert created.status_code == 201, created.text
    call_id = created.json()["callId"]
    row = page.locator(f'tr[data-call-id="{call_id}"]')
    expect(row).to_contain_text("initiated")
    expect(row).to_contain_text(CALLEE)
    expect(row).to_contain_text("browser-test")

    page.get_by_role("button", name=f"Open call {call_id}").click()
    expect(page.locator("#call-title")).to_have_text(f"Call {call_id}")
    timeline = page.locator("#timeline")
    expect(timeline.locator("li").first).to_contain_text("state→ initiated")

    page.get_by_role("button", name="Answer").click()
    expect(row).to_contain_text("answered")
    expect(page.locator("#now-saying")).to_have_text(
        "Saying: “Welcome to the console test. Press one for sales.”"
    )
    expect(timeline).to_contain_text("webhook answer")
    shoot(page, "calls")

    # A key pressed on the keyboard while the keypad has focus.
    page.locator("#keypad").focus()
    page.keyboard.press("1")
    expect(page.locator("#callee-status")).to_have_text("Pressed 1")
    virtual.advance(0.5)  # the virtual phone's key tone takes (virtual) time to play
    gather = timeline.locator("li", has_text="webhook gather")
    expect(gather).to_contain_text(f"POST {app.url('/gather')} → 200 in")
    gather.get_by_text("Request body").click()
    expect(gather.locator("pre").first).to_contain_text('"digits": "1"')
    expect(page.locator("#now-saying")).to_have_text("Saying: “You pressed one. Please hold.”")
    shoot(page, "timeline")

    page.get_by_role("button", name="Hang up").click()
    expect(row).to_contain_text("disconnected (hangup)")
    expect(timeline.locator("li").last).to_contain_text("state→ disconnected")
    expect(page.get_by_role("button", name="Answer")).to_be_disabled()

    # A call whose app answers with bad BXML: its error is red on the timeline.
    api.put(f"/switchboard/v1/phones/{CALLEE}", json={"outcome": "answer", "answer_after": 0})
    created = api.post(
        calls_path(),
        json={
            "from": FROM_NUMBER,
            "to": CALLEE,
            "applicationId": APPLICATION_ID,
            "answerUrl": app.url("/bad"),
        },
    )
    assert created.status_code == 201, created.text
    bad = created.json()["callId"]
    virtual.advance(1)
    page.get_by_role("button", name=f"Open call {bad}").click()
    error = page.locator("#timeline li.error", has_text="invalid-bxml")
    expect(error).to_have_css("color", "rgb(179, 38, 30)")

    # Search by cause finds the bad call only; by number, both.
    page.get_by_label("Search by call id, number or cause").fill("invalid-bxml")
    page.get_by_label("Search by call id, number or cause").press("Enter")
    expect(page.locator("#list-status")).to_have_text("1 call found")
    expect(page.locator(f'tr[data-call-id="{bad}"]')).to_be_visible()
    page.get_by_label("Search by call id, number or cause").fill(CALLEE)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#list-status")).to_have_text("2 calls found")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#list-status")).to_have_text("2 calls, 0 live")

    page.get_by_role("button", name="Account").click()
    expect(page.locator("#numbers-body")).to_contain_text(FROM_NUMBER)
    expect(page.locator("#applications-body")).to_contain_text(APPLICATION_ID)
    expect(page.locator("#limits")).to_contain_text("Concurrent calls")
    shoot(page, "account")
    page.get_by_role("button", name="Virtual phones").click()
    expect(page.get_by_label("Number to call")).to_have_value(FROM_NUMBER)
    shoot(page, "phones")


MANY = 1000
MANY_CONFIG = (
    CONFIG
    + """
[limits]
calls_per_second = 2000
concurrent_calls = 2000

[simulator.default]
outcome = "no-answer"
"""
)


def test_a_thousand_live_calls_arrive_and_the_list_stays_quick(
    tmp_path: Path, app: Receiver
) -> None:
    """1,000 ringing calls (the virtual clock never moves, so they all stay live) reach the
    page through the feed; it shows them 50 to a page, and paging stays fast: the page renders
    one page of rows, never the whole list."""
    server = start_virtual_server(tmp_path, MANY_CONFIG)
    try:
        with (
            playwright_sync.sync_playwright() as playwright,
            httpx.Client(base_url=server.base_url, auth=(USERNAME, PASSWORD), timeout=30) as api,
        ):
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(server.base_url + "/")
            page.get_by_label("Account id").fill(ACCOUNT_ID)
            page.get_by_label("API user").fill(USERNAME)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_label("Password").press("Enter")
            expect(page.locator("#connection")).to_have_text("Live")
            page.evaluate(
                """() => {
                    window.longestTask = 0;
                    new PerformanceObserver((list) => {
                        for (const e of list.getEntries())
                            window.longestTask = Math.max(window.longestTask, e.duration);
                    }).observe({ type: "longtask", buffered: true });
                }"""
            )
            for n in range(MANY):
                created = api.post(
                    calls_path(),
                    json={
                        "from": FROM_NUMBER,
                        "to": f"+1555556{n:04d}",
                        "applicationId": APPLICATION_ID,
                        "answerUrl": app.url("/answer"),
                    },
                )
                assert created.status_code == 201, created.text
            expect(page.locator("#list-status")).to_have_text(
                f"{MANY} calls, {MANY} live", timeout=60_000
            )
            expect(page.locator("#calls-body tr")).to_have_count(50)
            expect(page.locator("#page-info")).to_have_text(f"1–50 of {MANY}")
            elapsed = page.evaluate(
                """() => new Promise((done) => {
                    const started = performance.now();
                    document.getElementById("page-next").click();
                    requestAnimationFrame(() => done(performance.now() - started));
                })"""
            )
            expect(page.locator("#page-info")).to_have_text(f"51–100 of {MANY}")
            assert elapsed < 250, f"paging took {elapsed:.0f} ms"
            # No single task held the tab for a second while 1,000 calls streamed in.
            assert page.evaluate("window.longestTask") < 1000
            browser.close()
    finally:
        server.stop()


def test_a_virtual_phone_dials_in_and_presses_keys_as_the_caller(
    tmp_path: Path, app: Receiver, page: Any
) -> None:
    """The Virtual phones view dials one of the account's numbers: an inbound call to its
    application, which the page opens; the phone is the caller, so it cannot answer, reject or
    be busy, but presses keys once the app answered, and the gather webhook carries them."""
    config = CONFIG.replace(
        '  name = "IVR"\n',
        f'  name = "IVR"\n  numbers = ["{FROM_NUMBER}"]\n'
        f'  call_initiated_callback_url = "{app.url("/initiate")}"\n',
        1,
    )
    assert config != CONFIG
    app.on("/initiate", GATHER)
    app.on("/gather", AFTER_GATHER)
    server = start_virtual_server(tmp_path, config)
    try:
        page.goto(server.base_url + "/")
        page.get_by_label("Account id").fill(ACCOUNT_ID)
        page.get_by_label("API user").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        expect(page.locator("#connection")).to_have_text("Live")
        page.get_by_role("button", name="Virtual phones").click()
        page.get_by_label("Calling from (a virtual phone's number)").fill("+15555550123")
        page.get_by_label("Number to call").select_option(FROM_NUMBER)
        page.get_by_role("button", name="Dial").click()
        expect(page.locator("#call-title")).to_contain_text("Call c-")
        facts = page.locator("#call-facts")
        expect(facts).to_contain_text("inbound")
        expect(facts).to_contain_text("answered")
        expect(page.get_by_role("button", name="Answer")).to_be_disabled()
        expect(page.locator("#now-saying")).to_contain_text("Press one for sales")
        page.get_by_role("button", name="1", exact=True).click()
        expect(page.locator("#callee-status")).to_have_text("Pressed 1")
        server.advance(0.5)
        expect(page.locator("#timeline li", has_text="webhook gather")).to_contain_text("→ 200")
        page.get_by_role("button", name="Hang up").click()
        expect(facts).to_contain_text("disconnected")
    finally:
        server.stop()
