"""Skipped tests: allowed on a newcomer's machine, a failed run under CI=true.

A test skips when something outside the repository is missing: Bandwidth's OpenAPI spec next to
it (../shared/reference), or a tool `make test` installs (sipp, baresip, espeak-ng, curl). On a
newcomer's clone that is fine, and `make test` prints each skip's reason (pytest -rs). A CI runner
is meant to have everything, so there a skip means a check silently did not run: with the
environment variable CI set to true (as GitHub Actions and GitLab set it), any skipped test,
module-level skips included, fails the run, and the summary lists them.
"""

from __future__ import annotations

import os

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


class SkipsFailOnCi:
    def __init__(self) -> None:
        self.skips: list[str] = []

    def _record(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")  # as a module-level skip words it
        self.skips.append(f"{report.nodeid}: {reason}")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.skips:
            return
        if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("")
            reporter.write_line(
                f"CI=true: {len(self.skips)} skipped test(s) fail the run; everything they need "
                "must be installed on CI (make test installs the tools):",
                red=True,
                bold=True,
            )
            for skip in self.skips:
                reporter.write_line(f"  {skip}", red=True)


def pytest_configure(config: pytest.Config) -> None:
    if on_ci():
        config.pluginmanager.register(SkipsFailOnCi(), "switchboard-skips-fail-on-ci")
