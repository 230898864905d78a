"""The OpenAPI document: it covers every route, and a schemathesis run against the live loopback daemon finds
no 5xx and no response that breaks the schema."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from http_testutil import API_KEY, device_settings, make_config, make_simulator, unique_name, unregister
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from kkm_bridge.config import Config
from kkm_bridge.daemon import Daemon
from kkm_bridge.http.app import create_app
from kkm_bridge.http.openapi import OPERATIONS, build_openapi


class LiveDaemon:
    """A daemon on its own event loop in a thread, so synchronous clients (schemathesis) can call it."""

    def __init__(self, config: Config) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.daemon: Daemon = asyncio.run_coroutine_threadsafe(Daemon.start(config), self.loop).result(30)
        self.url = self.daemon.url
        request = urllib.request.Request(f"{self.url}/api/v1/auth/login", method="POST",
                                         headers={"Authorization": f"ApiKey {API_KEY}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            self.token: str = json.load(response)["access_token"]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.daemon.stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDaemon]:
    tmp: Path = tmp_path_factory.mktemp("openapi")
    name = unique_name()
    settings_ = device_settings(name, tmp)
    make_simulator(settings_)
    server = LiveDaemon(make_config(tmp, (settings_,)))
    yield server
    server.stop()
    unregister(name)


@pytest.fixture(scope="module")
def api_schema(live: LiveDaemon) -> Any:
    return schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")


def test_every_route_is_documented(tmp_path: Path) -> None:
    name = unique_name()
    config = make_config(tmp_path, (device_settings(name, tmp_path),))
    from kkm_bridge.http.services import Services

    app = create_app(Services(config, None, None, None, {}))  # type: ignore[arg-type]
    served = {(route.method.lower(), route.resource.canonical) for route in app.router.routes()
              if route.resource is not None and route.method != "HEAD"}
    documented = {(op.method, op.path) for op in OPERATIONS}
    assert served == documented
    document = build_openapi()
    assert set(document["paths"]) == {op.path for op in OPERATIONS}
    sell = document["components"]["schemas"]["SellRequest"]
    assert sell["additionalProperties"] is False and "items" in sell["required"]
    price = document["components"]["schemas"]["ItemIn"]["properties"]["price"]
    assert {"type": "number"} in price["anyOf"]


#: schemathesis's pytest plugin (``from_fixture``) does not work with pytest 9; its Python API does: one
#: hypothesis run per operation, positive and negative examples, against the live loopback daemon.
#: (schemathesis leaves out the schema's own URL when loading it from there.)
OPERATION_LABELS = [f"{op.method.upper()} {op.path}" for op in OPERATIONS if op.path != "/api/v1/openapi.json"]
#: Operations with something to break (parameters or a body): the only ones negative examples exist for.
WITH_INPUTS = {f"{op.method.upper()} {op.path}" for op in OPERATIONS
               if op.request is not None or op.query or op.path_params or op.idempotent_headers}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
@pytest.mark.parametrize("label", OPERATION_LABELS)
def test_api_conforms_to_its_schema(api_schema: Any, live: LiveDaemon, label: str, mode: GenerationMode) -> None:
    if mode is GenerationMode.NEGATIVE and label not in WITH_INPUTS:
        pytest.skip("no inputs to make invalid")
    [operation] = [op.ok() for op in api_schema.get_all_operations() if op.ok().label == label]
    headers = {"Authorization": f"Bearer {live.token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()

