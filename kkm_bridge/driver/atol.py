"""`AtolDriver`: the `FiscalDevice` interface on an ATOL printer speaking transport v3.

Every operation is a short list of application commands (protocols.atol.commands) run through the v3
link (`link_v3`). Receipts are pipelined: mode entry, open, items, payments are queued at once, and the
close - the only command that commits a fiscal document - follows once they all succeeded. On a
refusal the driver cancels the receipt it opened and raises the device's error, attributed to the
step that failed (`DeviceRefused.step`).

Fiscal documents are read back from the fiscal storage (`A4 45` open document, `A4 46` next TLV), so
the result a caller gets (number, fiscal sign, total, date-time) is what the device stored, not what
we believe we sent. The simulator offers no query for "the last document number", so the driver finds
it by probing `A4 45` (which fails for a number that does not exist) and then follows it itself.

Modes: registration (1) and X reports (2) are entered with `password`, Z reports (3) with
`admin_password`. The driver remembers the mode it left the device in and re-reads it (3F) when unsure.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any

from protocols.atol import commands as cmd
from protocols.atol import errors_table as et
from protocols.atol import tlv
from protocols.atol.codepage import encode_text
from protocols.atol.tax_table import DEFAULT_TAX_TABLE, TaxSlot
from protocols.atol.v3_buffer import TaskState
from protocols.errors import ProtocolError

from kkm_bridge.driver import text as device_text
from kkm_bridge.driver.api import (
    DeviceInfo,
    DeviceStatus,
    DocumentKind,
    FiscalDocument,
    FiscalResult,
    ShiftState,
)
from kkm_bridge.driver.documents import KIND_BY_DOCUMENT_TYPE, document_from_tlvs
from kkm_bridge.driver.errors import (
    DeviceRefused,
    DriverError,
    LinkError,
    LinkTimeout,
    NoMoreData,
    NotAllowedInMode,
    ProtocolFailure,
    ReceiptNotSupported,
    ShiftExpired,
    ShiftPolicyRefused,
    Step,
    refusal_for,
)
from kkm_bridge.driver.link_v3 import PipelineFailed, PipelineReordered, PipelineStep, Release, TaskResult, V3Link
from kkm_bridge.driver.logctx import with_context
from kkm_bridge.driver.shift_policy import ShiftAction, ShiftPolicy, decide
from kkm_bridge.driver.timeouts import DEFAULT_TIMEOUTS, Timeouts
from kkm_bridge.model.errors import Problem, join_path
from kkm_bridge.model.receipt import Operation, PaymentType, Receipt
from kkm_bridge.transports import Transport

logger = logging.getLogger(__name__)

RECEIPT_TYPES: dict[Operation, int] = {
    Operation.SELL: cmd.ReceiptType.SELL,
    Operation.SELL_RETURN: cmd.ReceiptType.SELL_RETURN,
    Operation.BUY: cmd.ReceiptType.BUY,
    Operation.BUY_RETURN: cmd.ReceiptType.BUY_RETURN,
}
KIND_BY_RECEIPT_TYPE: dict[int, DocumentKind] = {
    cmd.ReceiptType.SELL: DocumentKind.SELL,
    cmd.ReceiptType.SELL_RETURN: DocumentKind.SELL_RETURN,
    cmd.ReceiptType.BUY: DocumentKind.BUY,
    cmd.ReceiptType.BUY_RETURN: DocumentKind.BUY_RETURN,
}
DEFAULT_PAY_TYPES: dict[PaymentType, int] = {
    PaymentType.CASH: cmd.PayType.CASH,
    PaymentType.CARD: cmd.PayType.ELECTRONIC,
    PaymentType.MOBILE: cmd.PayType.ELECTRONIC,
}
NAME_BYTES = 64
TLV_BATCH = 32
#: First batch, sent with A4 45 before its size hint is known: a receipt of up to 4 items (11 TLVs + one
#: per item) in one pipeline, whose last read runs into "no more data".
FIRST_TLV_BATCH = 15
#: Documents read (headers only) looking for the current shift's opening document.
SHIFT_SCAN_LIMIT = 64
_HEADER_TAGS = frozenset({tlv.DATETIME, tlv.SHIFT_NUMBER})
#: How long a status the driver verified stays usable for its own shift-policy decision, provided no
#: command reached the device since (see `_recent_status`).
STATUS_REUSE_SECONDS = 2.0
#: Request types without fields (their encoding never changes), by type; filled as they are met.
_FIELDLESS: dict[type, bool] = {}
#: Runs of one command list when the link forces a retry (see `_run`).
MAX_ATTEMPTS = 4
#: The command code of each request type met (`cmd.command_code`), for `_decode`.
_CODES: dict[type, Any] = {}
_ErrorReply = cmd.ErrorReply
_STOPPED = TaskState.STOPPED


@dataclass(frozen=True)
class _Cmd:
    """One command of an operation, with the name a refusal reports."""

    name: str
    request: Any
    barrier: bool = False


#: The status pipeline's fixed commands (immutable: made once).
_STATUS_COMMANDS = (_Cmd("device state", cmd.DeviceState()), _Cmd("FN shift state", cmd.FnShiftState()))
_READ_TLV: list[_Cmd] = []  # "read TLV n" for n = 1, 2, ...: the same immutable commands for every document


def _read_tlv_commands(done: int, count: int) -> list[_Cmd]:
    """Commands reading TLVs `done + 1` .. `done + count` of the open document."""
    while len(_READ_TLV) < done + count:
        _READ_TLV.append(_Cmd(f"read TLV {len(_READ_TLV) + 1}", cmd.FnReadTlv()))
    return _READ_TLV[done : done + count]


def _kind_of_receipt(operation: Operation) -> DocumentKind:
    return KIND_BY_RECEIPT_TYPE[RECEIPT_TYPES[operation]]


class AtolDriver:
    """An ATOL printer on transport v3. Implements `kkm_bridge.driver.api.FiscalDevice`."""

    def __init__(
        self,
        transport: Transport,
        *,
        password: int = 30,
        admin_password: int | None = None,
        access_password: int = 0,
        tax_table: dict[int, TaxSlot] | None = None,
        dialect: cmd.Dialect = cmd.DEFAULT_DIALECT,
        shift_policy: ShiftPolicy | None = None,
        line_width: int | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        window: int = 16,
        pay_types: dict[PaymentType, int] | None = None,
        cancel_open_receipt_on_connect: bool = False,
        log_extra: dict[str, Any] | None = None,
        unsupported_text: str = device_text.DEFAULT_POLICY,
    ) -> None:
        self.transport = transport
        self.password = password
        self.admin_password = password if admin_password is None else admin_password
        self.access_password = access_password
        self.tax_table = dict(tax_table if tax_table is not None else DEFAULT_TAX_TABLE)
        self.dialect = dialect
        self.shift_policy = shift_policy or ShiftPolicy()
        self.line_width = line_width
        self.timeouts = timeouts
        self.pay_types = dict(pay_types or DEFAULT_PAY_TYPES)
        self.cancel_open_receipt_on_connect = cancel_open_receipt_on_connect
        self.log_extra = dict(log_extra or {})
        #: "reject" or "transliterate" item-name characters the code page lacks (`driver.text`).
        self.unsupported_text = device_text.check_policy(unsupported_text)
        self.link = V3Link(transport, timeouts=timeouts, window=window, log_extra=self._ctx())
        self._lock = asyncio.Lock()
        self._mode: int | None = None
        self._last_document: int | None = None
        #: When each shift opened, by shift number; None: looked for and not found (not looked for again).
        self._shift_opened_at: dict[int, datetime | None] = {}
        #: Encoded requests without parameters, by (type, access password, dialect).
        self._fixed_payloads: dict[tuple[type, int, int], bytes] = {}
        #: Pipeline steps of commands without parameters, by (name, request type, barrier) (`_steps`), and
        #: the (dialect, timeouts, access password) they were made with.
        self._fixed_steps: dict[tuple[str, type, bool], PipelineStep] = {}
        self._fixed_steps_basis: tuple[Any, Any, Any] = (None, None, None)
        #: The last status read from the device: (status, link task count then, loop time then).
        self._verified: tuple[DeviceStatus, int, float] | None = None
        #: Whether the last `_run` had to resend an ADD (its tasks may have run out of order).
        self.last_run_tainted = False
        #: The "no more data" that ended the last `_run(end_of_data=True)`, if one did.
        self.last_run_end: NoMoreData | None = None

    def _ctx(self) -> dict[str, Any]:
        return with_context(self.log_extra)

    # -- lifecycle ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the link (ABORT clears the task buffer) and learn the device's mode."""
        async with self._lock:
            await self.link.open()
            self._mode = None
            self._last_document = None
            self._verified = None
            state = await self._state()
            if state.receipt_state and self.cancel_open_receipt_on_connect:
                logger.warning("cancelling a receipt left open on the device", extra=self._ctx())
                await self._cancel_unlocked()

    async def close(self) -> None:
        async with self._lock:
            await self.link.close()

    async def __aenter__(self) -> "AtolDriver":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- command plumbing -----------------------------------------------------------------------

    def _payload(self, request: Any) -> bytes:
        kind = type(request)
        fieldless = _FIELDLESS.get(kind)
        if fieldless is None:
            fieldless = _FIELDLESS[kind] = is_dataclass(kind) and not fields(kind)
        key = (kind, self.access_password, id(self.dialect))
        if fieldless:  # 3F, A4 46, FN shift state...: the same bytes every time (a TLV read is sent per TLV)
            payload = self._fixed_payloads.get(key)
            if payload is not None:
                return payload
        try:
            payload = cmd.encode_request(request, self.access_password, self.dialect)
        except ProtocolError as exc:
            raise ReceiptNotSupported(f"{type(request).__name__}: cannot encode: {exc}") from exc
        if fieldless:
            self._fixed_payloads[key] = payload
        return payload

    def _step(self, name: str, request: Any, barrier: bool = False) -> PipelineStep:
        payload = self._payload(request)
        return PipelineStep(name, payload, self.timeouts.for_command(payload[2]), barrier)

    def _steps(self, commands: list[_Cmd]) -> list[PipelineStep]:
        """The pipeline steps of `commands`. A command without parameters has the same step every time
        (3F, FN shift state, "read TLV n": a document read sends one per TLV): made once, kept by name."""
        basis = self._fixed_steps_basis
        if basis[0] is not self.dialect or basis[1] is not self.timeouts or basis[2] != self.access_password:
            self._fixed_steps.clear()  # what a step holds (payload, timeout) depends on these
            self._fixed_steps_basis = (self.dialect, self.timeouts, self.access_password)
        cache = self._fixed_steps
        steps = []
        for command in commands:
            request = command.request
            key = (command.name, type(request), command.barrier)
            step = cache.get(key)
            if step is None:
                step = self._step(command.name, request, command.barrier)
                if _FIELDLESS.get(type(request)):  # (`_payload` has just filled it in for this type)
                    cache[key] = step
            steps.append(step)
        return steps

    def _decode(
        self, request: Any, result: TaskResult, step: Step | None,
        index: int = 0, name: str = "", pipeline_step: PipelineStep | None = None,
    ) -> Any:
        """The reply to `request`, or the device's refusal / ProtocolFailure attributed to `step`.

        `step` None: it is built from `index`, `name`, `pipeline_step` only when needed (a success
        needs none, and this runs for every command).
        """
        payload = result.payload
        if not payload or result.state is _STOPPED:  # (`result.stopped`)
            step = step or Step(index, name, pipeline_step.command if pipeline_step else 0)
            raise ProtocolFailure(f"{step}: task ended {result.state.name} without a reply")
        try:
            kind = type(request)
            code = _CODES.get(kind)
            if code is None:  # (`cmd.command_code`, remembered per request type: this runs for every reply)
                code = _CODES[kind] = cmd.command_code(request)
            reply = cmd.decode_reply(code, payload, self.dialect)
        except ProtocolError as exc:
            step = step or Step(index, name, pipeline_step.command if pipeline_step else 0)
            raise ProtocolFailure(f"{step}: bad reply {payload[:16].hex(' ')}: {exc}") from exc
        if isinstance(reply, _ErrorReply):
            step = step or Step(index, name, pipeline_step.command if pipeline_step else 0)
            raise refusal_for(reply.error, reply.ext, step)
        return reply

    async def _refine(self, refusal: DeviceRefused) -> DeviceRefused:
        """A mechanical error with the cover open (3F bit 5) is `CoverOpen`."""
        if refusal.code != et.COVER_OPEN_ERROR:
            return refusal
        try:
            state = await self._state()
        except DriverError:
            return refusal
        better = refusal_for(refusal.code, refusal.ext, refusal.step, cover_open=state.cover_open)
        better.detail = refusal.detail
        return better

    async def _call(self, request: Any, name: str | None = None) -> Any:
        """One command, not pipelined; raises the device's refusal."""
        label = name or type(request).__name__
        payload = self._payload(request)
        try:
            result = await self.link.execute(payload, self.timeouts.for_command(payload[2]), label)
        except LinkError:
            self._forget_device_state()
            raise
        try:
            return self._decode(request, result, Step(0, label, payload[2]))
        except DeviceRefused as refusal:
            raise await self._refine(refusal) from None

    async def _run(
        self,
        commands: list[_Cmd],
        mode: int | None = None,
        password: int | None = None,
        *,
        redo_if_reordered: bool = False,
        retry_reordered: bool = True,
        window: int | None = None,
        release: Release = "ack",
        end_of_data: bool = False,
    ) -> list[Any]:
        """Run `commands` pipelined (after entering `mode`); decoded replies of `commands`, in order.

        `end_of_data`: a command refused with "no more data" (`NoMoreData`: a read past the end of a
        document, a probe for a document that does not exist yet) ends the run instead of failing it: the
        replies of the commands before it are returned (fewer replies than commands) and the refusal is
        left in `self.last_run_end` (None otherwise). An expected answer then raises no exception.
        Retried (bounded), because nothing after the failed command ran:
        - the mode cache was wrong (NOT_ALLOWED_IN_MODE while entering the mode or at the first
          command: someone else changed the mode): the mode is re-read;
        - the link had to resend a frame, so the device may have run the tasks out of order
          (`PipelineReordered` before a barrier, or a failure in a "tainted" pipeline): a receipt
          left open is cancelled first. `redo_if_reordered` also redoes a *successful* tainted
          pipeline (for reads, where order matters and repeating is harmless).
        With `retry_reordered=False` nothing is retried for reordering; `self.last_run_tainted`
        tells the caller (a read that continues the device's cursor must restart from scratch).
        After a reorder the retry runs one task at a time (`window` 1), which cannot reorder.
        """
        last_error: DriverError | None = None
        self.last_run_tainted = False
        self.last_run_end = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            # (no coroutine for the usual case: no mode wanted, or already in it)
            prefix = [] if mode is None or mode == self._mode else await self._mode_commands(mode, password)
            full = prefix + commands
            steps = self._steps(full)
            try:
                results = await self.link.run_pipeline(steps, window, release=release)
            except LinkError:
                self._forget_device_state()
                raise
            except PipelineReordered as reordered:
                self.last_run_tainted = True
                if not retry_reordered:
                    raise LinkTimeout(str(reordered)) from None
                logger.warning("%s; cancelling and running it again", reordered, extra=self._ctx())
                last_error = LinkTimeout(f"the link kept reordering {commands[0].name}")
                await self._after_reorder(commands)
                window = 1
                continue
            except PipelineFailed as failed:
                command = full[failed.index]
                step = Step(failed.index, command.name, steps[failed.index].command)
                if failed.index < len(prefix):
                    self._mode = None
                self.last_run_tainted = failed.tainted
                if failed.tainted and retry_reordered and attempt < MAX_ATTEMPTS:
                    logger.warning("%s failed (%s) after a resent frame; running it again", step,
                                   failed.result.state.name, extra=self._ctx())
                    await self._after_reorder(commands)
                    window = 1
                    continue
                refusal = self._refusal_of(command.request, failed.result, step)
                if (
                    attempt == 1
                    and isinstance(refusal, NotAllowedInMode)
                    and mode is not None
                    and failed.index <= len(prefix)
                ):
                    self._mode = None
                    continue
                if end_of_data and isinstance(refusal, NoMoreData):
                    self.last_run_end = refusal
                    return [
                        self._decode(c.request, r, None, i, c.name, s)
                        for i, (c, r, s) in enumerate(zip(full, failed.results, steps))
                        if i >= len(prefix)
                    ]
                raise await self._refine(refusal) from None
            if mode is not None:
                self._mode = mode
            self.last_run_tainted = self.link.last_tainted
            if redo_if_reordered and self.link.last_tainted and attempt < MAX_ATTEMPTS:
                logger.info("frames were resent during %s; reading again", commands[0].name, extra=self._ctx())
                window = 1
                continue
            replies = [self._decode(c.request, r, None, i, c.name, s) for i, (c, r, s) in
                       enumerate(zip(full, results, steps))]
            return replies[len(prefix):]
        raise last_error or LinkTimeout(f"{commands[0].name}: gave up after {MAX_ATTEMPTS} attempts")

    def _forget_device_state(self) -> None:
        """After a link error we do not know what the device did: re-read mode and documents."""
        self._mode = None
        self._last_document = None
        self._verified = None

    async def _after_reorder(self, commands: list[_Cmd]) -> None:
        """Forget the mode; cancel a receipt this command list may have opened."""
        self._mode = None
        if any(isinstance(c.request, cmd.OpenReceipt) for c in commands):
            state = await self._state()
            if state.receipt_state:
                await self._run([_Cmd("cancel receipt", cmd.CancelReceipt())], cmd.Mode.REGISTRATION)

    def _refusal_of(self, request: Any, result: TaskResult, step: Step) -> DeviceRefused:
        """The device's refusal in a failed task's reply (what `_decode` raises for it, returned instead
        of raised: a document read ends in one); ProtocolFailure if the reply holds none."""
        payload = result.payload
        if payload and result.state is not _STOPPED:
            try:
                reply = cmd.decode_reply(cmd.command_code(request), payload, self.dialect)
            except ProtocolError:
                reply = None  # `_decode` below raises the ProtocolFailure for it
            if isinstance(reply, _ErrorReply):
                return refusal_for(reply.error, reply.ext, step)
        self._decode(request, result, step)  # raises ProtocolFailure for a missing or bad reply
        raise ProtocolFailure(f"{step}: task failed ({result.state.name}) without a device error")

    async def _mode_commands(self, mode: int | None, password: int | None) -> list[_Cmd]:
        if mode is None:
            return []
        if self._mode is None:
            await self._state()
        if self._mode == mode:
            return []
        out = []
        if self._mode != cmd.Mode.SELECT:
            out.append(_Cmd("leave mode", cmd.LeaveMode()))
        if mode != cmd.Mode.SELECT:
            out.append(_Cmd(f"enter mode {mode}", cmd.EnterMode(mode, self.password if password is None else password)))
        return out

    async def _state(self) -> cmd.DeviceStateReply:
        """3F; also refreshes the mode cache."""
        state = await self._call(cmd.DeviceState(), "device state")
        self._mode = state.mode
        return state

    # -- status and info ------------------------------------------------------------------------

    async def info(self) -> DeviceInfo:
        async with self._lock:
            dtype, state, fn = await self._run(
                [_Cmd("device type", cmd.DeviceType()), _Cmd("device state", cmd.DeviceState()),
                 _Cmd("FN number", cmd.FnNumber())],
                redo_if_reordered=True,
            )
            self._mode = state.mode
            version = ".".join(str(b) for b in dtype.version)
            return DeviceInfo(
                model=dtype.name or f"ATOL model {dtype.model}",
                serial_number=str(state.serial_number),
                firmware=version,
                protocol=f"atol-v3 (protocol {dtype.protocol})",
                fn_number=fn.number or None,
                line_width=self.line_width,
            )

    async def status(self) -> DeviceStatus:
        async with self._lock:
            return await self._status()

    async def _status(self) -> DeviceStatus:
        commands = list(_STATUS_COMMANDS)
        known = self._last_document
        if known is not None:
            # The usual probe of `_find_last_document` (is there a document after the last one we know
            # of?) rides in the same pipeline; its "no more data" is the expected answer.
            commands.append(_Cmd(f"open document {known + 1}", cmd.FnOpenDocument(known + 1)))
        replies = await self._run(commands, redo_if_reordered=True, release="abort", end_of_data=True)
        ended = self.last_run_end
        if ended is not None:
            if known is None or len(replies) != 2:
                raise ended from None
            # confirmed: `known` is still the last document
        else:
            known = None  # a document we did not know of (or no probe): find the last one
        state, fn_shift = replies[0], replies[1]
        self._mode = state.mode
        last = known if known is not None else await self._find_last_document()
        shift_open = state.shift_open or fn_shift.shift_open
        shift_number = fn_shift.shift_number or state.shift_number
        opened_at = await self._shift_open_time(shift_number, last, fn_shift.receipt_number) if shift_open else None
        shift_state = ShiftState.OPEN if shift_open else ShiftState.CLOSED
        if shift_open and opened_at is not None:
            if opened_at + timedelta(hours=self.shift_policy.max_hours) <= state.datetime:
                shift_state = ShiftState.EXPIRED
        status = DeviceStatus(
            shift_state=shift_state,
            shift_number=shift_number,
            receipt_open=bool(state.receipt_state),
            receipt_kind=KIND_BY_RECEIPT_TYPE.get(state.receipt_state),
            receipt_total=state.receipt_sum,
            last_document_number=last,
            paper_present=state.paper_present,
            cover_open=state.cover_open,
            drawer_open=state.drawer_open,
            device_time=state.datetime,
            shift_opened_at=opened_at,
        )
        self._verified = (status, self.link.stats.tasks, asyncio.get_running_loop().time())
        return status

    def _recent_status(self) -> DeviceStatus | None:
        """The status read moments ago, if no command has reached the device since: then it still holds.

        Typical: the worker asks `status()` for its pre-flight facts and calls `fiscalize()` right after;
        asking the device a second time (3F, FN shift state, the last-document probe) would tell us
        nothing new. The device has one host (this link) and changes its shift or documents only on our
        commands; every command is an ADD, which the link counts, so an unchanged count means an
        unchanged device. Only the clock moves on: a shift that expires in the gap is refused by the
        device (`ShiftExpired`) and `fiscalize` applies the policy then, as it does for clock skew.
        The age limit keeps that gap short. Only the shift policy uses it: `status()` itself always asks
        the device (the worker's pre-flight facts must be what the device confirmed).
        """
        verified = self._verified
        if verified is None:
            return None
        status, tasks, at = verified
        if tasks != self.link.stats.tasks or asyncio.get_running_loop().time() - at > STATUS_REUSE_SECONDS:
            return None
        return status

    # -- documents ------------------------------------------------------------------------------

    async def _document_exists(self, number: int) -> bool:
        if number <= 0:
            return False
        try:
            await self._call(cmd.FnOpenDocument(number), f"open document {number}")
        except NoMoreData:
            return False
        return True

    async def _find_last_document(self) -> int:
        """The highest stored document number: follow the cache, else gallop then bisect with A4 45."""
        known = self._last_document
        if known is not None:  # documents never disappear; connect() drops the cache
            number = known
            while await self._document_exists(number + 1):
                number += 1
            self._last_document = number
            return number
        low, high = 0, 1  # low exists (or is 0), high is the probe
        while await self._document_exists(high):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            if await self._document_exists(middle):
                low = middle
            else:
                high = middle
        self._last_document = low
        return low

    async def read_document(self, number: int) -> FiscalDocument:
        async with self._lock:
            return await self._read_document(number)

    async def last_document(self) -> FiscalDocument | None:
        async with self._lock:
            last = await self._find_last_document()
            return await self._read_document(last) if last else None

    async def _read_tlvs(self, number: int, need: frozenset[int] | None = None) -> tuple[int, list[tuple[int, bytes]]]:
        """(document type, raw TLVs) of stored document `number`, reading TLVs in pipelined batches.

        `need`: stop as soon as these tags have been seen (reading a header only). The device reads
        with a cursor (`A4 45` opens, each `A4 46` moves on), so a batch whose frames had to be resent
        (and may have run out of order) restarts the whole read, one task at a time.
        """
        window: int | None = None
        for _ in range(MAX_ATTEMPTS):
            read = await self._read_tlvs_once(number, need, window)
            if read is not None:
                return read
            logger.info("frames were resent while reading document %d; reading it again", number,
                        extra=self._ctx())
            window = 1
        raise LinkTimeout(f"document {number}: the link kept resending frames")

    async def _read_tlvs_once(
        self, number: int, need: frozenset[int] | None, window: int | None
    ) -> tuple[int, list[tuple[int, bytes]]] | None:
        commands = [_Cmd(f"open document {number}", cmd.FnOpenDocument(number))]
        first = max(1, min(FIRST_TLV_BATCH, self.link.window - 1))  # the first batch fills the window
        commands += _read_tlv_commands(0, first)
        doc_type: int | None = None
        size_hint: int | None = None  # TLV bytes of the document, when A4 45 says (simulator layout)
        records: list[tuple[int, bytes]] = []
        while True:
            try:
                # ACKs held to the end: a read that ends in "no more data" is released by the failure's
                # ABORT alone; one that goes on is released by ACKs (an ABORT might reset the cursor).
                replies = await self._run(commands, retry_reordered=False, window=window, release="ack_at_end",
                                          end_of_data=True)
            except DeviceRefused:
                if self.last_run_tainted:
                    return None
                raise
            if self.last_run_tainted:
                return None
            ended = self.last_run_end
            finished = ended is not None  # the read ran into "no more data"
            if finished and doc_type is None and not replies:
                raise ended from None  # no such document
            for reply in replies:
                if isinstance(reply, cmd.FnOpenDocumentReply):
                    data = reply.data
                    doc_type = int.from_bytes(data[:2], "little") if len(data) >= 2 else 0
                    size_hint = int.from_bytes(data[2:4], "little") if len(data) >= 4 else None
                else:
                    records.append((reply.tag, reply.value))
            consumed = sum(4 + len(value) for _, value in records)
            if size_hint is not None and consumed >= size_hint:
                finished = True  # everything read: no need to run into "no more data"
            if finished or (need is not None and need <= {tag for tag, _ in records}):
                return doc_type or 0, records
            batch = TLV_BATCH
            if size_hint is not None and records:
                # Read about as many records as the remaining bytes suggest (average so far), so the
                # last batch does not overshoot by many commands.
                average = consumed / len(records)
                batch = max(1, min(TLV_BATCH, -(-(size_hint - consumed) // max(1, int(average))) + 1))
            commands = _read_tlv_commands(len(records), batch)

    async def _read_document(self, number: int) -> FiscalDocument:
        doc_type, records = await self._read_tlvs(number)
        return document_from_tlvs(number, doc_type, records, self.tax_table)

    async def _new_document(self, before: int, kinds: set[DocumentKind], total: int | None = None) -> FiscalDocument:
        """The document an operation just committed: the first after `before` of one of `kinds`.

        Usually `before + 1`; a device that opened a shift on its own puts that document first.
        """
        number = before
        while True:
            number += 1
            try:
                document = await self._read_document(number)
            except NoMoreData:
                raise ProtocolFailure(f"no new {'/'.join(sorted(kinds))} document after {before}") from None
            self._last_document = max(self._last_document or 0, number)
            if document.kind is DocumentKind.SHIFT_OPEN and document.shift_number is not None:
                self._shift_opened_at[document.shift_number] = document.date_time
            if document.kind in kinds and (total is None or document.total == total):
                return document
            if number - before > 3:
                raise ProtocolFailure(f"document {number} is {document.kind}, expected {'/'.join(sorted(kinds))}")

    async def _shift_open_time(self, shift_number: int, last: int, receipts: int) -> datetime | None:
        """When shift `shift_number` opened: cached, or found by reading document headers.

        `receipts` is the FN's receipt count of the shift (A4 10). Every receipt of the shift is a document
        after the shift-open one, so that document is at or below `last - receipts`; the scan starts at
        `last - (receipts - 1)` (a device that reports the *next* receipt number) and goes down at most
        SHIFT_SCAN_LIMIT documents (the shift's other documents: cash in/out...). Starting at `last`
        instead missed any shift of more than SHIFT_SCAN_LIMIT receipts. If the first document read
        belongs to an earlier shift (the count was larger than the documents), the shift opened after
        it: the scan goes up instead.

        The answer is remembered per shift even when nothing was found (None): otherwise every status()
        repeated the whole scan, dozens of reads per receipt.
        """
        if shift_number in self._shift_opened_at:
            return self._shift_opened_at[shift_number]
        start = last - max(0, receipts - 1)
        opened: datetime | None = None
        for number in range(start, max(0, start - SHIFT_SCAN_LIMIT), -1):
            kind, shift, when = await self._document_header(number)
            if shift is not None and shift != shift_number:
                if number == start and shift < shift_number:
                    opened = await self._shift_open_time_after(shift_number, start, last)
                break
            if kind is DocumentKind.SHIFT_OPEN and when is not None:
                opened = when
                break
        if opened is None:
            logger.warning("could not find when shift %d opened (documents up to %d); its expiry is left to "
                           "the device", shift_number, last, extra=self._ctx())
        self._shift_opened_at[shift_number] = opened
        return opened

    async def _shift_open_time_after(self, shift_number: int, after: int, last: int) -> datetime | None:
        """The open time of shift `shift_number`, whose first document is after `after` (scanning up)."""
        for number in range(after + 1, min(last, after + SHIFT_SCAN_LIMIT) + 1):
            kind, shift, when = await self._document_header(number)
            if shift is None or shift < shift_number:
                continue
            # The first document of the shift is its opening one; anything else means it is not stored.
            return when if shift == shift_number and kind is DocumentKind.SHIFT_OPEN else None
        return None

    async def _document_header(self, number: int) -> tuple[DocumentKind | None, int | None, datetime | None]:
        """(kind, shift number, date-time) of stored document `number`, reading only its header TLVs."""
        need = _HEADER_TAGS
        doc_type, records = await self._read_tlvs(number, need)
        values = {tag: tlv.decode_value(tag, raw) for tag, raw in records if tag in need}
        shift = values.get(tlv.SHIFT_NUMBER)
        when = values.get(tlv.DATETIME)
        return (
            KIND_BY_DOCUMENT_TYPE.get(doc_type),
            shift if isinstance(shift, int) else None,
            when if isinstance(when, datetime) else None,
        )

    # -- shift ----------------------------------------------------------------------------------

    async def open_shift(self, cashier: str | None = None) -> FiscalDocument:
        async with self._lock:
            return await self._open_shift()

    async def _open_shift(self) -> FiscalDocument:
        before = await self._find_last_document()
        await self._run([_Cmd("open shift", cmd.OpenShift())], cmd.Mode.REGISTRATION)
        return await self._new_document(before, {DocumentKind.SHIFT_OPEN})

    async def close_shift(self, cashier: str | None = None) -> FiscalDocument:
        async with self._lock:
            return await self._close_shift()

    async def _close_shift(self) -> FiscalDocument:
        before = await self._find_last_document()
        await self._run([_Cmd("Z report", cmd.ZReport())], cmd.Mode.REPORT_Z, self.admin_password)
        return await self._new_document(before, {DocumentKind.SHIFT_CLOSE})

    async def x_report(self) -> None:
        async with self._lock:
            await self._run([_Cmd("X report", cmd.XReport(cmd.ReportType.DAILY))], cmd.Mode.REPORT_X)

    async def _apply_shift_policy(
        self, *, force_expired: bool = False
    ) -> tuple[FiscalDocument | None, FiscalDocument | None]:
        """Carry out the shift policy; returns (shift-close document, shift-open document)."""
        status = self._recent_status() or await self._status()
        if force_expired and status.shift_state is not ShiftState.CLOSED:
            status = _with_state(status, ShiftState.EXPIRED)
        decision = decide(self.shift_policy, status)
        closed = opened = None
        if decision.action is ShiftAction.REFUSE:
            raise ShiftPolicyRefused(decision.reason)
        if decision.action is ShiftAction.CLOSE_AND_OPEN:
            logger.info("shift %d expired: closing it", status.shift_number, extra=self._ctx())
            closed = await self._close_shift()
        if decision.action in (ShiftAction.OPEN, ShiftAction.CLOSE_AND_OPEN):
            opened = await self._open_shift()
            logger.info("opened shift %s", opened.shift_number, extra=self._ctx())
        return closed, opened

    # -- receipts -------------------------------------------------------------------------------

    def receipt_problems(self, receipt: Receipt) -> list[Problem]:
        """What this device cannot do with `receipt`, found without talking to it (`api.ChecksReceipts`):
        item names it cannot print or that overflow its name field, VAT rates missing from its tax table,
        payment types it has no payment type for. Canonical paths (``/items/0/name``)."""
        problems = device_text.text_problems(receipt, self.unsupported_text, name_bytes=NAME_BYTES)
        labels = {slot.label for slot in self.tax_table.values()}
        for index, item in enumerate(receipt.items):
            if item.vat_rate.code not in labels:
                problems.append(Problem(
                    "vat_rate_not_on_device", join_path("/items", index, "vat_rate"),
                    f"VAT rate {item.vat_rate.code!r} is not programmed in the fiscal device's tax table "
                    f"({', '.join(sorted(labels)) or 'empty'})",
                ))
        for index, payment in enumerate(receipt.payments):
            if payment.type not in self.pay_types:
                problems.append(Problem(
                    "payment_type_not_on_device", join_path("/payments", index, "type"),
                    f"payment type {payment.type} has no payment type on the fiscal device",
                ))
        return problems

    def _receipt_commands(self, receipt: Receipt) -> list[_Cmd]:
        """open, items, payments, close - or ReceiptNotSupported before anything is sent."""
        if not receipt.items:
            raise ReceiptNotSupported("a receipt needs at least one item")
        if not receipt.payments:
            raise ReceiptNotSupported("a receipt needs at least one payment")
        flags = cmd.RECEIPT_FLAG_NO_PRINT if receipt.electronic_only else 0
        commands = [_Cmd("open receipt", cmd.OpenReceipt(flags, RECEIPT_TYPES[receipt.operation]))]
        labels = {slot.label: index for index, slot in sorted(self.tax_table.items())}
        for number, item in enumerate(receipt.items, 1):
            tax = labels.get(item.vat_rate.code)
            if tax is None:
                raise ReceiptNotSupported(
                    f"item {number}: VAT rate {item.vat_rate.code!r} is not in the device tax table "
                    f"({', '.join(labels) or 'empty'})"
                )
            name = device_text.prepare_text(item.name, self.unsupported_text)
            try:
                if len(encode_text(name)) > NAME_BYTES:
                    raise ReceiptNotSupported(f"item {number}: name longer than {NAME_BYTES} bytes")
            except ProtocolError as exc:
                raise ReceiptNotSupported(f"item {number}: name not printable: {exc}") from exc
            net = item.markup - item.discount
            commands.append(_Cmd(
                f"item {number} {item.name!r}",
                cmd.RegisterItem(
                    flags=0,
                    name=name,
                    price=item.price,
                    quantity=item.quantity,
                    discount_type=1,
                    discount_sign=1 if net > 0 else 0,
                    discount=abs(net),
                    tax=tax,
                    section=item.section or 0,
                ),
            ))
        *first, last = receipt.payments
        for number, payment in enumerate(first, 1):
            request = cmd.Payment(0, self._pay_type(payment.type), payment.amount)
            commands.append(_Cmd(f"payment {number} {payment.type}", request))
        # The last payment closes the receipt with its own amount: a shortfall is the device's
        # PAYMENT_LESS, never silently covered in cash (amount 0 would mean "exactly the total").
        close = cmd.CloseReceipt(0, self._pay_type(last.type), last.amount)
        commands.append(_Cmd("close receipt", close, barrier=True))
        return commands

    def _pay_type(self, payment_type: PaymentType) -> int:
        try:
            return self.pay_types[payment_type]
        except KeyError:
            raise ReceiptNotSupported(f"payment type {payment_type} has no device payment type") from None

    async def fiscalize(self, receipt: Receipt) -> FiscalResult:
        async with self._lock:
            commands = self._receipt_commands(receipt)
            closed, opened = await self._apply_shift_policy()
            try:
                document = await self._register(receipt, commands)
            except ShiftExpired as expired:
                # The device knows better than our clock arithmetic: apply the policy as if expired.
                # Safe to retry: the close is a barrier, so nothing was committed.
                if closed is not None:
                    raise
                try:
                    closed, opened = await self._apply_shift_policy(force_expired=True)
                except ShiftPolicyRefused as refused:
                    raise ShiftPolicyRefused(str(refused), cause=expired) from None
                document = await self._register(receipt, commands)
            return FiscalResult(
                document=document,
                change=receipt.change,
                shift_opened=opened is not None,
                shift_closed_first=closed,
            )

    async def _known_last_document(self) -> int:
        """The last document number as verified moments ago under the same lock (status, or the
        document an operation just read back); found afresh if unknown."""
        if self._last_document is not None:
            return self._last_document
        return await self._find_last_document()

    async def _register(self, receipt: Receipt, commands: list[_Cmd]) -> FiscalDocument:
        before = await self._known_last_document()
        try:
            await self._run(commands, cmd.Mode.REGISTRATION, release="abort")
        except DeviceRefused as refusal:
            step = refusal.step
            opened_by_us = step is not None and step.name != "open receipt" and not step.name.endswith("mode") \
                and not step.name.startswith(("enter mode", "leave mode"))
            if opened_by_us:
                await self._cancel_after_failure(refusal)
            raise
        return await self._new_document(before, {_kind_of_receipt(receipt.operation)}, receipt.total)

    async def _cancel_after_failure(self, refusal: DeviceRefused) -> None:
        try:
            await self._cancel_unlocked()
            logger.info("receipt cancelled after %s", refusal, extra=self._ctx())
        except DeviceRefused as exc:
            logger.warning("cancel after failure refused: %s", exc, extra=self._ctx())
            refusal.detail = (refusal.detail + "; " if refusal.detail else "") + f"cancel refused: {exc.name}"
        except LinkError as exc:
            logger.warning("cancel after failure failed: %s", exc, extra=self._ctx())
            refusal.detail = (refusal.detail + "; " if refusal.detail else "") + "cancel not confirmed"

    async def cancel_receipt(self) -> None:
        async with self._lock:
            await self._cancel_unlocked()

    async def _cancel_unlocked(self) -> None:
        await self._run([_Cmd("cancel receipt", cmd.CancelReceipt())], cmd.Mode.REGISTRATION)

    # -- cash -----------------------------------------------------------------------------------

    async def cash_in(self, amount: int) -> FiscalDocument:
        return await self._cash(cmd.CashIn(0, amount), DocumentKind.CASH_IN, amount)

    async def cash_out(self, amount: int) -> FiscalDocument:
        return await self._cash(cmd.CashOut(0, amount), DocumentKind.CASH_OUT, amount)

    async def _cash(self, request: Any, kind: DocumentKind, amount: int) -> FiscalDocument:
        async with self._lock:
            await self._apply_shift_policy()
            before = await self._known_last_document()
            await self._run([_Cmd(kind.value.replace("_", " "), request)], cmd.Mode.REGISTRATION)
            return await self._new_document(before, {kind}, amount)

    # -- printing and peripherals ---------------------------------------------------------------

    async def print_text(self, lines: list[str]) -> None:
        async with self._lock:
            commands = []
            for number, line in enumerate(_wrap(lines, self.line_width), 1):
                commands.append(_Cmd(f"text line {number}", cmd.PrintLine(device_text.printable_line(line, self.unsupported_text))))
            commands.append(_Cmd("cut", cmd.Cut(False)))
            await self._run(commands)

    async def open_drawer(self) -> None:
        async with self._lock:
            await self._run([_Cmd("open drawer", cmd.OpenDrawer())])

    async def set_datetime(self, value: datetime) -> None:
        async with self._lock:
            await self._run([_Cmd("set date and time", cmd.SetDateTime(value.replace(microsecond=0)))])


def _wrap(lines: list[str], width: int | None) -> list[str]:
    out: list[str] = []
    for line in lines:
        if not width or len(line) <= width:
            out.append(line)
            continue
        out.extend(line[i : i + width] for i in range(0, len(line), width))
    return out


def _with_state(status: DeviceStatus, state: ShiftState) -> DeviceStatus:
    from dataclasses import replace

    return replace(status, shift_state=state)
