"""[recordings] retention_days: 30 by default (Bandwidth's), any positive number of days."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, load_settings


def load(tmp_path: Path, text: str) -> float:
    config_file = tmp_path / "switchboard.toml"
    config_file.write_text(text)
    return load_settings(config_file).recording_retention_days


def test_default_is_bandwidths_30_days(tmp_path: Path) -> None:
    assert load(tmp_path, "") == 30.0
    assert load(tmp_path, "[recordings]\n") == 30.0


@pytest.mark.parametrize(("value", "days"), [("7", 7.0), ("0.5", 0.5), ("365", 365.0)])
def test_retention_days_is_read(tmp_path: Path, value: str, days: float) -> None:
    assert load(tmp_path, f"[recordings]\nretention_days = {value}\n") == days


@pytest.mark.parametrize("value", ["0", "-1", '"30"', "true"])
def test_a_retention_that_is_not_a_positive_number_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[recordings]\nretention_days = {value}\n")
    assert str(caught.value) == (
        f"recordings.retention_days must be a positive number, got {_python(value)!r}"
    )


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[recordings\]: unknown key\(s\) retention; known"):
        load(tmp_path, "[recordings]\nretention = 3\n")


def _python(value: str) -> object:
    return {"0": 0, "-1": -1, '"30"': "30", "true": True}[value]
