"""pytester (pytest's own fixture for testing plugins), for these tests only: pytest refuses
`pytest_plugins` outside the top-level conftest, so it is registered when this one is."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
