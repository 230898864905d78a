"""Codec throughput: how many protocol round trips per second one core can encode and decode.

One round trip is what a sale's busiest exchange costs both ends of the link together:

1. host: `RegisterItem` (E6) -> application payload -> v3 ADD -> v3 frame bytes;
   device: frame bytes -> streaming decoder -> ADD -> `RegisterItem`;
2. device: `DeviceStateReply` (3F) -> payload -> A3 RESULT status -> v3 frame bytes;
   host: frame bytes -> streaming decoder -> status -> `DeviceStateReply`.

The figure is compared with what a 115200-baud 8N1 line can carry (11520 bytes/s) for the same two
frames. It is measured with construct's compiled parsers/builders and with the interpreted ones, so
the benefit of `.compile()` is a number, not a belief.

Run: `python bench/codec.py [--seconds 1.5]`. Prints a table, then one JSON line (the last line).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from protocols.atol import commands as cmd  # noqa: E402
from protocols.atol import v3, v3_buffer  # noqa: E402

BAUD = 115200
LINE_BYTES_PER_S = BAUD / 10  # 8N1: start + 8 data + stop bits per byte
TARGET = 20_000

ITEM = cmd.RegisterItem(
    flags=0, name="Бананы весовые", price=7315, quantity=1500, discount_type=1, discount_sign=0,
    discount=0, tax=1, section=1,
)
STATE = cmd.DeviceStateReply(
    cashier=1, hall_number=1, datetime=dt.datetime(2026, 11, 21, 12, 30, 5), fiscalised=True,
    shift_open=True, paper_present=True, fn_active=True, serial_number=12345678, model=0x52,
    firmware=b"\x03\x41", mode=1, submode=1, receipt_number=12, shift_number=34, receipt_state=1,
    receipt_sum=10973, decimal_point=2, interface=4,
)


def round_trip(host_decoder: v3.FrameDecoder, device_decoder: v3.FrameDecoder, pid: int, tid: int) -> int:
    """One E6 request and one 3F reply, both encoded and decoded; returns the wire bytes used."""
    # Host -> device: E6 in an ADD.
    request_frame = v3.encode_frame(
        pid, v3_buffer.encode_host(v3_buffer.Add(tid, cmd.encode_request(ITEM, 0)))
    )
    (frame,) = device_decoder.feed(request_frame)
    add = v3_buffer.decode_host(frame.data)
    _, item = cmd.decode_request(add.payload)
    # Device -> host: 3F reply as an A3 result.
    reply_frame = v3.encode_frame(
        pid, v3_buffer.encode_device(v3_buffer.TaskStatus(v3_buffer.TaskState.RESULT, None, cmd.encode_reply(STATE)))
    )
    (frame,) = host_decoder.feed(reply_frame)
    status = v3_buffer.decode_device(frame.data)
    state = cmd.decode_reply(0x3F, status.payload)
    if item.price != ITEM.price or state.shift_number != STATE.shift_number:
        raise AssertionError("round trip changed the values")
    return len(request_frame) + len(reply_frame)


def measure(engine: str, seconds: float) -> tuple[float, int]:
    """Best of three timed runs (round trips per second) and the wire bytes per round trip."""
    cmd.set_engine(engine)
    host, device = v3.FrameDecoder(), v3.FrameDecoder()
    wire_bytes = round_trip(host, device, 1, 1)  # warm up (and compile, outside the timing)
    best = 0.0
    for _ in range(3):
        count = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for i in range(200):
                round_trip(host, device, i % 0xE0, i % 0xE0)
            count += 200
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, count / (now - start))
    return best, wire_bytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="time per mode (split in 3 runs)")
    args = parser.parse_args()

    rates: dict[str, float] = {}
    wire_bytes = 0
    for engine in cmd.ENGINES:
        rates[engine], wire_bytes = measure(engine, args.seconds)
    cmd.set_engine("flat")
    flat_rate, compiled_rate, interpreted_rate = rates["flat"], rates["compiled"], rates["interpreted"]

    wire_round_trips = LINE_BYTES_PER_S / wire_bytes
    request_len = len(v3.encode_frame(1, v3_buffer.encode_host(v3_buffer.Add(1, cmd.encode_request(ITEM)))))
    reply_len = wire_bytes - request_len
    best = flat_rate  # the default engine
    result = {
        "round_trips_per_s": round(best),
        "frames_per_s": round(2 * best),
        "wire_frames_per_s": round(2 * wire_round_trips, 1),
        "wire_round_trips_per_s": round(wire_round_trips, 1),
        "ratio_to_wire": round(best / wire_round_trips, 1),
        "target_round_trips_per_s": TARGET,
        "meets_target": best >= TARGET,
        "frame_bytes": {"e6_add_request": request_len, "3f_result_reply": reply_len},
        "baud": BAUD,
        "engine": "flat",
        "compiled": {
            "construct_compiled_round_trips_per_s": round(compiled_rate),
            "construct_interpreted_round_trips_per_s": round(interpreted_rate),
            "compile_speedup": round(compiled_rate / interpreted_rate, 2),
            "flat_struct_round_trips_per_s": round(flat_rate),
            "flat_speedup_over_compiled": round(flat_rate / compiled_rate, 2),
        },
        "python": sys.version.split()[0],
    }

    print("ATOL codec benchmark: E6 item in a v3 ADD frame + 3F reply in an A3 frame, encode + decode")
    print(f"{'':34}{'round trips/s':>15}{'frames/s':>12}{'x wire':>9}")
    for label, rate in (
        ("flat struct (default engine)", flat_rate),
        ("construct .compile()d", compiled_rate),
        ("construct interpreted", interpreted_rate),
    ):
        print(f"{label:34}{rate:15,.0f}{2 * rate:12,.0f}{rate / wire_round_trips:9.1f}")
    print(f"{'115200-baud line (8N1)':34}{wire_round_trips:15,.1f}{2 * wire_round_trips:12,.1f}{1:9.1f}")
    print(f"frame sizes: E6 ADD {request_len} B, 3F reply {reply_len} B; target {TARGET:,} round trips/s: "
          f"{'met' if best >= TARGET else 'NOT met'}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
