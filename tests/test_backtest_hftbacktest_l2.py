"""velox's market-by-price (L2) queue models beside hftbacktest 2.4.4's (tests/hbt_quote.py):
the conversion of an L2 MBO_DTYPE stream (LEVEL, TRADE) to hftbacktest's depth and trade
events, and the quoting run of velox.backtest with SimVenue(queue_model="risk_averse" /
"prob") against hftbacktest's risk_adverse_queue_model() / power_prob_queue_model(n) on its
L2 depth, fill by fill (docs/backtest.md, "Cross-check with hftbacktest", market-by-price
paragraph: the differences and the tolerance they give)."""


import numpy as np
import pytest

import velox
from velox import BUY, MBO_DTYPE, SELL, SIDE_NONE, Action, MboBook
from velox.feedgen import lobster_events, market_by_price

import hbt_quote as hq

from hbt_guard import require_hftbacktest

require_hftbacktest()

TICK = velox.to_fixed("0.01")
LEVELS = 4096
ENTRY_NS = 10_000
RESPONSE_NS = 10_000
MAX_POSITION = 1_000_000   # out of reach: see test_backtest_hftbacktest.py
SEEDS = (1, 2, 3)
MESSAGES = 50_000          # LOBSTER messages per generated day (about 56,000 L2 events)
ROUND_LOT = 100            # shares per lot of the L2 view (see `days`)


def _l2(rows):
    """An L2 stream from (ts, action, side, price in ticks, qty) rows."""
    ev = np.zeros(len(rows), MBO_DTYPE)
    for i, (ts, a, s, p, q) in enumerate(rows):
        ev[i]["ts"], ev[i]["action"], ev[i]["side"] = ts, int(a), s
        ev[i]["price"], ev[i]["qty"] = p * TICK, q
    return ev


def test_l2_conversion_rows():
    """LEVEL -> DEPTH_EVENT of its own side with the level's new total; TRADE -> TRADE_EVENT
    flagged with the aggressor's side (the side opposite velox's resting side); a sideless
    print takes its resting side from the book before it (at or below the best bid: bids; at
    or above the best ask: asks; inside the spread or on an empty side: dropped); a print at
    price 0 is dropped."""
    L, T = Action.LEVEL, Action.TRADE
    ev = _l2([(1, L, BUY, 100, 30), (1, L, SELL, 102, 20), (2, T, BUY, 100, 5),
              (3, T, SELL, 102, 4), (4, T, SIDE_NONE, 100, 3), (5, T, SIDE_NONE, 102, 2),
              (6, T, SIDE_NONE, 101, 1), (7, T, BUY, 0, 1), (8, L, BUY, 100, 0),
              (9, T, SIDE_NONE, 99, 1), (10, L, BUY, 101, 7), (11, T, SIDE_NONE, 101, 6)])
    out = hq.to_hftbacktest_l2(ev)
    both = hq.EXCH_EVENT | hq.LOCAL_EVENT
    assert (out["ev"] & both == both).all()
    kinds = [(int(e) & 0xFF, "B" if int(e) & hq.BUY_EVENT else "S") for e in out["ev"]]
    assert kinds == [(hq.DEPTH_EVENT, "B"), (hq.DEPTH_EVENT, "S"),
                     (hq.TRADE_EVENT, "S"), (hq.TRADE_EVENT, "B"),    # resting bid / ask
                     (hq.TRADE_EVENT, "S"), (hq.TRADE_EVENT, "B"),    # sideless at bid / ask
                     (hq.DEPTH_EVENT, "B"),                           # the bid level gone
                     (hq.DEPTH_EVENT, "B"), (hq.TRADE_EVENT, "S")]    # a new best bid, its print
    # dropped: the print inside the spread (ts 6), at price 0 (ts 7), below an empty bid side
    # that has asks above it (ts 9)
    assert out["exch_ts"].tolist() == [1, 1, 2, 3, 4, 5, 8, 10, 11]
    assert (out["exch_ts"] == out["local_ts"]).all()
    assert out["px"].tolist() == [1.0, 1.02, 1.0, 1.02, 1.0, 1.02, 1.0, 1.01, 1.01]
    assert out["qty"].tolist() == [30, 20, 5, 4, 3, 2, 0, 7, 6]
    assert hq.resting_sides(ev).tolist() == [BUY, SELL, BUY, SELL, BUY, SELL, SIDE_NONE, BUY,
                                             BUY, SIDE_NONE, BUY, BUY]


