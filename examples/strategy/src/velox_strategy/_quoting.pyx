# cython: language_level=3, embedsignature=True
"""Two quoting strategies of velox's strategy ABI v2 (velox/strategy.h), written in Cython and
compiled against velox's headers only: every velox function they call comes from the vx_api
table velox hands to init, so no velox C source is compiled in.

L2Quote (order-book levels only: api->best and api->depth): joins the best bid and the best
ask of one instrument with `size` lots each, re-prices a quote when its side's best price
moves (CANCEL, then a NEW once the cancel is done), stays within `max_position`, and pulls
the quote on the side the top `levels` levels lean against (bid lots >= `ratio` x ask lots:
no ask; the mirror: no bid).

QueueQuote (market-by-order): the same quoting on top-of-book changes, and after every
market group it asks api->queue_ahead for the lots ahead of each resting quote, counting how
often the queue ahead of it shrank (the simulated venue of a backtest knows the queue; a live
venue does not: api->queue_ahead answers VX_ESTATE there, counted as queue_unknown).

Parameters (velox stage_args / --stage-arg, read with api->arg at init): instrument (0),
size (1), max_position (10), levels (5, L2Quote), ratio (3, L2Quote)."""
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport strtoll
from libc.string cimport memset
from cpython.pycapsule cimport PyCapsule_New

from velox.includes.orders cimport (VX_ORDER_CANCEL, VX_ORDER_LIMIT, VX_ORDER_NEW, VX_TIF_GTC,
                                    VX_EXEC_FILL, VX_EXEC_PARTIAL_FILL, VX_REJECT_NONE,
                                    vx_exec, vx_order, vx_reject)
from velox.includes.strategy cimport (VX_API_VERSION, VX_STRATEGY_ABI_VERSION,
                                      VX_STRATEGY_CAPSULE_NAME, vx_api, vx_position,
                                      vx_strategy, vx_strategy_env)
from velox.includes.types cimport VX_OK, vx_mbo, vx_status

cdef enum:
    MAX_LEVELS = 32
    VX_ESTATE_ = 7   # vx_status VX_ESTATE (types.h): a live venue does not know the queue
    VX_EMPTY_ = 2    # vx_status VX_EMPTY: not resting (yet)

cdef struct side_state:
    uint64_t id          # our working quote on this side (0: none)
    int64_t price
    uint64_t canceling   # a quote whose CANCEL is on its way (0: none)
    uint64_t ahead       # queue_ahead at the last check (QueueQuote)

cdef struct quote_state:
    const vx_api *api
    int mbo              # 1: QueueQuote (queue tracking), 0: L2Quote (imbalance filter)
    uint32_t instrument, size, levels, ratio
    int64_t max_position
    uint64_t next_id
    side_state side[2]
    uint64_t inits, markets, news, cancels, refused, execs, fills, filled_lots, finishes
    uint64_t queue_checks, queue_improved, queue_unknown, pulled

cdef int64_t arg_int(const vx_api *api, vx_strategy_env *env, const char *key, int64_t dflt,
                     int64_t lo, int64_t hi) noexcept nogil:
    """api->arg(key) as an integer in [lo, hi]; dflt when absent; -1 when malformed."""
    cdef const char *text = api.arg(env, key)
    cdef char *end = NULL
    if text == NULL:
        return dflt
    cdef int64_t v = strtoll(text, &end, 10)
    if end == text or end[0] != 0 or v < lo or v > hi:
        return -1
    return v

cdef int on_init(void *state, const vx_api *api, vx_strategy_env *env) noexcept nogil:
    cdef quote_state *st = <quote_state *>state
    st.api = api
    st.inits += 1
    cdef int64_t inst = arg_int(api, env, b"instrument", 0, 0, 65535)
    cdef int64_t size = arg_int(api, env, b"size", 1, 1, 1000000)
    cdef int64_t maxp = arg_int(api, env, b"max_position", 10, 1, 1 << 40)
    cdef int64_t levels = arg_int(api, env, b"levels", 5, 1, MAX_LEVELS)
    cdef int64_t ratio = arg_int(api, env, b"ratio", 3, 1, 1000)
    if inst < 0 or size < 0 or maxp < 0 or levels < 0 or ratio < 0:
        return 1  # a malformed parameter: refuse to run (the run reports init_failed)
    if <uint64_t>inst >= api.instruments(env):
        return 1
    st.instrument, st.size, st.max_position = <uint32_t>inst, <uint32_t>size, maxp
    st.levels, st.ratio = <uint32_t>levels, <uint32_t>ratio
    return 0

cdef vx_reject send(quote_state *st, vx_strategy_env *env, int action, uint64_t oid, int side,
                    int64_t price) noexcept nogil:
    cdef vx_order o
    memset(&o, 0, sizeof(o))
    o.order_id = oid
    o.instrument = st.instrument
    o.action = action
    o.side = side
    o.type = VX_ORDER_LIMIT
    o.tif = VX_TIF_GTC
    o.price = price
    o.qty = st.size
    cdef vx_reject r = st.api.send(env, &o)
    if r != VX_REJECT_NONE:
        st.refused += 1
    return r

