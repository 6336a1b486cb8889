"""The console's one-click first call (issue 14): "Call a virtual phone with the example app"
places a call that Switchboard's own example app answers, opens it, and the user presses a key
on its keypad and hears the app say it, with no webhook app of theirs running. Debian's headless
Chromium driven by Playwright, a real server on 127.0.0.1 on a virtual clock.

With SWITCHBOARD_SCREENSHOTS=<directory> it saves console-example-call.png, the README's
picture of a first call (`make console-screenshots`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.api.routes_examples import GREETING
from tests.support.server import (
    ACCOUNT_ID,
    PASSWORD,
    USERNAME,
    VirtualTimeServer,
    start_virtual_server,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
if shutil.which(CHROMIUM) is None:
    pytest.skip(
        f"{CHROMIUM} is missing (scripts/install-browser.sh installs it)", allow_module_level=True
    )
expect = playwright_sync.expect
pytestmark = pytest.mark.slow


@pytest.fixture
def virtual(tmp_path: Path) -> Iterator[VirtualTimeServer]:
    running = start_virtual_server(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1180, "height": 680}).new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert errors == [], errors  # the page's script threw


def test_one_click_calls_a_virtual_phone_that_the_example_app_answers(
    virtual: VirtualTimeServer, page: Any
) -> None:
    page.goto(virtual.base_url + "/")
    page.get_by_label("Account id").fill(ACCOUNT_ID)
    page.get_by_label("API user").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page.locator("#connection")).to_have_text("Live")

    button = page.get_by_role("button", name="Call a virtual phone with the example app")
    button.focus()
    page.keyboard.press("Enter")  # reachable from the keyboard
    status = page.locator("#example-call-status")
    expect(status).to_contain_text("Calling +15555551313: call c-")
    call_id = status.inner_text().split("call ", 1)[1].split(".", 1)[0]
    expect(page.locator("#call-title")).to_have_text(f"Call {call_id}")
    row = page.locator(f'tr[data-call-id="{call_id}"]')
    expect(row).to_contain_text("example app")  # its tag

    virtual.advance(3)  # the virtual phone answers after 2 s; the greeting starts
    expect(row).to_contain_text("answered")
    expect(page.locator("#now-saying")).to_have_text(f"Saying: “{GREETING}”")
    timeline = page.locator("#timeline")
    answer = timeline.locator("li", has_text="webhook answer")
    expect(answer).to_contain_text(
        f"POST {virtual.base_url}/switchboard/v1/examples/ivr/answer → 200 in"
    )

    page.locator('#keypad button[data-key="5"]').click()
    expect(page.locator("#callee-status")).to_have_text("Pressed 5")
    virtual.advance(0.5)  # the key tone takes (virtual) time to play
    gather = timeline.locator("li", has_text="webhook gather")
    expect(gather).to_contain_text(f"{virtual.base_url}/switchboard/v1/examples/ivr/gather → 200")
    expect(page.locator("#now-saying")).to_have_text("Saying: “You pressed 5. Goodbye.”")
    gather.get_by_text("Request body").click()
    expect(gather.locator("pre").first).to_contain_text('"digits": "5"')
    if directory := os.environ.get("SWITCHBOARD_SCREENSHOTS"):
        page.screenshot(path=str(Path(directory) / "console-example-call.png"))

    virtual.advance(10)  # the goodbye, then <Hangup/>
    expect(row).to_contain_text("disconnected (hangup)")
    expect(timeline.locator("li.error")).to_have_count(0)
