"""Auth, cashbox registration, shifts, reports, cash in/out, device status and health."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from kkm_bridge.journal import Job, JobKind, JobNotFound, JobState
from kkm_bridge.journal.models import validate_job_id
from kkm_bridge.model.errors import InputError
from kkm_bridge.model.money import format_amount, parse_amount
from kkm_bridge.workers.errors import DeviceUnavailable

from .errors import ApiError, from_problems, json_response, not_found
from .jobs import failure_error, idempotency_key, major, prefers_async, state_of, submit
from .mapping import cashier_name
from .requests import PRINCIPAL, SERVICES, base_url, read_body
from .schemas import (
    CashRequest,
    DeviceState,
    DeviceStatusResponse,
    HealthResponse,
    LoginRequest,
    LoginResponse,
    OperationResponse,
    RegisterRequest,
    RegisterResponse,
    ShiftRequest,
)
from .services import Cashbox, Services

__all__ = ["routes"]

routes = web.RouteTableDef()
OPERATION_KINDS = frozenset({JobKind.SHIFT_OPEN, JobKind.SHIFT_CLOSE, JobKind.X_REPORT, JobKind.CASH_IN,
                             JobKind.CASH_OUT})


@routes.post("/api/v1/auth/login")
async def login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    await read_body(request, LoginRequest)  # optional {"bin", "inn"}: accepted for compatibility, not needed
    principal = services.auth.login(request.headers.get("Authorization"))
    request[PRINCIPAL] = principal.key_name
    return json_response(LoginResponse(access_token=services.auth.issue(principal), expires_in=services.auth.ttl,
                                       fiscal_id=services.default_cashbox.fiscal_id))


@routes.post("/api/v1/auth/refresh")
async def refresh(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    await read_body(request, LoginRequest)
    principal = services.auth.refresh(request.headers.get("Authorization"))
    request[PRINCIPAL] = principal.key_name
    return json_response(LoginResponse(access_token=services.auth.issue(principal), expires_in=services.auth.ttl,
                                       fiscal_id=services.default_cashbox.fiscal_id))


@routes.post("/api/v1/fiscal/register")
async def register(request: web.Request) -> web.Response:
    """Bind a fiscal number (fiscal storage, registration or factory number) to its configured cashbox."""
    services = request.app[SERVICES]
    payload = await read_body(request, RegisterRequest)
    number = payload.fiscal_number.strip()
    for box in services.cashboxes.values():
        settings = box.settings
        known = {*settings.fiscal_numbers, settings.fiscal_id, settings.registration.registration_number,
                 settings.registration.factory_number}
        if number in known:
            return json_response(RegisterResponse(fiscal_id=box.fiscal_id, fiscal_number=number,
                                                  device_id=box.device_id))
    raise not_found(f"a configured device with fiscal number {number!r}")


def operation_response(job: Job, box: Cashbox, base: str, *, replay: bool = False) -> OperationResponse:
    result = job.result or {}
    return OperationResponse(
        operation_id=job.job_id, operation=job.kind, status=state_of(job),  # type: ignore[arg-type]
        fiscal_id=box.fiscal_id, status_url=f"{base}/api/v1/operation/{job.job_id}",
        document_number=result.get("document_number"), fiscal_sign=result.get("fiscal_sign"),
        shift_number=result.get("shift_number"), date_time=result.get("fiscal_datetime"),
        total=major(result.get("total")), replay=replay,
        error=failure_error(job).body if job.state == JobState.FAILED else None,
        success=job.state != JobState.FAILED,
    )


async def _operation(request: web.Request, kind: str, payload: ShiftRequest | CashRequest,
                     body: dict[str, Any]) -> web.Response:
    services = request.app[SERVICES]
    box = services.cashbox(payload.fiscal_id)
    run_async = prefers_async(request, payload.async_)
    done = await submit(request, services, box, kind=kind, body=body,
                        key=idempotency_key(request, payload.idempotency_key), run_async=run_async, prefix="OP")
    job = done.job
    if job.state == JobState.FAILED and not run_async:
        raise failure_error(job)
    status = 202 if run_async and not job.is_terminal else 200
    return json_response(operation_response(job, box, base_url(request, services), replay=done.replay), status)


def _shift_body(payload: ShiftRequest) -> dict[str, Any]:
    name = cashier_name(payload.cashier)
    return {"cashier": name} if name else {}


@routes.post("/api/v1/shift/open")
async def shift_open(request: web.Request) -> web.Response:
    payload = await read_body(request, ShiftRequest)
    return await _operation(request, JobKind.SHIFT_OPEN.value, payload, _shift_body(payload))


@routes.post("/api/v1/shift/close")
async def shift_close(request: web.Request) -> web.Response:
    """Close the shift with a Z report."""
    payload = await read_body(request, ShiftRequest)
    return await _operation(request, JobKind.SHIFT_CLOSE.value, payload, _shift_body(payload))


@routes.post("/api/v1/report/x")
async def report_x(request: web.Request) -> web.Response:
    payload = await read_body(request, ShiftRequest)
    return await _operation(request, JobKind.X_REPORT.value, payload, {})


async def _cash(request: web.Request, kind: str) -> web.Response:
    payload = await read_body(request, CashRequest)
    try:
        minor = parse_amount(payload.sum, "/sum")
    except InputError as exc:
        raise from_problems(exc.problems) from None
    if minor == 0:
        raise ApiError(400, "payment_not_positive", "sum must be greater than zero")
    box = request.app[SERVICES].cashbox(payload.fiscal_id)
    body = {"amount": format_amount(minor), "currency": box.settings.currency}
    return await _operation(request, kind, payload, body)


@routes.post("/api/v1/cash/in")
async def cash_in(request: web.Request) -> web.Response:
    return await _cash(request, JobKind.CASH_IN.value)


@routes.post("/api/v1/cash/out")
async def cash_out(request: web.Request) -> web.Response:
    return await _cash(request, JobKind.CASH_OUT.value)


@routes.get("/api/v1/operation/{operation_id}")
async def get_operation(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        job = await services.journal.get(validate_job_id(request.match_info["operation_id"]))
    except (ValueError, JobNotFound):
        raise not_found("operation") from None
    box = services.cashboxes.get(job.scope)
    if job.kind not in OPERATION_KINDS or box is None:
        raise not_found("operation")
    return json_response(operation_response(job, box, base_url(request, services)))


async def _device_state(services: Services, box: Cashbox) -> DeviceState:
    worker = services.manager.worker(box.device_id)
    health = worker.health()
    state = DeviceState(fiscal_id=box.fiscal_id, device_id=box.device_id, online=health.online,
                        queue=health.queued, last_error=health.last_error,
                        registration_number=box.settings.registration.registration_number)
    try:
        status = await worker.device_status(timeout=5.0)
    except (DeviceUnavailable, TimeoutError, asyncio.TimeoutError):
        state.online = False
        return state
    except Exception as exc:  # a refusal to a status query: report it, the daemon keeps serving
        state.last_error = str(exc)
        return state
    state.shift_state = status.shift_state.value
    state.shift_number = status.shift_number
    state.receipt_open = status.receipt_open
    state.last_document_number = status.last_document_number
    state.paper_present = status.paper_present
    state.cover_open = status.cover_open
    state.device_time = status.device_time.isoformat()
    return state


@routes.get("/api/v1/device/status")
async def device_status(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    fiscal_id = request.query.get("fiscal_id")
    boxes = [services.cashbox(fiscal_id)] if fiscal_id is not None else list(services.cashboxes.values())
    states = [await _device_state(services, box) for box in boxes]
    return json_response(DeviceStatusResponse(devices=states))


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the process serves; ``degraded`` when a device is offline."""
    services = request.app[SERVICES]
    online = {device_id: health.online for device_id, health in services.manager.health().items()}
    status = "ok" if all(online.values()) and not services.stopping else "degraded"
    return json_response(HealthResponse(status=status, devices=online))  # type: ignore[arg-type]