cdef void quote_side(quote_state *st, vx_strategy_env *env, int s, int have, int64_t target) noexcept nogil:
    """One side's quote: at `target` when `have`, else none (re-price = cancel, then new)."""
    cdef side_state *q = &st.side[s]
    cdef vx_position pos
    if q.canceling:
        return  # its CANCELED (or FILL) comes first
    if q.id and (not have or q.price != target):
        st.cancels += 1
        if send(st, env, VX_ORDER_CANCEL, q.id, s, 0) == VX_REJECT_NONE:
            q.canceling = q.id
        q.id = 0
        return
    if q.id or not have:
        return
    if st.api.position(env, st.instrument, &pos) != VX_OK:
        return
    if s == 0 and pos.position + pos.working_buy + st.size > st.max_position:
        return
    if s == 1 and -(pos.position - pos.working_sell - st.size) > st.max_position:
        return
    st.next_id += 1
    st.news += 1
    if send(st, env, VX_ORDER_NEW, st.next_id, s, target) == VX_REJECT_NONE:
        q.id = st.next_id
        q.price = target
        q.ahead = 0

cdef uint64_t depth_lots(quote_state *st, vx_strategy_env *env, int side) noexcept nogil:
    cdef int64_t px[MAX_LEVELS]
    cdef uint64_t qty[MAX_LEVELS]
    cdef size_t n = st.api.depth(env, st.instrument, side, st.levels, px, qty)
    cdef uint64_t total = 0
    cdef size_t i
    for i in range(n):
        total += qty[i]
    return total

cdef void on_market(void *state, vx_strategy_env *env, const vx_mbo *events, uint32_t n) noexcept nogil:
    cdef quote_state *st = <quote_state *>state
    cdef int64_t px[2]
    cdef uint64_t q[2]
    cdef int have[2]
    cdef uint64_t ahead, bids, asks
    cdef vx_status qs
    st.markets += 1
    for s in range(2):
        have[s] = st.api.best(env, st.instrument, s, &px[s], &q[s]) == VX_OK
    if not st.mbo and have[0] and have[1]:  # L2: step back from the side the depth leans on
        bids = depth_lots(st, env, 0)
        asks = depth_lots(st, env, 1)
        if bids >= <uint64_t>st.ratio * asks:
            have[1] = 0
            st.pulled += 1
        elif asks >= <uint64_t>st.ratio * bids:
            have[0] = 0
            st.pulled += 1
    for s in range(2):
        quote_side(st, env, s, have[s], px[s])
    if not st.mbo:
        return
    for s in range(2):  # where our resting quotes stand in their queues
        if not st.side[s].id:
            continue
        qs = st.api.queue_ahead(env, st.side[s].id, &ahead)
        if qs == VX_OK:
            st.queue_checks += 1
            if ahead < st.side[s].ahead:
                st.queue_improved += 1
            st.side[s].ahead = ahead
        elif qs == VX_ESTATE_:
            st.queue_unknown += 1

cdef void on_exec(void *state, vx_strategy_env *env, const vx_exec *e) noexcept nogil:
    cdef quote_state *st = <quote_state *>state
    st.execs += 1
    if e.kind == VX_EXEC_FILL or e.kind == VX_EXEC_PARTIAL_FILL:
        st.fills += 1
        st.filled_lots += e.fill_qty
    if e.leaves_qty != 0:
        return
    for s in range(2):  # the order is done (filled, canceled, expired, refused)
        if st.side[s].id == e.order_id:
            st.side[s].id = 0
        if st.side[s].canceling == e.order_id:
            st.side[s].canceling = 0

cdef void on_finish(void *state, vx_strategy_env *env) noexcept nogil:
    (<quote_state *>state).finishes += 1


cdef class _Quoting:
    cdef vx_strategy table
    cdef quote_state state

    def __init__(self, **args):
        """stage_args reach the strategy through api->arg (velox passes them); accepted here
        so that velox may make the class with them."""

    cdef _setup(self, int mbo, bytes name):
        memset(&self.state, 0, sizeof(self.state))
        memset(&self.table, 0, sizeof(self.table))
        self.state.mbo = mbo
        self.table.abi_version = VX_STRATEGY_ABI_VERSION
        self.table.struct_size = sizeof(vx_strategy)
        self.table.api_version = VX_API_VERSION
        self.table.name = name
        self.table.state = &self.state
        self.table.init = on_init
        self.table.on_market = on_market
        self.table.on_exec = on_exec
        self.table.finish = on_finish

    def __velox_stage__(self):
        return PyCapsule_New(&self.table, VX_STRATEGY_CAPSULE_NAME, NULL)

    @property
    def counts(self):
        """What the strategy did (read after the run: plain fields of velox's thread)."""
        s = &self.state
        return {"inits": s.inits, "markets": s.markets, "news": s.news, "cancels": s.cancels,
                "refused": s.refused, "execs": s.execs, "fills": s.fills,
                "filled_lots": s.filled_lots, "finishes": s.finishes,
                "queue_checks": s.queue_checks, "queue_improved": s.queue_improved,
                "queue_unknown": s.queue_unknown, "pulled": s.pulled}


cdef class L2Quote(_Quoting):
    """Joins the best bid and ask from the L2 levels (api->best, api->depth) only."""
    def __cinit__(self, **args):
        self._setup(0, b"l2quote (Cython example)")


cdef class QueueQuote(_Quoting):
    """Re-prices on top-of-book changes and tracks its queue position (api->queue_ahead)."""
    def __cinit__(self, **args):
        self._setup(1, b"queuequote (Cython example)")
