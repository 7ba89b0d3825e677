"""ItchParser against a reference parser written here from csrc/velox/itch.h's contract alone
(mapping, distrust, streaming, filter and routing), on generated streams of every ITCH 5.0 type
with hostile bytes: wrong, zero and lying lengths, unknown types, bad sides, huge crosses,
directory entries at locate 0, truncation. The parser takes the order messages in a fast loop
whenever enough bytes are left, and the rest (and the last bytes of a buffer) message by
message; whatever the split, its events, counts and errors must be the reference's."""

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from velox import BUY, MBO_DTYPE, SELL, SIDE_NONE, Action, MboFlag
from velox.feedgen import write_itch_file
from velox.feeds import ItchParser

# NASDAQ TotalView-ITCH 5.0 fixed lengths (type byte included, prefix excluded)
LENGTHS = {"S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35,
           "h": 21, "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44,
           "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48}
SYMBOLS = [b"AAA     ", b"BBB     ", b"CCC     ", b"DDDD    "]


def be(b, off, n):
    return int.from_bytes(b[off:off + n], "big")


class Reference:
    """The contract of itch.h, one message at a time (no speed, no cleverness)."""

    def __init__(self, wanted=None, route=False):
        self.counts = {"messages": 0, "events": 0, "skipped": 0, "unknown": 0, "filtered": 0,
                       "by_type": {}}
        self.wanted = list(wanted or [])
        self.route = route and bool(self.wanted)
        self.book = {}  # locate -> 1 + wanted index, or 0
        self.offset = 0

    def parse(self, data, cap):
        """-> (consumed, events (list of 48-byte records), error (text, offset, type) | None)"""
        pos, out = 0, []
        while len(out) < cap and len(data) - pos >= 2:
            mlen = be(data, pos, 2)
            if mlen == 0:
                return pos, out, ("zero message length", self.offset + pos, 0)
            if len(data) - pos - 2 < mlen:
                break
            m = data[pos + 2:pos + 2 + mlen]
            t = chr(m[0])
            if t not in LENGTHS:
                self._count(m[0], "unknown")
                pos += 2 + mlen
                continue
            if mlen != LENGTHS[t]:
                return pos, out, ("message length differs from its type's fixed length",
                                  self.offset + pos, m[0])
            e = np.zeros((), MBO_DTYPE)
            e["instrument"], e["ts"], e["side"] = be(m, 1, 2), be(m, 5, 6), SIDE_NONE
            if t in "AF":
                if m[19] not in b"BS":
                    return pos, out, ("add order side is not 'B' or 'S'", self.offset + pos, m[0])
                e["action"], e["order_id"], e["qty"] = Action.ADD, be(m, 11, 8), be(m, 20, 4)
                e["side"] = BUY if m[19] == ord("B") else SELL
                e["price"] = be(m, 32, 4) * 10**4
            elif t in "EC":
                e["action"], e["order_id"], e["qty"] = Action.EXECUTE, be(m, 11, 8), be(m, 19, 4)
                e["ref"] = be(m, 23, 8)
                if t == "C":
                    e["flags"] = MboFlag.PRINTABLE if m[31] == ord("Y") else 0
                    e["price"] = be(m, 32, 4) * 10**4
            elif t == "X":
                e["action"], e["order_id"], e["qty"] = Action.CANCEL, be(m, 11, 8), be(m, 19, 4)
            elif t == "D":
                e["action"], e["order_id"] = Action.DELETE, be(m, 11, 8)
            elif t == "U":
                e["action"], e["order_id"], e["ref"] = Action.REPLACE, be(m, 11, 8), be(m, 19, 8)
                e["qty"], e["price"] = be(m, 27, 4), be(m, 31, 4) * 10**4
            elif t == "P":
                e["action"], e["order_id"], e["qty"] = Action.TRADE, be(m, 11, 8), be(m, 20, 4)
                e["side"] = {ord("B"): BUY, ord("S"): SELL}.get(m[19], SIDE_NONE)
                e["price"], e["ref"] = be(m, 32, 4) * 10**4, be(m, 36, 8)
            elif t == "Q":
                if be(m, 11, 8) > 2**32 - 1:
                    return pos, out, ("cross shares exceed 2^32-1", self.offset + pos, m[0])
                e["action"], e["qty"], e["price"] = Action.CROSS, be(m, 11, 8), be(m, 27, 4) * 10**4
                e["ref"], e["status"] = be(m, 31, 8), m[39]
            elif t == "B":
                e["action"], e["ref"] = Action.BROKEN, be(m, 11, 8)
            elif t == "S":
                e["action"], e["flags"], e["status"] = Action.STATUS, MboFlag.SYSTEM, m[11]
            elif t == "H":
                e["action"], e["status"] = Action.STATUS, m[19]
            elif t == "R":
                loc = be(m, 1, 2)
                if loc == 0:
                    return pos, out, ("stock directory (R) at locate 0 (stock locates start "
                                      "at 1)", self.offset + pos, m[0])
                sym = bytes(m[11:19])
                self.book[loc] = self.wanted.index(sym) + 1 if sym in self.wanted else 0
                self._count(m[0], None)
                pos += 2 + mlen
                continue
            else:
                self._count(m[0], "skipped")
                pos += 2 + mlen
                continue
            self._count(m[0], None)
            pos += 2 + mlen
            if not self.wanted or t == "S":
                if self.route:
                    e["instrument"] = 0
            elif self.book.get(int(e["instrument"]), 0) == 0:
                self.counts["filtered"] += 1
                continue
            elif self.route:
                e["instrument"] = self.book[int(e["instrument"])] - 1
            out.append(e.tobytes())
        return pos, out, None

    def _count(self, t, kind):
        c = self.counts
        c["messages"] += 1
        c["by_type"][chr(t)] = c["by_type"].get(chr(t), 0) + 1
        if kind:
            c[kind] += 1


# ---- streams -------------------------------------------------------------------------------

ORDER = "AFECXDUP"
OTHER = "QBSHRYLVWKJhINO"


@st.composite
def message(draw):
    """One framed message: mostly well formed (random field bytes, small locates so the filter
    matters), sometimes hostile."""
    kind = draw(st.sampled_from(["order"] * 12 + ["other"] * 3 + ["unknown", "badlen", "zero"]))
    if kind == "unknown":
        t = draw(st.integers(0, 255).filter(lambda b: chr(b) not in LENGTHS))
        body = bytes([t]) + draw(st.binary(min_size=0, max_size=60))
        return struct.pack(">H", len(body)) + body
    if kind == "zero":
        return b"\0\0"
    t = draw(st.sampled_from(ORDER if kind == "order" else OTHER))
    n = LENGTHS[t]
    body = bytearray(draw(st.binary(min_size=n, max_size=n)))
    body[0] = ord(t)
    body[1:3] = struct.pack(">H", draw(st.sampled_from([0, 1, 2, 3, 4, 65535])))
    if t in "AFP":
        body[19] = ord(draw(st.sampled_from("BBBBSSSS" + ("X\0Y " if t == "P" else "") + "x")))
    if t == "C":
        body[31] = ord(draw(st.sampled_from("YYNN?")))
    if t == "Q":
        body[11:19] = struct.pack(">Q", draw(st.sampled_from([0, 7, 2**32 - 1, 2**32, 2**63])))
    if t == "R":
        body[11:19] = draw(st.sampled_from(SYMBOLS))
    length = n
    if kind == "badlen":
        length = draw(st.sampled_from([n - 1, n + 1, 1, 255, 256 + n]))
    return struct.pack(">H", length) + bytes(body)


streams = st.lists(message(), min_size=1, max_size=40).map(b"".join)


def run_velox(data, cap, parser):
    """Parse data in calls of at most cap events (resuming at each call's end); -> (consumed,
    event bytes, error text or None)."""
    out = np.zeros(max(cap, 1), MBO_DTYPE)
    pos, events = 0, []
    while True:
        try:
            c, n = parser.parse(data[pos:], out[:cap])
        except ValueError as exc:
            return parser.offset, b"".join(events), str(exc)
        events.append(out[:n].tobytes())
        pos += c
        if n < cap:
            return pos, b"".join(events), None


def run_reference(data, cap, ref):
    pos, events = 0, []
    while True:
        c, ev, err = ref.parse(data[pos:], cap)
        if err is not None:  # the failing call's events are in out, not returned
            text, offset, t = err
            ref.counts["events"] = len(events) + len(ev)
            return pos + c, b"".join(events), (f"ITCH: {text} at byte offset {offset} (type "
                                               f"{bytes([t])!r}, {len(ev)} events written "
                                               f"before it)")
        events += ev
        ref.offset += c
        pos += c
        if len(ev) < cap:
            ref.counts["events"] = len(events)
            return pos, b"".join(events), None


def check(data, cap, wanted=None, route=False):
    parser = ItchParser()
    if wanted:
        (parser.route_symbols if route else parser.filter_symbols)(
            [w.decode().strip() for w in wanted])
    ref = Reference(wanted, route)
    got = run_velox(data, cap, parser)
    want = run_reference(data, cap, ref)
    assert got[2] == want[2]
    assert got[0] == want[0]
    assert got[1] == want[1]  # the events, byte for byte
    assert parser.counts == ref.counts
    if got[2] is None:
        assert parser.offset == want[0]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.sampled_from([1, 2, 3, 7, 64]))
