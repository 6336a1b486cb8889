"""`[server] allow_private_destinations` and `allowed_destinations`: defaults by profile, an
explicit value winning, and the message for each mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, Settings, load_settings
from switchboard.webhooks.guard import DestinationPolicy


def settings_from(tmp_path: Path, server: str) -> Settings:
    path = tmp_path / "switchboard.toml"
    path.write_text(f"[server]\n{server}\n")
    return load_settings(path)


def test_without_a_file_private_destinations_are_allowed() -> None:
    settings = load_settings(None)
    assert settings.profile == "development"
    assert settings.allow_private_destinations is True
    assert settings.allowed_destinations == ()


@pytest.mark.parametrize(
    ("server", "allowed"),
    [
        ('profile = "development"', True),
        ('profile = "production"', False),
        ('profile = "development"\nallow_private_destinations = false', False),
        ('profile = "production"\nallow_private_destinations = true', True),
    ],
)
def test_the_profile_sets_the_default_and_an_explicit_value_wins(
    tmp_path: Path, server: str, allowed: bool
) -> None:
    assert settings_from(tmp_path, server).allow_private_destinations is allowed


def test_allowed_destinations_become_the_policys_exceptions(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path, 'profile = "production"\nallowed_destinations = ["10.1.0.0/16", "fd00::7"]'
    )
    assert settings.allowed_destinations == ("10.1.0.0/16", "fd00::7")
    policy = DestinationPolicy.from_settings(
        settings.allow_private_destinations, settings.allowed_destinations
    )
    assert policy.check("10.1.2.3") is None
    assert policy.check("fd00::7") is None
    assert policy.check("10.2.0.1") is not None
    assert policy.check("169.254.169.254") is not None


@pytest.mark.parametrize(
    ("server", "message"),
    [
        (
            'allow_private_destinations = "no"',
            "server.allow_private_destinations must be true or false, got 'no'",
        ),
        ('allowed_destinations = "10.0.0.0/8"', "server.allowed_destinations must be a list"),
        (
            'allowed_destinations = ["10.0.0.5/8"]',
            "server.allowed_destinations must list IP addresses or networks like "
            "\"10.1.0.0/16\" (no host bits set), got '10.0.0.5/8'",
        ),
        ('allowed_destinations = ["intranet.local"]', "got 'intranet.local'"),
        ("allowed_destinations = [10]", "got 10"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, server: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from(tmp_path, server)
    assert message in str(raised.value)
