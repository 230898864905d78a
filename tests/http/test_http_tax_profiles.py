"""Custom dated tax profiles from the config (``[tax_profiles.XX]``) decide which VAT rates a sale may use."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from http_testutil import MILK, StartApi, device_settings, make_config, make_simulator, sell_body, unique_name, \
    unregister

from kkm_bridge.config import load_config
from kkm_bridge.model.errors import ConfigError
from kkm_bridge.model.tax import DEFAULT_PROFILES, VatRate

#: A device whose tax table still holds the pre-2026 Kazakh 12 % beside the new 16 %.
TABLE = {1: "16", 2: "12", 3: "0", 4: "none"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_configured_profile_replaces_the_built_in_one(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[tax_profiles.KZ]
name = "Kazakhstan, 12 % kept for a transition"
periods = [{since = 2020-01-01, rates = ["12", "0", "none"]},
           {since = 2026-01-01, rates = ["16", "12", "0", "none"]}]

[[devices]]
uri = "sim://x"
"""))
    profile = config.tax_profiles["KZ"]
    assert profile.name.startswith("Kazakhstan, 12 %")
    assert VatRate(Decimal(12)) in profile.rates_on(date(2026, 6, 1))
    assert VatRate(Decimal(16)) not in profile.rates_on(date(2025, 6, 1))
    assert config.tax_profiles["UZ"] is DEFAULT_PROFILES["UZ"]  # the others stay built in


@pytest.mark.parametrize(
    ("table", "code", "path"),
    [
        ('[tax_profiles.KZ]\nperiods = [{since = 2026-01-01, rates = ["7.5.1"]}]',
         "bad_vat_rate", "/tax_profiles/KZ/periods/0/rates/0"),
        ('[tax_profiles.KZ]\nrates = ["16"]\nperiods = []', "bad_profile", "/tax_profiles/KZ"),
        ('[tax_profiles.KZ]\nperiods = [{since = "soon", rates = ["16"]}]', "bad_date",
         "/tax_profiles/KZ/periods/0/since"),
        ('[tax_profiles.KZ]\nrate = ["16"]', "unknown_field", "/tax_profiles/KZ/rate"),
    ],
)
def test_profile_mistakes_name_their_path(tmp_path: Path, table: str, code: str, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, table + '\n[[devices]]\nuri = "sim://x"\n'))
    assert (caught.value.code, caught.value.path) == (code, path)


async def test_a_sale_follows_the_configured_profile(tmp_path: Path, start_api: StartApi) -> None:
    """12 % is refused by the built-in 2026 profile; a config that keeps it lets the same sale print."""
    body = sell_body(items=[{**MILK, "vat_rate": 12}])
    results = {}
    for label, profiles in (("built-in", None), ("configured", {"rates": ["16", "12", "0", "none"]})):
        name = unique_name()
        try:
            settings = device_settings(name, tmp_path / label, tax_table=TABLE)
            simulator = make_simulator(settings)
            config = make_config(tmp_path / label, (settings,))
            if profiles is not None:
                config = dataclasses.replace(config, tax_profiles={
                    **config.tax_profiles, "KZ": load_config(write(tmp_path, (
                        '[tax_profiles.KZ]\nrates = ["16", "12", "0", "none"]\n[[devices]]\nuri = "sim://x"\n'
                    ))).tax_profiles["KZ"]})
            api = await start_api(config)
            status, reply, _ = await api.post("/api/v1/check/sell", body)
            results[label] = (status, reply, [d for d in simulator.documents if d.kind == "receipt"])
        finally:
            unregister(name)
    status, reply, printed = results["built-in"]
    assert status == 400 and reply["error"]["code"] == "vat_rate_not_allowed" and printed == []
    status, reply, printed = results["configured"]
    assert status == 200, reply
    assert reply["vat"] == [{"rate": "12", "sum": "53.57"}]
    assert [d.total for d in printed] == [50000]
