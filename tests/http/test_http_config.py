"""The TOML configuration: defaults, every section, and operator mistakes reported with their path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kkm_bridge.config import (
    DEFAULT_TAX_TABLES,
    default_config,
    ensure_dev_key,
    hash_key,
    load_config,
    parse_listen,
)
from kkm_bridge.model.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f"""
listen = "0.0.0.0:9000"
state_dir = "state"
[[api_keys]]
name = "shop"
sha256 = "{hash_key('k')}"
[limits]
queue_size = 5
rate_per_second = 2.5
max_body_bytes = 1000
[http]
allowed_origins = ["https://shop.example/"]
public_url = "https://till.example"
[[devices]]
id = "till"
uri = "serial:///dev/ttyACM0?baudrate=115200"
fiscal_id = "FL1"
country = "KZ"
fiscal_numbers = ["123"]
[devices.registration]
registration_number = "032600010282"
[devices.shift]
auto_close_expired = true
[devices.tax_table]
1 = "16%"
2 = "none"
"""))
    assert (config.host, config.port) == ("0.0.0.0", 9000)
    assert config.state_dir == tmp_path / "state"
    assert config.api_keys[0].name == "shop" and config.api_keys[0].sha256 == hash_key("k")
    assert config.limits.queue_size == 5 and config.limits.rate_per_second == 2.5
    assert config.http.allowed_origins == ("https://shop.example",)
    [device] = config.devices
    assert device.id == "till" and device.fiscal_id == "FL1" and device.shift.auto_close_expired is True
    assert dict(device.tax_slots) == {1: "16", 2: "none"}
    assert device.currency == "KZT"


def test_defaults_without_devices_give_the_demo_cashbox(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, f'state_dir = "{tmp_path}"\n'))
    [device] = config.devices
    assert device.uri == "sim://" and device.country == "KZ"
    assert dict(device.tax_slots) == DEFAULT_TAX_TABLES["KZ"]
    assert (config.host, config.port) == ("127.0.0.1", 8080)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('lisen = "x"', "/lisen"),
        ('listen = "nope:port"', "/listen"),
        ('[[api_keys]]\nsha256 = "abc"', "/api_keys/0/sha256"),
        ('[limits]\nqueue_size = 0', "/limits/queue_size"),
        ('[limits]\nqueue_size = "5"', "/limits/queue_size"),
        ('[[devices]]\nid = "a"', "/devices/0/uri"),
        ('[[devices]]\nuri = "sim://"\ncountry = "XX"', "/devices/0/country"),
        ('[[devices]]\nuri = "sim://"\n[devices.tax_table]\n1 = "abc"', "/devices/0/tax_table/1"),
        ('[[devices]]\nuri = "sim://"\n[devices.shift]\nauto = true', "/devices/0/shift/auto"),
        ('[[devices]]\nuri = "sim://a"\n[[devices]]\nuri = "sim://b"\nid = "kkm1"', "/devices"),
        ("this is not toml", ""),
    ],
)
def test_config_mistakes_name_their_path(tmp_path: Path, text: str, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert caught.value.path == path


def test_listen_forms() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:81") == ("::1", 81)
    assert parse_listen("9000") == ("127.0.0.1", 9000)
    assert parse_listen(":0") == ("127.0.0.1", 0)


def test_development_key_file_is_private_and_stable(tmp_path: Path) -> None:
    config, path = ensure_dev_key(default_config(tmp_path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 40 and config.api_keys[-1].sha256 == hash_key(key)
    again, same = ensure_dev_key(default_config(tmp_path))
    assert same == path and again.api_keys[-1].sha256 == hash_key(key)


def test_json_log_lines_carry_extras() -> None:
    import json
    import logging

    from kkm_bridge.daemon import JsonLogFormatter

    record = logging.LogRecord("kkm_bridge.http", logging.INFO, __file__, 1, "sold %s", ("x",), None)
    record.check_id = "CHK1"
    line = json.loads(JsonLogFormatter().format(record))
    assert line["msg"] == "sold x" and line["check_id"] == "CHK1" and line["level"] == "info"


def test_journal_writes_setting(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, '[[devices]]\nuri = "sim://x"\n')).journal_writes == "inline"
    config = load_config(write(tmp_path, '[journal]\nwrites = "thread"\n[[devices]]\nuri = "sim://x"\n'))
    assert config.journal_writes == "thread"
    for bad, path in (('[journal]\nwrites = "async"\n', "/journal/writes"), ('[journal]\nfsync = 1\n', "/journal/fsync")):
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, bad + '[[devices]]\nuri = "sim://x"\n'))
        assert caught.value.path == path
