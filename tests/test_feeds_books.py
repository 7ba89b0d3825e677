"""ITCH -> a book for every symbol (velox._feeds.ItchBooks over vx_mbo_set), checked
against a Python replay of the same events (dict of orders -> per-level aggregates)."""

from collections import defaultdict

import numpy as np
import pytest

from velox import MBO_DTYPE, Action
from velox import feeds
from velox.feedgen import TICK, write_itch_file

from velox import _feeds as _feedbooks


def model_levels(ev):
    orders = {}
    for ts, oid, price, ref, qty, inst, side, action, flags, status in ev.tolist():
        if action == Action.ADD:
            orders[oid] = [inst, side, price, qty]
        elif action in (Action.CANCEL, Action.EXECUTE):
            orders[oid][3] -= qty
            if orders[oid][3] == 0:
                del orders[oid]
        elif action == Action.DELETE:
            del orders[oid]
        elif action == Action.REPLACE:
            inst, side = orders.pop(oid)[:2]
            orders[ref] = [inst, side, price, qty]
    levels = defaultdict(lambda: defaultdict(int))
    for inst, side, price, qty in orders.values():
        levels[(inst, side)][price] += qty
    return orders, levels


@pytest.mark.parametrize("batch", [1, 97, 65536])
def test_books_match_python_replay(tmp_path, batch):
    path = tmp_path / "d.itch"
    write_itch_file(path, 40_000, 12, seed=8)
    ev = feeds.read_itch(path).read()
    orders, levels = model_levels(ev)
    books = _feedbooks.ItchBooks(13, 1024, TICK, 1 << 16)
    data = path.read_bytes()
    consumed, events, applied, rejected = books.feed(feeds.ItchParser(), data,
                                                     np.empty(batch, MBO_DTYPE))
    assert consumed == len(data) and events == len(ev)
    assert rejected == 0 and applied == len(ev)
    assert books.live_orders == len(orders)
    for inst in range(1, 13):
        (bp, bq), (ap, aq) = books.depth(inst, 1024)
        want_b = sorted(levels[(inst, 0)].items(), reverse=True)
        want_a = sorted(levels[(inst, 1)].items())
        assert list(zip(bp.tolist(), bq.tolist())) == want_b
        assert list(zip(ap.tolist(), aq.tolist())) == want_a


def test_feed_reports_bad_bytes():
    books = _feedbooks.ItchBooks(2, 64, TICK, 16)
    with pytest.raises(ValueError, match="byte offset 0"):
        books.feed(feeds.ItchParser(), b"\x00\x05A1234", np.empty(4, MBO_DTYPE))
    with pytest.raises(TypeError):
        books.feed(feeds.ItchParser(), b"", np.empty(0, MBO_DTYPE))
    with pytest.raises(ValueError, match="instrument"):
        books.best(2)


def test_memory_bytes_counts_every_book_of_the_set():
    """ItchBooks.memory_bytes is the whole set's: the shared table once, and each book's
    ladder (64 B a level, both sides) and rankmaps; not book 0's alone."""
    levels = 1024
    one = feeds.ItchBooks(1, levels, TICK, 1 << 12)
    four = feeds.ItchBooks(4, levels, TICK, 1 << 12)
    per_book = four.memory_bytes - one.memory_bytes
    assert per_book % 3 == 0 and per_book // 3 >= levels * 64
