"""`[network]`: which network places calls, and the mistakes it refuses with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard.config import ConfigError, Settings, load_settings


def settings_from(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    return load_settings(path)


def test_the_simulated_network_is_the_default(tmp_path: Path) -> None:
    assert load_settings(None).network_kind == "simulated"
    assert settings_from(tmp_path, "[simulator]\ntime_scale = 0.1\n").network_kind == "simulated"


def test_a_sip_table_alone_means_the_sip_network(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        '[network.sip]\nlocal_address = "127.0.0.1:5080"\nproxy = "10.0.0.1"\n'
        'rtp_ports = "30000-30099"\n',
    )
    assert settings.network_kind == "sip"
    assert (settings.sip.local_host, settings.sip.local_port) == ("127.0.0.1", 5080)
    assert settings.sip.proxy_address == ("10.0.0.1", 5060)
    assert (settings.sip.rtp_port_min, settings.sip.rtp_port_max) == (30000, 30099)


def test_kind_can_keep_the_simulator_with_a_sip_table(tmp_path: Path) -> None:
    text = '[network]\nkind = "simulated"\n[network.sip]\nproxy = "10.0.0.1"\n'
    assert settings_from(tmp_path, text).network_kind == "simulated"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[network]\nkind = "pstn"\n', "kind must be simulated or sip, got 'pstn'"),
        ("[network]\nspeed = 1\n", "unknown key(s) speed"),
        ('[network]\nsip = "x"\n', "[network.sip] must be a table"),
        (
            '[simulator]\ntime_scale = 0.1\n[network]\nkind = "sip"\n',
            "time_scale must be 1.0 with [network] kind",
        ),
        ('[network.sip]\ntransport = "sctp"\n', "transport must be udp or tcp"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings_from(tmp_path, text)
    assert message in str(error.value)
