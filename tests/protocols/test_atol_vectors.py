"""Every shared framing vector encodes and decodes byte-exactly (copied into tests/data/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols.atol import v2, v3

DATA = Path(__file__).resolve().parent.parent / "data"
V3 = json.loads((DATA / "atol_v3_frames.json").read_text())
V2 = json.loads((DATA / "atol_v2_frames.json").read_text())


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


def test_crc_check_value() -> None:
    # CRC-8/NRSC-5 catalogue check value.
    assert v3.crc8(b"123456789") == 0xF7


@pytest.mark.parametrize("vector", V3, ids=[v["name"][:50] for v in V3])
def test_v3_vector_encodes(vector: dict) -> None:
    assert v3.encode_frame(vector["packet_id"], _hex(vector["data_hex"])) == _hex(vector["frame_hex"])


@pytest.mark.parametrize("vector", V3, ids=[v["name"][:50] for v in V3])
def test_v3_vector_decodes_whole_and_bytewise(vector: dict) -> None:
    frame = _hex(vector["frame_hex"])
    expected = v3.Frame(vector["packet_id"], _hex(vector["data_hex"]))
    assert v3.decode_frame(frame) == expected
    decoder = v3.FrameDecoder(max_data_len=v3.MAX_DATA_LEN)
    events = [e for b in frame for e in decoder.feed(bytes((b,)))]
    assert events == [expected]
    assert decoder.idle


@pytest.mark.parametrize("vector", V2, ids=[v["name"][:50] for v in V2])
def test_v2_vector(vector: dict) -> None:
    data, frame = _hex(vector["data_hex"]), _hex(vector["frame_hex"])
    assert v2.encode_frame(data) == frame
    assert v2.decode_frame(frame) == data
    decoder = v2.FrameDecoder()
    assert [e for b in frame for e in decoder.feed(bytes((b,)))] == [v2.Frame(data)]


def test_reference_table_vectors_are_in_the_file() -> None:
    # The six frames listed in the reference's §1.1 table must all be among the vectors.
    listed = {
        "FE 00 00 01 9D",
        "FE 05 00 F0 A6 57 55 00 00 FD EE",
        "FE 06 00 02 C1 01 01 00 00 3F ED",
        "FE 02 00 04 C2 01 20",
        "FE 02 00 05 C3 01 92",
        "FE 01 00 06 C4 58",
    }
    assert listed <= {v["frame_hex"] for v in V3}