def test_l2_conversion_refuses_what_it_cannot_carry():
    ev = _l2([(1, Action.LEVEL, BUY, 100, 30), (2, Action.LEVEL, SELL, 101, 3)])
    two = ev.copy()
    two["instrument"][1] = 1
    with pytest.raises(ValueError, match="instrument"):
        hq.to_hftbacktest_l2(two)
    add = ev.copy()
    add["action"][1] = int(Action.ADD)
    with pytest.raises(ValueError, match="action 1"):
        hq.to_hftbacktest_l2(add)
    sideless = ev.copy()
    sideless["side"][0] = SIDE_NONE
    with pytest.raises(ValueError, match="LEVEL event without a side"):
        hq.to_hftbacktest_l2(sideless)
    with pytest.raises(ValueError, match="queue_model 'prob'"):
        hq.make_backtest(hq.to_hftbacktest_l2(ev), entry_latency_ns=0, response_latency_ns=0,
                         queue_model="prob")


def round_lots(l2):
    """The L2 stream in round lots: every LEVEL's and TRADE's qty / ROUND_LOT, rounded up (a
    level that shows shares shows at least a lot). Queues of a few lots, not hundreds of
    shares, so the prob models' fractions of a lot decide fills often enough to compare. Both
    venues read the same stream: it need not be an L3 stream's exact view."""
    out = l2.copy()
    out["qty"] = -(-l2["qty"].astype(np.int64) // ROUND_LOT)
    return out


@pytest.fixture(scope="module")
def days():
    """seed -> (the L2 view, in round lots, of a generated LOBSTER day with F_LAST per
    timestamp; its hftbacktest events)."""
    out = {}
    for seed in SEEDS:
        l2 = round_lots(market_by_price(lobster_events(MESSAGES, seed=seed)))
        l2 = hq.with_timestamp_edges(l2)
        out[seed] = (l2, hq.to_hftbacktest_l2(l2))
    return out


def velox_l2_tops(events):
    """velox's MboBook after each timestamp of an L2 stream (TRADE prints change no level):
    rows of (ts, bid tick, qty, ask tick, qty)."""
    first = int(events[events["action"] == int(Action.LEVEL)]["price"][0])
    book = MboBook(levels=LEVELS, tick_size=TICK, base_price=first - LEVELS // 2 * TICK)
    return hq.book_tops(book, events, TICK)


def test_hftbacktest_l2_depth_replays_the_converted_stream_to_velox_books(days):
    """The L2 conversion carries the stream: after every timestamp hftbacktest's L2 depth and
    velox's book have the same best bid and ask, prices and sizes."""
    l2, data = days[SEEDS[0]]
    mine = velox_l2_tops(l2)
    theirs = hq.run_tops(data, queue_model="risk_adverse")
    # hftbacktest's wait_next_feed reports the last timestamp as the end of the data
    assert len(theirs) == len(mine) - 1
    assert (mine[:, 2] > 0).sum() > len(mine) // 2
    assert np.array_equal(theirs, mine[:-1])


def other_side_reached(at, events, side, tick, ts):
    """Does a LEVEL at ts show lots on the other side at or through our price (side +1, a buy
    at tick: an ask level at <= tick; -1, a sell: a bid level at >= tick)? hftbacktest fills a
    resting order when the other side's best moves there; velox fills only on prints."""
    for i in at.get(ts, ()):
        e = events[i]
        p = int(e["price"]) // TICK
        if int(e["action"]) == int(Action.LEVEL) and int(e["qty"]) > 0 \
                and int(e["side"]) == (SELL if side == 1 else BUY) \
                and (p <= tick if side == 1 else p >= tick):
            return True
    return False


def compare(l2, data, model, power, hbt_model, seed=1):
    """Both quoting runs on one day; returns (velox's fills, hftbacktest's, the unmatched of
    each, hftbacktest's unmatched explained by the other side reaching the order, the P&L
    check's two sides)."""
    h = hq.run_quote(data, size=1, max_position=MAX_POSITION, entry_latency_ns=ENTRY_NS,
                     response_latency_ns=RESPONSE_NS, max_fills=1 << 16,
                     queue_model=hbt_model, queue_power=power)
    r = velox.backtest(l2, "builtin:quote", stage_args={"size": 1, "max_position": MAX_POSITION},
                       venue=velox.SimVenue(entry_latency_ns=ENTRY_NS,
                                            response_latency_ns=RESPONSE_NS, maker_fee=0,
                                            taker_fee=0, queue_model=model, queue_power=power),
                       tick=0.01, levels=LEVELS, max_orders=1 << 20, edges="flag", seed=seed)
    assert r.ok
    assert len(h["fills"]) == h["num_trades"]
    v_keys, h_keys = hq.fill_keys(r.execs, h["fills"], TICK)
    un_v, un_h = hq.match_fills(v_keys, h_keys, ENTRY_NS + RESPONSE_NS)
    at = {}
    for i, t in enumerate(l2["ts"].tolist()):
        at.setdefault(t, []).append(i)
    reached = [f for f in un_h if other_side_reached(at, l2, *f)]
    # P&L: velox's own minus hftbacktest's at velox's final mark = what the unmatched make
    pos = r.positions
    assert len(pos) == 1 and int(pos["position"][0]) == sum(k[0] for k in v_keys)
    mark = int(pos["mark"][0]) / hq.PRICE_SCALE
    pnl_gap = r.summary()["pnl"] - (h["balance"] + h["position"] * mark - h["fee"])
    explained = (sum(s * (mark - p * 0.01) for s, p, _ in un_v)
                 - sum(s * (mark - p * 0.01) for s, p, _ in un_h))
    assert abs(pnl_gap - explained) < 1e-6 * (1 + len(h_keys)), (pnl_gap, explained)
    return v_keys, h_keys, un_v, un_h, reached


def _why(model, power, seed, v, h, un_v, un_h, reached):
    odd_h = [f for f in un_h if f not in reached]
    return (f"{model} n={power} seed {seed}: velox {len(v)} fills, hftbacktest {len(h)}; "
            f"unmatched: velox {len(un_v)} {un_v[:4]}, hftbacktest {len(un_h)} ({len(reached)} "
            f"by the other side reaching the order; others {odd_h[:4]})")


@pytest.mark.parametrize("sideless", [False, True], ids=["sided", "sideless-prints"])
def test_quote_fills_agree_with_hftbacktest_l2_risk_averse(days, sideless):
    """velox's risk_averse = hftbacktest's risk_adverse_queue_model (a level only caps the lots
    ahead; a print at the price consumes them, then fills; a print through the price fills):
    every fill of velox is one of hftbacktest's (side, price, exchange time within the 20 us
    of latency), and every fill only hftbacktest makes is at a timestamp where the other
    side's level reaches the order's price (hftbacktest fills on the crossing; velox only on
    prints). No exception allowed: the two rules are the same in whole lots. With every
    print's side erased (SIDE_NONE) both venues take it from the book, with the same result."""
    for seed in SEEDS:
        l2, data = days[seed]
        if sideless:
            l2 = l2.copy()
            l2["side"][l2["action"] == int(Action.TRADE)] = SIDE_NONE
            data = hq.to_hftbacktest_l2(l2)
        v, h, un_v, un_h, reached = compare(l2, data, "risk_averse", 0, "risk_adverse", seed)
        why = _why("risk_averse", 0, seed, v, h, un_v, un_h, reached)
        assert len(h) >= 200, why   # the strategy trades enough for the comparison to mean much
        assert un_v == [] and len(reached) == len(un_h), why
        assert len(v) >= 0.5 * len(h), why


# The prob models' agreement is statistical: hftbacktest keeps a fractional front, velox whole
# lots with a seeded draw for the fraction (venue.h), so one order can fill at a different
# print in each (a pair of unmatched fills), and the quoting paths then differ for a while.
# Measured on the round-lot days of seeds 1-10, n = 0-3 (40 runs): velox's fill count within
# 0.4 % of hftbacktest's fills not explained by the other side reaching the order (no sign
# bias: -0.37 % .. +0.12 % per n), unexplained fills 1.2-3.8 % of velox's fills per n over
# seeds 1-3 (about 40 of 1,080 at most: +-6 by counting noise), at least 96.8 % of each run's
# velox fills matched. The test allows, over SEEDS per n: counts within 1.5 %, unexplained
# at most 5 % (the largest measured + 2 sigma), and per run 90 % matched. Rules out of step
# with hftbacktest's leave more: advancing only by whole lots (no draw) 6-9 % unexplained and
# -0.6 to -0.9 % fills; hftbacktest's sibling models against velox's prob: see the test below.
@pytest.mark.parametrize("power", [0, 1, 2, 3])
def test_quote_fills_agree_with_hftbacktest_l2_prob(days, power):
    """velox's prob (queue_power n) against hftbacktest's power_prob_queue_model(n): the part
    of a level decrease not explained by the prints since the last one is split between the
    lots ahead and behind as f(ahead) : f(behind), f(x) = x^n. Fills match as under
    risk_averse, within the statistical bounds the comment above gives."""
    fills_v = fills_h = unexplained = 0
    for seed in SEEDS:
        l2, data = days[seed]
        v, h, un_v, un_h, reached = compare(l2, data, "prob", power, "power_prob", seed)
        why = _why("prob", power, seed, v, h, un_v, un_h, reached)
        assert len(h) >= 200, why
        assert len(v) - len(un_v) >= 0.9 * len(v), why
        fills_v += len(v)
        fills_h += len(h) - len(reached)
        unexplained += len(un_v) + len(un_h) - len(reached)
    figures = (power, fills_v, fills_h, unexplained)
    assert abs(fills_v - fills_h) <= 0.015 * fills_h, figures
    assert unexplained <= 0.05 * fills_v, figures


def test_power_prob_is_the_hftbacktest_model_velox_prob_follows(days):
    """Of hftbacktest's probabilistic models, power_prob_queue_model(n) (share ahead =
    f(front) / (f(front) + f(back))) is the one velox's prob rule is: against its siblings
    (power_prob_queue_model2: f(back) / f(back + front) behind; power_prob_queue_model3:
    1 - f(front / (front + back)); log_prob: f = log(1 + x)) velox's fills leave at least
    twice as many unexplained over SEEDS (measured with n = 2, 3: power_prob 22 and 13,
    the siblings 54-122). At n = 1 the three power models are one model."""
    def unexplained(hbt_model, power):
        n = 0
        for seed in SEEDS:
            l2, data = days[seed]
            v, h, un_v, un_h, reached = compare(l2, data, "prob", power, hbt_model, seed)
            n += len(un_v) + len(un_h) - len(reached)
        return n

    for power in (2, 3):
        same = unexplained("power_prob", power)
        others = {m: unexplained(m, power) for m in ("power_prob2", "power_prob3", "log_prob")}
        assert all(2 * same <= n for n in others.values()), (power, same, others)
