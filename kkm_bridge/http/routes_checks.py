"""Checks: sell, refund, one check, history, and the QR image of a check."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from kkm_bridge.journal import Job, JobKind, JobNotFound, JobState
from kkm_bridge.journal.models import validate_job_id
from kkm_bridge.model.errors import Problem
from kkm_bridge.workers.operations import Fiscalize

from .errors import ApiError, from_problems, json_response, not_found
from .jobs import failure_error, idempotency_key, major, prefers_async, state_of, submit
from .mapping import amount_text, map_check
from .refunds import RefundExceedsOriginal, refund_exceeds
from .requests import CHECK_ID, SERVICES, base_url, read_body
from .schemas import (
    AcceptedResponse,
    CheckResponse,
    ChecksResponse,
    RefundRequest,
    SellRequest,
    VatLine,
)
from .services import Cashbox, Services

__all__ = ["routes", "check_response", "check_url"]

CHECK_KINDS = (JobKind.SELL.value, JobKind.SELL_RETURN.value)
routes = web.RouteTableDef()


def check_url(base: str, fiscal_sign: str, registration_number: str, total: Decimal, when: datetime) -> str:
    """The OFD verification URL the QR code carries (reference ``fiscal-rules`` 1.3): ``i`` fiscal sign,
    ``f`` registration number (RNM), ``s`` total with 2 decimals, ``t`` local date-time."""
    return f"{base}?i={fiscal_sign}&f={registration_number}&s={total:.2f}&t={when:%Y%m%dT%H%M%S}"


def _verification(job: Job, box: Cashbox) -> str | None:
    result = job.result or {}
    sign, when, total = result.get("fiscal_sign"), result.get("fiscal_datetime"), result.get("total")
    registration = result.get("registration_number") or box.settings.registration.registration_number
    if not (sign and when and total is not None and registration):
        return None
    return check_url(box.settings.registration.qr_url_base, str(sign), str(registration), Decimal(str(total)),
                     datetime.fromisoformat(str(when)))


def check_response(job: Job, box: Cashbox, base: str, *, replay: bool = False) -> CheckResponse:
    result = job.result or {}
    status_url = f"{base}/api/v1/check/{job.job_id}"
    url = _verification(job, box) if job.state == JobState.DONE else None
    electronic = bool(job.request.get("electronic_only"))
    error = None
    if job.state == JobState.FAILED:
        error = failure_error(job).body
    return CheckResponse(
        fiscal_check_id=job.job_id,
        status=state_of(job),  # type: ignore[arg-type]
        operation=job.kind,
        fiscal_id=box.fiscal_id,
        status_url=status_url,
        # The bridge sends no e-mail/SMS itself; the OFD delivers electronic checks from the fiscal data.
        send_status=("electronic" if electronic else "printed") if job.state == JobState.DONE else "not_sent",
        qr_code=f"{status_url}/qr" if url else None,
        check_url=url,
        fiscal_sign=result.get("fiscal_sign"),
        document_number=result.get("document_number"),
        shift_number=result.get("shift_number"),
        receipt_number=result.get("receipt_number"),
        registration_number=result.get("registration_number") or box.settings.registration.registration_number,
        factory_number=box.settings.registration.factory_number,
        date_time=result.get("fiscal_datetime"),
        total=major(result.get("total")),
        change=major(result.get("change")),
        vat=[VatLine(rate=str(rate), sum=major(amount) or "0.00") for rate, amount in (result.get("vat") or {}).items()],
        offline=result.get("offline") if job.state == JobState.DONE else None,
        order_id=job.order_id,
        replay=replay,
        error=error,
        success=job.state != JobState.FAILED,
    )


def from_problems_one(path: str, code: str, message: str) -> ApiError:
    return from_problems([Problem(code, path, message)])


async def _check(request: web.Request, services: Services, payload: SellRequest | RefundRequest,
                 operation: str, original: dict[str, Any] | None = None,
                 items: list[dict[str, Any]] | None = None, payments: list[dict[str, Any]] | None = None,
                 original_path: str = "/original", box: Cashbox | None = None) -> web.Response:
    box = box or services.cashbox(payload.fiscal_id)
    key = idempotency_key(request, payload.idempotency_key)
    mapped = map_check(payload, operation=operation, profile=box.profile, now=services.now(),
                       currency=box.settings.currency, original=original, items_fallback=items,
                       payments_fallback=payments, original_path=original_path,
                       device_check=services.device_check(box))
    if mapped.problems:
        raise from_problems(mapped.problems)
    run_async = prefers_async(request, payload.async_)
    # The receipt validation built is what the worker's planner would build from the journalled body.
    plan = Fiscalize(mapped.receipt) if mapped.receipt is not None else None
    done = await submit(request, services, box, kind=operation, body=mapped.body, key=key,
                        order_id=payload.order_id, run_async=run_async, prefix="CHK", plan=plan)
    job, base = done.job, base_url(request, services)
    if run_async and not job.is_terminal:
        body = AcceptedResponse(fiscal_check_id=job.job_id, status=state_of(job),  # type: ignore[arg-type]
                                status_url=f"{base}/api/v1/check/{job.job_id}", replay=done.replay)
        return json_response(body, 202, {"Location": body.status_url, "Preference-Applied": "respond-async"})
    if job.state == JobState.FAILED and not run_async:
        raise failure_error(job)
    return json_response(check_response(job, box, base, replay=done.replay))


@routes.post("/api/v1/check/sell")
async def sell(request: web.Request) -> web.Response:
    payload = await read_body(request, SellRequest)
    return await _check(request, request.app[SERVICES], payload, JobKind.SELL.value)


def _original_from_check(job: Job) -> dict[str, Any]:
    result = job.result or {}
    return {
        "fiscal_sign": result.get("fiscal_sign"),
        "date_time": result.get("fiscal_datetime"),
        "registration_number": result.get("registration_number"),
        "total": str(result.get("total")),
    }


@routes.post("/api/v1/check/refund")
async def refund(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    payload = await read_body(request, RefundRequest)
    box = services.cashbox(payload.fiscal_id)
    if (payload.fiscal_check_id is None) == (payload.original is None):
        raise from_problems_one("/fiscal_check_id", "return_requires_original",
                                "reference the sale by fiscal_check_id or by original "
                                "{fiscal_sign, date_time, registration_number, total}, not both")
    if payload.fiscal_check_id is not None:
        sale = await _load(services, payload.fiscal_check_id)
        if sale.kind != JobKind.SELL.value or sale.scope != box.fiscal_id:
            raise from_problems_one("/fiscal_check_id", "original_not_found",
                                    "fiscal_check_id does not name a sale of this cashbox")
        if sale.state != JobState.DONE:
            raise from_problems_one("/fiscal_check_id", "original_not_done",
                                    f"the sale is {sale.state}; only a printed sale can be refunded")
        # The journal refuses a refund that, with the other refunds of this sale, would exceed it
        # (RefundExceedsOriginal, inside the transaction that would record it): nothing printed.
        try:
            return await _check(request, services, payload, JobKind.SELL_RETURN.value,
                                _original_from_check(sale), items=sale.request.get("items"),
                                payments=sale.request.get("payments"), original_path="/fiscal_check_id", box=box)
        except RefundExceedsOriginal as exc:
            raise refund_exceeds(exc, payload, "/fiscal_check_id") from None
    assert payload.original is not None
    original = {
        "fiscal_sign": payload.original.fiscal_sign,
        "date_time": payload.original.date_time,
        "registration_number": payload.original.registration_number,
        "total": amount_text(payload.original.total),  # 1e999999999 must reach the model's check, not format()
    }
    try:
        return await _check(request, services, payload, JobKind.SELL_RETURN.value, original, box=box)
    except RefundExceedsOriginal as exc:
        raise refund_exceeds(exc, payload, "/original/total") from None


async def _load(services: Services, job_id: str) -> Job:
    try:
        validate_job_id(job_id)
        return await services.journal.get(job_id)
    except (ValueError, JobNotFound):
        raise not_found("check") from None


def _box_of(services: Services, job: Job) -> Cashbox:
    box = services.cashboxes.get(job.scope) or services.by_device(job.device_id)
    if box is None:
        raise not_found("check")
    return box


@routes.get("/api/v1/check/{check_id}")
async def get_check(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    job = await _load(services, request.match_info["check_id"])
    if job.kind not in CHECK_KINDS:
        raise not_found("check")
    request[CHECK_ID] = job.job_id
    return json_response(check_response(job, _box_of(services, job), base_url(request, services)))


@routes.get("/api/v1/check/{check_id}/qr")
async def check_qr(request: web.Request) -> web.Response:
    """The QR code of a printed check as a PNG. Public: the unguessable check id is the capability, so the
    URL works in an ``<img>`` of the POS's own page and in e-mails, like the cloud's ``qr_code`` link."""
    import qrcode

    services = request.app[SERVICES]
    job = await _load(services, request.match_info["check_id"])
    url = _verification(job, _box_of(services, job)) if job.state == JobState.DONE else None
    if job.kind not in CHECK_KINDS or url is None:
        raise not_found("QR code")
    request[CHECK_ID] = job.job_id
    image = qrcode.make(url, box_size=6, border=2)
    out = io.BytesIO()
    image.save(out)
    return web.Response(body=out.getvalue(), content_type="image/png", headers={"Cache-Control": "max-age=86400"})


def _query_datetime(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise from_problems_one(f"/{name}", "bad_date_time", f"{name} must be an ISO date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()


def _query_int(value: str | None, name: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) < 10 and lo <= int(value) <= hi):
        raise from_problems_one(f"/{name}", "invalid_field", f"{name} must be an integer {lo}..{hi}")
    return int(value)


@routes.get("/api/v1/checks")
async def list_checks(request: web.Request) -> web.Response:
    """History, newest first. ``from`` (inclusive) / ``to`` (exclusive) are on the time the check was
    accepted; ``shift`` is the device's shift number of printed checks."""
    services = request.app[SERVICES]
    query = request.query
    box = services.cashbox(query.get("fiscal_id"))
    shift = _query_int(query.get("shift"), "shift", 0, 10**9)
    limit = _query_int(query.get("limit"), "limit", 1, 1000) or 100
    offset = _query_int(query.get("offset"), "offset", 0, 10**9) or 0
    since, until = _query_datetime(query.get("from"), "from"), _query_datetime(query.get("to"), "to")
    jobs: list[Job] = []
    for kind in CHECK_KINDS:
        jobs += await services.journal.list_jobs(device_id=box.device_id, shift=shift, since=since, until=until,
                                                 kind=kind, limit=limit + offset)
    jobs.sort(key=lambda job: (job.created_at, job.seq), reverse=True)
    base = base_url(request, services)
    checks = [check_response(job, box, base) for job in jobs[offset:offset + limit]]
    return json_response(ChecksResponse(checks=checks))
