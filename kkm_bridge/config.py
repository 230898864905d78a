"""Daemon configuration: one TOML file, or nothing at all (a demo cashbox on the embedded simulator).

Why TOML via the standard library: the operator edits one small file by hand, and ``tomllib`` needs no
dependency. Every field has a default, so the smallest useful file is one ``[[devices]]`` table. Shape::

    listen = "127.0.0.1:8080"          # --listen overrides
    state_dir = "/var/lib/kkm-bridge"  # journal, token secret, simulator state

    [[api_keys]]
    name = "shop"
    sha256 = "<hex sha256 of the key>" # `kkm-bridge serve --hash-key` prints it; the key itself is never stored

    [limits]
    queue_size = 100        # accepted-but-unfinished jobs per device before 429
    rate_per_second = 50    # requests per second per client (token bucket), before 429
    burst = 100
    max_body_bytes = 262144
    sync_timeout = 60.0     # seconds a synchronous call waits for the device before 503
    token_ttl = 86400       # access-token lifetime, seconds

    [tax_profiles.KZ]                  # replaces the built-in profile of a country (optional)
    periods = [{since = 2020-01-01, rates = ["12", "0", "none"]},
               {since = 2026-01-01, rates = ["16", "10", "5", "0", "none"]}]

    [journal]
    writes = "inline"                  # or "thread" where an fsync takes milliseconds (SD card, network disk)

    [http]
    allowed_origins = ["https://shop.example"]   # browsers from other origins are refused (loopback is allowed)
    public_url = "http://127.0.0.1:8080"           # base of the qr_code links; default: the listen address

    [[devices]]
    id = "kkm1"
    uri = "serial:///dev/ttyACM0?baudrate=115200"  # or tcp://, usb://, ble://, sim://
    model = "atol"
    fiscal_id = "FL2026000001"                     # the cashbox id the API speaks of
    country = "KZ"                                 # tax profile, currency and identifier rules
    unsupported_text = "reject"                    # item names with letters the device cannot print
                                                   # (Kazakh ә ғ қ ң ө ұ ү һ і): "reject" (400
                                                   # unsupported_characters) or "transliterate"
                                                   # (а г к н о у у х и)
    fiscal_numbers = ["9999078900001234"]          # what /fiscal/register accepts for this device
    [devices.registration]                         # what the QR / check_url are built from
    registration_number = "032600010282"
    factory_number = "SWK00033717"
    qr_url_base = "http://consumer.oofd.kz"
    [devices.shift]
    auto_open = true
    auto_close_expired = false
    [devices.tax_table]                            # the device's programmed tax slots: index -> rate code
    1 = "16"
    2 = "10"

Key hashing: API keys are long random strings (the development key is 32 random bytes), so one sha256 is
enough to keep them unusable if the config leaks; a slow hash (scrypt) only matters for low-entropy
passwords, which keys are not.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from kkm_bridge.model.errors import ConfigError, InputError, join_path
from kkm_bridge.model.jurisdiction import JURISDICTIONS
from kkm_bridge.model.tax import DEFAULT_PROFILES, TaxProfile, VatRate, profiles_from_config

__all__ = [
    "ApiKey",
    "Config",
    "DeviceSettings",
    "HttpSettings",
    "Limits",
    "Registration",
    "ShiftPolicy",
    "default_config",
    "default_state_dir",
    "ensure_dev_key",
    "hash_key",
    "load_config",
    "parse_listen",
]

#: Which tax index means which rate, by country, for devices whose config does not say. Real devices are
#: programmed by their service engineer; these are what the embedded simulator is programmed with.
#: Kazakhstan: the 2026 rates first, then 12 % for returns of sales made before 2026.
DEFAULT_TAX_TABLES: Mapping[str, Mapping[int, str]] = {
    "KZ": {1: "16", 2: "10", 3: "5", 4: "0", 5: "none", 6: "12"},
    "UZ": {1: "12", 2: "0", 3: "none"},
    "RU": {1: "20", 2: "10", 3: "0", 4: "none", 5: "20/120", 6: "10/110"},
}

#: Values of ``[journal] writes`` (``kkm_bridge.journal.aio``).
JOURNAL_WRITES = ("inline", "thread")

#: Values of ``[[devices]] unsupported_text`` (``kkm_bridge.driver.text.POLICIES``).
UNSUPPORTED_TEXT_POLICIES = ("reject", "transliterate")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEV_KEY_FILE = "dev-api-key"


def hash_key(key: str) -> str:
    """The hex sha256 of an API key: what the config stores instead of the key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_listen(value: str, path: str = "/listen") -> tuple[str, int]:
    """``"127.0.0.1:8080"``, ``"[::1]:8080"``, ``":8080"`` (loopback) or ``"8080"`` -> (host, port)."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = DEFAULT_HOST, text
    host = host.strip("[]") or DEFAULT_HOST
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError("bad_listen", path, f"expected HOST:PORT, got {value!r}")
    return host, int(port_text)


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str


@dataclass(frozen=True)
class Limits:
    queue_size: int = 100
    rate_per_second: float = 50.0
    burst: int = 100
    max_body_bytes: int = 256 * 1024
    sync_timeout: float = 60.0
    token_ttl: int = 86400


@dataclass(frozen=True)
class HttpSettings:
    allowed_origins: tuple[str, ...] = ()
    public_url: str | None = None


@dataclass(frozen=True)
class Registration:
    """What the verification URL needs besides the receipt: the device's numbers and the OFD site."""

    registration_number: str | None = None
    factory_number: str | None = None
    qr_url_base: str = "http://consumer.oofd.kz"