def test_streams_match_the_reference(data, cap):
    check(data, cap)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.sampled_from([1, 5, 64]), st.sets(st.sampled_from(SYMBOLS), min_size=1),
       st.booleans())
def test_filtered_and_routed_streams_match_the_reference(data, cap, wanted, route):
    check(data, cap, sorted(wanted), route)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.data())
def test_cut_streams_match_the_reference(data, draw):
    """A stream cut anywhere (a truncated final message): the same consumed bytes and events."""
    cut = draw.draw(st.integers(0, len(data)))
    check(data[:cut], 64)


def test_fast_loop_meets_each_hostile_message_after_good_ones():
    """Each hostile message placed after a run of order messages (so the fast loop is the one
    that meets it) and before more of them: the same error or skip as the reference."""
    add = bytearray(struct.pack(">H", 36) + b"A" + bytes(35))
    add[2 + 19] = ord("B")
    run = bytes(add) * 4
    hostile = [
        b"\0\0A",                                                    # zero length
        struct.pack(">H", 35) + b"A" + bytes(34),                    # A one byte short
        struct.pack(">H", 37) + b"A" + bytes(36),                    # A one byte long
        struct.pack(">H", 256 + 36) + bytes(add[2:]),                # A 256 bytes long
        struct.pack(">H", 65536 - 256 + 19) + b"D" + bytes(18),      # D's length + 0xff00
        struct.pack(">H", 36) + b"A" + bytes(35),                    # A side 0
        struct.pack(">H", 19) + b"D" + bytes(17),                    # D shorter than it says
        struct.pack(">H", 5) + b"\x7f" + bytes(4),                   # unknown type
        struct.pack(">H", 20) + b"N" + bytes(19),                    # a skipped type
        struct.pack(">H", 40) + b"Q" + bytes(10) + b"\x01" + bytes(28),  # cross > 2^32-1
        struct.pack(">H", 39) + b"R" + bytes(38),                    # directory at locate 0
    ]
    for h in hostile:
        for tail in (b"", run, run * 8):  # run * 8: the A 256 bytes long fits, and is refused
            check(run + h + tail, 64)
            check(run + h + tail, 4)


@pytest.mark.parametrize("cap", [1, 3, 64, 65536])
def test_generated_day_matches_the_reference(tmp_path, cap):
    path = tmp_path / "day.itch"
    write_itch_file(path, 3000, 5, seed=11)
    data = path.read_bytes()
    check(data, cap)
    check(data, cap, [b"S3      ", b"S1      "], route=True)
    check(data, cap, [b"S2      "])
