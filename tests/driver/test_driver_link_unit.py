"""The v3 link's rules, one at a time, against a scripted device on an in-memory pipe: exact frames
on the wire for resend requests, ids wrapping, B2/B3 handling, ABORT on open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from driver_testutil import FAST

from kkm_bridge.driver.errors import LinkTimeout, ProtocolFailure, TaskLost
from kkm_bridge.driver.link_v3 import MAX_ID, PipelineStep, V3Link
from kkm_bridge.transports import MemoryTransport, memory_pipe
from protocols.atol.v3 import ASYNC_PACKET_ID, Frame, FrameDecoder, encode_frame
from protocols.atol.v3_buffer import (
    Abort,
    Ack,
    Add,
    Req,
    TaskState,
    TaskStatus,
    decode_host,
    encode_device,
)

Handler = Callable[["Device", Frame], None]


class Device:
    """Reads host frames; `handler(device, frame)` decides what to send back (default: a polite
    device that executes every ADD at once and answers `55 00 00`)."""

    def __init__(self, end: MemoryTransport) -> None:
        self.end = end
        self.frames: list[Frame] = []
        self.raw: list[bytes] = []
        self.handler: Handler = polite
        self._decoder = FrameDecoder()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.end.connect()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            data = await self.end.read(4096)
            self.raw.append(data)
            for event in self._decoder.feed(data):
                assert isinstance(event, Frame)
                self.frames.append(event)
                self.handler(self, event)

    def send(self, pid: int, status: TaskStatus) -> None:
        asyncio.get_running_loop().create_task(self.end.write(encode_frame(pid, encode_device(status))))

    def send_raw(self, data: bytes) -> None:
        asyncio.get_running_loop().create_task(self.end.write(data))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def polite(device: Device, frame: Frame) -> None:
    if not frame.data:
        return
    message = decode_host(frame.data)
    if isinstance(message, Add):
        device.send(frame.packet_id, TaskStatus(TaskState.PENDING))
        device.send(ASYNC_PACKET_ID, TaskStatus(TaskState.ASYNC_RESULT, message.tid, b"\x55\x00\x00"))
    else:
        device.send(frame.packet_id, TaskStatus(TaskState.RESULT))


@pytest.fixture
async def pair() -> AsyncIterator[tuple[V3Link, Device]]:
    host_end, device_end = memory_pipe()
    device = Device(device_end)
    await device.start()
    link = V3Link(host_end, timeouts=FAST)
    try:
        yield link, device
    finally:
        await link.close()
        await device.stop()


PAYLOAD = b"\x00\x00\x3f"


async def test_open_sends_abort_first(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    assert isinstance(decode_host(device.frames[0].data), Abort)


async def test_execute_adds_with_need_result_and_acks(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    result = await link.execute(PAYLOAD, 5.0)
    assert result.ok and result.payload == b"\x55\x00\x00"
    add, ack = (decode_host(f.data) for f in device.frames[1:3])
    assert isinstance(add, Add) and add.flags == 1 and add.payload == PAYLOAD
    assert isinstance(ack, Ack) and ack.tid == add.tid


async def test_packet_and_task_ids_wrap_after_df(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    for _ in range(240):  # 480 packets, 240 tasks
        await link.execute(PAYLOAD, 5.0)
    pids = [f.packet_id for f in device.frames]
    tids = [m.tid for m in (decode_host(f.data) for f in device.frames) if isinstance(m, Add)]
    assert max(pids) == MAX_ID and max(tids) == MAX_ID
    assert pids[: 2] == [0, 1] and 0 in pids[MAX_ID + 1 :]  # wrapped to 0 after DF
    assert ASYNC_PACKET_ID not in pids


async def test_an_empty_frame_from_the_device_gets_the_packet_again(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    asked = []

    def ask_once(dev: Device, frame: Frame) -> None:
        if frame.data and isinstance(decode_host(frame.data), Add) and not asked:
            asked.append(frame)
            dev.send_raw(encode_frame(frame.packet_id, b""))  # "please resend"
            return
        polite(dev, frame)

    device.handler = ask_once
    assert (await link.execute(PAYLOAD, 5.0)).ok
    adds = [f for f in device.frames if f.data and isinstance(decode_host(f.data), Add)]
    assert len(adds) == 2 and adds[0] == adds[1]  # the very same packet
    assert link.stats.resend_requests_in == 1


async def test_a_corrupt_answer_is_answered_with_an_empty_frame_of_its_id(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    corrupted = []

    tids = []

    def corrupt_once(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data) if frame.data else None
        if isinstance(message, Add) and not corrupted:
            good = encode_frame(frame.packet_id, encode_device(TaskStatus(TaskState.PENDING)))
            corrupted.append(frame.packet_id)
            tids.append(message.tid)
            dev.send_raw(good[:-1] + bytes((good[-1] ^ 0x01,)))  # bad CRC
            return
        if not frame.data:  # the host's resend request: answer properly now
            dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))
            dev.send(ASYNC_PACKET_ID, TaskStatus(TaskState.ASYNC_RESULT, tids[0], b"\x55\x00\x00"))
            return
        polite(dev, frame)

    device.handler = corrupt_once
    result = await link.execute(PAYLOAD, 5.0)
    assert result.ok and result.payload == b"\x55\x00\x00"
    assert link.stats.polls == 0 and link.stats.retransmits == 0
    empties = [f for f in device.frames if not f.data]
    assert [f.packet_id for f in empties] == corrupted
    assert encode_frame(corrupted[0], b"") in b"".join(device.raw)


async def test_lost_answer_is_retransmitted_and_b2_means_queued(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    seen: set[int] = set()

    def lose_first_answer(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data)
        if isinstance(message, Add):
            if message.tid in seen:
                dev.send(frame.packet_id, TaskStatus(TaskState.ALREADY_EXISTS))
                dev.send(ASYNC_PACKET_ID, TaskStatus(TaskState.ASYNC_RESULT, message.tid, b"\x55\x00\x00"))
            else:
                seen.add(message.tid)  # executed, but the answer is lost
            return
        polite(dev, frame)

    device.handler = lose_first_answer
    assert (await link.execute(PAYLOAD, 5.0)).ok
    assert link.stats.retransmits == 1


async def test_b2_to_a_first_transmission_is_a_protocol_failure(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()

    def always_b2(dev: Device, frame: Frame) -> None:
        if isinstance(decode_host(frame.data), Add):
            dev.send(frame.packet_id, TaskStatus(TaskState.ALREADY_EXISTS))
        else:
            polite(dev, frame)

    device.handler = always_b2
    with pytest.raises(ProtocolFailure):
        await link.execute(PAYLOAD, 5.0)


async def test_a_missing_result_is_polled_and_b3_means_lost(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()

    def forgetful(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data)
        if isinstance(message, Add):
            dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))  # accepted, then power cut
        elif isinstance(message, Req):
            dev.send(frame.packet_id, TaskStatus(TaskState.NOT_FOUND))
        else:
            polite(dev, frame)

    device.handler = forgetful
    with pytest.raises(TaskLost):
        await link.execute(PAYLOAD, 5.0)
    assert link.stats.polls == 1


async def test_a_running_task_is_polled_until_done(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    polls = []

    def slow(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data)
        if isinstance(message, Add):
            dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))
        elif isinstance(message, Req):
            polls.append(message.tid)
            state = TaskState.IN_PROGRESS if len(polls) < 3 else TaskState.RESULT
            dev.send(frame.packet_id, TaskStatus(state, None, b"\x55\x00\x00" if len(polls) >= 3 else b""))
        else:
            polite(dev, frame)

    device.handler = slow
    result = await link.execute(PAYLOAD, 5.0)
    assert result.ok and len(polls) == 3


async def test_a_silent_device_is_a_bounded_link_timeout(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    device.handler = lambda dev, frame: None
    with pytest.raises(LinkTimeout):
        await link.execute(PAYLOAD, 5.0)
    assert link.stats.retransmits == FAST.retries


async def test_pipeline_failure_stops_and_aborts(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    adds = []

    def fail_third(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data)
        if isinstance(message, Add):
            adds.append(message.tid)
            dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))
            state = TaskState.ASYNC_ERROR if len(adds) == 3 else TaskState.ASYNC_RESULT
            reply = b"\x55\x67\x00" if len(adds) == 3 else b"\x55\x00\x00"
            dev.send(ASYNC_PACKET_ID, TaskStatus(state, message.tid, reply))
        else:
            polite(dev, frame)

    device.handler = fail_third
    steps = [PipelineStep(f"s{i}", PAYLOAD, 5.0) for i in range(5)] + [PipelineStep("close", PAYLOAD, 5.0, True)]
    from kkm_bridge.driver.link_v3 import PipelineFailed

    with pytest.raises(PipelineFailed) as caught:
        await link.run_pipeline(steps)
    assert caught.value.index == 2 and len(caught.value.results) == 2
    messages = [decode_host(f.data) for f in device.frames if f.data]
    assert isinstance(messages[-1], Abort)
    acked = {m.tid for m in messages if isinstance(m, Ack)}
    assert adds[2] not in acked  # the failed task is never ACKed (later tasks stay stopped)
    assert len(adds) == 5  # the barrier step was never sent


@pytest.mark.parametrize("release", ["abort", "ack_at_end"])
async def test_held_acks_release_the_finished_tasks_at_the_end(pair: tuple[V3Link, Device], release: str) -> None:
    link, device = pair
    await link.open()
    steps = [PipelineStep(f"s{i}", PAYLOAD, 5.0) for i in range(4)]
    results = await link.run_pipeline(steps, release=release)  # type: ignore[arg-type]
    assert len(results) == 4 and all(r.ok for r in results)
    messages = [decode_host(f.data) for f in device.frames[1:] if f.data]  # after open's ABORT
    adds = [m.tid for m in messages if isinstance(m, Add)]
    assert [type(m) for m in messages[:4]] == [Add] * 4
    if release == "abort":
        assert [type(m) for m in messages[4:]] == [Abort]  # one ABORT instead of four ACKs
    else:
        assert sorted(m.tid for m in messages[4:] if isinstance(m, Ack)) == sorted(adds)
        assert len(messages) == 8
    assert not link._live_tids and not link._results


async def test_held_acks_after_a_failure_are_cleared_by_its_abort(pair: tuple[V3Link, Device]) -> None:
    link, device = pair
    await link.open()
    adds: list[int] = []

    def fail_third(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data)
        if isinstance(message, Add):
            adds.append(message.tid)
            dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))
            state = TaskState.ASYNC_ERROR if len(adds) == 3 else TaskState.ASYNC_RESULT
            dev.send(ASYNC_PACKET_ID, TaskStatus(state, message.tid, b"\x55\x18\x00"))
        else:
            polite(dev, frame)

    device.handler = fail_third
    from kkm_bridge.driver.link_v3 import PipelineFailed

    with pytest.raises(PipelineFailed) as caught:
        await link.run_pipeline([PipelineStep(f"s{i}", PAYLOAD, 5.0) for i in range(4)], release="ack_at_end")
    assert caught.value.index == 2 and len(caught.value.results) == 2
    messages = [decode_host(f.data) for f in device.frames[1:] if f.data]
    assert not any(isinstance(m, Ack) for m in messages)  # nothing ACKed one by one ...
    assert isinstance(messages[-1], Abort)  # ... the failure's ABORT clears the buffer
    assert not link._live_tids


async def test_a_lost_add_behind_the_head_is_resent_while_the_head_is_waited_for(
    pair: tuple[V3Link, Device],
) -> None:
    """The retransmission watchdog covers every unanswered frame, not only the one being waited for:
    here the head's result only comes once the device has the (lost) second ADD."""
    link, device = pair
    await link.open()
    adds: list[Frame] = []
    head: list[int] = []

    def lose_second_add(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data)
        if isinstance(message, Add):
            adds.append(frame)
            if len(adds) == 1:  # the head: queued, its result held back
                head.append(message.tid)
                dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))
            elif len(adds) == 2:
                return  # lost on the way
            else:  # the second ADD again: now both tasks finish
                dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))
                dev.send(ASYNC_PACKET_ID, TaskStatus(TaskState.ASYNC_RESULT, head[0], b"\x55\x00\x00"))
                dev.send(ASYNC_PACKET_ID, TaskStatus(TaskState.ASYNC_RESULT, message.tid, b"\x55\x00\x00"))
        elif isinstance(message, Req):
            if len(adds) >= 3:  # polls are only answered once the device is unblocked
                dev.send(frame.packet_id, TaskStatus(TaskState.RESULT, None, b"\x55\x00\x00"))
        else:
            polite(dev, frame)

    device.handler = lose_second_add
    results = await link.run_pipeline([PipelineStep(f"s{i}", PAYLOAD, 5.0) for i in range(2)], release="abort")
    assert [r.ok for r in results] == [True, True]
    assert len(adds) == 3 and adds[2] == adds[1]  # the very same packet, sent again
    assert link.stats.retransmits >= 1
    assert not link.last_tainted  # nothing was sent after it: it cannot have run out of order


