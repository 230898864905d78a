"""Item names the device cannot print (Kazakh letters, over-long names) are refused at validation time.

Over real loopback HTTP against the embedded simulator: a 400 with the envelope, the client's field path
and nothing journalled or printed; with ``unsupported_text = "transliterate"`` the sale goes through and the
fiscal memory holds the transliterated name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from http_testutil import StartApi
from http_testutil import MILK, Api, device_settings, journal_jobs, make_config, make_simulator, sell_body

from kkm_bridge.config import Config, config_from_mapping
from kkm_bridge.model.errors import ConfigError
from simulators.atol import Simulator

KAZAKH_MILK = {**MILK, "name": "Сүт 1л"}


def receipts(sim: Simulator) -> list[Any]:
    return [d for d in sim.documents if d.kind == "receipt"]


def details(error: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["path"], d["code"]) for d in error["error"]["details"]]


async def test_kazakh_item_name_is_400_and_nothing_is_journalled_or_printed(
    api: Api, simulator: Simulator, config: Config
) -> None:
    tape = len(simulator.device.tape)
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(items=[KAZAKH_MILK]))
    assert status == 400, error
    assert error["success"] is False
    assert error["error"]["code"] == "unsupported_characters"
    assert details(error) == [("/items/0/name", "unsupported_characters")]
    message = error["error"]["message"]
    assert "'ү' (U+04AF)" in message and 'unsupported_text = "transliterate"' in message
    assert simulator.documents == [] and len(simulator.device.tape) == tape
    assert journal_jobs(config) == []


async def test_every_unprintable_name_is_reported_with_the_model_problems(api: Api, config: Config) -> None:
    items = [MILK, {**MILK, "name": "Қымыз"}, {**MILK, "name": "", "price": 1}, {**MILK, "name": "Ы" * 65}]
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(items=items, total_sum=1501))
    assert status == 400, error
    found = details(error)
    assert ("/items/1/name", "unsupported_characters") in found
    assert ("/items/2/name", "name_empty") in found  # the model's own problem, reported once
    assert ("/items/3/name", "name_too_long_for_device") in found
    assert [path for path, _ in found].count("/items/2/name") == 1
    assert journal_jobs(config) == []


async def test_refund_with_a_kazakh_name_is_400_too(api: Api, simulator: Simulator, config: Config) -> None:
    _, sale, _ = await api.post("/api/v1/check/sell", sell_body())
    original = {"fiscal_sign": sale["fiscal_sign"], "date_time": sale["date_time"],
                "registration_number": sale["registration_number"], "total": sale["total"]}
    status, error, _ = await api.post("/api/v1/check/refund", sell_body(original=original, items=[KAZAKH_MILK]))
    assert status == 400, error
    assert details(error) == [("/items/0/name", "unsupported_characters")]
    assert len(receipts(simulator)) == 1 and len(journal_jobs(config)) == 1


async def test_a_rate_the_device_has_no_slot_for_is_400_before_journalling(
    start_api: StartApi, sim_name: str, tmp_path: Path
) -> None:
    settings = device_settings(sim_name, tmp_path, tax_table={1: "16"})
    simulator = make_simulator(settings)
    config = make_config(tmp_path, (settings,))
    api = await start_api(config)
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(items=[{**MILK, "vat_rate": 10}]))
    assert status == 400, error
    assert details(error) == [("/items/0/vat_rate", "vat_rate_not_on_device")]
    assert simulator.documents == [] and journal_jobs(config) == []


async def test_transliterate_prints_the_russian_spelling(start_api: StartApi, sim_name: str, tmp_path: Path) -> None:
    settings = device_settings(sim_name, tmp_path, unsupported_text="transliterate")
    simulator = make_simulator(settings)
    api = await start_api(make_config(tmp_path, (settings,)))
    items = [KAZAKH_MILK, {**MILK, "name": "ӘҒҚҢӨҰҮҺІ әғқңөұүһі"}]
    status, check, _ = await api.post("/api/v1/check/sell", sell_body(items=items, total_sum=1000))
    assert status == 200, check
    [document] = receipts(simulator)
    assert [line["name"] for line in document.lines] == ["Сут 1л", "АГКНОУУХИ агкноуухи"]
    assert check["fiscal_sign"] == document.fiscal_sign
    # A full refund by check id takes the sale's lines from the journal and prints them the same way.
    status, refund, _ = await api.post("/api/v1/check/refund", {"fiscal_check_id": check["fiscal_check_id"]})
    assert status == 200, refund
    assert [line["name"] for line in receipts(simulator)[1].lines] == ["Сут 1л", "АГКНОУУХИ агкноуухи"]
    # What has no transliteration is still refused.
    status, error, _ = await api.post("/api/v1/check/sell", sell_body(items=[{**MILK, "name": "Сүт 🥛"}]))
    assert status == 400 and details(error) == [("/items/0/name", "unsupported_characters")]
    assert len(receipts(simulator)) == 2


def test_unsupported_text_config_key() -> None:
    device = {"id": "kkm1", "uri": "tcp://127.0.0.1:5555"}
    config = config_from_mapping({"state_dir": "/tmp/x", "devices": [device]})
    assert config.devices[0].unsupported_text == "reject"
    opted_in = {**device, "unsupported_text": "transliterate"}
    config = config_from_mapping({"state_dir": "/tmp/x", "devices": [opted_in]})
    assert config.devices[0].unsupported_text == "transliterate"
    for bad in ("drop", 1):
        with pytest.raises(ConfigError) as raised:
            config_from_mapping({"state_dir": "/tmp/x", "devices": [{**device, "unsupported_text": bad}]})
        assert raised.value.path == "/devices/0/unsupported_text"
