"""Hypothesis: random interleavings of every SpscRing operation against a deque model
(FIFO, no loss, no duplication, capacity respected, counters exact)."""

import collections

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from scale import scaled
from velox import TXN_DTYPE, SpscRing, Transaction


class RingModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.ring = None
        self.model = collections.deque()
        self.next_seq = 0
        self.rejected = 0

    @precondition(lambda self: self.ring is None)
    @rule(log2_capacity=st.integers(1, 6))
    def create(self, log2_capacity):
        self.capacity = 1 << log2_capacity
        self.ring = SpscRing(self.capacity, TXN_DTYPE)

    def _records(self, n):
        a = np.zeros(n, TXN_DTYPE)
        a["seq"] = np.arange(self.next_seq, self.next_seq + n)
        a["price"] = a["seq"] * 5 - 3
        return a

    @precondition(lambda self: self.ring is not None)
    @rule(form=st.sampled_from(["transaction", "bytes", "void", "array1"]))
    def try_push(self, form):
        rec = self._records(1)
        item = {
            "transaction": lambda: Transaction.from_numpy(rec[0]),
            "bytes": lambda: rec.tobytes(),
            "void": lambda: rec[0],
            "array1": lambda: rec,
        }[form]()
        accepted = self.ring.try_push(item)
        if len(self.model) < self.capacity:
            assert accepted is True
            self.model.append(self.next_seq)
        else:
            assert accepted is False
            self.rejected += 1
        self.next_seq += 1

    @precondition(lambda self: self.ring is not None)
    @rule(n=st.integers(0, 150))
    def push_many(self, n):
        recs = self._records(n)
        k = self.ring.push_many(recs)
        assert k == min(n, self.capacity - len(self.model))
        self.model.extend(range(self.next_seq, self.next_seq + k))
        self.rejected += 1 if n > 0 and k == 0 else 0  # refused calls, not records
        self.next_seq += n

    @precondition(lambda self: self.ring is not None and len(self.model) < self.capacity)
    @rule()
    def blocking_push(self):
        self.ring.push(self._records(1)[0], timeout=0)
        self.model.append(self.next_seq)
        self.next_seq += 1

    @precondition(lambda self: self.ring is not None)
    @rule()
    def try_pop(self):
        row = self.ring.try_pop()
        if self.model:
            want = self.model.popleft()
            assert row is not None and row["seq"] == want and row["price"] == want * 5 - 3
        else:
            assert row is None

    @precondition(lambda self: self.ring is not None and len(self.model) > 0)
    @rule()
    def blocking_pop(self):
        row = self.ring.pop(timeout=0)
        assert row["seq"] == self.model.popleft()

    @precondition(lambda self: self.ring is not None)
    @rule(max_n=st.integers(0, 150), into_array=st.booleans())
    def pop_many(self, max_n, into_array):
        if into_array:
            out = np.zeros(max_n, TXN_DTYPE)
            k = self.ring.pop_many(out)
            got = out[:k]
        else:
            got = self.ring.pop_many(max_n)
            k = len(got)
        assert k == min(max_n, len(self.model))
        want = [self.model.popleft() for _ in range(k)]
        assert list(got["seq"]) == want
        assert list(got["price"]) == [w * 5 - 3 for w in want]

    @invariant()
    def counters_match_model(self):
        if self.ring is None:
            return
        assert len(self.ring) == len(self.model) <= self.capacity
        assert self.ring.free == self.capacity - len(self.model)
        assert self.ring.pushed - self.ring.popped == len(self.model)
        assert self.ring.rejected_full == self.rejected


TestRingModel = RingModel.TestCase
TestRingModel.settings = settings(max_examples=scaled(150, 25), stateful_step_count=60, deadline=None)


@settings(max_examples=100, deadline=None)
@given(
    dtype=st.sampled_from(["u1", "<u2", "<i8", "<f8", "V3", "V48", "S5", [("a", "<u4"), ("b", "u1")]]),
    log2_capacity=st.integers(1, 8),
    data=st.data(),
)
def test_any_dtype_round_trips_bytes(dtype, log2_capacity, data):
    ring = SpscRing(1 << log2_capacity, dtype)
    n = data.draw(st.integers(0, 3 << log2_capacity))
    raw = data.draw(st.binary(min_size=n * ring.itemsize, max_size=n * ring.itemsize))
    src = np.frombuffer(raw, dtype=ring.dtype)
    taken = ring.push_many(src)
    assert taken == min(n, ring.capacity)
    out = ring.pop_many(n)
    assert out.tobytes() == raw[: taken * ring.itemsize]
