"""udev rules: valid syntax, the shipped file is exactly the generator's output, ids from config."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kkm_bridge.known_devices import BUILTIN_KNOWN_DEVICES, KnownDevice
from kkm_bridge.service.udev import (
    DEFAULT_GROUP,
    UdevRulesError,
    Unresolved,
    check_group,
    ids_from_config_data,
    render_rules,
    rule_lines,
    usb_ids_from_uri,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_RULES = ROOT / "systemd" / "99-kkm-bridge.rules"

# One `KEY{attr}OP"value"` token of a udev rule, with the keys and operators udev accepts.
_MATCH_ONLY = "ACTION|DEVPATH|KERNEL|KERNELS|SUBSYSTEM|SUBSYSTEMS|DRIVER|DRIVERS|TAGS|RESULT"
_ASSIGN_ONLY = "OWNER|GROUP|MODE|OPTIONS|LABEL|GOTO|RUN(?:\\{\\w+\\})?|IMPORT\\{\\w+\\}|SECLABEL\\{\\w+\\}"
_EITHER = "NAME|SYMLINK|TAG|ENV\\{[A-Za-z0-9_]+\\}|ATTR\\{[A-Za-z0-9_./]+\\}|ATTRS\\{[A-Za-z0-9_./]+\\}"
TOKEN = re.compile(
    rf'^(?:(?P<match>(?:{_MATCH_ONLY}|{_EITHER}))(?P<mop>==|!=)'
    rf'|(?P<assign>(?:{_ASSIGN_ONLY}|{_EITHER}))(?P<aop>=|\+=|-=|:=))'
    r'"(?P<value>[^"\\]*)"$'
)


def check_rule_line(line: str) -> tuple[list[str], list[str]]:
    """Raise AssertionError unless `line` is one valid udev rule; return its match and assign keys."""
    matches: list[str] = []
    assigns: list[str] = []
    for token in line.split(", "):
        parsed = TOKEN.fullmatch(token)
        assert parsed, f"not a valid udev key/operator/value: {token!r} in {line!r}"
        if parsed.group("match"):
            matches.append(parsed.group("match"))
        else:
            assert parsed.group("assign") not in ("ATTRS",), f"ATTRS cannot be assigned: {line!r}"
            assigns.append(parsed.group("assign"))
    assert matches, f"rule matches nothing (would apply to every device): {line!r}"
    assert assigns, f"rule assigns nothing: {line!r}"
    return matches, assigns


def rule_lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def check_rules_text(text: str) -> None:
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line == "" or line.startswith("#") or check_rule_line(line)
        assert "\t" not in line and not line.endswith("\\")


# --- the shipped file -------------------------------------------------------------------------


def test_shipped_rules_equal_the_generator_output_for_the_builtin_list() -> None:
    assert SHIPPED_RULES.read_text(encoding="utf-8") == render_rules(BUILTIN_KNOWN_DEVICES, DEFAULT_GROUP), (
        "systemd/99-kkm-bridge.rules drifted from the generator; regenerate it with "
        "`python -m kkm_bridge udev-rules > systemd/99-kkm-bridge.rules`"
    )


def test_cli_without_arguments_prints_the_shipped_file() -> None:
    out = subprocess.run([sys.executable, "-m", "kkm_bridge", "udev-rules"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout == SHIPPED_RULES.read_text(encoding="utf-8")
    assert out.stderr == ""


def test_shipped_rules_are_valid_and_say_why_they_have_no_ids() -> None:
    text = SHIPPED_RULES.read_text(encoding="utf-8")
    check_rules_text(text)
    if not BUILTIN_KNOWN_DEVICES:
        # Nothing active: no id is presented as fact; the template explains and is commented out.
        assert rule_lines_of(text) == []
        assert "not" in text and "confirmed" in text
        template = [line[2:] for line in text.splitlines() if line.startswith('# SUBSYSTEM==')]
        assert len(template) == 2
        for line in template:  # uncommenting the template (with real ids) gives valid rules
            check_rule_line(line.replace("VVVV", "1a2b").replace("PPPP", "3c4d"))


# --- generator ---------------------------------------------------------------------------------


def _device(vid: int, pid: int | None, name: str = "Printer", confidence: str = "confirmed") -> KnownDevice:
    return KnownDevice(vid, pid, name, confidence, "test")  # type: ignore[arg-type]


def test_rules_for_one_id_cover_tty_and_raw_usb_nodes() -> None:
    text = render_rules([_device(0x1A2B, 0x3C4D)], "kkm-bridge")
    check_rules_text(text)
    rules = rule_lines_of(text)
    assert rules == [
        'SUBSYSTEM=="tty", ATTRS{idVendor}=="1a2b", ATTRS{idProduct}=="3c4d", '
        'GROUP="kkm-bridge", MODE="0660", ENV{ID_MM_DEVICE_IGNORE}="1"',
        'SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="1a2b", ATTR{idProduct}=="3c4d", '
        'GROUP="kkm-bridge", MODE="0660", ENV{ID_MM_DEVICE_IGNORE}="1"',
    ]
    assert "No USB ids are configured" not in text


def test_vendor_wide_entry_matches_only_the_vendor() -> None:
    rules = rule_lines(f"{0xABCD:04x}", None, "lp")
    for line in rules:
        check_rule_line(line)
        assert "idProduct" not in line and 'GROUP="lp"' in line
    assert "every product of this vendor" in render_rules([_device(0xABCD, None)])


def test_unconfirmed_ids_are_marked() -> None:
    text = render_rules([_device(0x1A2B, 0x3C4D, "Maybe ATOL", "unconfirmed")])
    assert "UNCONFIRMED" in text
    assert "UNCONFIRMED" not in render_rules([_device(0x1A2B, 0x3C4D)])


def test_duplicates_are_merged_and_order_is_kept() -> None:
    text = render_rules([_device(0x0002, 0x0001, "first"), _device(0x0001, 0x0001), _device(0x0002, 0x0001, "again")])
    rules = rule_lines_of(text)
    assert len(rules) == 4
    assert '"0002"' in rules[0] and '"0001"' in rules[2]
    assert "first" in text and "again" not in text


def test_names_cannot_break_out_of_comments() -> None:
    text = render_rules([_device(0x1A2B, 0x3C4D, 'evil\nSUBSYSTEM=="*", MODE="0666"')])
    check_rules_text(text)
    assert len(rule_lines_of(text)) == 2


@pytest.mark.parametrize("group", ["", "Root", "a b", 'x"', "1abc", "a" * 33, "grp\n"])
def test_bad_group_names_are_rejected(group: str) -> None:
    with pytest.raises(UdevRulesError):
        check_group(group)


@pytest.mark.parametrize("group", ["kkm-bridge", "dialout", "_svc", "lp"])
def test_good_group_names(group: str) -> None:
    assert check_group(group) == group
    check_rules_text(render_rules([_device(1, 2)], group))


def test_unresolved_devices_are_listed_as_comments() -> None:
    text = render_rules([], unresolved=[Unresolved("till", "serial:///dev/ttyACM0")])
    check_rules_text(text)
    assert "till" in text and "serial:///dev/ttyACM0" in text
    assert rule_lines_of(text) == []


# --- ids from config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "ids"),
    [
        ("usb://1a2b:3C4D", (0x1A2B, 0x3C4D)),
        ("USB://1a2b:3c4d?serial=X1&interface=0", (0x1A2B, 0x3C4D)),
        ("usb://1/5", None),
        ("usb://1a2b", None),
        ("usb://1a2b:3c4d5", None),
        ("serial:///dev/ttyACM0", None),
        ("tcp://127.0.0.1:5555", None),
        ("not a uri", None),
    ],
)
def test_usb_ids_from_uri(uri: str, ids: tuple[int, int] | None) -> None:
    assert usb_ids_from_uri(uri) == ids


def test_ids_from_config_data() -> None:
    data = {
        "devices": [
            {"id": "a", "uri": "usb://1a2b:3c4d"},
            {"id": "b", "uri": "serial:///dev/serial/by-id/usb-x-if00"},
            {"id": "c", "uri": "tcp://127.0.0.1:5555"},
            {"id": "d", "uri": "usb://3/7"},
            {"uri": 5},
        ],
        "known_devices": [{"vid": "abcd", "pid": "0001", "name": "Shop printer", "confidence": "confirmed"}],
    }
    found, unresolved = ids_from_config_data(data, "cfg.toml")
    assert [(d.vid, d.pid) for d in found] == [(0xABCD, 0x0001), (0x1A2B, 0x3C4D)]
    assert [u.device_id for u in unresolved] == ["b", "d"]


@pytest.mark.parametrize(
    "data",
    [{"known_devices": {"vid": "1"}}, {"known_devices": [{"vid": "zz"}]}, {"devices": {"uri": "usb://1:2"}}],
)
def test_bad_config_sections_are_errors(data: dict[str, object]) -> None:
    with pytest.raises(UdevRulesError):
        ids_from_config_data(data, "cfg.toml")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kkm_bridge", "udev-rules", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_cli_with_config_known_devices_and_group(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[[devices]]\nid = "till"\nuri = "usb://1a2b:3c4d"\n'
                      '[[devices]]\nid = "old"\nuri = "serial:///dev/ttyUSB0"\n', encoding="utf-8")
    known = tmp_path / "known.toml"
    known.write_text('[[device]]\nvid = "0a0b"\nname = "vendor-wide"\n', encoding="utf-8")
    out = _cli("--config", str(config), "--known-devices", str(known), "--group", "pos")
    assert out.returncode == 0, out.stderr
    check_rules_text(out.stdout)
    rules = rule_lines_of(out.stdout)
    assert len(rules) == 4
    assert all('GROUP="pos"' in line for line in rules)
    assert '"1a2b"' in rules[0] and '"0a0b"' in rules[2]
    assert "UNCONFIRMED" in out.stdout  # the known-devices entry has no confidence: unconfirmed
    assert "device old: serial:///dev/ttyUSB0" in out.stdout


def test_cli_accepts_the_example_config() -> None:
    out = _cli("--config", str(ROOT / "systemd" / "config.example.toml"))
    assert out.returncode == 0, out.stderr
    check_rules_text(out.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--group", "Bad Group"), "invalid group name"),
        (("--config", "/nonexistent/kkm.toml"), "cannot read config"),
        (("--known-devices", "/nonexistent/known.toml"), "cannot read known-devices file"),
    ],
)
def test_cli_errors_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    out = _cli(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert message in out.stderr and "Traceback" not in out.stderr


def test_cli_bad_toml(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("devices = [\n", encoding="utf-8")
    out = _cli("--config", str(config))
    assert out.returncode == 2 and "Traceback" not in out.stderr and str(config) in out.stderr


# --- optional: udev's own checker --------------------------------------------------------------


def test_udevadm_verify_accepts_generated_rules(tmp_path: Path) -> None:
    udevadm = shutil.which("udevadm")
    if udevadm is None:
        pytest.skip("udevadm is not installed (package udev); the regex checks above still ran")
    probe = subprocess.run([udevadm, "verify", "--help"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip("this udevadm has no `verify` command (needs systemd >= 254)")
    rules = tmp_path / "99-kkm-bridge.rules"
    rules.write_text(render_rules([_device(0x1A2B, 0x3C4D), _device(0x0A0B, None, confidence="unconfirmed")]),
                     encoding="utf-8")
    out = subprocess.run([udevadm, "verify", str(rules), str(SHIPPED_RULES)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
