"""Applications' voice settings and numbers in the config file, and each mistake's message."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, Settings, load_settings
from switchboard.network.phones import ScriptedCall
from switchboard.provisioning.voice_settings import VoiceSettings

APP = "7fc9698a-b04a-468b-9e8f-91238c0d0086"
OTHER_APP = "0b1c1d0e-0000-4000-8000-000000000002"


def settings_from(
    tmp_path: Path, application: str, extra: str = "", simulator: str = ""
) -> Settings:
    path = tmp_path / "switchboard.toml"
    path.write_text(
        f"""
{simulator}
[[accounts]]
id = "9900001"
numbers = ["+15555551212", "+15555551213"]
  [[accounts.applications]]
  id = "{APP}"
{application}
{extra}
"""
    )
    return load_settings(path)


def test_every_voice_setting_is_read(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        """
  numbers = ["+15555551212"]
  call_initiated_callback_url = "https://app.example/initiate"
  call_initiated_method = "get"
  call_initiated_fallback_url = "https://backup.example/initiate"
  call_initiated_fallback_method = "GET"
  call_status_callback_url = "https://app.example/status"
  call_status_method = "GET"
  callback_username = "hook"
  callback_password = "hook-secret"
  fallback_username = "backup"
  fallback_password = "backup-secret"
  callback_timeout = 7.5
""",
    )
    (application,) = settings.accounts[0].applications
    assert application.numbers == ("+15555551212",)
    assert application.voice == VoiceSettings(
        call_initiated_callback_url="https://app.example/initiate",
        call_initiated_method="GET",
        call_initiated_fallback_url="https://backup.example/initiate",
        call_initiated_fallback_method="GET",
        call_status_callback_url="https://app.example/status",
        call_status_method="GET",
        callback_username="hook",
        callback_password="hook-secret",
        fallback_username="backup",
        fallback_password="backup-secret",
        callback_timeout=7.5,
    )
    assert "hook-secret" not in repr(application.voice)


def test_the_defaults_are_bandwidths(tmp_path: Path) -> None:
    (application,) = settings_from(tmp_path, "").accounts[0].applications
    assert application.voice == VoiceSettings()
    assert application.voice.call_initiated_method == "POST"
    assert application.voice.callback_timeout == 15.0
    assert application.numbers == ()


@pytest.mark.parametrize(
    ("application", "extra", "message"),
    [
        (
            'call_status_method = "PUT"',
            "",
            "accounts[0].applications[0].call_status_method must be GET or POST, got 'PUT'",
        ),
        (
            'call_initiated_callback_url = "ftp://x"',
            "",
            "accounts[0].applications[0].call_initiated_callback_url must be an absolute http",
        ),
        ("callback_timeout = 60", "", "callback_timeout must be between 1 and 25, got 60"),
        ("callback_password = 5", "", "callback_password must be a string, got number"),
        ("call_initiated_url = 'https://x'", "", "unknown key(s) call_initiated_url"),
        ('numbers = ["+15555550000"]', "", "lists +15555550000, which is not one of account"),
        ('numbers = ["5555"]', "", "'5555' is not an E.164 number"),
        (
            'numbers = ["+15555551212"]',
            f'  [[accounts.applications]]\n  id = "{OTHER_APP}"\n  numbers = ["+15555551212"]',
            "number +15555551212 is listed by two applications",
        ),
    ],
)
def test_each_mistake_names_its_place(
    tmp_path: Path, application: str, extra: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from(tmp_path, "  " + application, extra)
    assert message in str(raised.value)


def test_scripted_inbound_calls(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        "",
        simulator="""
[[simulator.calls]]
at = 5.0
from = "+15555550123"
to = "+15555551212"

[[simulator.calls]]
at = 10
every = 0.5
count = 3
from = "+15555550124"
to = "+15555551213"
""",
    )
    assert settings.simulator.calls == (
        ScriptedCall(5.0, "+15555550123", "+15555551212"),
        ScriptedCall(10.0, "+15555550124", "+15555551213"),
        ScriptedCall(10.5, "+15555550124", "+15555551213"),
        ScriptedCall(11.0, "+15555550124", "+15555551213"),
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('from = "+15555550123"\nto = "nope"', "simulator.calls[0].to must be an E.164 number"),
        ('to = "+15555551212"', "simulator.calls[0].from must be an E.164 number"),
        ('from = "+1555"\nto = "+15555551212"\nat = -1', "simulator.calls[0].at must be"),
        ('from = "+15555550123"\nto = "+15555551212"\ncount = 0', "count must be a whole"),
        ('from = "+15555550123"\nto = "+15555551212"\nwhen = 3', "unknown key(s) when"),
    ],
)
def test_scripted_call_mistakes(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from(tmp_path, "", simulator=f"[[simulator.calls]]\n{table}")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("key", "credential_keys"),
    [
        ("call_initiated_callback_url", "callback_username and "),
        ("call_status_callback_url", "callback_username and "),
        ("call_initiated_fallback_url", "fallback_username and "),
    ],
)
def test_a_url_carrying_user_password_is_refused_without_echoing_it(
    tmp_path: Path, key: str, credential_keys: str
) -> None:
    # Issue 23: a password inside a URL would be stored, shown and logged with the URL.
    password = "S3cr%40t%3A%2F%C3%A9"  # S3cr@t:/é, percent-encoded as a URL must carry it
    with pytest.raises(ConfigError) as raised:
        settings_from(tmp_path, f'  {key} = "https://hook:{password}@app.example/x"')
    message = str(raised.value)
    place = "accounts[0].applications[0]"
    assert f"{place}.{key} must not carry user:password@" in message
    assert f"{place}.{credential_keys}" in message
    assert "S3cr" not in message and "hook" not in message
