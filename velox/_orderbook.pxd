# Cython interface of velox._orderbook. Downstream Cython can cimport OrderBook and call the
# C hot path on ``book.book`` without the GIL, e.g.
#
#     from velox._orderbook cimport OrderBook
#     from velox.includes.orderbook cimport vx_book_set, vx_book_best_bid
#     with nogil:
#         vx_book_set(book.book, 0, price, qty)
#
# (the calling extension must link csrc/velox/orderbook.c and types.c: it has no globals, so
# a second copy of the code is safe). The pointer is valid for the OrderBook's lifetime.
from libc.stdint cimport int64_t, uint64_t

from velox.includes.orderbook cimport vx_book
from velox.includes.types cimport vx_status

cdef class OrderBook:
    cdef vx_book *book
    cdef readonly int levels
    cdef readonly long long tick_size
    # The last (price, qty) tuple best_bid()/best_ask() returned per side, and its values:
    # returned again while the best level is unchanged (saves two ints and a tuple per call).
    cdef object _bid_tuple
    cdef object _ask_tuple
    cdef int64_t _best_price[2]
    cdef uint64_t _best_qty[2]

    cdef object _best(self, int side)

    # Error reporting for a failed C call (always raises).
    cdef int _raise_price(self, vx_status st, object price) except -1
    cdef int _raise(self, vx_status st, str op, int side, int64_t price, object qty) except -1