async def test_a_dropped_pipeline_add_is_not_resent_after_the_abort(pair: tuple[V3Link, Device]) -> None:
    """A failed pipeline drops the ADDs still unanswered: no retransmission of them follows the ABORT."""
    link, device = pair
    await link.open()
    adds: list[int] = []

    def fail_first_lose_second(dev: Device, frame: Frame) -> None:
        message = decode_host(frame.data)
        if isinstance(message, Add):
            adds.append(message.tid)
            if len(adds) == 1:
                dev.send(frame.packet_id, TaskStatus(TaskState.PENDING))
                dev.send(ASYNC_PACKET_ID, TaskStatus(TaskState.ASYNC_ERROR, message.tid, b"\x55\x67\x00"))
            # later ADDs get no answer at all
        else:
            polite(dev, frame)

    device.handler = fail_first_lose_second
    from kkm_bridge.driver.link_v3 import PipelineFailed

    with pytest.raises(PipelineFailed):
        await link.run_pipeline([PipelineStep(f"s{i}", PAYLOAD, 5.0) for i in range(3)])
    await asyncio.sleep(3 * FAST.sync_reply)  # long enough for the watchdog to have resent anything
    messages = [decode_host(f.data) for f in device.frames[1:] if f.data]
    abort_at = max(i for i, m in enumerate(messages) if isinstance(m, Abort))
    assert not any(isinstance(m, Add) for m in messages[abort_at + 1 :])
    assert not link._pending
