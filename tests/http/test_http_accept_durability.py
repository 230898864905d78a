"""Which accepts take an fsync of their own: a 202 reports the job, so its record is durable before the answer;
a synchronous sale's record is made durable by its claim, before the device is touched."""

from __future__ import annotations

from typing import Any

from http_testutil import Api, sell_body

from kkm_bridge.journal import Journal
from simulators.atol import Simulator


async def test_sync_sales_defer_the_accept_fsync_async_ones_do_not(api: Api, simulator: Simulator) -> None:
    journal: Journal = api.daemon.services.journal.sync
    seen: list[bool] = []
    accept = journal.accept

    def spy(job: Any, *, durable: bool = True) -> Any:
        seen.append(durable)
        return accept(job, durable=durable)

    journal.accept = spy  # type: ignore[method-assign]
    status, check, _ = await api.post("/api/v1/check/sell", sell_body())
    assert status == 200, check
    status, accepted, _ = await api.post("/api/v1/check/sell", sell_body(), headers={"Prefer": "respond-async"})
    assert status == 202, accepted
    status, _, _ = await api.post("/api/v1/check/sell", {**sell_body(), "async": True})
    assert status == 202
    assert seen == [False, True, True]
    assert journal.pragma("synchronous") == 2  # FULL for everything else
    # The synchronous sale's record and result are in the file as usual.
    assert journal.get(check["fiscal_check_id"]).state.value == "done"


async def test_the_journal_writes_setting_reaches_the_daemon(start_api: Any, config: Any, simulator: Simulator) -> None:
    import dataclasses

    api = await start_api(dataclasses.replace(config, journal_writes="thread"))
    assert api.daemon.services.journal.inline_writes is False
    status, check, _ = await api.post("/api/v1/check/sell", sell_body())
    assert status == 200 and check["fiscal_sign"]
