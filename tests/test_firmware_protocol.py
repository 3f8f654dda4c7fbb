"""The Python side of the firmware protocol: CRC, message codec, the streaming parser, the C header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from robot_rl.hardware import firmware_protocol as fp
from robot_rl.hardware.firmware_auth import SessionMac
from robot_rl.hardware.firmware_header import generate_header, generate_markdown_tables

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
HEADER = FIRMWARE / "include" / "rr_protocol_gen.h"


def bitwise_crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE written out from its definition, to check the fast one."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


MAC = SessionMac(bytes(range(32)), bytes(16))


def state_frame(n: int = 2, sequence: int = 1) -> bytes:
    return fp.encode_message("STATE", MAC, 9, sequence=sequence, time_us=123456, command_time_us=123000,
                             latch_time_us=0, status=fp.STATUS["ARMED"], rx_rejected=3, auth_rejected=4,
                             replay_rejected=5, stale_rejected=6, position=np.arange(n) * 0.5, velocity=-np.arange(n),
                             effort=np.full(n, 0.25))


def clear_fault_frame(counter: int = 1) -> bytes:
    return fp.encode_message("CLEAR_FAULT", MAC, counter)


def test_committed_header_is_what_the_generator_writes():
    assert HEADER.read_text() == generate_header(), (
        "firmware/include/rr_protocol_gen.h is stale: run "
        "`python -m robot_rl.hardware.firmware_protocol --header firmware/include/rr_protocol_gen.h`")


def test_readme_protocol_tables_are_current():
    assert generate_markdown_tables() in (FIRMWARE / "README.md").read_text(), (
        "firmware/README.md: paste the output of `python -m robot_rl.hardware.firmware_protocol --tables`")


def test_crc_is_ccitt_false():
    assert fp.crc16(b"123456789") == 0x29B1  # the catalogue's check value
    for data in (b"", b"\x00", b"\xa5\x5a\x82\x0a", bytes(range(256))):
        assert fp.crc16(data) == bitwise_crc16(data)


def test_frame_layout():
    frame = fp.encode_message("TORQUE_COMMAND", MAC, 0x01020304, command_time_us=0x0A0B0C0D, torque=[1.0])
    assert frame[:2] == b"\xa5\x5a" and frame[2] == 0x02 and frame[3] == 4 + 4 + 12
    assert frame[4:8] == b"\x0d\x0c\x0b\x0a"  # little-endian u32
    assert frame[8:12] == np.float32(1.0).tobytes()
    assert frame[12:16] == b"\x04\x03\x02\x01"  # the counter
    assert frame[16:24] == MAC(frame[2:16])  # the tag: over id, len, fields and counter
    assert int.from_bytes(frame[24:], "little") == fp.crc16(frame[2:24])


def test_state_round_trip():
    [frame] = fp.FrameParser().feed(state_frame(n=3, sequence=65535))
    message = fp.decode_message(frame)
    assert message.name == "STATE" and message.n_joints == 3
    fixed = (message["sequence"], message["time_us"], message["command_time_us"], message["status"],
             message["rx_rejected"], message["auth_rejected"], message["replay_rejected"], message["stale_rejected"],
             message["counter"])
    assert fixed == (65535, 123456, 123000, 16, 3, 4, 5, 6, 9)
    np.testing.assert_array_equal(message["position"], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(message["velocity"], [0.0, -1.0, -2.0])


@pytest.mark.parametrize("values, problem", [
    ({"command_time_us": 1}, "missing values"),
    ({"command_time_us": 1, "torque": np.zeros(fp.MAX_JOINTS + 1)}, "share one length"),
    ({"command_time_us": 1, "torque": []}, "share one length"),
])
def test_encoding_refuses_bad_values(values, problem):
    with pytest.raises(ValueError, match=problem):
        fp.encode_message("TORQUE_COMMAND", MAC, 1, **values)


def test_each_rejection_is_counted_and_the_next_frame_survives():
    good = clear_fault_frame()
    bad_crc = bytearray(state_frame())
    bad_crc[-1] ^= 0xFF
    stream = (b"\x00\x11\xa5" + fp.SYNC + b"\x7f\x00" + fp.SYNC + bytes((0x03, 0x01))  # garbage, unknown id, bad length
              + bytes(bad_crc) + good)
    parser = fp.FrameParser()
    frames = parser.feed(stream)
    assert [f.msg_id for f in frames] == [0x03]
    c = parser.counts
    assert (c.frames, c.unknown_id, c.bad_length, c.bad_crc) == (1, 1, 1, 1)
    assert c.skipped_bytes == len(stream) - len(good)


def test_a_frame_swallowed_by_a_false_header_is_recovered():
    """A false sync announcing a long STATE covers the real frame; after its CRC fails the rescan finds it."""
    stream = fp.SYNC + bytes((0x82, 26 + 12 + 12)) + fp.encode_message("HELLO", MAC, 0, host_nonce=5) + bytes(40)
    parser = fp.FrameParser()
    assert [f.msg_id for f in parser.feed(stream)] == [0x01]
    assert parser.counts.bad_crc == 1


def test_a_message_length_the_id_does_not_allow_is_rejected():
    for msg_id, length in ((0x01, 1), (0x03, 11), (0x02, 4 + 12), (0x02, 4 + 12 + 7),
                           (0x82, 26 + 12 * (fp.MAX_JOINTS + 1) + 12)):
        parser = fp.FrameParser()
        body = bytes((msg_id, length)) + bytes(length)
        assert parser.feed(fp.SYNC + body + fp.crc16(body).to_bytes(2, "little")) == []
        assert parser.counts.bad_length == 1


# ----- properties --------------------------------------------------------------------------------
messages = st.one_of(
    st.just(fp.encode_message("HELLO", MAC, 0, host_nonce=5)),
    st.just(clear_fault_frame()),
    st.builds(lambda seq, t: fp.encode_message("TORQUE_COMMAND", MAC, seq, command_time_us=seq, torque=t),
              st.integers(0, 65535), st.lists(st.floats(width=32), min_size=1, max_size=fp.MAX_JOINTS)),
    st.builds(state_frame, st.integers(1, fp.MAX_JOINTS), st.integers(0, 65535)),
)


def feed_in_pieces(data: bytes, cuts: list[int]) -> tuple[list[fp.Frame], fp.ParserCounts]:
    parser = fp.FrameParser()
    frames, start = [], 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        frames += parser.feed(data[start:cut])
        start = max(start, cut)
    return frames, parser.counts


def is_subsequence(wanted: list, got: list) -> bool:
    it = iter(got)
    return all(any(item == g for g in it) for item in wanted)


@given(st.binary(max_size=2000), st.lists(st.integers(0, 4000), max_size=20))
def test_arbitrary_bytes_never_raise_and_yield_only_frames_that_were_sent(data, cuts):
    frames, counts = feed_in_pieces(data, cuts)
    for frame in frames:  # every frame is a CRC-valid frame present, byte for byte, in the input
        assert fp.encode_frame(frame.msg_id, frame.payload) in data
    assert (frames, counts) == feed_in_pieces(data, [])  # how bytes are split does not matter


@given(st.lists(st.tuples(st.binary(max_size=40), messages, st.booleans(), st.integers(0, 10**6)),
                min_size=1, max_size=12),
       st.binary(max_size=40), st.lists(st.integers(0, 10**5), max_size=20))
def test_valid_frames_in_garbage_are_all_recovered(pieces, tail, cuts):
    """Garbage, then a frame (corrupted in one byte when the flag is set), repeatedly: every intact
    frame comes out, in order, however the stream is split."""
    stream, intact = b"", []
    for garbage, frame, corrupt, where in pieces:
        if corrupt:
            i = where % len(frame)
            frame = frame[:i] + bytes((frame[i] ^ 0x41,)) + frame[i + 1:]
        else:
            intact.append(frame)
        stream += garbage + frame
    frames, counts = feed_in_pieces(stream + tail, cuts)
    assert is_subsequence(intact, [fp.encode_frame(f.msg_id, f.payload) for f in frames])
    assert counts.frames == len(frames)


def frames_with_counts(chunks: list[bytes]) -> list[tuple[fp.Frame, tuple]]:
    """Each frame with the parser's counts when it came out, feeding ``chunks`` through ``frames()``."""
    parser, out = fp.FrameParser(), []
    for chunk in chunks:
        out += [(frame, tuple(vars(parser.counts).values())) for frame in parser.frames(chunk)]
    return out


@given(st.lists(st.tuples(st.binary(max_size=30), messages), min_size=1, max_size=8),
       st.lists(st.integers(0, 10**4), max_size=10))
def test_counts_at_each_frame_do_not_depend_on_how_the_bytes_are_split(pieces, cuts):
    """The line-noise test reads whole chunks and attributes rejections to the frame after them: the counts seen at
    each frame equal those of a byte-by-byte feed."""
    stream = b"".join(garbage + frame for garbage, frame in pieces)
    bounds = [0] + sorted(c % (len(stream) + 1) for c in cuts) + [len(stream)]
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
    assert frames_with_counts(chunks) == frames_with_counts([bytes((b,)) for b in stream])