@dataclass(frozen=True)
class ShiftPolicy:
    """Passed to the driver: open a shift before the first receipt; close (Z) an expired one and reopen."""

    auto_open: bool = True
    auto_close_expired: bool = False


@dataclass(frozen=True)
class DeviceSettings:
    id: str
    uri: str
    fiscal_id: str
    model: str = "atol"
    country: str = "KZ"
    fiscal_numbers: tuple[str, ...] = ()
    registration: Registration = field(default_factory=Registration)
    shift: ShiftPolicy = field(default_factory=ShiftPolicy)
    #: The device's tax slots (index -> rate code). Empty: the country's default (``DEFAULT_TAX_TABLES``).
    tax_table: Mapping[int, str] = field(default_factory=dict)
    #: Options for the embedded simulator (``sim://``): state file, delays, registration overrides.
    simulator: Mapping[str, Any] = field(default_factory=dict)
    #: Item-name characters the device's code page lacks (Kazakh letters): ``"reject"`` the request (400
    #: ``unsupported_characters``, the default: fiscal item names are not altered silently) or
    #: ``"transliterate"`` them to Russian letters (``kkm_bridge.driver.text``).
    unsupported_text: str = "reject"

    @property
    def currency(self) -> str:
        return JURISDICTIONS[self.country].currency

    @property
    def tax_slots(self) -> Mapping[int, str]:
        return self.tax_table or DEFAULT_TAX_TABLES.get(self.country, {})


@dataclass(frozen=True)
class Config:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    state_dir: Path = Path(".")
    api_keys: tuple[ApiKey, ...] = ()
    devices: tuple[DeviceSettings, ...] = ()
    limits: Limits = field(default_factory=Limits)
    http: HttpSettings = field(default_factory=HttpSettings)
    #: ``[journal] writes``: "inline" runs the device workers' journal writes on the event loop (they are on
    #: the device's critical path), "thread" in a worker thread (for disks whose fsync takes milliseconds).
    journal_writes: str = "inline"
    #: Tax profiles by country: the built-in ones, replaced by any ``[tax_profiles.XX]`` table.
    tax_profiles: Mapping[str, TaxProfile] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    #: True when no config file was given: the demo cashbox and a development key file.
    development: bool = False

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal.sqlite3"


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("kkm-bridge", appauthor=False))


def demo_device(state_dir: Path) -> DeviceSettings:
    """The no-config cashbox: the embedded simulator with the simulator's Kazakh demo registration."""
    return DeviceSettings(
        id="sim1",
        uri="sim://",
        fiscal_id="FL2026000001",
        country="KZ",
        fiscal_numbers=("9999078900001234", "032600010282", "SWK00033717"),
        registration=Registration("032600010282", "SWK00033717", "http://consumer.oofd.kz"),
        simulator={"state": str(state_dir / "simulator.sqlite3")},
    )


