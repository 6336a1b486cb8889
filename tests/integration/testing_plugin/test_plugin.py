"""The pytest plugin (issue 14), run as an app's suite runs it: pytester copies an example app
and its tests into a fresh directory and runs pytest there in a new process, which finds the
plugin through the installed package's `pytest11` entry point, as any user's pytest would."""

from __future__ import annotations

import shutil
from importlib.metadata import entry_points
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent / "examples"

pytestmark = pytest.mark.slow


def suite(pytester: pytest.Pytester, name: str) -> None:
    # As strict as our own suite: a warning from the plugin (an unclosed socket, a
    # deprecation) fails the example's tests.
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings = error\n"
    )
    shutil.copy(EXAMPLES / "ivr_app.py", pytester.path / "ivr_app.py")
    shutil.copy(EXAMPLES / f"{name}.py", pytester.path / f"test_{name}.py")


def test_an_apps_call_flows_pass_against_the_plugins_switchboard(
    pytester: pytest.Pytester,
) -> None:
    suite(pytester, "ivr_suite")

    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*test_pressing_1_reaches_sales PASSED*",
            "*test_a_busy_customer_is_never_answered PASSED*",
            "*test_phones_are_reset_between_tests PASSED*",
            "*test_a_customer_dialling_in_reaches_support PASSED*",
            "*test_the_test_presses_keys_itself PASSED*",
            "*test_an_sdk_with_bandwidths_urls_built_in PASSED*",
        ]
    )


def test_a_failing_assertion_shows_the_calls_timeline(pytester: pytest.Pytester) -> None:
    suite(pytester, "failing_suite")

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*assert '2' == '1'*",
            "*Switchboard: the test's calls*",
            "call c-* (outbound): disconnected, cause hangup",
            "*state  state='initiated'",
            "*webhook  answer  POST http://127.0.0.1:*/answer  -> 200*",
            '*webhook  gather  POST http://127.0.0.1:*/menu  -> 200  {"digits": "2"*',
            "*state  state='disconnected'*",
        ]
    )


def test_mistakes_are_explained_and_tests_do_not_leak_calls(pytester: pytest.Pytester) -> None:
    suite(pytester, "edge_suite")

    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=5)


def test_the_plugin_is_installed_as_a_pytest11_entry_point() -> None:
    # What makes `switchboard` appear in an app's suite with no conftest: if this fails, the
    # package was installed before the entry point existed (make reinstalls it).
    [entry] = [e for e in entry_points(group="pytest11") if e.name == "switchboard"]
    assert entry.value == "switchboard.testing.plugin"