def default_config(state_dir: Path | None = None) -> Config:
    """What ``kkm-bridge serve`` runs with no config file (keys are added by ``ensure_dev_key``)."""
    directory = state_dir or default_state_dir()
    return Config(state_dir=directory, devices=(demo_device(directory),), development=True)


def ensure_dev_key(config: Config) -> tuple[Config, Path]:
    """Create (once) the development API key file, mode 0600, and add its hash to ``config``.

    Returns the config and the file's path; the caller prints the path, never the key.
    """
    path = config.state_dir / DEV_KEY_FILE
    config.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        key = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key + "\n")
    else:
        os.chmod(path, 0o600)
    key = path.read_text(encoding="ascii").strip()
    keys = config.api_keys + (ApiKey("development", hash_key(key)),)
    return Config(**{**config.__dict__, "api_keys": keys}), path


# --- loading --------------------------------------------------------------------------------------


def _table(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError("bad_config", path, "expected a table")
    return value


def _only(table: Mapping[str, Any], known: set[str], path: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigError("unknown_field", join_path(path, key), f"unknown setting {key!r}")


def _typed(table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str, default: Any) -> Any:
    value = table.get(key, default)
    if value is default:
        return value
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError("bad_config", join_path(path, key), f"{key} has the wrong type")
    if not isinstance(value, kind):
        raise ConfigError("bad_config", join_path(path, key), f"{key} has the wrong type")
    return value


def _limits(raw: Mapping[str, Any]) -> Limits:
    path = "/limits"
    _only(raw, set(Limits.__dataclass_fields__), path)
    base = Limits()
    values: dict[str, Any] = {}
    for name in Limits.__dataclass_fields__:
        default = getattr(base, name)
        value = _typed(raw, name, (int, float), path, default)
        if value <= 0:
            raise ConfigError("bad_config", join_path(path, name), f"{name} must be positive")
        values[name] = type(default)(value)
    return Limits(**values)


def _device(raw: Mapping[str, Any], index: int, state_dir: Path,
            profiles: Mapping[str, TaxProfile] = DEFAULT_PROFILES) -> DeviceSettings:
    path = join_path("/devices", index)
    _only(raw, {"id", "uri", "fiscal_id", "model", "country", "fiscal_numbers", "registration", "shift",
                "simulator", "tax_table", "unsupported_text"}, path)
    device_id = _typed(raw, "id", str, path, f"kkm{index + 1}")
    uri = raw.get("uri")
    if not isinstance(uri, str) or "://" not in uri:
        raise ConfigError("bad_config", join_path(path, "uri"), "uri is required, e.g. serial:///dev/ttyACM0")
    country = str(_typed(raw, "country", str, path, "KZ")).upper()
    if country not in profiles or country not in JURISDICTIONS:
        raise ConfigError("bad_config", join_path(path, "country"), f"unknown country {country!r}")
    reg_raw = _table(raw.get("registration", {}), join_path(path, "registration"))
    _only(reg_raw, set(Registration.__dataclass_fields__), join_path(path, "registration"))
    shift_raw = _table(raw.get("shift", {}), join_path(path, "shift"))
    _only(shift_raw, set(ShiftPolicy.__dataclass_fields__), join_path(path, "shift"))
    numbers = raw.get("fiscal_numbers", [])
    if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
        raise ConfigError("bad_config", join_path(path, "fiscal_numbers"), "fiscal_numbers must be strings")
    simulator = dict(_table(raw.get("simulator", {}), join_path(path, "simulator")))
    if uri.startswith("sim:") and "state" not in simulator:
        simulator["state"] = str(state_dir / f"simulator-{device_id}.sqlite3")
    tax_table: dict[int, str] = {}
    for key, code in _table(raw.get("tax_table", {}), join_path(path, "tax_table")).items():
        tpath = join_path(path, "tax_table", key)
        if not str(key).isdigit() or not 1 <= int(key) <= 255:
            raise ConfigError("bad_config", tpath, "tax slots are numbered 1..255")
        try:
            tax_table[int(key)] = VatRate.parse(code, tpath).code
        except InputError as exc:
            raise ConfigError("bad_config", tpath, exc.message) from exc
    unsupported_text = _typed(raw, "unsupported_text", str, path, "reject")
    if unsupported_text not in UNSUPPORTED_TEXT_POLICIES:
        raise ConfigError("bad_config", join_path(path, "unsupported_text"),
                          f"unsupported_text must be one of {', '.join(UNSUPPORTED_TEXT_POLICIES)}")
    return DeviceSettings(
        id=device_id,
        uri=uri,
        fiscal_id=_typed(raw, "fiscal_id", str, path, device_id),
        model=_typed(raw, "model", str, path, "atol"),
        country=country,
        fiscal_numbers=tuple(numbers),
        registration=Registration(**reg_raw),
        shift=ShiftPolicy(**shift_raw),
        simulator=simulator,
        tax_table=tax_table,
        unsupported_text=unsupported_text,
    )


def config_from_mapping(data: Mapping[str, Any], base_dir: Path | None = None) -> Config:
    """Build a ``Config`` from parsed TOML; relative paths are relative to ``base_dir`` (the file's folder)."""
    _only(data, {"listen", "state_dir", "api_keys", "devices", "limits", "http", "tax_profiles", "journal"}, "")
    host, port = parse_listen(data["listen"]) if "listen" in data else (DEFAULT_HOST, DEFAULT_PORT)
    raw_dir = data.get("state_dir")
    if raw_dir is None:
        state_dir = default_state_dir()
    else:
        state_dir = Path(str(raw_dir)).expanduser()
        if not state_dir.is_absolute() and base_dir is not None:
            state_dir = base_dir / state_dir
    keys: list[ApiKey] = []
    for index, raw in enumerate(data.get("api_keys", [])):
        path = join_path("/api_keys", index)
        raw = _table(raw, path)
        _only(raw, {"name", "sha256"}, path)
        digest = str(raw.get("sha256", "")).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError("bad_config", join_path(path, "sha256"), "sha256 must be 64 hex digits")
        keys.append(ApiKey(str(raw.get("name", f"key{index + 1}")), digest))
    profiles = profiles_from_config(_table(data.get("tax_profiles", {}), "/tax_profiles"), "/tax_profiles")
    devices = tuple(
        _device(_table(raw, join_path("/devices", i)), i, state_dir, profiles)
        for i, raw in enumerate(data.get("devices", []))
    )
    if not devices:
        devices = (demo_device(state_dir),)
    ids = [d.id for d in devices]
    fiscal_ids = [d.fiscal_id for d in devices]
    if len(set(ids)) != len(ids) or len(set(fiscal_ids)) != len(fiscal_ids):
        raise ConfigError("bad_config", "/devices", "device ids and fiscal_ids must be unique")
    http_raw = _table(data.get("http", {}), "/http")
    _only(http_raw, {"allowed_origins", "public_url"}, "/http")
    origins = http_raw.get("allowed_origins", [])
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ConfigError("bad_config", "/http/allowed_origins", "allowed_origins must be a list of origins")
    http = HttpSettings(tuple(o.rstrip("/") for o in origins), http_raw.get("public_url"))
    journal_raw = _table(data.get("journal", {}), "/journal")
    _only(journal_raw, {"writes"}, "/journal")
    journal_writes = journal_raw.get("writes", "inline")
    if journal_writes not in JOURNAL_WRITES:
        raise ConfigError("bad_config", "/journal/writes", f"writes must be one of {', '.join(JOURNAL_WRITES)}")
    return Config(
        host=host, port=port, state_dir=state_dir, api_keys=tuple(keys), devices=devices,
        limits=_limits(_table(data.get("limits", {}), "/limits")), http=http, tax_profiles=profiles,
        journal_writes=journal_writes,
    )


def load_config(path: str | os.PathLike[str]) -> Config:
    file = Path(path)
    try:
        with file.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("bad_config", "", f"{file}: {exc}") from exc
    return config_from_mapping(data, file.parent)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
